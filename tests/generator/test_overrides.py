"""Per-bot (and env/strategy) thresholds: a bot's entry or an `overrides:` item changes a family's fields for
its own series. One rule set per distinct values, kept apart by label matchers; promtool proves each
scope fires past its own threshold and not past another's."""
from __future__ import annotations

import re
import subprocess

import pytest
import yaml

from stackgen.errors import SpecError
from tests.conftest import need_tools
from tests.generator.fixture import render, stack_of

BOT = {"name": "paper-mm", "profile": "exporter", "targets": ["127.0.0.1:9201"]}


def two_scopes(data: dict) -> None:
    """The fixture's drawdown (warning 0.2, critical 0.3) plus: live bots tighter, one paper bot looser."""
    data["alerts"]["drawdown"]["overrides"] = [{"match": {"env": "live"}, "warning": 0.02, "critical": 0.04}]
    data["bots"] = [dict(BOT, alerts={"drawdown": {"warning": 0.4, "critical": 0.6}})]


def _write(files: dict[str, str], base) -> None:
    for name, text in files.items():
        path = base / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def _drawdown_rules(files: dict[str, str]) -> list[dict]:
    rules = yaml.safe_load(files["rules/topn.rules.yml"])
    return [r for g in rules["groups"] for r in g["rules"] if r.get("alert") == "TradingDrawdownHigh"]


def test_each_scope_gets_its_own_rules_kept_apart_by_matchers():
    _, files = render(two_scopes)
    exprs = [r["expr"] for r in _drawdown_rules(files)]
    assert exprs == [
        'trading_drawdown_ratio{env!~"live", job!~"paper-mm"} > 0.2',
        'trading_drawdown_ratio{env!~"live", job!~"paper-mm"} > 0.3',
        'trading_drawdown_ratio{job=~"paper-mm"} > 0.4',       # the bot's own entry wins over env
        'trading_drawdown_ratio{job=~"paper-mm"} > 0.6',
        'trading_drawdown_ratio{job!~"paper-mm", env=~"live"} > 0.02',
        'trading_drawdown_ratio{job!~"paper-mm", env=~"live"} > 0.04',
    ]
    # Each rule's text cites its own numbers (the runbook lists every rule with its expression).
    assert [re.search(r"level of (\S+)\.", r["annotations"]["description"]).group(1)
            for r in _drawdown_rules(files)] == ["20%", "30%", "40%", "60%", "2%", "4%"]
    assert "> 0.4" in files["docs/runbook.md"] and 'job=~"paper-mm"' in files["docs/runbook.md"]


def test_promtool_proves_each_scope_fires_at_its_own_threshold_only(tmp_path):
    need_tools("promtool")
    _, files = render(two_scopes)
    tests = yaml.safe_load(files["rules/tests/topn.test.yml"])
    cases = {t["name"].split("]")[0].lstrip("[") if t["name"].startswith("[") else "default": t
             for t in tests["tests"] if "drawdown" in t["name"]}
    assert set(cases) == {"default", "job=paper-mm: warning 40%, critical 60%, for 10m",
                          "env=live: warning 2%, critical 4%, for 10m"}

    def values(case: dict, **labels) -> list[float]:
        return [float(s["values"].split("x")[0]) for s in case["input_series"]
                if all(f'{k}="{v}"' in s["series"] for k, v in labels.items())]
    # The paper bot's mid series (50%) is past the default critical level (30%), yet its case expects
    # only its own warning: the default rules do not apply to its series. Its calm series (20%) is past
    # the live levels and stays silent. The live case fires at 3%, far under the default 20%.
    paper = cases["job=paper-mm: warning 40%, critical 60%, for 10m"]
    assert values(paper, job="paper-mm", strategy="mid") == [0.5]
    assert values(paper, job="paper-mm", strategy="calm") == [0.2]
    paper_fired = [(a["exp_labels"]["strategy"], a["exp_labels"]["severity"])
                   for c in paper["alert_rule_test"] for a in c["exp_alerts"]]
    assert ("mid", "critical") not in paper_fired and ("mid", "warning") in paper_fired
    live = cases["env=live: warning 2%, critical 4%, for 10m"]
    assert values(live, env="live", strategy="mid") == [0.03]
    fired = [a for c in live["alert_rule_test"] for a in c["exp_alerts"]]
    assert {"strategy": "mid", "severity": "warning"}.items() <= fired[0]["exp_labels"].items()
    _write(files, tmp_path)
    run = subprocess.run(["promtool", "test", "rules", str(tmp_path / "rules/tests/topn.test.yml")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["alerts"]["drawdown"].update(overrides=[{"match": {"env": "live", "job": "x"}, "warning": 0.1}]),
     r"overrides\[0\]\.match: match exactly one label"),
    (lambda d: d["alerts"]["drawdown"].update(overrides=[{"match": {"env": "live"}, "warning": 0.5}]),
     r"overrides\[0\]\.warning: must be below critical|must be above warning"),
    (lambda d: d["alerts"]["drawdown"].update(overrides=[{"match": {"strategy": "s"}, "warning": 0.1}]),
     r"alerts\.drawdown\.overrides: the generated tests of this family tell their series apart by 'strategy'"),
    (lambda d: d.update(bots=[dict(BOT, alerts={"order_rejects": {"ratio": 0.5}})]),
     r"bots\[0\]\.alerts\.order_rejects: alert family 'order_rejects' is off"),
    (lambda d: d.update(bots=[dict(BOT, alerts={"drawdown": {"warnign": 0.5}})]),
     r"bots\[0\]\.alerts\.drawdown"),
    (lambda d: d["alerts"]["drawdown"].update(overrides=[{"match": {"env": "{{ end }}"}, "warning": 0.1}]),
     r"spec\.yaml:\d+: alerts\.drawdown\.overrides\[0\]\.match\.env: '\{\{ end \}\}' is not a valid label "
     r"value to match \(no \{\{, \}\} or control characters\)"),
    (lambda d: d["alerts"]["drawdown"].update(overrides=[{"match": {"env": "a\nb"}, "warning": 0.1}]),
     r"overrides\[0\]\.match\.env: .* is not a valid label value to match"),
])
def test_bad_overrides_fail_with_file_line_and_field(edit, message):
    with pytest.raises(SpecError) as exc:
        render(edit)
    assert re.search(message, str(exc.value)), str(exc.value)


