"""The pie chart, heatmap, table and bar chart factories, fleet variables and uids, on a fixture spec."""
from __future__ import annotations

import json

import pytest
from jsonschema import Draft7Validator

from stackgen import conventions as names
from stackgen.pipeline import render_spec
from tests.dashboards.fixture import FIXTURE_UID, fixture_spec
from tests.dashboards.test_schema import _barchart_errors, _errors, _plugin_validator

FILTERS = 'cluster=~"$cluster", job=~"$job", instance=~"$instance"'


@pytest.fixture
def fixture_board(edited_spec) -> dict:
    _, files = render_spec(edited_spec(fixture_spec), "spec.yaml")
    return json.loads(files[names.dashboard_file("fixtures", FIXTURE_UID)])


def _panel(board: dict, title: str) -> dict:
    return next(p for p in board["panels"] if p["title"] == title)


def test_an_underscore_uid_names_the_dashboard_and_its_file(edited_spec):
    _, files = render_spec(edited_spec(fixture_spec), "spec.yaml")
    assert json.loads(files[f"dashboards/fixtures/{FIXTURE_UID}.json"])["uid"] == FIXTURE_UID


def test_piechart_shows_one_slice_per_series_now(fixture_board):
    pie = _panel(fixture_board, "Orders by side")
    assert pie["type"] == "piechart" and pie["options"]["pieType"] == "donut"
    (target,) = pie["targets"]
    assert target["instant"] is True and target["range"] is False and target["legendFormat"] == "{{side}}"
    assert target["expr"] == f"sum by (side) (increase(api_orders_total{{{FILTERS}}}[$__range]))"
    assert pie["options"]["reduceOptions"]["calcs"] == ["lastNotNull"]
    assert pie["options"]["legend"]["values"] == ["value", "percent"]


def test_heatmap_reads_the_bucket_rate_by_le_with_the_catalog_unit(fixture_board):
    heat = _panel(fixture_board, "Request duration")
    (target,) = heat["targets"]
    assert target["expr"] == (f"sum by (le) (rate(http_request_duration_seconds_bucket{{{FILTERS}}}"
                              "[$__rate_interval]))")
    assert target["format"] == "heatmap" and target["range"] is True and target["legendFormat"] == "{{le}}"
    assert heat["options"]["calculate"] is False
    assert heat["options"]["yAxis"]["unit"] == "s"       # the catalog's unit: seconds


def test_heatmap_unit_can_be_overridden(edited_spec):
    def edit(data):
        fixture_spec(data)
        data["dashboards"][0]["rows"][2]["panels"][0]["unit"] = "ms"
    _, files = render_spec(edited_spec(edit), "spec.yaml")
    board = json.loads(files[names.dashboard_file("fixtures", FIXTURE_UID)])
    assert _panel(board, "Request duration")["options"]["yAxis"]["unit"] == "ms"


def test_table_joins_queries_on_their_labels_and_names_value_columns_by_legend(fixture_board):
    table = _panel(fixture_board, "Positions by symbol")
    assert [t["format"] for t in table["targets"]] == ["table", "table"]
    assert all(t["instant"] for t in table["targets"])
    merge, organize = table["transformations"]
    assert merge["id"] == "merge"
    assert organize["options"]["excludeByName"] == {"Time": True}
    assert organize["options"]["renameByName"] == {"Value #A": "Positions", "Value #B": "PnL"}
    assert table["options"]["sortBy"] == [{"desc": True, "displayName": "Positions"}]


def test_barchart_puts_the_x_label_on_the_axis(fixture_board):
    bars = _panel(fixture_board, "Orders by exchange")
    assert bars["options"]["xField"] == "exchange" and bars["options"]["stacking"] == "normal"
    assert bars["options"]["orientation"] == "vertical"
    assert {t["format"] for t in bars["targets"]} == {"table"}
    assert bars["transformations"][-1]["options"]["renameByName"] == {"Value #A": "buy", "Value #B": "sell"}


def test_a_panel_with_its_own_range_sets_time_from(fixture_board):
    assert _panel(fixture_board, "Orders today")["timeFrom"] == "24h"
    assert "timeFrom" not in _panel(fixture_board, "Error ratio")


def test_fleet_variables_tolerate_an_empty_value(fixture_board):
    """All is `.*`: it matches series without the label (cluster on a single host) and any value."""
    variables = {v["name"]: v for v in fixture_board["templating"]["list"] if v["type"] == "query"}
    assert list(variables) == ["cluster", "job", "instance"]
    for variable in variables.values():
        assert variable["includeAll"] and variable["multi"] and variable["allValue"] == ".*"
        assert variable["current"] == {"text": ["All"], "value": ["$__all"]}
    assert variables["cluster"]["query"] == "label_values(http_requests_total, cluster)"
    assert FILTERS in _panel(fixture_board, "Requests")["targets"][0]["expr"]


def test_new_panel_types_validate_against_grafanas_schemas(fixture_board, schema_dir):
    dashboard = Draft7Validator(json.loads((schema_dir / "dashboard.jsonschema.json").read_text()))
    errors = _errors(dashboard, fixture_board, "fixture")
    for panel in fixture_board["panels"]:
        if panel["type"] == "barchart":
            errors += _barchart_errors(schema_dir, panel, panel["title"])
        elif panel["type"] != "row":
            errors += _errors(_plugin_validator(schema_dir, panel["type"], "Options"), panel["options"],
                              panel["title"])
            custom = panel["fieldConfig"]["defaults"].get("custom")
            if custom is not None:
                errors += _errors(_plugin_validator(schema_dir, panel["type"], "FieldConfig"), custom,
                                  panel["title"])
    assert not errors, "\n".join(errors)


def test_the_barchart_check_catches_a_wrong_key(fixture_board, schema_dir):
    bars = json.loads(json.dumps(_panel(fixture_board, "Orders by exchange")))
    bars["options"]["xAxis"] = "exchange"
    bars["options"]["legend"]["displayMode"] = "grid"
    found = _barchart_errors(schema_dir, bars, "bars")
    assert any("unknown key 'xAxis'" in e for e in found) and any("options.legend" in e for e in found)
