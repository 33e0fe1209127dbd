"""Grafana's dashboard-linter rules (ported in tests/dashboards/linter.py) pass on every dashboard the
generator renders: the shipped spec's and every example's."""
from __future__ import annotations

import json

import pytest

from stackgen.load import load_stack
from stackgen.pipeline import render_all
from tests.conftest import ROOT
from tests.dashboards import linter

EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
# A bot of the user's own profile, with no dashboards: its dashboard and the fleet overview are generated.
OWN_PROFILE = """version: tradingmon/v1
profiles:
  - name: mm-bot
    heartbeat: {metric: mm_last_update_seconds, kind: timestamp}
    map:
      - {signal: equity, from: mm_equity_dollars}
      - {signal: http_requests, from: mm_requests_total}
      - {signal: order_latency, from: mm_order_seconds}
  - name: all-signals      # every signal: every generated panel
    identity: true         # the exporter has every signal (the trading-ops ones too)
bots:
  - {name: mm, profile: mm-bot, targets: ["mm-host:8000"]}
  - {name: fx, profile: d80-fx, targets: ["fx-host:9100"]}
  - {name: all, profile: all-signals, targets: ["all-host:9100"]}
"""


def _rendered(spec) -> dict[str, dict]:
    files = render_all(load_stack(spec))
    return {path: json.loads(text) for path, text in files.items()
            if path.startswith("dashboards/") and path.endswith(".json")}


@pytest.mark.parametrize("spec", [ROOT / "spec.yaml", *EXAMPLES, "own-profile"], ids=lambda p: getattr(p, "name", p))
def test_every_rendered_dashboard_passes_the_linter_rules(spec, tmp_path):
    if spec == "own-profile":
        spec = tmp_path / "spec.yaml"
        spec.write_text(OWN_PROFILE)
    dashboards = _rendered(spec)
    assert dashboards
    problems = [f"{path}: {p}" for path, d in sorted(dashboards.items()) for p in linter.lint(d)]
    assert not problems, "\n".join(problems)


def test_the_linter_port_finds_what_it_looks_for():
    """Each ported rule fires on the mistake it is about (so a pass above means something)."""
    bad = {
        "title": "Bad", "editable": True,
        "templating": {"list": [{"type": "datasource", "name": "ds", "label": "x", "query": "prometheus"},
                                {"type": "query", "name": "job", "label": "job", "query": "label_values(up, job)",
                                 "datasource": {"uid": "prometheus"}, "multi": False, "allValue": "", "refresh": 1}]},
        "panels": [
            {"type": "timeseries", "title": "t", "datasource": {"uid": "prometheus"},
             "fieldConfig": {"defaults": {"unit": "furlongs"}},
             "targets": [{"expr": "sum(orders_total) + rate(x{job=~\"$job\"}[5m])"}, {"expr": "sum(("}]},
            {"type": "stat", "title": "s", "description": "d"},
        ],
    }
    rules = {p.split(":", 1)[0] for p in linter.lint(bad)}
    assert rules >= {"template-datasource-rule", "template-job-rule", "template-instance-rule",
                     "template-on-time-change-reload-rule", "uneditable-dashboard", "panel-datasource-rule",
                     "panel-title-description-rule", "panel-units-rule", "panel-no-targets-rule",
                     "target-promql-rule", "target-rate-interval-rule", "target-job-rule", "target-instance-rule",
                     "target-counter-agg-rule"}, rules
