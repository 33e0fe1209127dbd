"""Per-bot colours: a panel whose thresholds cite a family that bots or envs override shows each bot's
series at its own numbers (one copy of each query per scope, a byFrameRefID override per copy)."""
from __future__ import annotations

import json
import subprocess

import yaml

from stackgen.alerts import families as fam
from stackgen.model.dashboards import Step
from stackgen.render.builders import bot_colours
from tests.conftest import need_tools
from tests.dashboards import linter
from tests.dashboards.conftest import panels_of
from tests.dashboards.test_schema import dashboard_errors
from tests.e2e.test_native_stack import substitute
from tests.generator.fixture import render
from tests.generator.test_overrides import two_scopes


def _dashboards(files: dict[str, str]) -> dict[str, dict]:
    return {p: json.loads(t) for p, t in files.items() if p.startswith("dashboards/") and p.endswith(".json")}


def _drawdown_stat(dashboards: dict[str, dict]) -> dict:
    (panel,) = [p for d in dashboards.values() for p in panels_of(d)
                if p["type"] == "stat" and p["title"] == "Drawdown"]
    return panel


def _steps(thresholds: dict) -> list:
    return [(s["color"], s["value"]) for s in thresholds["steps"]]


def test_each_scope_s_series_take_its_own_colours():
    _, files = render(two_scopes)
    panel = _drawdown_stat(_dashboards(files))
    assert [(t["refId"], t["expr"], t.get("legendFormat")) for t in panel["targets"]] == [
        ("A", 'max(trading_drawdown_ratio{env!~"live", job!~"paper-mm", job=~"$job", instance=~"$instance"})',
         "other bots"),
        ("B", 'max(trading_drawdown_ratio{job=~"paper-mm", job=~"$job", instance=~"$instance"})', "job=paper-mm"),
        ("C", 'max(trading_drawdown_ratio{job!~"paper-mm", env=~"live", job=~"$job", instance=~"$instance"})',
         "env=live"),
    ]
    assert _steps(panel["fieldConfig"]["defaults"]["thresholds"]) == [("green", None), ("yellow", 0.2), ("red", 0.3)]
    assert [(o["matcher"], _steps(o["properties"][0]["value"])) for o in panel["fieldConfig"]["overrides"]] == [
        ({"id": "byFrameRefID", "options": "B"}, [("green", None), ("yellow", 0.4), ("red", 0.6)]),
        ({"id": "byFrameRefID", "options": "C"}, [("green", None), ("yellow", 0.02), ("red", 0.04)]),
    ]


def test_a_fleet_without_overrides_keeps_one_query_per_panel():
    _, files = render()
    panel = _drawdown_stat(_dashboards(files))
    assert [t["refId"] for t in panel["targets"]] == ["A"] and panel["fieldConfig"]["overrides"] == []


def test_the_split_dashboards_pass_the_linter_and_grafanas_schema(schema_dir):
    _, files = render(two_scopes)
    dashboards = _dashboards(files)
    problems = [f"{path}: {p}" for path, d in sorted(dashboards.items()) for p in linter.lint(d)]
    assert not problems, "\n".join(problems)
    errors = dashboard_errors(dashboards, schema_dir)
    assert not errors, "\n".join(errors)


