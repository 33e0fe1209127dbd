"""Bad input never raises into the caller: it is dropped, counted by reason and logged once per kind."""
from __future__ import annotations

import decimal
import logging
import math

import pytest
from prometheus_client import CollectorRegistry

from exporter.metrics import BotMetrics

from .conftest import samples, value

NAN, INF = math.nan, math.inf

# (call, args, kwargs, reason)
BAD_CALLS = [
    ("record_pnl", (NAN,), {}, "not_finite"),
    ("record_pnl", (INF,), {}, "not_finite"),
    ("record_pnl", ("12",), {}, "bad_type"),
    ("record_pnl", (None,), {}, "bad_type"),
    ("record_pnl", (True,), {}, "bad_type"),
    ("set_equity", (-INF,), {}, "not_finite"),
    ("set_equity", ([1.0],), {}, "bad_type"),
    ("record_trade", ("bogus",), {}, "unknown_label_value"),
    ("record_trade", (1,), {}, "bad_type"),
    ("record_trade", (["entry"],), {}, "bad_type"),  # unhashable
    ("record_trade", (None,), {}, "bad_type"),
    ("record_round_trip", ("yes",), {}, "bad_type"),
    ("record_round_trip", (2,), {}, "bad_type"),
    ("record_win_rate", (-1, 3), {}, "negative_delta"),
    ("record_win_rate", (1, NAN), {}, "not_finite"),
    ("record_win_rate", ("3", 2), {}, "bad_type"),
    ("record_loop_latency", (-0.001,), {}, "negative_delta"),
    ("record_loop_latency", (NAN,), {}, "not_finite"),
    ("record_loop_latency", ("fast",), {}, "bad_type"),
    ("record_guard_trigger", ("planet",), {}, "unknown_label_value"),
    ("record_alert", ("P9", "rate_limiter"), {}, "unknown_label_value"),
    ("record_alert", ("P1", ""), {}, "unknown_label_value"),
    ("record_alert", ("P1", 7), {}, "bad_type"),
    ("record_alert", ("P1", "x" * 500), {}, "unknown_label_value"),
    ("record_exit_reason", ("bored",), {}, "unknown_label_value"),
    ("set_active_positions", (NAN,), {}, "not_finite"),
    ("set_active_positions", ("3",), {}, "bad_type"),
    ("set_risk_metrics", (), {"sharpe": INF}, "not_finite"),
    ("set_risk_metrics", (), {"var95_usd": "high"}, "bad_type"),
    ("record_fx_quote", ("okx", NAN), {}, "not_finite"),
    ("record_fx_quote", ("okx", 1.0), {"timestamp": "now"}, "bad_type"),
    ("record_fx_quote", (None, 1.0), {}, "bad_type"),
    ("set_fx_source_connected", ("okx", "up"), {}, "bad_type"),
    ("set_fx_source_connected", ("okx", 2), {}, "bad_type"),
    ("record_fx_outlier", ({"okx"},), {}, "bad_type"),
    ("set_fx_median", (INF,), {}, "not_finite"),
    ("set_fx_valid_sources", ("three",), {}, "bad_type"),
    ("set_fx_fallback", ("on",), {}, "bad_type"),
    ("observe_http_request", ("GET", "/x", 200, -1.0), {}, "negative_delta"),
    ("observe_http_request", ("GET", "/x", 200, NAN), {}, "not_finite"),
    ("observe_http_request", ("GET", "/x", 42, 0.1), {}, "unknown_label_value"),
    ("observe_http_request", ("GET", "/x", 2.5, 0.1), {}, "bad_type"),
    ("observe_http_request", (None, "/x", 200, 0.1), {}, "bad_type"),
    ("observe_http_request", ("GET", None, 200, 0.1), {}, "bad_type"),
    ("set_websocket_connections", (INF,), {}, "not_finite"),
    ("record_rate_limit", ("limited",), {}, "bad_type"),
    ("record_order", ("hold", "filled", "okx"), {}, "unknown_label_value"),
    ("record_order", ("buy", "lost", "okx"), {}, "unknown_label_value"),
    ("record_order", ("buy", "filled", 3), {}, "bad_type"),
    ("set_open_positions", ("BTCUSDT", NAN), {}, "not_finite"),
    ("set_open_positions", (b"BTCUSDT", 1), {}, "bad_type"),
    ("set_open_positions", (["BTCUSDT"], 1.0), {}, "bad_type"),
    ("set_open_positions", (["BTCUSDT"], 1), {}, "bad_type"),
    ("set_realized_pnl", ("BTCUSDT", INF), {}, "not_finite"),
    ("set_realized_pnl", (["BTCUSDT"], -1.5), {}, "bad_type"),
    ("set_realized_pnl", ("BTCUSDT", "12"), {}, "bad_type"),
    ("record_fx_quote", (["okx"], 1.0), {}, "bad_type"),
    ("observe_http_request", ("GET", ["/x"], 200, 0.1), {}, "bad_type"),
    ("record_loop_latency", (decimal.Decimal("NaN"),), {}, "not_finite"),
    # issue 12: values prometheus_client would accept and then fail to render, or raise on
    ("record_fx_quote", ("\ud800", 1.0), {}, "unknown_label_value"),   # a lone surrogate
    ("record_alert", ("P1", "a\udfff"), {}, "unknown_label_value"),
    ("observe_http_request", ("GET", "/\ud800", 200, 0.1), {}, "unknown_label_value"),
    ("observe_http_request", ("G\ud800", "/x", 200, 0.1), {}, "unknown_label_value"),
    ("record_order", ("buy", "filled", "\ud800"), {}, "unknown_label_value"),
    ("set_open_positions", ("\ud800", 1), {}, "unknown_label_value"),
    ("set_fx_source_connected", ("\ud800", True), {}, "unknown_label_value"),
    ("record_fx_outlier", ("\ud800",), {}, "unknown_label_value"),
    ("record_pnl", (1 + 1j,), {}, "bad_type"),
    ("set_equity", (1j,), {}, "bad_type"),
    ("record_fx_quote", ("okx", 1j), {}, "bad_type"),
    ("record_fx_quote", ("okx", 10 ** 400), {}, "not_finite"),
    ("record_fx_quote", ("okx", 1.0), {"timestamp": 10 ** 400}, "not_finite"),
    ("record_pnl", (10 ** 400,), {}, "not_finite"),
    ("set_equity", (-(10 ** 400),), {}, "not_finite"),
    ("record_loop_latency", (10 ** 400,), {}, "not_finite"),
    ("observe_http_request", ("GET", "/x", 200, 10 ** 400), {}, "not_finite"),
    ("set_risk_metrics", (), {"sharpe": 10 ** 400}, "not_finite"),
    ("set_fx_median", (decimal.Decimal("1e999999"),), {}, "not_finite"),
    ("observe_http_request", ("GET", "/x", "²⁰⁰", 0.1), {}, "bad_type"),
    ("record_memory_usage", (-1,), {}, "negative_delta"),
    ("record_memory_usage", (10 ** 400,), {}, "not_finite"),
    ("record_cpu_usage", (NAN,), {}, "not_finite"),
    ("record_cpu_usage", ("12%",), {}, "bad_type"),
]


