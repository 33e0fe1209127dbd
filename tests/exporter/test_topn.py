"""TopN semantics: PnL and daily roll-over, equity/drawdown edge cases, win rate, init and reset."""
from __future__ import annotations

import threading

import pytest
from prometheus_client import CollectorRegistry

from exporter.metrics import BotMetrics

from .conftest import BOT, BOT_LABELS, samples, value


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def v(registry, name, **labels):
    return value(registry, name, **BOT_LABELS, **labels)


# -- drawdown ----------------------------------------------------------------------------

def test_no_equity_yet_means_no_drawdown(metrics, registry):
    metrics.record_pnl(-500.0)  # PnL without an equity does not invent one
    assert v(registry, "trading_drawdown_ratio") == 0.0
    assert v(registry, "trading_equity_usd") == 0.0
    assert v(registry, "trading_max_drawdown_ratio") == 0.0


def test_drawdown_from_the_running_peak(metrics, registry):
    metrics.set_equity(10_000.0)
    metrics.set_equity(12_000.0)
    metrics.set_equity(9_000.0)
    assert v(registry, "trading_equity_peak_usd") == 12_000.0
    assert v(registry, "trading_drawdown_ratio") == pytest.approx(0.25)
    metrics.set_equity(11_000.0)
    assert v(registry, "trading_drawdown_ratio") == pytest.approx(1 / 12)
    assert v(registry, "trading_max_drawdown_ratio") == pytest.approx(0.25)  # the max stays
    metrics.set_equity(13_000.0)
    assert v(registry, "trading_drawdown_ratio") == 0.0
    assert v(registry, "trading_equity_peak_usd") == 13_000.0


def test_record_pnl_moves_equity_and_drawdown(metrics, registry):
    metrics.set_equity(1_000.0)
    metrics.record_pnl(-100.0)
    assert v(registry, "trading_equity_usd") == 900.0
    assert v(registry, "trading_drawdown_ratio") == pytest.approx(0.1)
    assert v(registry, "trading_pnl_usd") == -100.0


@pytest.mark.parametrize("equities, drawdown", [
    ([0.0], 0.0),                # peak 0: no meaningful drawdown
    ([-50.0, -80.0], 0.0),       # peak below 0
    ([100.0, -50.0], 1.0),       # equity below 0: clamped at 1
    ([100.0, 0.0], 1.0),
    ([100.0, 100.0], 0.0),
])
def test_drawdown_edge_cases(metrics, registry, equities, drawdown):
    for equity in equities:
        metrics.set_equity(equity)
    assert v(registry, "trading_drawdown_ratio") == pytest.approx(drawdown)
    assert 0.0 <= v(registry, "trading_max_drawdown_ratio") <= 1.0


# -- PnL and the UTC day -----------------------------------------------------------------

def test_daily_pnl_resets_at_midnight_utc(registry):
    clock = FakeClock(1_700_006_400.0 - 10.0)  # 10 s before 00:00 UTC (1700006400 is a midnight)
    m = BotMetrics(registry, clock=clock, process_collectors=False)
    m.init_metrics(*BOT)
    m.record_pnl(50.0)
    m.record_pnl(-20.0)
    assert v(registry, "trading_daily_pnl_usd") == pytest.approx(30.0)
    clock.now += 20.0
    m.record_pnl(5.0)
    assert v(registry, "trading_daily_pnl_usd") == pytest.approx(5.0)
    assert v(registry, "trading_pnl_usd") == pytest.approx(35.0)  # cumulative does not reset


def test_daily_pnl_resets_at_scrape_time_without_new_trades(registry):
    clock = FakeClock(1_700_006_400.0 - 10.0)
    m = BotMetrics(registry, clock=clock, process_collectors=False)
    m.init_metrics(*BOT)
    m.record_pnl(-700.0)
    clock.now += 3600.0
    assert v(registry, "trading_daily_pnl_usd") == 0.0  # a quiet morning does not show yesterday's loss
    assert v(registry, "trading_pnl_usd") == -700.0


# -- win rate ----------------------------------------------------------------------------

