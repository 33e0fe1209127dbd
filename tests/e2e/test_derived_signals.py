"""Derived signals against a real Prometheus: a bot exposing only its equity gets TradingDrawdownHigh,
one exposing only win and loss counters gets TradingWinRateLow, one exposing only its cumulative PnL
gets TradingDailyLossLimit (its day at its own utc_offset), from the built-in families."""
from __future__ import annotations

import yaml

import pytest

from tests.conftest import need_tools, run_generate
from tests.e2e.fakebots import FakeBot, Prometheus
from tests.e2e.test_profiles import poll
from tests.real_tools.test_derived_signals import spec

pytestmark = pytest.mark.e2e


def test_equity_alone_and_win_loss_counters_alone_feed_the_built_in_trading_alerts(tmp_path):
    need_tools("prometheus")
    bots = {"mm": FakeBot(lines=["# TYPE mm_equity_usd gauge", "mm_equity_usd 120"]),
            "wl": FakeBot(lines=["# TYPE wl_wins_total counter", "wl_wins_total 0",
                                 "# TYPE wl_losses_total counter", "wl_losses_total 0"]),
            "seoul": FakeBot(lines=["# TYPE pl_pnl_usd gauge", "pl_pnl_usd 1000"])}
    prometheus = None
    try:
        path = spec(tmp_path)
        data = yaml.safe_load(path.read_text())
        data["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
        data["alerts"]["win_rate"].update(window="1m")
        data["bots"] = [bot for bot in data["bots"] if bot["name"] in bots]
        for bot in data["bots"]:
            bot["targets"] = [bots[bot["name"]].target]
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        proc = run_generate("--spec", str(path), "--out", str(tmp_path / "tree"))
        assert proc.returncode == 0, proc.stdout + proc.stderr
        prometheus = Prometheus(tmp_path / "tree", tmp_path)
        assert not poll({"peak": lambda: prometheus.query('trading_equity_peak_usd{job="mm"} == 120'),
                         "day start": lambda: prometheus.query('trading_pnl_day_start_usd{job="seoul"} == 1000')}, 30)
        bots["seoul"].set("pl_pnl_usd", 300.0)                  # 700 USD lost today, beyond the 500 limit
        bots["mm"].set("mm_equity_usd", 100.0)                 # 16.7 % below the running peak
        bots["wl"].grow("wl_wins_total", 1)
        bots["wl"].grow("wl_losses_total", 3)                  # a quarter of the round trips won
        pending = 'ALERTS{{alertname="{}",job="{}",alertstate=~"pending|firing"}}'
        failing = poll({"drawdown": lambda: prometheus.query(pending.format("TradingDrawdownHigh", "mm")),
                        "win rate": lambda: prometheus.query(pending.format("TradingWinRateLow", "wl")),
                        "daily loss": lambda: prometheus.query(pending.format("TradingDailyLossLimit", "seoul"))}, 45)
        assert not failing, failing
        # The bots' own series are still there under their own names.
        assert prometheus.query('mm_equity_usd{job="mm"}') and prometheus.query('wl_wins_total{job="wl"}')
        assert not prometheus.query('ALERTS{alertname="TradingWinRateLow",job="mm"}')
    finally:
        if prometheus is not None:
            prometheus.stop()
        for bot in bots.values():
            bot.stop()
