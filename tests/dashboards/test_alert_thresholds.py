"""Panel colours that name an alert threshold move with it."""
from __future__ import annotations

import json

from stackgen import conventions as n
from tests.conftest import run_generate


def _steps(out, folder_uid: str, title: str) -> list:
    dashboard = json.loads((out / n.DASHBOARDS_DIR / folder_uid).read_text())
    panel = next(p for p in dashboard["panels"] if p.get("title") == title)
    return panel["fieldConfig"]["defaults"]["thresholds"]["steps"]


def test_changing_an_alert_threshold_moves_the_panel_colours(edited_spec, tmp_path):
    def tighter(data):
        data["alerts"]["drawdown"]["warning"] = 0.03
        data["alerts"]["drawdown"]["critical"] = 0.08
        data["alerts"]["fx_stale"]["max_age"] = "45s"
    out = tmp_path / "out"
    assert run_generate("--spec", str(edited_spec(tighter)), "--out", str(out)).returncode == 0
    drawdown = _steps(out, "trading/topn-kpis.json", "Drawdown")
    assert [s["value"] for s in drawdown] == [None, 0.03, 0.08]
    age = _steps(out, "fx/fx-multi-source.json", "Last message age per source")
    assert age[-1]["value"] == 45


def test_a_reference_to_an_unknown_alert_field_fails_clearly(tmp_path):
    from tests.conftest import ROOT
    text = (ROOT / "spec.yaml").read_text().replace(
        "{color: red, from: alerts.loop_latency.p99_seconds}", "{color: red, from: alerts.loop_latency.p98}", 1)
    spec = tmp_path / "spec.yaml"
    spec.write_text(text)
    result = run_generate("--spec", str(spec), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "thresholds[1].from: alerts.loop_latency has no field 'p98' (it has: p99_seconds, for, severity)" \
        in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_family_turned_off_leaves_its_panels_on_its_default_and_says_so(edited_spec, tmp_path):
    out = tmp_path / "out"
    result = run_generate("--spec", str(edited_spec(lambda d: d["alerts"].pop("fx_stale"))), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "alert family 'fx_stale' is off; citing its default max_age 30s" in result.stdout
    age = _steps(out, "fx/fx-multi-source.json", "Last message age per source")
    assert age[-1]["value"] == 30


def test_from_names_fields_as_the_spec_spells_them(edited_spec, tmp_path):
    def cite_for(data):
        data["alerts"]["loop_latency"]["for"] = "7m"
        panel = data["dashboards"][1]["rows"][2]["panels"][0]
        panel["thresholds"] = [{"color": "green"}, {"color": "red", "from": "alerts.loop_latency.for"}]
    out = tmp_path / "out"
    assert run_generate("--spec", str(edited_spec(cite_for)), "--out", str(out)).returncode == 0
    assert _steps(out, "trading/topn-kpis.json", "Loop latency p50/p90/p99")[-1]["value"] == 420
