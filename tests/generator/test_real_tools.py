"""The generated files as the real promtool and amtool judge them."""
from __future__ import annotations

import subprocess

import pytest
import yaml

from stackgen import checks
from stackgen import conventions as n
from tests.conftest import ROOT, need_tools, run_generate

pytestmark = pytest.mark.tools


@pytest.fixture(autouse=True)
def _tools():
    need_tools("promtool", "amtool")


def _failures(results):
    return [f"{r.name}:\n{r.output}" for r in results if not r.ok]


def test_committed_outputs_pass_every_real_check():
    results = checks.run_all(ROOT)
    assert not _failures(results)
    names = [r.name for r in results]
    assert {"promtool check config", "promtool check rules", "promtool test rules", "amtool check-config"} <= set(names)
    assert sum(name.startswith("amtool routes test") for name in names) >= 4


def test_every_alert_has_a_silent_and_a_firing_case():
    alerts = set()
    for path in (ROOT / n.RULES_DIR).glob("*.rules.yml"):
        for group in yaml.safe_load(path.read_text())["groups"]:
            alerts |= {rule["alert"] for rule in group["rules"] if "alert" in rule}
    silent, firing = set(), set()
    for path in (ROOT / n.RULE_TESTS_DIR).glob("*.test.yml"):
        for test in yaml.safe_load(path.read_text())["tests"]:
            for check in test.get("alert_rule_test", []):
                (firing if check.get("exp_alerts") else silent).add(check["alertname"])
    assert alerts, "no alert rules generated"
    assert alerts <= firing, f"never tested firing: {alerts - firing}"
    # The Watchdog fires from the first evaluation on, by design: it has no silent state.
    assert alerts - {n.ALERT_WATCHDOG} <= silent, f"never tested silent: {alerts - silent}"


def test_changing_a_threshold_changes_rule_and_test_and_both_still_pass(edited_spec, tmp_path):
    def tighter(data):
        data["alerts"]["drawdown"]["warning"] = 0.07
        data["alerts"]["drawdown"]["critical"] = 0.2
        data["alerts"]["fx_stale"]["max_age"] = "45s"
        data["alerts"]["loop_latency"]["p99_seconds"] = 0.025
        data["alerts"]["win_rate"]["min_round_trips"] = 50
    out = tmp_path / "out"
    assert run_generate("--spec", str(edited_spec(tighter)), "--out", str(out)).returncode == 0
    topn_rules = (out / n.RULES_DIR / "topn.rules.yml").read_text()
    assert "trading_drawdown_ratio > 0.07" in topn_rules and "trading_drawdown_ratio > 0.05" not in topn_rules
    assert '{quantile="0.99"} > 0.025' in topn_rules
    assert "source:fx_source_last_message_age_seconds > 45" in (out / n.RULES_DIR / "fx.rules.yml").read_text()
    for name in ("topn.test.yml", "fx.test.yml"):
        assert (out / n.RULE_TESTS_DIR / name).read_text() != (ROOT / n.RULE_TESTS_DIR / name).read_text()
    assert not _failures(checks.run_all(out))


def test_generated_tests_catch_a_rule_edited_by_hand(tmp_path):
    """A test that cannot fail proves nothing: break a rule, keep its tests, and promtool must object."""
    assert run_generate("--out", str(tmp_path)).returncode == 0
    rules = tmp_path / n.RULES_DIR / "topn.rules.yml"
    rules.write_text(rules.read_text().replace("trading_drawdown_ratio > 0.1", "trading_drawdown_ratio > 0.5"))
    proc = subprocess.run(["promtool", "test", "rules", str(tmp_path / n.RULE_TESTS_DIR / "topn.test.yml")],
                          capture_output=True, text=True)
    assert proc.returncode != 0
    assert "TradingDrawdownHigh" in proc.stdout + proc.stderr


def test_routing_cases_follow_the_spec(edited_spec, tmp_path):
    def warnings_to_email(data):
        data["alertmanager"]["routes"][2]["receivers"] = ["email-ops"]
    out = tmp_path / "out"
    assert run_generate("--spec", str(edited_spec(warnings_to_email)), "--out", str(out)).returncode == 0
    results = checks.run_all(out)
    assert not _failures(results)
    assert any(r.name.endswith("severity=warning -> email-ops") for r in results)


def test_amtool_rejects_a_route_to_the_wrong_receiver(tmp_path):
    config = ROOT / n.ALERTMANAGER_CONFIG
    proc = subprocess.run(["amtool", "config", "routes", "test", f"--config.file={config}",
                           "--verify.receivers=slack-trading", "severity=critical", "alertname=X"],
                          capture_output=True, text=True)
    assert proc.returncode != 0
