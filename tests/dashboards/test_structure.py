"""Shape of the generated dashboards: grid, ids, datasource references, variables, descriptions."""
from __future__ import annotations

import re

import pytest

from stackgen import conventions as names
from stackgen.spec.fields import parse_duration
from tests.dashboards.conftest import panels_of

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
LEGACY_KEYS = {"rows", "style", "sharedCrosshair", "hideControls", "__inputs", "gnetId", "id", "version"}


def _content_panels(dashboard: dict) -> list[dict]:
    return [p for p in panels_of(dashboard) if p["type"] != "row"]


def _by_uid(dashboards: dict, uid: str) -> dict:
    return next(d for d in dashboards.values() if d["uid"] == uid)


def _panel(dashboard: dict, title: str) -> dict:
    return next(p for p in _content_panels(dashboard) if p["title"] == title)


def test_panels_stay_on_the_24_column_grid_and_never_overlap(dashboards):
    for path, dashboard in dashboards.items():
        boxes = []
        for panel in panels_of(dashboard):
            g = panel["gridPos"]
            assert g["w"] > 0 and g["h"] > 0 and g["x"] >= 0 and g["y"] >= 0, (path, panel["title"])
            assert g["x"] + g["w"] <= 24, f"{path}: {panel['title']} passes column 24"
            boxes.append((panel["title"], g))
        for i, (a_title, a) in enumerate(boxes):
            for b_title, b in boxes[i + 1:]:
                apart = (a["x"] + a["w"] <= b["x"] or b["x"] + b["w"] <= a["x"]
                         or a["y"] + a["h"] <= b["y"] or b["y"] + b["h"] <= a["y"])
                assert apart, f"{path}: {a_title!r} and {b_title!r} overlap"


def test_panel_ids_are_unique_positive_integers(dashboards):
    # By the panel's identity, not its place (test_panel_ids.py): unique within a dashboard, never 0.
    for path, dashboard in dashboards.items():
        ids = [p["id"] for p in panels_of(dashboard)]
        assert len(ids) == len(set(ids)) and all(isinstance(i, int) and i > 0 for i in ids), path


def test_dashboard_uids_are_explicit_unique_and_name_their_file(dashboards):
    uids = [d["uid"] for d in dashboards.values()]
    assert len(uids) == len(set(uids))
    for path, dashboard in dashboards.items():
        assert 2 <= len(dashboard["uid"]) <= 40
        assert path == f"{names.DASHBOARDS_DIR}/{path.split('/')[1]}/{dashboard['uid']}.json"


def test_every_panel_has_a_title_a_description_and_a_query(dashboards):
    for path, dashboard in dashboards.items():
        for panel in _content_panels(dashboard):
            assert panel.get("title"), path
            assert len(panel.get("description", "")) > 40, f"{path}: {panel['title']} needs a real description"
            assert panel["targets"] and all(t["expr"] for t in panel["targets"]), (path, panel["title"])


def test_every_panel_target_and_variable_uses_the_datasource_variable(dashboards, stack):
    for path, dashboard in dashboards.items():
        variables = dashboard["templating"]["list"]
        ds = [v for v in variables if v["type"] == "datasource"]
        assert len(ds) == 1 and ds[0]["name"] == names.DATASOURCE_VARIABLE and ds[0]["query"] == "prometheus", path
        assert ds[0]["current"]["value"] == stack.grafana.prometheus_uid, path
        for variable in variables:
            if variable["type"] == "query":
                assert variable["datasource"] == DATASOURCE, (path, variable["name"])
        for panel in _content_panels(dashboard):
            assert panel["datasource"] == DATASOURCE, (path, panel["title"])
            for target in panel["targets"]:
                assert target["datasource"] == DATASOURCE, (path, panel["title"])


def test_filter_variables_offer_all_and_queries_match_them_by_regex(dashboards):
    for path, dashboard in dashboards.items():
        filters = [v for v in dashboard["templating"]["list"] if v["type"] == "query"]
        for variable in filters:
            assert variable["includeAll"] and variable["multi"], (path, variable["name"])
            assert variable["allValue"] == ".*", (path, variable["name"])   # All also matches a missing label
            assert re.fullmatch(r"label_values\(\w+, \w+\)", variable["query"]), variable["query"]
            assert variable["current"] == {"text": ["All"], "value": ["$__all"]}
        names_ = {v["name"] for v in filters}
        for panel in _content_panels(dashboard):
            for target in panel["targets"]:
                for label, op, var in re.findall(r'(\w+)\s*(=~|!~|!=|=)\s*"\$\{?(\w+)', target["expr"]):
                    assert op == "=~", f"{path}: {panel['title']}: {label}{op}\"${var}\" must be a regex match"
                    assert var in names_, f"{path}: {panel['title']}: ${var} is not a variable"


