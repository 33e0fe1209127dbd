"""Exact totals under threads, and an exposition equal to prometheus_client's for the same values.

The exporter stores its own values (store.py): every read-modify-write runs under one lock, so
no increment or observation is lost however the threads interleave. The interpreter is made to
switch threads every few microseconds while they run, so a lost update would show: an unlocked
read-modify-write with a call inside it (`self.value = add(self.value, 1)`) loses hundreds of
the 320,000 observations here. Without a call in between, CPython 3.11 happens not to switch
threads inside `self.value += 1`; that is an interpreter detail, which is why the lock, not the
switch points, is what store.py relies on.
"""
from __future__ import annotations

import sys
import threading

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from exporter.metrics import BotMetrics

from .conftest import BOT, BOT_LABELS, value
from .test_fast_exposition import parsed

THREADS = 8
CALLS = 200_000  # per thread, spread over counters, gauges and histograms


@pytest.fixture
def switchy():
    """Thread switches every 20 µs instead of 5 ms: updates interleave far more often."""
    saved = sys.getswitchinterval()
    sys.setswitchinterval(2e-5)
    yield
    sys.setswitchinterval(saved)


def run_threads(work) -> None:
    barrier = threading.Barrier(THREADS)
    errors = []

    def worker(index):
        barrier.wait()
        try:
            work(index)
        except BaseException as exc:  # noqa: B036 - reported by the test below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads) and errors == [], errors


