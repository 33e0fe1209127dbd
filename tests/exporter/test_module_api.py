"""The module-level API: thin delegates to one default BotMetrics, and the in-process server."""
from __future__ import annotations

import json

import pytest
from prometheus_client import CollectorRegistry

import exporter
from exporter import api

from .conftest import BOT, http, value


@pytest.fixture
def default(registry):
    """The module-level default bound to a fresh registry for this test, unbound again afterwards."""
    exporter.init_metrics(*BOT, registry=registry)
    yield exporter.default_metrics()
    exporter.stop_metrics_server()
    exporter.default_metrics().close()


def test_every_documented_function_is_exported():
    for name in ("init_metrics", "start_metrics_server", "record_pnl", "set_equity", "record_trade",
                 "record_round_trip", "record_win_rate", "record_loop_latency", "record_guard_trigger",
                 "record_alert", "record_exit_reason", "set_active_positions", "set_risk_metrics",
                 "get_metrics_text", "reset_metrics", "record_fx_quote", "set_fx_source_connected",
                 "record_fx_outlier", "set_fx_median", "set_fx_valid_sources", "set_fx_fallback",
                 "observe_http_request", "set_websocket_connections", "record_rate_limit", "record_order",
                 "set_open_positions"):
        assert callable(getattr(exporter, name)), name
        assert name in exporter.__all__


def test_module_functions_feed_the_default_instance(default, registry):
    exporter.record_trade("entry")
    exporter.record_pnl(12.5)
    exporter.record_fx_quote("okx", 1.0)
    exporter.observe_http_request("GET", "/", 200, 0.01)
    assert value(registry, "trading_trades_total", trade_type="entry") == 1.0
    assert value(registry, "trading_pnl_usd") == 12.5
    assert 'fx_source_rate{source="okx"} 1.0' in exporter.get_metrics_text()
    exporter.reset_metrics()
    assert value(registry, "trading_pnl_usd") == 0.0


def test_init_metrics_is_idempotent_and_registry_none_keeps_the_registry(default, registry):
    exporter.record_trade("exit")
    exporter.init_metrics(*BOT)  # registry=None: the one in use
    assert default.registry is registry
    assert value(registry, "trading_trades_total", trade_type="exit") == 1.0


def test_get_metrics_text_before_init_is_empty():
    m = exporter.BotMetrics(process_collectors=False)
    assert m.get_metrics_text() == ""


def test_start_metrics_server_is_idempotent_and_serves_metrics_and_health(default, caplog):
    server = exporter.start_metrics_server(port=0, addr="127.0.0.1")
    assert exporter.start_metrics_server(port=0, addr="127.0.0.1") is server
    assert exporter.start_metrics_server(port=1, addr="127.0.0.1") is server  # ignored, with a warning
    assert "already serving" in caplog.text
    exporter.record_trade("entry")
    status, body = http(f"{server.url}/metrics")
    assert status == 200
    assert b'trading_trades_total{env="test",strategy="topn_arb",trade_type="entry",universe="top20"} 1.0' in body
    status, body = http(f"{server.url}/health")
    health = json.loads(body)
    assert status == 200 and health["status"] == "ok"
    assert 0 <= health["last_event_age_seconds"] < 60
    exporter.stop_metrics_server()
    assert not server.running


def test_start_metrics_server_on_a_taken_port_raises_a_clear_error(default):
    server = exporter.start_metrics_server(port=0, addr="127.0.0.1")
    other = api.MetricsServer(lambda: CollectorRegistry(), None, port=server.port, addr="127.0.0.1")
    with pytest.raises(OSError, match=rf"port {server.port} is already in use on 127.0.0.1"):
        other.start()