@pytest.mark.parametrize("uid, labels", [
    ("topn-kpis", ["job", "instance", "env", "universe", "strategy"]),     # the fleet's, then its own
    ("fx-multi-source", ["job", "instance", "source"]),
])
def test_operators_filter_by_their_labels(dashboards, uid, labels):
    variables = [v["name"] for v in _by_uid(dashboards, uid)["templating"]["list"] if v["type"] == "query"]
    assert variables == labels


def test_api_dashboard_filters_by_the_spec_path_label(dashboards, stack):
    api = _by_uid(dashboards, "api-performance")
    variables = {v["name"]: v for v in api["templating"]["list"] if v["type"] == "query"}
    label = stack.api.path_label
    assert list(variables) == ["job", "instance", label]
    assert variables[label]["query"] == f"label_values({names.HTTP_REQUESTS}, {label})"
    by_endpoint = _panel(api, "Request rate by endpoint")["targets"][0]
    assert f"sum by ({label})" in by_endpoint["expr"] and by_endpoint["legendFormat"] == f"{{{{{label}}}}}"


def test_fx_panels_split_by_source_so_new_sources_need_no_change(dashboards):
    fx = _by_uid(dashboards, "fx-multi-source")
    assert fx["refresh"] == "5s" and fx["time"] == {"from": "now-15m", "to": "now"}
    per_source = 0
    for panel in _content_panels(fx):
        for target in panel["targets"]:
            if "source=~" in target["expr"] and panel["type"] not in ("stat", "gauge"):
                assert target.get("legendFormat") == "{{source}}", panel["title"]
                per_source += 1
            assert not re.search(r'source=~?"(?!\$)', target["expr"]), f"{panel['title']} names a source"
    assert per_source >= 5


def test_queries_read_raw_metrics_with_rate_interval_not_recorded_series(dashboards):
    for path, dashboard in dashboards.items():
        if dashboard["uid"] == names.SLO_DASHBOARD_UID:
            continue    # the error-budget dashboard shows the SLO records (a 30d ratio is no panel query)
        for panel in _content_panels(dashboard):
            for target in panel["targets"]:
                assert ":" not in re.sub(r"\[[^\]]*\]|\"[^\"]*\"", "", target["expr"]), \
                    f"{path}: {panel['title']} reads a recorded series"
                for window in re.findall(r"\[([^\]]+)\]", target["expr"]):
                    assert window in ("$__rate_interval", "$__range"), f"{path}: {panel['title']}: [{window}]"