def hammer(m: BotMetrics, n: int):
    """n calls per thread, in five kinds: a counter, a histogram, a counter with a histogram, the compound
    PnL/equity update and the compound win tally; every amount is exact in binary floating point."""
    def work(index: int) -> None:
        trade, latency, http, pnl, round_trip = (m.record_trade, m.record_loop_latency, m.observe_http_request,
                                                 m.record_pnl, m.record_round_trip)
        for i in range(n // 5):
            assert trade("entry")
            assert latency(0.25 if i % 2 else 2 ** -11)
            assert http("GET", "/orders", 200, 0.5)
            assert pnl(1.0 if i % 2 else -0.5)
            assert round_trip(i % 2 == 0)
    return work


def test_exact_totals_from_eight_threads(metrics, registry, switchy):
    metrics.set_equity(1000.0)
    run_threads(hammer(metrics, CALLS))
    per_kind = THREADS * (CALLS // 5)
    half = per_kind // 2
    assert value(registry, "trading_trades_total", trade_type="entry") == per_kind
    assert value(registry, "trading_loop_latency_seconds_count") == per_kind
    assert value(registry, "trading_loop_latency_seconds_sum") == half * 0.25 + half * 2 ** -11
    assert value(registry, "trading_loop_latency_seconds_bucket", le="0.0005") == half
    assert value(registry, "trading_loop_latency_seconds_bucket", le="+Inf") == per_kind
    assert value(registry, "http_requests_total") == per_kind
    assert value(registry, "http_request_duration_seconds_count") == per_kind
    assert value(registry, "http_request_duration_seconds_sum") == per_kind * 0.5
    assert value(registry, "trading_pnl_usd") == half * 1.0 - half * 0.5
    assert value(registry, "trading_equity_usd") == 1000.0 + half * 0.5
    assert value(registry, "trading_round_trips_total") == per_kind
    assert value(registry, "trading_win_rate_ratio") == 0.5
    assert value(registry, "exporter_dropped_updates_total", reason="bad_type") == 0.0
    # the fast exposition reads the same store
    assert parsed(metrics.exposition().decode()) == parsed(generate_latest(registry).decode())


def raw_registry(m: BotMetrics) -> tuple[CollectorRegistry, dict]:
    """prometheus_client's own metrics for the catalog (same names, labels, buckets) on a registry of their own."""
    registry, out = CollectorRegistry(), {}
    for spec in m.catalog.metrics:
        kind = {"counter": Counter, "gauge": Gauge, "histogram": Histogram}[spec.type]
        name = spec.name[: -len("_total")] if spec.type == "counter" else spec.name
        extra = {"buckets": spec.buckets} if spec.type == "histogram" else {}
        out[spec.name] = kind(name, spec.help, spec.label_names, registry=registry, **extra)
    return registry, out


def test_exposition_equals_prometheus_client_for_the_same_values(metrics, registry, switchy):
    """The same updates from eight threads into the exporter and into prometheus_client's own metrics:
    the same samples, in both text formats, from the fast exposition and from generate_latest."""
    n = 4_000
    raw_reg, raw = raw_registry(metrics)
    bot = tuple(BOT_LABELS[k] for k in metrics.catalog.bot_labels)
    assert bot == BOT
    trades = raw["trading_trades_total"]
    latency = raw["trading_loop_latency_seconds"].labels(*bot)
    requests = raw["http_requests_total"].labels("GET", "/orders", "200")
    duration = raw["http_request_duration_seconds"].labels("GET", "/orders")
    pnl, daily = raw["trading_pnl_usd"].labels(*bot), raw["trading_daily_pnl_usd"].labels(*bot)

    def raw_work(index: int) -> None:
        for i in range(n // 5):
            trades.labels(*bot, "entry").inc()
            latency.observe(0.25 if i % 2 else 2 ** -11)
            requests.inc()
            duration.observe(0.5)
            pnl.inc(1.0 if i % 2 else -0.5)
            daily.inc(1.0 if i % 2 else -0.5)

    exporter_work = hammer(metrics, n)
    run_threads(lambda i: (exporter_work(i), raw_work(i)))
    # the series the raw side did not touch, set to the exporter's values (their own updates are tested elsewhere)
    trades.labels(*bot, "exit")
    raw["trading_round_trips_total"].labels(*bot).inc(THREADS * (n // 5))
    raw["trading_win_rate_ratio"].labels(*bot).set(0.5)
    for family in ("trading_trades_total", "trading_loop_latency_seconds", "http_requests_total",
                   "http_request_duration_seconds", "trading_pnl_usd", "trading_daily_pnl_usd",
                   "trading_round_trips_total", "trading_win_rate_ratio"):
        ours = [s for s in parsed(metrics.exposition().decode())[1] if s[0].startswith(family)]
        theirs = [s for s in parsed(generate_latest(raw_reg).decode())[1] if s[0].startswith(family)]
        assert ours == theirs, family
        assert ours == [s for s in parsed(generate_latest(registry).decode())[1] if s[0].startswith(family)]
    assert parsed(metrics.exposition().decode())[0]["trading_loop_latency_seconds"] == \
        parsed(generate_latest(raw_reg).decode())[0]["trading_loop_latency_seconds"]


OPS_CALLS = 40_000  # per thread


def test_ops_calls_exact_totals_and_the_same_exposition_as_prometheus_client(metrics, registry, switchy):
    """The trading-operations calls (exporter/ops.py: a counter's +1 written out under the lock, a histogram,
    gauges, one-hot states, arguments by name) from eight threads, each pair of threads racing to create the
    same exchange's series, next to the same updates of prometheus_client's own metrics: exact totals and
    the same samples."""
    raw_reg, raw = raw_registry(metrics)
    bot = tuple(BOT_LABELS[k] for k in metrics.catalog.bot_labels)
    bans, latency = raw["trading_rate_limit_bans_total"], raw["trading_order_latency_seconds"]
    state, used = raw["trading_state"], raw["trading_rate_limit_used"]

    def work(index: int) -> None:
        exchange = f"venue{index % 4}"
        raw_bans = {code: bans.labels(exchange, code) for code in ("429", "418")}
        raw_latency = latency.labels(*bot, exchange)
        for i in range(OPS_CALLS // 4):
            code = 429 if i % 2 else "418"
            assert metrics.record_rate_limit_ban(exchange, code)
            raw_bans[str(code)].inc()
            seconds = 0.25 if i % 2 else 2 ** -11
            assert metrics.record_order_latency(exchange, seconds=seconds)
            raw_latency.observe(seconds)
            assert metrics.set_trading_state("reducing")
            assert metrics.set_rate_limit(exchange, used=600, limit=None)

    run_threads(work)
    for index in range(4):
        used.labels(f"venue{index}").set(600)
    for s in ("active", "reducing", "halted"):
        state.labels(*bot, s).set(1.0 if s == "reducing" else 0.0)
    per_exchange = 2 * (OPS_CALLS // 4)   # two threads per exchange
    assert value(registry, "trading_rate_limit_bans_total", exchange="venue0", code="429") == per_exchange // 2
    assert value(registry, "trading_order_latency_seconds_count", exchange="venue3") == per_exchange
    assert value(registry, "trading_order_latency_seconds_sum", exchange="venue1") == \
        per_exchange // 2 * 0.25 + per_exchange // 2 * 2 ** -11
    assert value(registry, "exporter_dropped_updates_total", reason="bad_type") == 0.0
    ours, theirs = parsed(metrics.exposition().decode())[1], parsed(generate_latest(raw_reg).decode())[1]
    for family in ("trading_rate_limit_bans_total", "trading_order_latency_seconds", "trading_state",
                   "trading_rate_limit_used"):
        mine = [s for s in ours if s[0].startswith(family)]
        assert mine and mine == [s for s in theirs if s[0].startswith(family)], family
        assert mine == [s for s in parsed(generate_latest(registry).decode())[1] if s[0].startswith(family)]
