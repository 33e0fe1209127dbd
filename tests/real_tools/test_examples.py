"""The example specs, one per seed system: each generates, and the real promtool and amtool accept it."""
from __future__ import annotations

import pytest

from stackgen import checks
from tests.conftest import ROOT, need_tools, run_generate

EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))


def test_there_is_an_example_per_seed_system():
    names = " ".join(p.name for p in EXAMPLES)
    for system in ("d77-topn", "d80-fx", "zigquant", "rust-trader", "fastapi"):
        assert system in names


@pytest.mark.tools
@pytest.mark.parametrize("spec", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_generates_and_passes_promtool_and_amtool(spec, tmp_path):
    need_tools("promtool", "amtool")
    proc = run_generate("--spec", str(spec), "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # The coverage report: every bot of an example feeds every alert and panel its spec turns on.
    assert "(profile " in proc.stdout and "not fed" not in proc.stdout and "no data" not in proc.stdout, proc.stdout
    assert list((tmp_path / "rules").glob("profile-*.rules.yml"))
    results = checks.run_all(tmp_path)
    failed = [f"{r.name}:\n{r.output}" for r in results if not r.ok]
    assert not failed, "\n".join(failed)
    assert any(r.name == "promtool test rules" for r in results)


# What each seed's long example (before defaults) gave: its alerts, and the panels of its dashboards.
BEFORE_DEFAULTS = {
    "d77-topn": ({"TradingWinRateLow", "TradingLoopLatencyHigh", "TargetDown", "TargetAbsent", "Watchdog",
                  "BotStopped"}, 13),
    "d80-fx": ({"FxSourceStale", "FxValidSourcesLow", "FxSourceDeviation", "TargetDown", "TargetAbsent", "Watchdog",
                "FxSourceDisconnected", "BotStopped"}, 7),
    "fastapi": ({"ApiLatencyHigh", "ApiErrorRateHigh", "TargetDown", "TargetAbsent", "Watchdog", "BotStopped"}, 9),
    "rust-trader": ({"ApiLatencyHigh", "ApiErrorRateHigh", "ApiRateLimiting", "WebSocketConnectionsDrop",
                     "TargetDown", "TargetAbsent", "Watchdog", "DailyLossLimit", "BotStopped"}, 22),
    "zigquant": ({"TradingDrawdownHigh", "ApiLatencyHigh", "ApiErrorRateHigh", "TargetDown", "TargetAbsent",
                  "Watchdog", "LowWinRate", "ExchangeDisconnected", "BotStopped"}, 10),
}


SEED_EXAMPLES = [p for p in EXAMPLES if p.stem in BEFORE_DEFAULTS]


def test_every_seed_has_its_short_example():
    assert sorted(p.stem for p in SEED_EXAMPLES) == sorted(BEFORE_DEFAULTS)


@pytest.mark.parametrize("spec", SEED_EXAMPLES, ids=[p.stem for p in SEED_EXAMPLES])
def test_example_is_at_most_20_lines_and_yields_what_its_long_form_did(spec):
    from stackgen import coverage
    from stackgen.load import load_stack
    assert len(spec.read_text().splitlines()) <= 20
    alerts, panels = BEFORE_DEFAULTS[spec.stem]
    for bot in coverage.report(load_stack(spec)):
        assert alerts <= {i.name for i in bot.alerts if i.fed}, bot.lines()
        assert len(bot.fed("panels")) >= panels + 3, bot.lines()     # + the fleet overview's up, alerts, heartbeat
