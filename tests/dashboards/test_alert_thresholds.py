"""Panel colours that name an alert threshold move with it (on the generator's small fixture spec,
in-process: its KPIs dashboard cites alerts.drawdown.* and alerts.fx_stale.max_age)."""
from __future__ import annotations

import json

from stackgen import conventions as n
from stackgen.alerts.families import families
from tests.generator.fixture import error_of, render

BOARD = f"{n.DASHBOARDS_DIR}/trading/kpis.json"


def _steps(files: dict[str, str], title: str) -> list:
    dashboard = json.loads(files[BOARD])
    panel = next(p for p in dashboard["panels"] if p.get("title") == title)
    return panel["fieldConfig"]["defaults"]["thresholds"]["steps"]


def test_changing_an_alert_threshold_moves_the_panel_colours():
    def tighter(data):
        data["alerts"]["drawdown"].update(warning=0.03, critical=0.08)
        data["alerts"]["fx_stale"]["max_age"] = "45s"
    _, files = render(tighter)
    assert [s["value"] for s in _steps(files, "Drawdown")] == [None, 0.03, 0.08]
    assert _steps(files, "Source age")[-1]["value"] == 45


def test_a_reference_to_an_unknown_alert_field_fails_clearly():
    def misspelt(data):
        data["dashboards"][0]["rows"][0]["panels"][1]["thresholds"][1]["from"] = "alerts.fx_stale.max_ag"
    fields = ", ".join(f.name for f in families()["fx_stale"].fields)      # as the family declares them
    message = error_of(misspelt)
    assert message.startswith("spec.yaml:") and message.split(": ", 1)[1] == (
        f"dashboards[0].rows[0].panels[1].thresholds[1].from: alerts.fx_stale has no field 'max_ag' (it has: {fields})")


def test_a_family_turned_off_leaves_its_panels_on_its_default_and_says_so():
    stack, files = render(lambda d: d["alerts"].pop("fx_stale"))
    assert any("alert family 'fx_stale' is off; citing its default max_age 30s" in note for note in stack.notes)
    assert _steps(files, "Source age")[-1]["value"] == 30


def test_from_names_fields_as_the_spec_spells_them():
    def cite_for(data):
        data["alerts"]["fx_stale"]["for"] = "7m"
        data["dashboards"][0]["rows"][0]["panels"][1]["thresholds"] = [
            {"color": "green"}, {"color": "red", "from": "alerts.fx_stale.for"}]
    _, files = render(cite_for)
    assert _steps(files, "Source age")[-1]["value"] == 420
