"""A threshold in the spec is the number in the rule, its promtool test and the runbook (in-process).

What the real promtool makes of such rules is checked in tests/real_tools/test_real_tools.py.
"""
from __future__ import annotations

from stackgen import conventions as n
from stackgen.spec.fields import parse_duration
from tests.generator.fixture import base_data, base_render, load, render, spec_text


def test_changing_a_threshold_changes_rule_and_test():
    def tighter(data):
        data["alerts"]["drawdown"]["warning"] = 0.07
        data["alerts"]["fx_stale"]["max_age"] = "45s"
        data["alerts"]["loop_latency"]["p99_seconds"] = 0.025
    _, before = base_render()
    _, after = render(tighter)
    topn = after[f"{n.RULES_DIR}/topn.rules.yml"]
    assert "trading_drawdown_ratio > 0.07" in topn and '{quantile="0.99"} > 0.025' in topn
    assert "source:fx_source_last_message_age_seconds > 45" in after[f"{n.RULES_DIR}/fx.rules.yml"]
    for name in ("topn.test.yml", "fx.test.yml"):
        assert after[f"{n.RULE_TESTS_DIR}/{name}"] != before[f"{n.RULE_TESTS_DIR}/{name}"]
    assert "7%" in after[n.RUNBOOK] or "0.07" in after[n.RUNBOOK]


def test_spec_text_and_load_agree():
    assert load(spec_text()).alerts.family("drawdown")["warning"] == base_data()["alerts"]["drawdown"]["warning"]
    assert parse_duration("1m") == 60
