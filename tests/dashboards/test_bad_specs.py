"""Bad dashboard specs fail with a message naming file, line, field, dashboard and panel; nothing is written."""
from __future__ import annotations

import re
import shutil

import pytest

from stackgen.errors import SpecError
from stackgen.load import load_stack
from stackgen.model.dashboards import PANEL_TYPES
from stackgen.pipeline import render_spec
from stackgen.render.builders import dashboards
from tests.conftest import run_generate
from tests.dashboards.fixture import FIXTURE_UID, fixture_spec


def _dashboard(data: dict, uid: str) -> dict:
    return next(d for d in data["dashboards"] if d["uid"] == uid)


def _panel(data: dict, uid: str, title: str) -> dict:
    return next(p for row in _dashboard(data, uid)["rows"] for p in row["panels"] if p["title"] == title)


def _edit_panel(uid: str, title: str, **changes):
    """Set (or, with None, remove) keys of one panel."""
    def edit(data):
        panel = _panel(data, uid, title)
        panel.update(changes)
        for key in [k for k, v in changes.items() if v is None]:
            del panel[key]
    return edit


def _set_expr(uid: str, title: str, expr: str):
    def edit(data):
        _panel(data, uid, title)["queries"][0]["expr"] = expr
    return edit


def _on_fixture(edit):
    """The edit made on the fixture dashboard (tests/dashboards/fixture.py), not on the shipped ones."""
    def edited(data):
        fixture_spec(data)
        edit(data)
    return edited


def _snapshot(root) -> dict:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def good_outputs(tmp_path_factory):
    """An output tree rendered from the good spec (once per module)."""
    out = tmp_path_factory.mktemp("good") / "out"
    result = run_generate("--out", str(out))
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture
def previous_outputs(tmp_path, good_outputs):
    """A fresh copy of the good output tree, and a snapshot of its bytes."""
    out = tmp_path / "out"
    shutil.copytree(good_outputs, out)
    return out, _snapshot(out)


# A panel on an undeclared metric or label: the CLI exits 2 with one line, and writes nothing.
CLI_CASES = [
    ("undeclared metric", _on_fixture(_set_expr(FIXTURE_UID, "Orders today", "sum(trading_pnl_dollars{<filters>})")),
     r"dashboards\[0\]\.rows\[0\]\.panels\[0\]\.queries\[0\]\.expr: dashboard 'fleet_view_d1' \(Fleet view\), "
     r"panel 'Orders today': metric 'trading_pnl_dollars' is not in the metric catalog"),
    ("undeclared label", _set_expr("fx-multi-source", "Rate per source", 'fx_source_rate{venue=~"$source"}'),
     r"dashboards\[2\]\.rows\[1\]\.panels\[1\]\.queries\[0\]\.expr: dashboard 'fx-multi-source' "
     r"\(FX multi-source\), panel 'Rate per source': metric 'fx_source_rate' has no label 'venue'"),
    ("grouping by an unknown label", _set_expr("api-performance", "Request rate", "sum by (route) (rate("
                                               "http_requests_total{<filters>}[$__rate_interval]))"),
     r"dashboards\[3\]\.rows\[0\]\.panels\[1\]\.queries\[0\]\.expr: dashboard 'api-performance' "
     r"\(API performance\), panel 'Request rate': label 'route' is not carried by any metric the query reads"),
    ("undeclared metric in a shorthand",
     _edit_panel("api-performance", "Latency p50", quantiles={"histogram": "http_latency_seconds", "levels": [0.5]}),
     r"dashboards\[3\]\.rows\[0\]\.panels\[2\]\.quantiles: dashboard 'api-performance' \(API performance\), "
     r"panel 'Latency p50': metric 'http_latency_seconds_bucket' is not in the metric catalog"),
    ("variable on an unknown label",
     _on_fixture(lambda d: _dashboard(d, FIXTURE_UID)["variables"][0].update(label="desk")),
     r"dashboards\[0\]\.variables\[0\]: dashboard 'fleet_view_d1' \(Fleet view\), variable 'desk': "
     r"metric 'http_requests_total' has no label 'desk'"),
]


@pytest.mark.parametrize("edit, message", [c[1:] for c in CLI_CASES], ids=[c[0] for c in CLI_CASES])
def test_unknown_metric_or_label_fails_naming_dashboard_and_panel_and_writes_nothing(
        edited_spec, previous_outputs, edit, message):
    out, before = previous_outputs
    spec = edited_spec(edit)
    result = run_generate("--spec", str(spec), "--out", str(out))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1, line
    assert re.search(r"spec\.yaml:\d+: " + message, line), line
    assert _snapshot(out) == before


