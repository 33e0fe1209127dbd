"""Done-when of issue 11: the dashboards of every example spec (one per seed system) validate against
Grafana's published schemas with zero errors, dashboard and panels alike (the shipped spec's are
checked in test_schema.py), and carry the panel types their seeds name."""
from __future__ import annotations

import json

import pytest

from stackgen import conventions as names
from stackgen.pipeline import render_spec
from tests.conftest import ROOT
from tests.dashboards.conftest import panels_of
from tests.dashboards.test_schema import dashboard_errors, panel_errors

EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))


def _dashboards(spec) -> dict[str, dict]:
    _, files = render_spec(spec)
    return {path: json.loads(text) for path, text in files.items() if path.startswith(names.DASHBOARDS_DIR + "/")}


@pytest.mark.parametrize("spec", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_dashboard_of_the_example_validates_with_zero_errors(spec, schema_dir):
    dashboards = _dashboards(spec)
    assert dashboards
    errors = dashboard_errors(dashboards, schema_dir)
    found, checked = panel_errors(dashboards, schema_dir)
    errors += found
    panels = sum(1 for d in dashboards.values() for p in panels_of(d) if p["type"] != "row")
    print(f"\n{spec.stem}: {len(dashboards)} dashboards, {checked}/{panels} panels checked, {len(errors)} errors")
    assert checked == panels and not errors, "\n".join(errors)


def _panel(dashboards: dict[str, dict], title: str) -> dict:
    (panel,) = [p for d in dashboards.values() for p in panels_of(d) if p.get("title") == title]
    return panel


# The panels whose type the seed documents name (a pie chart, a heatmap, ...), by example.
SEED_TYPES = {
    "zigquant": {"Order Latency Distribution": "heatmap", "Win Rate": "gauge", "Total PnL": "stat",
                 "Max Drawdown": "stat", "Trades per Hour": "timeseries", "API Latency (p99)": "timeseries",
                 "Memory Usage": "timeseries"},
    "rust-trader": {"Orders (24h)": "stat", "Open Positions": "stat", "Realized Profit": "stat",
                    "WebSocket Connections": "stat", "Orders by Side": "piechart", "Orders by Status": "barchart",
                    "PnL Over Time": "timeseries", "Open Positions by Symbol": "table",
                    "Orders by Exchange": "piechart", "WebSocket Connections Over Time": "timeseries",
                    "API Status": "stat", "Request Rate": "stat", "P50 Latency": "stat", "P95 Latency": "stat",
                    "P99 Latency": "stat", "Error Rate": "gauge", "Latency by Endpoint": "timeseries",
                    "Request Rate by Endpoint": "timeseries", "Request Rate by Method": "timeseries",
                    "Response Status Codes": "timeseries", "P95 Latency Bar Gauge": "bargauge"},
    "d80-fx": {"Valid Sources": "gauge", "FX Rate (Median Aggregated)": "timeseries",
               "Outliers Removed (Total)": "gauge", "Source Connection Status": "timeseries",
               "Source-Specific Rates": "timeseries", "Source Last Message Age": "timeseries"},
}


@pytest.mark.parametrize("example", sorted(SEED_TYPES))
def test_the_seed_panels_have_the_types_the_seed_names(example):
    dashboards = _dashboards(ROOT / "examples" / f"{example}.yaml")
    for title, kind in SEED_TYPES[example].items():
        assert _panel(dashboards, title)["type"] == kind, title


def test_the_d80_dashboard_keeps_the_seeds_uid_range_refresh_and_legends():
    dashboards = _dashboards(ROOT / "examples" / "d80-fx.yaml")
    (board,) = [d for d in dashboards.values() if d["uid"] != "fleet-overview"]
    assert (board["uid"], board["refresh"], board["time"]["from"]) == ("fx_multi_source_d80_6", "5s", "now-15m")
    for title in ("FX Rate (Median Aggregated)", "Source-Specific Rates"):
        assert _panel(dashboards, title)["options"]["legend"]["calcs"] == ["mean", "lastNotNull"], title
    assert _panel(dashboards, "Source Last Message Age")["fieldConfig"]["defaults"]["unit"] == "s"