def test_promtool_shows_every_series_in_exactly_one_scope(tmp_path):
    """The copies partition the fleet: the paper bot only in its own, a live bot in env=live's, the rest
    in the family's own (so no series is drawn twice, at two colours)."""
    need_tools("promtool")
    _, files = render(two_scopes)
    panel = _drawdown_stat(_dashboards(files))
    series = {("paper-mm", "live"): 0.5, ("mm-live", "live"): 0.03, ("mm-paper", "paper"): 0.25}
    tests = {"rule_files": [], "evaluation_interval": "1m", "tests": [{
        "interval": "1m",
        "input_series": [{"series": f'trading_drawdown_ratio{{job="{job}", env="{env}", instance="{job}:9100"}}',
                          "values": f"{value}x2"} for (job, env), value in series.items()],
        "promql_expr_test": [{"expr": substitute(t["expr"]), "eval_time": "1m", "exp_samples": [{"labels": "{}",
                                                                                                "value": want}]}
                             for t, want in zip(panel["targets"], (0.25, 0.5, 0.03), strict=True)],
    }]}
    path = tmp_path / "scopes.test.yml"
    path.write_text(yaml.safe_dump(tests, sort_keys=False))
    proc = subprocess.run(["promtool", "test", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_cited_duration_is_compared_in_seconds_and_a_passed_literal_step_goes():
    family = fam.families()["market_data_stale"]
    steps = (Step("green", None), Step("yellow", 20.0), Step("red", 30.0, ("market_data_stale", "max_age")))
    assert bot_colours._steps(steps, family, {"max_age": "2m"}) == (
        Step("green", None), Step("yellow", 20.0), Step("red", 120.0, ("market_data_stale", "max_age")))
    # An override below the literal step: the cited threshold wins, the literal step goes.
    assert bot_colours._steps(steps, family, {"max_age": "10s"}) == (
        Step("green", None), Step("red", 10.0, ("market_data_stale", "max_age")))


def _drawdown_steps(*declared) -> tuple[Step, ...]:
    return (Step("green", None), *declared)


def test_a_cited_threshold_displaces_every_literal_step_at_or_above_it_and_one_it_passed_comes_back():
    family = fam.families()["drawdown"]
    critical = ("drawdown", "critical")
    declared = _drawdown_steps(Step("blue", 0.05), Step("yellow", 0.1), Step("red", 0.3, critical))
    # live bots' critical 4 %: below both literal steps, which go (the model's rule, per scope).
    assert bot_colours._steps(declared, family, {"critical": 0.04}) == (Step("green", None),
                                                                        Step("red", 0.04, critical))
    # The family's critical 20 % drops a literal 25 % step; a paper bot's 60 % keeps it.
    declared = _drawdown_steps(Step("blue", 0.25), Step("red", 0.2, critical))
    assert bot_colours._steps(declared, family, {"critical": 0.2}) == (Step("green", None), Step("red", 0.2, critical))
    assert bot_colours._steps(declared, family, {"critical": 0.6}) == (
        Step("green", None), Step("blue", 0.25), Step("red", 0.6, critical))


def test_a_copy_s_series_names_say_its_scope_where_their_labels_do_not():
    index = bot_colours_index()
    labels = {"job", "env"}
    legend = bot_colours._legend
    # Labels that tell the scopes apart are shown: the names stay Grafana's (or the legend's).
    assert legend("", 'trading_drawdown_ratio{job=~"a"}', index, labels, "job=a") == ""
    assert legend("{{job}} {{env}}", "max by (job, env) (trading_drawdown_ratio)", index, labels, "job=a") \
        == "{{job}} {{env}}"
    # A fleet-wide number, a fixed legend, or labels that do not tell the scopes apart: the scope is said.
    assert legend("", "max(trading_drawdown_ratio)", index, labels, "env=live") == "env=live"
    assert legend("min", "min(trading_drawdown_ratio)", index, labels, "other bots") == "min (other bots)"
    assert legend("", "max by (strategy) (trading_drawdown_ratio)", index, labels, "job=a") \
        == "strategy={{strategy}} (job=a)"


def bot_colours_index():
    from stackgen.render.builders.dashboards import query_index
    from tests.generator.fixture import stack_of
    return query_index(stack_of(two_scopes))


def test_tables_and_bar_charts_keep_one_query_per_panel():
    """Grafana merges a table's or bar chart's queries into one frame before overrides apply: no split."""
    from dataclasses import replace

    from tests.generator.fixture import stack_of
    stack = stack_of(two_scopes)
    stat = next(p for d in stack.dashboards for p in d.panels if p.type == "stat" and p.title == "Drawdown")
    assert bot_colours.scopes(stack, stat)
    for kind in ("table", "barchart"):
        assert bot_colours.scopes(stack, replace(stat, type=kind)) == []