def test_win_rate_with_no_trades_stays_zero(metrics, registry):
    assert metrics.record_win_rate(0, 0)
    assert v(registry, "trading_win_rate_ratio") == 0.0
    assert value(registry, "exporter_dropped_updates_total", reason="not_finite") == 0.0


def test_win_rate_from_wins_and_losses(metrics, registry):
    metrics.record_win_rate(3, 2)
    assert v(registry, "trading_win_rate_ratio") == pytest.approx(0.6)
    metrics.record_win_rate(0, 4)
    assert v(registry, "trading_win_rate_ratio") == 0.0
    metrics.record_win_rate(4, 0)
    assert v(registry, "trading_win_rate_ratio") == 1.0


def test_round_trips_with_outcome_keep_a_tally(metrics, registry):
    metrics.record_round_trip()           # outcome unknown: counted, win rate untouched
    assert v(registry, "trading_win_rate_ratio") == 0.0
    metrics.record_round_trip(won=True)
    metrics.record_round_trip(won=False)
    metrics.record_round_trip(won=True)
    assert v(registry, "trading_round_trips_total") == 4.0
    assert v(registry, "trading_win_rate_ratio") == pytest.approx(2 / 3)
    metrics.record_win_rate(1, 3)         # the bot's own counts win ...
    assert v(registry, "trading_win_rate_ratio") == pytest.approx(0.25)
    metrics.record_round_trip(won=True)   # ... until the exporter's tally (3 of 4) is updated again
    assert v(registry, "trading_win_rate_ratio") == pytest.approx(3 / 4)


# -- the other TopN calls -------------------------------------------------------------------

def test_counters_and_gauges(metrics, registry):
    metrics.record_guard_trigger("symbol")
    metrics.record_exit_reason("stop_loss")
    metrics.record_alert("P1", "rate_limiter")
    metrics.record_loop_latency(0.002)
    metrics.set_active_positions(4)
    metrics.set_risk_metrics(sharpe=1.5, var95_usd=250.0)
    assert v(registry, "trading_guard_triggers_total", guard_type="symbol") == 1.0
    assert v(registry, "trading_exits_total", reason="stop_loss") == 1.0
    assert v(registry, "trading_bot_alerts_total", severity="P1", source="rate_limiter") == 1.0
    # a new alert source gets all its severities at 0 at once
    assert v(registry, "trading_bot_alerts_total", severity="P0", source="rate_limiter") == 0.0
    assert v(registry, "trading_loop_latency_seconds_count") == 1.0
    assert v(registry, "trading_loop_latency_seconds_bucket", le="0.0025") == 1.0
    assert v(registry, "trading_active_positions") == 4.0
    assert v(registry, "trading_sharpe") == 1.5
    assert v(registry, "trading_var95_usd") == 250.0
    assert v(registry, "trading_calmar") == 0.0  # None leaves a gauge as it is


def test_last_event_timestamp_follows_applied_calls_only(registry):
    """Updates set a flag; the first read after them stamps the time (late by at most one read)."""
    clock = FakeClock(1_700_000_000.0)
    m = BotMetrics(registry, clock=clock, process_collectors=False)
    m.init_metrics(*BOT)
    assert m.last_event_time is None
    assert value(registry, "exporter_last_event_timestamp_seconds") == 0.0
    m.record_trade("entry")
    assert value(registry, "exporter_last_event_timestamp_seconds") == 1_700_000_000.0
    clock.now += 5
    m.record_trade("bogus")  # dropped: not an event
    assert value(registry, "exporter_last_event_timestamp_seconds") == 1_700_000_000.0
    assert m.last_event_time == 1_700_000_000.0
    m.set_equity(10.0)
    clock.now += 3
    assert m.last_event_time == 1_700_000_008.0  # stamped by this read, not at the update


# -- init_metrics and reset_metrics -----------------------------------------------------------

def test_init_metrics_again_with_the_same_values_changes_nothing(metrics, registry):
    metrics.record_trade("entry")
    metrics.init_metrics(*BOT)
    metrics.init_metrics(*BOT, registry=registry)
    assert v(registry, "trading_trades_total", trade_type="entry") == 1.0