def test_a_family_without_overrides_renders_as_before():
    stack = stack_of()
    assert all(not c.overrides for c in stack.alerts.families)


def test_panels_citing_a_threshold_name_every_scope_s_number():
    _, files = render(two_scopes)
    text = next(t for name, t in files.items() if name.startswith("dashboards/") and "Worst drawdown" in t)
    assert "Yellow from 20% (job=paper-mm: 40%; env=live: 2%), red from 30% (job=paper-mm: 60%; env=live: 4%)." \
        in text


def test_effective_shows_each_bots_values_with_the_inherited_ones_marked(tmp_path):
    """`generate.py --effective`: a bot's own thresholds as written, what it inherits from `alerts:` marked."""
    import contextlib
    import io

    import generate
    spec = tmp_path / "spec.yaml"
    spec.write_text("version: tradingmon/v1\nbots:\n"
                    "  - {name: paper-mm, profile: zigquant, targets: ['paper:8080'],\n"
                    "     alerts: {drawdown: {warning: 0.3, critical: 0.5}}}\n"
                    "  - {name: live-mm, profile: zigquant, targets: ['live:8080']}\n")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert generate.main(["--spec", str(spec), "--effective"]) == 0
    text = out.getvalue()
    bot = text[text.index("- name: paper-mm"):text.index("- name: live-mm")]
    assert re.search(r"drawdown:\n\s+warning: 0\.3\n\s+critical: 0\.5\n\s+for: 5m  # default\n", bot), bot
    assert re.search(r"^alerts:  # default\n(.*\n)*?  drawdown:\n    warning: 0\.05\n", text, re.M), text


HOSTILE_ENV = 'x"}) or vector(1) # .*|\\'     # a quote, braces, regex and PromQL characters, a backslash


def test_an_override_value_with_quotes_and_regex_characters_matches_only_itself(tmp_path):
    """The value is escaped for the regex and for the PromQL string in the rules, the promtool series and
    the panels: promtool checks and runs the rules, and the scope's test proves it fires on its series."""
    need_tools("promtool")

    def hostile(data: dict) -> None:
        data["alerts"]["drawdown"]["overrides"] = [{"match": {"env": HOSTILE_ENV}, "warning": 0.02, "critical": 0.04}]
    _, files = render(hostile)
    exprs = [r["expr"] for r in _drawdown_rules(files)]
    assert exprs[2] == r'trading_drawdown_ratio{env=~"x\"\\}\\) or vector\\(1\\) # \\.\\*\\|\\\\"} > 0.02'
    _write(files, tmp_path)
    check = subprocess.run(["promtool", "check", "rules", str(tmp_path / "rules/topn.rules.yml")],
                           capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr
    run = subprocess.run(["promtool", "test", "rules", str(tmp_path / "rules/tests/topn.test.yml")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    tests = yaml.safe_load(files["rules/tests/topn.test.yml"])["tests"]
    assert any(HOSTILE_ENV in s["series"].encode().decode("unicode_escape") for t in tests
               for s in t["input_series"]), "no test series carries the override's value"
