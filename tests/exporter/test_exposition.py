"""The exposition: exact text of key metrics, and exact agreement with the catalog."""
from __future__ import annotations

import re

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from exporter.catalog import load_catalog
from exporter.metrics import BotMetrics

from .conftest import BOT, lines_of

# prometheus_client's default collectors: the only series allowed besides the catalog.
DEFAULT_PREFIXES = ("process_", "python_")


def test_gauge_exact_text(metrics):
    metrics.set_active_positions(3)
    assert lines_of(metrics.get_metrics_text(), "trading_active_positions") == [
        "# HELP trading_active_positions Positions open right now.",
        "# TYPE trading_active_positions gauge",
        'trading_active_positions{env="test",strategy="topn_arb",universe="top20"} 3.0',
    ]


def test_counter_with_closed_label_exact_text(metrics):
    metrics.record_trade("entry")
    metrics.record_trade("entry")
    metrics.record_trade("exit")
    assert lines_of(metrics.get_metrics_text(), "trading_trades_total") == [
        "# HELP trading_trades_total Executed trades by type.",
        "# TYPE trading_trades_total counter",
        'trading_trades_total{env="test",strategy="topn_arb",trade_type="entry",universe="top20"} 2.0',
        'trading_trades_total{env="test",strategy="topn_arb",trade_type="exit",universe="top20"} 1.0',
    ]


def test_counter_with_open_label_and_gauge_by_source_exact_text(metrics):
    metrics.record_fx_quote("okx", 1.0002, timestamp=1700000000.5)
    metrics.record_fx_outlier("bybit")
    text = metrics.get_metrics_text()
    assert lines_of(text, "fx_outliers_removed_total") == [
        "# HELP fx_outliers_removed_total Quotes rejected as outliers, by source.",
        "# TYPE fx_outliers_removed_total counter",
        'fx_outliers_removed_total{source="okx"} 0.0',
        'fx_outliers_removed_total{source="bybit"} 1.0',
    ]
    assert lines_of(text, "fx_source_last_message_timestamp_seconds")[2:] == [
        'fx_source_last_message_timestamp_seconds{source="okx"} 1.7000000005e+09',
    ]


def test_histogram_exact_text(metrics):
    metrics.observe_http_request("GET", "/orders/{order_id}", 200, 0.03)
    assert lines_of(metrics.get_metrics_text(), "http_request_duration_seconds") == [
        "# HELP http_request_duration_seconds HTTP request duration, by method and route.",
        "# TYPE http_request_duration_seconds histogram",
        *[f'http_request_duration_seconds_bucket{{le="{le}",method="GET",path="/orders/{{order_id}}"}} {n}'
          for le, n in (("0.005", 0.0), ("0.01", 0.0), ("0.025", 0.0), ("0.05", 1.0), ("0.1", 1.0),
                        ("0.25", 1.0), ("0.5", 1.0), ("1.0", 1.0), ("2.5", 1.0), ("5.0", 1.0), ("10.0", 1.0),
                        ("+Inf", 1.0))],
        'http_request_duration_seconds_count{method="GET",path="/orders/{order_id}"} 1.0',
        'http_request_duration_seconds_sum{method="GET",path="/orders/{order_id}"} 0.03',
    ]


def test_get_metrics_text_is_generate_latest(metrics, registry):
    metrics.record_trade("exit")
    assert metrics.get_metrics_text() == generate_latest(registry).decode()


def test_no_created_series(metrics):
    metrics.record_round_trip()
    assert "_created" not in metrics.get_metrics_text()


def _exposed(text: str) -> dict[str, tuple[str, set[frozenset]]]:
    """{exposed family name: (TYPE, {label-name sets of its samples})} from exposition text."""
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
    labels: dict[str, set[frozenset]] = {name: set() for name in types}
    for family in text_string_to_metric_families(text):
        exposed = family.name + "_total" if family.type == "counter" else family.name
        for sample in family.samples:
            labels[exposed].add(frozenset(k for k in sample.labels if k != "le"))
    return {name: (types[name], labels[name]) for name in types}


def _exercise(m: BotMetrics) -> None:
    """One call of each kind, so series with open labels exist too."""
    m.record_alert("P2", "rate_limiter")
    m.record_fx_quote("okx", 1.0)
    m.set_fx_source_connected("okx", True)
    m.observe_http_request("GET", "/orders", 200, 0.01)
    m.record_order("buy", "filled", "okx")
    m.set_open_positions("BTCUSDT", 1)
    m.set_realized_pnl("BTCUSDT", 2.5)
    m.record_order_latency("okx", 0.02)
    m.set_exchange_connected("okx", True)
    m.record_market_data("okx:BTC-USDT:book")
    m.set_clock_skew("ntp", 0.001)
    m.set_trading_state("active")
    m.set_kill_switch(False)
    m.set_rate_limit("okx", 10, 1200)
    m.set_position("BTCUSDT", 100.0, 50000)
    m.set_balance("USDT", 10.0, 10.0)


def test_every_catalog_metric_is_exposed_with_its_type_and_labels_and_nothing_else():
    """The agreement test: the exporter serves exactly the catalog (plus process_/python_ defaults)."""
    catalog = load_catalog()
    registry = CollectorRegistry()
    m = BotMetrics(registry)  # with the default process/platform/gc collectors, as a bot serves it
    m.init_metrics(*BOT)
    _exercise(m)
    exposed = _exposed(m.get_metrics_text())
    for spec in catalog.metrics:
        assert spec.name in exposed, f"{spec.name} is in the catalog but not exposed"
        type_, label_sets = exposed[spec.name]
        assert type_ == spec.type, f"{spec.name}: exposed as {type_}, catalog says {spec.type}"
        assert label_sets == {frozenset(spec.label_names)}, \
            f"{spec.name}: exposed labels {label_sets}, catalog says {spec.label_names}"
    extra = sorted(n for n in exposed if n not in catalog and not n.startswith(DEFAULT_PREFIXES))
    assert extra == [], f"exposed but not in the catalog: {extra}"
    assert "process_resident_memory_bytes" in exposed
    assert "process_cpu_seconds_total" in exposed
