"""FX and HTTP API calls: what each one sets, and which series appear when."""
from __future__ import annotations

from exporter.metrics import BotMetrics

from .conftest import samples, value


def test_fx_quote_sets_rate_and_timestamp(metrics, registry):
    assert metrics.record_fx_quote("okx", 1.0003, timestamp=1_700_000_000.5)
    assert value(registry, "fx_source_rate", source="okx") == 1.0003
    assert value(registry, "fx_source_last_message_timestamp_seconds", source="okx") == 1_700_000_000.5
    # the outlier counter of a new source appears at 0; connected does not (0 would read "down")
    assert value(registry, "fx_outliers_removed_total", source="okx") == 0.0
    assert samples(registry, "fx_source_connected") == {}


def test_fx_quote_without_timestamp_uses_now(registry):
    m = BotMetrics(registry, clock=lambda: 1_700_000_123.25, process_collectors=False)
    m.record_fx_quote("bybit", 1.0)
    assert value(registry, "fx_source_last_message_timestamp_seconds", source="bybit") == 1_700_000_123.25


def test_fx_status_outliers_median_sources_fallback(metrics, registry):
    metrics.set_fx_source_connected("binance", True)
    metrics.set_fx_source_connected("okx", False)
    metrics.record_fx_outlier("bybit")
    metrics.record_fx_outlier("bybit")
    metrics.set_fx_median(1.0001)
    metrics.set_fx_valid_sources(2)
    metrics.set_fx_fallback(True)
    assert value(registry, "fx_source_connected", source="binance") == 1.0
    assert value(registry, "fx_source_connected", source="okx") == 0.0
    assert value(registry, "fx_outliers_removed_total", source="bybit") == 2.0
    assert value(registry, "fx_median_rate") == 1.0001
    assert value(registry, "fx_valid_sources") == 2.0
    assert value(registry, "fx_http_fallback_active") == 1.0
    metrics.set_fx_fallback(False)
    assert value(registry, "fx_http_fallback_active") == 0.0


def test_http_request_counts_and_observes_by_route(metrics, registry):
    metrics.observe_http_request("GET", "/orders/{order_id}", 200, 0.02)
    metrics.observe_http_request("GET", "/orders/{order_id}", 503, 0.7)
    metrics.observe_http_request("get", "/orders/{order_id}", "200", 0.01)
    assert value(registry, "http_requests_total", method="GET", path="/orders/{order_id}", status="200") == 2.0
    assert value(registry, "http_requests_total", method="GET", path="/orders/{order_id}", status="503") == 1.0
    assert value(registry, "http_request_duration_seconds_count", method="GET", path="/orders/{order_id}") == 3.0
    assert value(registry, "http_request_duration_seconds_bucket", method="GET", le="0.5") == 2.0


def test_websockets_rate_limiter_orders_positions(metrics, registry):
    metrics.set_websocket_connections(17)
    metrics.record_rate_limit(True)
    metrics.record_rate_limit(False)
    metrics.record_rate_limit(False)
    metrics.record_order("sell", "rejected", "okx")
    metrics.set_open_positions("ETHUSDT", 2)
    assert value(registry, "http_websocket_connections") == 17.0
    assert value(registry, "api_rate_limiter_requests_total", status="limited") == 1.0
    assert value(registry, "api_rate_limiter_requests_total", status="allowed") == 2.0
    assert value(registry, "api_orders_total", side="sell", status="rejected", exchange="okx") == 1.0
    # a new exchange gets every side x status at once
    assert len(samples(registry, "api_orders_total")) == 6
    assert value(registry, "api_open_positions", symbol="ETHUSDT") == 2.0
    metrics.set_realized_pnl("ETHUSDT", 14.25)
    metrics.set_realized_pnl("ETHUSDT", -3.5)   # a gauge: realized PnL falls as well as rises
    assert value(registry, "api_realized_pnl_usd", symbol="ETHUSDT") == -3.5