def dropped(registry) -> dict[str, float]:
    return {dict(k)["reason"]: v for k, v in samples(registry, "exporter_dropped_updates_total").items()}


def series_values(registry) -> dict:
    """Every sample except the exporter's own bookkeeping."""
    return {(f.name, s.name, frozenset(s.labels.items())): s.value
            for f in registry.collect() for s in f.samples
            if not s.name.startswith("exporter_")}


@pytest.mark.parametrize("call, args, kwargs, reason", BAD_CALLS,
                         ids=[f"{c}{a!r:.30}{k or ''}" for c, a, k, _ in BAD_CALLS])
def test_bad_call_is_dropped_counted_and_changes_nothing(metrics, registry, call, args, kwargs, reason):
    metrics.set_equity(100.0)
    before = series_values(registry)
    assert getattr(metrics, call)(*args, **kwargs) is False
    assert dropped(registry) == {r: (1.0 if r == reason else 0.0) for r in dropped(registry)}
    after = series_values(registry)
    changed = {k for k in after if after[k] != before.get(k)} | (before.keys() - after.keys())
    assert changed == set(), f"a dropped call changed {changed}"


def test_good_values_of_other_types_are_converted(metrics, registry):
    assert metrics.record_pnl(5)                        # int
    assert metrics.record_pnl(decimal.Decimal("2.5"))   # Decimal
    assert metrics.set_active_positions(3.0)
    assert metrics.observe_http_request("get", "/x", "200", 1)  # lower-case method, status as text
    assert metrics.set_fx_source_connected("okx", 1)    # 1/0 from a C-style bot
    assert metrics.record_rate_limit(0)
    assert value(registry, "trading_pnl_usd", env="test") == 7.5
    assert value(registry, "http_requests_total", method="GET", status="200") == 1.0
    assert sum(dropped(registry).values()) == 0