# Load-time and check-time errors, checked in-process (same SpecError the CLI prints).
# On the fixture dashboard (tests/dashboards/fixture.py), whatever the shipped dashboards hold.
BOARD, FIGURE = FIXTURE_UID, "Orders today"      # a stat panel with one query
FIXTURE_CASES = [
    ("bad panel type", _edit_panel(BOARD, FIGURE, type="graph"),
     r"dashboards\[0\]\.rows\[0\]\.panels\[0\]\.type: unknown panel type 'graph' \(expected one of: "
     + re.escape(", ".join(PANEL_TYPES)) + r"\)"),     # the declared types, in their order
    ("panel type close to a real one", _edit_panel(BOARD, FIGURE, type="stats"),
     r"unknown panel type 'stats' .*; did you mean 'stat'\?"),
    ("bad unit", _edit_panel(BOARD, FIGURE, unit="dollars"),
     r"dashboards\[0\]\.rows\[0\]\.panels\[0\]\.unit: unknown unit 'dollars' \(expected a Grafana unit id such as "
     r"currencyUSD, percentunit, s, bytes, reqps, short, or a custom suffix:<text>\)"),
    ("unit close to a real one", _edit_panel(BOARD, FIGURE, unit="currencyUsd"),
     r"unknown unit 'currencyUsd' .*did you mean 'currencyUSD'\?"),
    ("key of another panel type", _edit_panel(BOARD, FIGURE, stack=True),
     r"panels\[0\]\.stack: 'stack' applies to timeseries and barchart panels only, not to stat"),
    ("unknown panel key", _edit_panel(BOARD, FIGURE, colour="red"),
     r"panels\[0\]\.colour: unknown key"),
    ("no description", lambda d: _panel(d, BOARD, FIGURE).pop("description"),
     r"panels\[0\]: missing required key 'description'"),
    ("two query sources", _edit_panel(BOARD, FIGURE, rate={"counter": "trading_trades_total"}),
     r"panels\[0\]: a panel needs exactly one of queries, quantiles or rate \(got queries, rate\)"),
    ("unknown placeholder", _set_expr(BOARD, FIGURE, "sum(trading_pnl_usd{<filter>})"),
     r"queries\[0\]\.expr: unknown placeholder <filter> \(known: <filters>, <path_label>\)"),
    ("undefined variable", _set_expr(BOARD, FIGURE, 'sum(trading_pnl_usd{env=~"$environment"})'),
     r"panel 'Orders today': variable \$environment is not defined on this dashboard "
     r"\(defined: cluster, instance, job\)"),
    ("PromQL that does not parse", _set_expr(BOARD, FIGURE, "decrease(trading_pnl_usd[1h])"),
     r"panel 'Orders today': PromQL does not parse: unknown function with name 'decrease'"),
    ("bad colour", _edit_panel(BOARD, FIGURE, thresholds=[{"color": "crimson"}]),
     r"thresholds\[0\]\.color: unknown colour 'crimson'"),
    ("thresholds not increasing",
     _edit_panel(BOARD, "Error ratio", thresholds=[{"color": "green"}, {"color": "red", "from": 0.1},
                                                      {"color": "yellow", "from": 0.05}]),
     r"thresholds\[2\]\.from: steps must increase \(got 0\.05 after 0\.1\)"),
    ("row too wide", lambda d: _panel(d, BOARD, FIGURE).update(width=24),
     r"rows\[0\]\.panels: the panels of one row are at most 24 columns wide together"),
    ("heatmap with queries", _edit_panel(BOARD, FIGURE, type="heatmap"),
     r"panels\[0\]: a heatmap panel draws a histogram's buckets: give `histogram: NAME` \(and no queries\)"),
    ("heatmap of a gauge",
     lambda d: _panel(d, BOARD, FIGURE).update(type="heatmap", histogram="trading_pnl_usd")
     or _panel(d, BOARD, FIGURE).pop("queries"),
     r"panels\[0\]\.histogram: 'trading_pnl_usd' is a gauge: a heatmap needs a catalog histogram "
     r"\(trading_loop_latency_seconds, trading_order_latency_seconds, http_request_duration_seconds[,)]"),
    ("histogram on another panel type", _edit_panel(BOARD, FIGURE, histogram="trading_loop_latency_seconds"),
     r"panels\[0\]\.histogram: 'histogram' applies to heatmap panels only, not to stat"),
    ("donut on a stat", _edit_panel(BOARD, FIGURE, donut=True),
     r"panels\[0\]\.donut: 'donut' applies to piechart panels only, not to stat"),
]

