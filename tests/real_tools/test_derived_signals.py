"""Derived signals (signals.yaml `derived:`): a bot exposing only equity gets TradingDrawdownHigh, one
exposing only win and loss counters gets TradingWinRateLow, judged by the real promtool on the
generated rules, a restart of the bot included."""
from __future__ import annotations

import copy
import subprocess

import pytest
import yaml

from stackgen import checks, coverage
from stackgen.load import load_stack
from tests.conftest import need_tools, run_generate
from tests.generator.test_profiles import BASE

pytestmark = pytest.mark.tools

PROFILES = [
    {"name": "equity-only", "map": [{"signal": "equity", "from": "mm_equity_usd"}]},
    {"name": "wins-losses", "map": [{"signal": "wins", "from": "wl_wins_total"},
                                    {"signal": "losses", "from": "wl_losses_total"}]},
    {"name": "pnl-only", "map": [{"signal": "pnl", "from": "pl_pnl_usd"}]},
]


def spec(tmp_path):
    data = copy.deepcopy(BASE)
    data["profiles"] = PROFILES
    data["bots"] = [{"name": "mm", "profile": "equity-only", "targets": ["mm:9000"]},
                    {"name": "wl", "profile": "wins-losses", "targets": ["wl:9000"]},
                    {"name": "seoul", "profile": "pnl-only", "targets": ["pl:9000"], "utc_offset": "+09:00"},
                    {"name": "nyc", "profile": "pnl-only", "targets": ["pl2:9000"], "utc_offset": "-05:00"}]
    data["alerts"] = {"drawdown": {"warning": 0.05, "critical": 0.1, "for": "1m"}, "daily_loss": {"limit_usd": -500},
                      "win_rate": {"below": 0.4, "min_round_trips": 5, "window": "1h", "for": "1m"}}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_derived_signals_feed_the_built_in_families(tmp_path):
    report = {b.bot.name: b for b in coverage.report(load_stack(spec(tmp_path)))}
    assert {i.name for i in report["mm"].alerts if i.fed} >= {"TradingDrawdownHigh"}
    assert {i.name for i in report["wl"].alerts if i.fed} >= {"TradingWinRateLow"}
    assert not {i.name for i in report["mm"].alerts if i.fed} & {"TradingWinRateLow"}
    assert {i.name for i in report["seoul"].alerts if i.fed} >= {"TradingDailyLossLimit"}


def test_generated_derived_rules_pass_their_promtool_tests(tmp_path):
    need_tools("promtool")
    proc = run_generate("--spec", str(spec(tmp_path)), "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    tests = yaml.safe_load((tmp_path / "out/rules/tests/profile-equity-only.test.yml").read_text())["tests"]
    assert {t["name"].split(":")[0] for t in tests} >= {"derived equity_peak", "derived drawdown"}
    # The day starts at each bot's own midnight: one day-start rule per utc_offset.
    pnl = yaml.safe_load((tmp_path / "out/rules/profile-pnl-only.rules.yml").read_text())["groups"][1]["rules"]
    starts = [r["expr"] for r in pnl if r["record"] == "trading_pnl_day_start_usd"]
    assert len(starts) == 2 and 'job="nyc"' in starts[0] and "+ -18000" in starts[0] and "+ 32400" in starts[1]
    failed = [f"{r.name}:\n{r.output}" for r in checks.run_all(tmp_path / "out") if not r.ok]
    assert not failed, "\n".join(failed)


def _alerts_test(rule_files: list[str], series: list[dict], at: str, alert: str, job: str) -> dict:
    return {"rule_files": rule_files, "evaluation_interval": "15s",
            "tests": [{"interval": "15s", "input_series": series, "promql_expr_test": [
                {"eval_time": at, "expr": f'count by (alertname, severity) (ALERTS{{alertname="{alert}",'
                                          f'job="{job}",alertstate="firing"}})',
                 "exp_samples": []}]}]}


def _firing(tmp_path, name: str, series: list[dict], at: str, alert: str, job: str) -> str:
    """promtool's verdict on: no such alert firing at `at` (its failure message lists what does fire)."""
    out = tmp_path / "out"
    rules = sorted(f"../{p.name}" for p in (out / "rules").glob("*.rules.yml"))
    test = out / "rules/tests" / f"{name}.test.yml"
    test.write_text(yaml.safe_dump(_alerts_test(rules, series, at, alert, job)))
    proc = subprocess.run(["promtool", "test", "rules", test.name], cwd=test.parent, capture_output=True, text=True)
    return proc.stdout + proc.stderr


def test_equity_alone_fires_the_drawdown_alert_and_win_loss_counters_the_win_rate_alert(tmp_path):
    need_tools("promtool")
    proc = run_generate("--spec", str(spec(tmp_path)), "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # Equity 100 -> 120, a restart of the bot (missed scrapes), then 100: 16.7 % below the peak.
    equity = [{"series": 'mm_equity_usd{job="mm",instance="mm:9000"}', "values": "100 110 120 _ _ 100x20"}]
    verdict = _firing(tmp_path, "drawdown-from-equity", equity, "5m", "TradingDrawdownHigh", "mm")
    assert 'severity="critical"' in verdict and 'severity="warning"' in verdict, verdict
    # 4 wins, 8 losses over the hour, the counters reset by a restart half-way: 33 % < 40 %.
    counters = [{"series": 'wl_wins_total{job="wl",instance="wl:9000"}', "values": "0 1 2 _ 0 1 2 2x20"},
                {"series": 'wl_losses_total{job="wl",instance="wl:9000"}', "values": "0 2 4 _ 0 2 4 4x20"}]
    verdict = _firing(tmp_path, "win-rate-from-counters", counters, "5m", "TradingWinRateLow", "wl")
    assert 'alertname="TradingWinRateLow"' in verdict, verdict
    # A winning bot stays silent.
    counters[0]["values"], counters[1]["values"] = "0 4 8 _ 0 4 8 8x20", "0 1 2 _ 0 1 2 2x20"
    verdict = _firing(tmp_path, "win-rate-high", counters, "5m", "TradingWinRateLow", "wl")
    assert "SUCCESS" in verdict, verdict


def test_every_builtin_profiles_generated_promtool_tests_pass(tmp_path):
    """Each mapping's recording rule (native in, signal out, native kept, excluded series left out),
    each derived signal and each dead man's switch, for every built-in profile, by the real promtool."""
    need_tools("promtool", "amtool")
    from stackgen.model.profiles import builtin_profiles
    data = copy.deepcopy(BASE)
    data["bots"] = [{"name": f"bot-{name}", "profile": name, "targets": [f"{name}:9000"]}
                    for name in builtin_profiles()]
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    proc = run_generate("--spec", str(path), "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(list((tmp_path / "out/rules/tests").glob("profile-*.test.yml"))) == len(builtin_profiles())
    failed = [f"{r.name}:\n{r.output}" for r in checks.run_all(tmp_path / "out") if not r.ok]
    assert not failed, "\n".join(failed)