def _no_nulls(value, where: str) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if item is None:
                # The one null Grafana's schema knows: the base threshold step (-Infinity).
                assert key == "value" and where.endswith("steps[0]"), f"null at {where}.{key}"
            else:
                _no_nulls(item, f"{where}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _no_nulls(item, f"{where}[{i}]")
    else:
        assert value is not None, where


def test_modern_json_without_legacy_keys_or_nulls(dashboards):
    for path, dashboard in dashboards.items():
        assert not LEGACY_KEYS & set(dashboard), path
        assert dashboard["schemaVersion"] >= 39, path
        _no_nulls(dashboard, path)
        for panel in _content_panels(dashboard):
            assert not {"span", "height", "error", "editable", "minSpan", "cacheTimeout"} & set(panel)
            for target in panel["targets"]:
                assert not {"target", "metric", "step", "intervalFactor", "query"} & set(target)


def _steps(panel: dict) -> list[tuple]:
    return [(s["color"], s["value"]) for s in panel["fieldConfig"]["defaults"]["thresholds"]["steps"]]


def test_thresholds_operators_asked_for(dashboards, stack):
    """Panel colours follow the spec's alert thresholds (read from the model, never pinned here)."""
    a = stack.alerts
    topn = _by_uid(dashboards, "topn-kpis")
    pnl = _panel(topn, "Total PnL")
    assert pnl["type"] == "stat" and pnl["fieldConfig"]["defaults"]["unit"] == "currencyUSD"
    assert _steps(pnl) == [("red", None), ("green", 0)]
    win = _panel(topn, "Win rate")
    assert win["type"] == "gauge" and win["fieldConfig"]["defaults"]["unit"] == "percentunit"
    assert (win["fieldConfig"]["defaults"]["min"], win["fieldConfig"]["defaults"]["max"]) == (0, 1)
    assert _steps(win)[:2] == [("red", None), ("yellow", a.win_rate["below"])]
    assert _steps(_panel(topn, "Drawdown")) == [("green", None), ("yellow", a.drawdown["warning"]),
                                                ("red", a.drawdown["critical"])]
    fx = _by_uid(dashboards, "fx-multi-source")
    valid = _panel(fx, "Valid sources")
    assert valid["type"] == "gauge"
    assert _steps(valid)[:3] == [("red", None), ("orange", a.fx_sources["critical_below"]),
                                 ("yellow", a.fx_sources["warning_below"])]
    age = _steps(_panel(fx, "Last message age per source"))
    assert age[0] == ("green", None) and age[-1] == ("red", parse_duration(a.fx_stale["max_age"]))
    assert _panel(fx, "Median rate over time")["options"]["legend"]["calcs"] == ["mean", "lastNotNull"]
    api = _by_uid(dashboards, "api-performance")
    errors = _panel(api, "Error rate")
    assert errors["type"] == "gauge" and errors["fieldConfig"]["defaults"]["unit"] == "percentunit"
    assert _steps(errors)[0] == ("green", None) and _steps(errors)[-1] == ("red", a.api_errors["ratio"])
    status = _panel(api, "API status")
    assert status["targets"][0]["expr"].startswith("up{")
    texts = {o["text"] for o in status["fieldConfig"]["defaults"]["mappings"][0]["options"].values()}
    assert texts == {"UP", "DOWN"}
    assert _panel(api, "p95 latency by endpoint")["type"] == "bargauge"


@pytest.mark.parametrize("uid, titles", [
    ("topn-kpis", ["Total PnL", "Win rate", "Drawdown", "Round trips", "Active positions", "PnL over time",
                   "Trades per hour by type", "Loop latency p50/p90/p99", "Exit reasons",
                   "Guard triggers per hour by type", "Bot alerts per hour by severity", "Memory", "CPU"]),
    ("fx-multi-source", ["Valid sources", "Median rate over time", "Outliers removed",
                         "Connection status per source", "Rate per source", "Deviation from median",
                         "Last message age per source"]),
    ("api-performance", ["API status", "Request rate", "Latency p50", "Latency p95", "Latency p99", "Error rate",
                         "Latency p95 by endpoint", "Request rate by endpoint", "Request rate by method",
                         "Response status codes", "p95 latency by endpoint"]),
    ("trading-overview", ["Orders (24h)", "Open Positions", "Realized Profit", "WebSocket Connections",
                          "Orders by Side", "Orders by Status", "PnL Over Time", "Open Positions by Symbol",
                          "Orders by Exchange", "WebSocket Connections Over Time"]),
])
def test_every_panel_operators_asked_for_is_there(dashboards, uid, titles):
    have = [p["title"] for p in _content_panels(_by_uid(dashboards, uid))]
    assert not [t for t in titles if t not in have]


def test_each_dashboard_in_its_own_folder(dashboards, stack):
    folders = {path.split("/")[1] for path in dashboards}
    assert folders == {f.name for f in stack.grafana.folders}
    wanted = {"topn-kpis", "fx-multi-source", "api-performance"}
    homes = {path.split("/")[1] for path, d in dashboards.items() if d["uid"] in wanted}
    assert len(homes) == 3


def test_trading_overview_has_the_trader_bot_guides_panels_and_types(dashboards):
    """The Rust trader bot guide's ten panels, in its order; the pie chart it names for orders by side."""
    board = _by_uid(dashboards, "trading-overview")
    panels = [(p["title"], p["type"]) for p in _content_panels(board)]
    assert panels == [("Orders (24h)", "stat"), ("Open Positions", "stat"), ("Realized Profit", "stat"),
                      ("WebSocket Connections", "stat"), ("Orders by Side", "piechart"),
                      ("Orders by Status", "barchart"), ("PnL Over Time", "timeseries"),
                      ("Open Positions by Symbol", "table"), ("Orders by Exchange", "barchart"),
                      ("WebSocket Connections Over Time", "timeseries")]
    assert _panel(board, "Orders (24h)")["timeFrom"] == "24h"
    assert _panel(board, "Realized Profit")["fieldConfig"]["defaults"]["unit"] == "currencyUSD"