def test_init_metrics_with_other_labels_rebinds(metrics, registry):
    metrics.set_equity(100.0)
    metrics.record_trade("entry")
    metrics.record_fx_outlier("okx")
    metrics.init_metrics("live", "top50", "topn_arb")
    metrics.record_trade("exit")
    trades = samples(registry, "trading_trades_total")
    assert {dict(k)["env"] for k in trades} == {"live"}  # the old bot's series are gone
    assert value(registry, "trading_trades_total", env="live", trade_type="exit") == 1.0
    assert value(registry, "trading_equity_usd", env="live") == 0.0  # fresh state for the new identity
    assert value(registry, "fx_outliers_removed_total", source="okx") == 1.0  # not bot-labelled: kept


def test_init_metrics_with_another_registry_moves_everything(metrics, registry):
    other = CollectorRegistry()
    metrics.init_metrics(*BOT, registry=other)
    metrics.record_trade("entry")
    assert samples(registry, "trading_trades_total") == {}
    assert value(other, "trading_trades_total", trade_type="entry") == 1.0


def test_init_metrics_rejects_bad_labels_loudly(registry):
    m = BotMetrics(registry, process_collectors=False)
    with pytest.raises(ValueError, match="init_metrics: env=None is not a string"):
        m.init_metrics(None, "top20", "topn_arb")
    with pytest.raises(ValueError, match="universe is empty"):
        m.init_metrics("paper", "", "topn_arb")


def test_two_exporters_on_one_registry_is_a_clear_error(metrics, registry):
    with pytest.raises(ValueError, match="another BotMetrics already using this registry"):
        BotMetrics(registry, process_collectors=False)


def test_reset_metrics(metrics, registry):
    metrics.set_equity(100.0)
    metrics.set_equity(50.0)
    metrics.record_trade("entry")
    metrics.record_fx_quote("okx", 1.0)
    metrics.record_trade(42)
    metrics.reset_metrics()
    assert v(registry, "trading_trades_total", trade_type="entry") == 0.0
    assert v(registry, "trading_max_drawdown_ratio") == 0.0
    assert samples(registry, "fx_source_rate") == {}
    assert value(registry, "exporter_dropped_updates_total", reason="bad_type") == 0.0
    assert metrics.last_event_time is None
    metrics.set_equity(10.0)  # state starts afresh too: 10 is the new peak
    assert v(registry, "trading_drawdown_ratio") == 0.0
    assert metrics.bot_labels == BOT


def test_concurrent_updates_are_all_counted(metrics, registry):
    metrics.set_equity(1_000_000.0)

    def work():
        for _ in range(2000):
            metrics.record_trade("entry")
            metrics.record_pnl(1.0)
            metrics.record_round_trip(won=True)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert v(registry, "trading_trades_total", trade_type="entry") == 8000.0
    assert v(registry, "trading_pnl_usd") == 8000.0
    assert v(registry, "trading_equity_usd") == 1_008_000.0
    assert v(registry, "trading_round_trips_total") == 8000.0
    assert v(registry, "trading_win_rate_ratio") == 1.0


def test_bot_reported_memory_and_cpu(metrics, registry):
    """D77-1's record_memory_usage(bytes) and record_cpu_usage(percent): the bot's own figures."""
    assert metrics.record_memory_usage(157_286_400)
    assert metrics.record_cpu_usage(12.5)
    assert value(registry, "trading_memory_usage_bytes", env="test") == 157_286_400.0
    assert value(registry, "trading_cpu_usage_ratio", env="test") == 0.125
    assert metrics.record_cpu_usage(250)  # several cores
    assert value(registry, "trading_cpu_usage_ratio", env="test") == 2.5


def test_bot_reported_memory_is_not_the_exporter_process_memory():
    registry = CollectorRegistry()
    m = BotMetrics(registry)  # with the process collector, as the sidecar serves it
    m.init_metrics(*BOT)
    m.record_memory_usage(4096)
    assert value(registry, "trading_memory_usage_bytes", env="test") == 4096.0
    assert value(registry, "process_resident_memory_bytes") > 1 << 20  # the exporter's own RSS, untouched
