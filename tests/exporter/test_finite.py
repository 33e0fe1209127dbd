"""Sums and derived values stay finite: an update that would take one beyond the float range is refused.

Each input of a call is checked on its own elsewhere (test_bad_inputs.py); here every input is
finite, but sums of them are not: two record_pnl(1e308), a histogram _sum fed 1.7e308 twice, an
equity that a PnL delta pushes to +-inf. Such an update is dropped and counted as not_finite, and
the metric keeps its last finite value, so no alert ever reads +Inf or NaN (a NaN drawdown never
fires the drawdown alert).
"""
from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from exporter.metrics import BotMetrics

from .conftest import BOT, value

BIG = 1.7976931348623157e308  # the largest float
EXTREME = [1e308, -1e308, 1.7e308, -1.7e308, BIG, -BIG, 9e307, 5e-324, -5e-324, 0.0, -0.0, 1.0, 1e-308]
extreme = st.one_of(st.sampled_from(EXTREME), st.floats(allow_nan=False, allow_infinity=False),
                    st.integers(min_value=-(2 ** 1100), max_value=2 ** 1100))
positive = extreme.map(abs)

# Every call that adds to a stored value or derives one (peak, drawdown, ratios), with its arguments.
ACCUMULATING = {
    "record_pnl": st.tuples(extreme),
    "set_equity": st.tuples(extreme),
    "record_loop_latency": st.tuples(positive),
    "observe_http_request": st.tuples(st.just("GET"), st.sampled_from(["/a", "/b"]), st.just(200), positive),
    "record_win_rate": st.tuples(positive, positive),
    "record_cpu_usage": st.tuples(positive),
    "record_memory_usage": st.tuples(positive),
    "set_realized_pnl": st.tuples(st.just("BTCUSDT"), extreme),
    "record_fx_quote": st.tuples(st.just("okx"), extreme, extreme),
    "set_risk_metrics": st.tuples(extreme, extreme, extreme, extreme),
    "record_round_trip": st.tuples(st.booleans()),
    # the trading-operations rows (exporter/ops.py): a histogram sum, a counter, and gauges set from values
    # at and beyond the float range (an int of 2**1100 is refused before any series of the call moves)
    "record_order_latency": st.tuples(st.just("okx"), positive),
    "record_rate_limit_ban": st.tuples(st.just("okx"), st.sampled_from([429, "418"])),
    "record_market_data": st.tuples(st.just("book"), positive),
    "set_clock_skew": st.tuples(st.just("ntp"), extreme),
    "set_rate_limit": st.tuples(st.just("okx"), positive, positive),
    "set_position": st.tuples(st.just("BTCUSDT"), extreme, positive),
    "set_balance": st.tuples(st.just("USDT"), extreme, extreme),
}
calls = st.lists(st.sampled_from(sorted(ACCUMULATING)).flatmap(
    lambda name: ACCUMULATING[name].map(lambda args: (name, args))), min_size=1, max_size=30)


def exposed_values(text: str) -> list[tuple[str, float]]:
    return [(sample.name, sample.value) for family in text_string_to_metric_families(text)
            for sample in family.samples]


def assert_all_finite(metrics: BotMetrics, registry) -> None:
    for text in (metrics.exposition().decode(), generate_latest(registry).decode()):
        bad = [(name, v) for name, v in exposed_values(text) if not math.isfinite(v)]
        assert bad == [], bad


def fresh() -> tuple[BotMetrics, CollectorRegistry]:
    registry = CollectorRegistry()
    m = BotMetrics(registry, process_collectors=False)
    m.init_metrics(*BOT)
    return m, registry


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sequence=calls)
def test_no_sequence_of_finite_calls_exposes_a_non_finite_sample(sequence):
    m, registry = fresh()
    for name, args in sequence:
        result = getattr(m, name)(*args)
        assert result is True or result is False
    assert_all_finite(m, registry)


def not_finite_drops(registry) -> float:
    return value(registry, "exporter_dropped_updates_total", reason="not_finite")


def test_pnl_sum_that_overflows_is_refused_and_the_last_value_kept(metrics, registry):
    assert metrics.record_pnl(1e308)
    assert metrics.record_pnl(1e308) is False
    assert value(registry, "trading_pnl_usd") == 1e308
    assert value(registry, "trading_daily_pnl_usd") == 1e308
    assert not_finite_drops(registry) == 1.0
    assert metrics.record_pnl(-1e308)  # back in range: applied again
    assert value(registry, "trading_pnl_usd") == 0.0


def test_equity_moved_beyond_the_float_range_refuses_the_pnl_delta(metrics, registry):
    assert metrics.set_equity(1.7e308)
    assert metrics.record_pnl(1e308) is False
    assert value(registry, "trading_equity_usd") == 1.7e308
    assert value(registry, "trading_equity_peak_usd") == 1.7e308
    assert value(registry, "trading_pnl_usd") == 0.0  # refused as a whole
    assert metrics.set_equity(-1.7e308)  # the drawdown is capped at 1, never NaN
    assert value(registry, "trading_drawdown_ratio") == 1.0
    assert not_finite_drops(registry) == 1.0


def test_histogram_sums_that_overflow_are_refused(metrics, registry):
    assert metrics.record_loop_latency(1.7e308)
    assert metrics.record_loop_latency(1.7e308) is False
    assert value(registry, "trading_loop_latency_seconds_sum") == 1.7e308
    assert value(registry, "trading_loop_latency_seconds_count") == 1.0
    assert metrics.observe_http_request("GET", "/x", 200, 1e308)
    assert metrics.observe_http_request("GET", "/x", 200, 1e308) is False
    assert value(registry, "http_request_duration_seconds_sum") == 1e308
    assert value(registry, "http_requests_total") == 1.0  # the request is not counted either
    assert not_finite_drops(registry) == 2.0
    assert_all_finite(metrics, registry)


def test_ops_histogram_sum_that_overflows_is_refused(metrics, registry):
    assert metrics.record_order_latency("okx", 1.7e308)
    assert metrics.record_order_latency("okx", 1.7e308) is False
    assert value(registry, "trading_order_latency_seconds_sum", exchange="okx") == 1.7e308
    assert value(registry, "trading_order_latency_seconds_count", exchange="okx") == 1.0
    assert not_finite_drops(registry) == 1.0


def test_ops_value_beyond_the_float_range_leaves_every_series_of_the_call(metrics, registry):
    assert metrics.set_position("BTCUSDT", 10.0, 20.0)
    assert metrics.set_position("BTCUSDT", 30.0, 2 ** 1100) is False     # an int no float can hold
    assert metrics.set_balance("USDT", -(2 ** 1024), 5.0) is False
    assert value(registry, "trading_position_notional_usd", symbol="BTCUSDT") == 10.0
    assert value(registry, "trading_position_limit_usd", symbol="BTCUSDT") == 20.0
    assert value(registry, "trading_balance_usd", asset="USDT", ledger="exchange") == 0.0   # created, not moved
    assert not_finite_drops(registry) == 2.0
    assert metrics.set_clock_skew("ntp", -(2 ** 1023)) and metrics.set_position("BTCUSDT", 1.0, 2 ** 1023)
    assert_all_finite(metrics, registry)