# Cases on the shipped dashboards' cross-references (folders, links, uids).
CASES = [
    ("undeclared folder", lambda d: _dashboard(d, "fx-multi-source").update(folder="forex"),
     r"dashboards\[2\]\.folder: folder 'forex' is not declared in grafana\.folders"),
    ("link to an unknown dashboard", _edit_panel("stack-overview", "Total PnL", link="pnl"),
     r"panels\[2\]\.link: links to dashboard 'pnl', which is not defined"),
    ("duplicate uid", lambda d: _dashboard(d, "fx-multi-source").update(uid="topn-kpis"),
     r"dashboards\[2\]\.uid: dashboard uid 'topn-kpis' is used twice"),
    ("unknown home dashboard", lambda d: d["grafana"].update(home_dashboard="home"),
     r"grafana\.home_dashboard: home dashboard 'home' is not defined"),
    ("refresh faster than Grafana allows", lambda d: _dashboard(d, "fx-multi-source").update(refresh="1s"),
     r"dashboards\[2\]\.refresh: must be at least 5s \(got 1s\)"),
    ("bar chart without x", _edit_panel("trading-overview", "Orders by Status", x=None),
     r"panels\[1\]: missing required key 'x' \(the label whose values are the bars"),
    ("bar chart on a label the query drops", _edit_panel("trading-overview", "Orders by Status", x="side"),
     r"panels\[1\]\.x: query .* does not keep label 'side' \(aggregate with `sum by \(side\) \(...\)`\)"),
    ("uid Grafana refuses", lambda d: _dashboard(d, "fx-multi-source").update(uid="fx.multi/source"),
     r"dashboards\[2\]\.uid: 'fx.multi/source' is not a valid dashboard uid \(letters, digits, '-', '_'; 1\.\.40"),
    ("uid longer than 40", lambda d: _dashboard(d, "fx-multi-source").update(uid="f" * 41),
     r"dashboards\[2\]\.uid: 'f{41}' is not a valid dashboard uid"),
    ("external url not http", lambda d: d["grafana"].update(external_url="localhost:3000"),
     r"grafana\.external_url: expected Grafana's http\(s\) URL as users reach it, got 'localhost:3000'"),
]


@pytest.mark.parametrize("edit, message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_dashboard_spec_fails_clearly(edited_spec, edit, message):
    _fails_clearly(edited_spec(edit), message)


@pytest.mark.parametrize("edit, message", [c[1:] for c in FIXTURE_CASES], ids=[c[0] for c in FIXTURE_CASES])
def test_bad_panel_fails_clearly(edited_spec, edit, message):
    _fails_clearly(edited_spec(_on_fixture(edit)), message)


def _fails_clearly(spec, message: str) -> None:
    with pytest.raises(SpecError) as caught:
        # Loading plus the dashboard query check: what generate.py runs before any other renderer matters.
        dashboards.check_queries(load_stack(spec, "spec.yaml"))
    assert re.search(message, str(caught.value)), str(caught.value)
    assert re.match(r"spec\.yaml(:\d+)?: ", str(caught.value)), str(caught.value)


def test_bad_panel_type_on_the_command_line(edited_spec, previous_outputs):
    out, before = previous_outputs
    result = run_generate("--spec", str(edited_spec(_edit_panel("api-performance", "Error rate", type="pie"))),
                          "--out", str(out))
    assert result.returncode == 2
    assert re.search(r"spec\.yaml:\d+: dashboards\[3\]\.rows\[0\]\.panels\[5\]\.type: unknown panel type 'pie'",
                     result.stderr), result.stderr
    assert _snapshot(out) == before


def test_path_label_setting_renames_the_api_filter(edited_spec):
    """api.path_label: handler (prometheus-fastapi-instrumentator) flows into variables, queries and legends."""
    def edit(data):
        data["api"]["path_label"] = "handler"
        for metrics in data["metrics"].values():
            for metric in metrics if isinstance(metrics, list) else []:
                if "path" in metric.get("labels", []):
                    metric["labels"] = ["handler" if label == "path" else label for label in metric["labels"]]
    stack, files = render_spec(edited_spec(edit), "spec.yaml")
    api = files["dashboards/api/api-performance.json"]
    assert '"name": "handler"' in api and 'handler=~\\"$handler\\"' in api and "{{handler}}" in api
    assert "path" not in api.replace("dashboards/", "")
