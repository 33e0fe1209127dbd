"""The trading-operations calls (rows of exporter/ops.py): applied, never raising, bad values dropped and
counted, open labels bounded."""
from __future__ import annotations

from prometheus_client import CollectorRegistry

from exporter.metrics import BotMetrics

from .conftest import samples, value


def _metrics(max_label_values: int = 1000) -> tuple[CollectorRegistry, BotMetrics]:
    registry = CollectorRegistry()
    m = BotMetrics(registry, process_collectors=False, max_label_values=max_label_values)
    m.init_metrics("live", "majors", "mm")
    return registry, m


def _dropped(registry) -> dict[str, float]:
    return {dict(k)["reason"]: v for k, v in samples(registry, "exporter_dropped_updates_total").items() if v}


def test_each_call_feeds_its_series():
    registry, m = _metrics()
    assert m.set_trading_state("halted") and m.set_kill_switch(True) and m.set_clock_skew("binance", -0.7)
    assert m.set_rate_limit("binance", 900, 1200) and m.record_rate_limit_ban("binance", 418)
    assert m.set_position("BTCUSDT", -60000.0, limit_usd=50000) and m.set_balance("USDT", 1010.0, 1000)
    assert value(registry, "trading_state", state="halted") == 1
    assert value(registry, "trading_state", state="active") == 0
    assert value(registry, "trading_kill_switch_active") == 1
    assert value(registry, "trading_clock_skew_seconds", reference="binance") == -0.7
    assert value(registry, "trading_rate_limit_bans_total", code="418") == 1
    assert value(registry, "trading_rate_limit_bans_total", code="429") == 0     # created with the exchange
    assert value(registry, "trading_position_notional_usd", symbol="BTCUSDT") == -60000
    assert value(registry, "trading_balance_usd", ledger="exchange") == 1000
    assert m.set_trading_state("active") and value(registry, "trading_state", state="halted") == 0
    assert _dropped(registry) == {}


def test_bad_values_are_dropped_counted_and_never_raised():
    registry, m = _metrics()
    bad = [m.record_order_latency("okx", float("nan")), m.record_order_latency("okx", -1),
           m.set_trading_state("paused"), m.record_rate_limit_ban("okx", 500), m.set_kill_switch("yes"),
           m.set_position("BTCUSDT"), m.set_clock_skew(["x"], 1), m.record_market_data("f", "soon"),
           m.set_rate_limit("okx", 1, 2, 3, 4)]
    assert bad == [False] * len(bad)
    assert _dropped(registry) == {"not_finite": 1, "negative_delta": 1, "unknown_label_value": 2, "bad_type": 5}
    # A bad value of a two-value call leaves both series as they were.
    assert m.set_position("ETHUSDT", 10.0, 100.0) and not m.set_position("ETHUSDT", 20.0, float("inf"))
    assert value(registry, "trading_position_notional_usd", symbol="ETHUSDT") == 10.0


def test_bot_series_wait_for_init_metrics():
    registry = CollectorRegistry()
    m = BotMetrics(registry, process_collectors=False)
    assert m.record_order_latency("okx", 0.1) is False
    assert m.set_exchange_connected("okx", False) is True      # no bot labels: fine before init
    assert _dropped(registry) == {"unknown_label_value": 1}


def test_open_labels_are_bounded():
    registry, m = _metrics(max_label_values=3)
    results = [m.record_market_data(f"feed-{i}", 1.0) for i in range(5)]
    assert results == [True, True, True, False, False]
    assert len(samples(registry, "trading_market_data_last_update_timestamp_seconds")) == 3


def test_arguments_by_name_and_wrong_arguments():
    registry, m = _metrics()
    assert m.set_rate_limit("okx", used=900, limit=1200) and m.set_balance(asset="USDT", exchange_usd=5.0)
    assert m.set_position("BTCUSDT", 1.0, limit_usd=None) and m.record_market_data(feed="book", timestamp=7.0)
    assert value(registry, "trading_rate_limit_limit", exchange="okx") == 1200
    assert value(registry, "trading_balance_usd", asset="USDT", ledger="exchange") == 5.0
    assert value(registry, "trading_market_data_last_update_timestamp_seconds", feed="book") == 7.0
    wrong = [m.set_rate_limit("okx", 1, used=2), m.set_rate_limit("okx", 1, bogus=2), m.set_rate_limit(used=1),
             m.set_kill_switch(True, False), m.set_clock_skew()]
    assert wrong == [False] * len(wrong)
    assert _dropped(registry) == {"bad_type": len(wrong)}
    assert value(registry, "trading_rate_limit_used", exchange="okx") == 900


def test_each_method_has_its_rows_signature():
    import inspect

    from exporter.ops import CALLS
    for row in CALLS:
        shown = list(inspect.signature(getattr(BotMetrics, row.name)).parameters)
        assert shown == ["self", *row.params], row.name
    assert str(inspect.signature(BotMetrics.set_position)) == "(self, symbol, notional_usd, limit_usd=None)"


def test_a_status_code_as_a_number_or_a_string_is_one_series():
    registry, m = _metrics()
    assert m.record_rate_limit_ban("okx", 429) and m.record_rate_limit_ban("okx", "429")
    assert m.record_rate_limit_ban("okx", 429)
    assert value(registry, "trading_rate_limit_bans_total", exchange="okx", code="429") == 3