def test_set_risk_metrics_applies_the_good_values_of_a_mixed_call(metrics, registry):
    assert metrics.set_risk_metrics(sharpe=1.2, calmar=NAN, var95_usd="x", cvar95_usd=300) is False
    assert value(registry, "trading_sharpe", env="test") == 1.2
    assert value(registry, "trading_cvar95_usd", env="test") == 300.0
    assert dropped(registry) == {"negative_delta": 0.0, "not_finite": 1.0, "unknown_label_value": 0.0,
                                 "bad_type": 1.0}


def test_calls_before_init_metrics_are_dropped_and_counted_once_bound(caplog):
    registry = CollectorRegistry()
    m = BotMetrics(process_collectors=False)  # unbound, like the module-level default before init
    with caplog.at_level(logging.WARNING, logger="exporter"):
        for call, args in (("record_trade", ("entry",)), ("record_pnl", (1.0,)), ("set_equity", (5.0,)),
                           ("record_loop_latency", (0.01,)), ("record_alert", ("P1", "x")),
                           ("record_fx_quote", ("okx", 1.0)), ("set_fx_median", (1.0,)),
                           ("observe_http_request", ("GET", "/", 200, 0.1)), ("record_rate_limit", (True,)),
                           ("record_order", ("buy", "filled", "okx")), ("set_open_positions", ("BTC", 1)),
                           ("record_round_trip", (True,)), ("record_win_rate", (1, 1)),
                           ("set_risk_metrics", (1.0,)), ("record_fx_outlier", ("okx",))):
            assert getattr(m, call)(*args) is False, call
    assert "record_trade: called before init_metrics" in caplog.text
    m.init_metrics("test", "top20", "topn_arb", registry)
    assert dropped(registry)["unknown_label_value"] == 15.0


def test_a_bound_registry_without_bot_labels_takes_fx_and_api_but_not_topn(registry):
    m = BotMetrics(registry, process_collectors=False)
    assert m.record_fx_quote("okx", 1.0)
    assert m.observe_http_request("GET", "/", 200, 0.1)
    assert m.record_trade("entry") is False


def test_each_kind_is_logged_once(metrics, caplog):
    with caplog.at_level(logging.WARNING, logger="exporter"):
        for _ in range(5):
            metrics.record_trade("bogus")
            metrics.record_pnl(NAN)
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert messages[0].startswith("dropped record_trade: trade_type='bogus' is not one of entry, exit")
    assert 'exporter_dropped_updates_total{reason="unknown_label_value"}' in messages[0]
    assert messages[1].startswith("dropped record_pnl: delta_usd=nan is not finite")
    assert all(r.levelno == logging.WARNING for r in caplog.records)


def test_open_label_cardinality_is_capped(registry):
    m = BotMetrics(registry, max_label_values=3, process_collectors=False)
    m.init_metrics("test", "top20", "topn_arb")
    for i in range(3):
        assert m.observe_http_request("GET", f"/orders/{i}", 200, 0.01)
    assert m.observe_http_request("GET", "/orders/3", 200, 0.01) is False
    assert m.observe_http_request("GET", "/orders/0", 200, 0.01)  # known series still work
    assert len(samples(registry, "http_requests_total")) == 3
    assert dropped(registry)["unknown_label_value"] == 1.0


def test_str_subclasses_count_as_their_plain_string(metrics, registry):
    import enum

    class Kind(enum.StrEnum):
        ENTRY = "entry"
        BUY = "buy"

    assert metrics.record_trade(Kind.ENTRY)
    assert metrics.record_order(Kind.BUY, "filled", "okx")
    assert value(registry, "trading_trades_total", trade_type="entry") == 1.0
    assert value(registry, "api_orders_total", side="buy", status="filled", exchange="okx") == 1.0
    assert sum(dropped(registry).values()) == 0


def test_win_rate_of_huge_counts(metrics, registry):
    assert metrics.record_win_rate(1e308, 1e308)  # the sum overflows; the ratio does not
    assert value(registry, "trading_win_rate_ratio") == 0.5
    assert metrics.record_win_rate(10 ** 400, 0)   # exact integer arithmetic
    assert value(registry, "trading_win_rate_ratio") == 1.0


def test_a_value_whose_repr_fails_is_still_dropped_and_logged(metrics, registry, caplog):
    class Bomb:
        def __repr__(self):
            raise RuntimeError("no repr")

        def __float__(self):
            raise RuntimeError("no float")

    with caplog.at_level(logging.WARNING, logger="exporter"):
        assert metrics.record_pnl(Bomb()) is False
        assert metrics.record_fx_outlier(Bomb()) is False
    assert dropped(registry)["bad_type"] == 2.0
    assert "<Bomb whose repr() fails>" in caplog.text
