"""Links both ways: panels mirroring an alert link to its runbook, firing alerts annotate the time series
panels, and alert_dashboard_link gives an alert the URL of the panel that shows its signal."""
from __future__ import annotations

import json
import subprocess
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from stackgen import conventions as names
from stackgen.alerts.families import families
from stackgen.load import load_stack
from stackgen.pipeline import render_spec
from stackgen.model.dashboards import TIME_SERIES_TYPES
from stackgen.model.panel_index import alert_dashboard_link, expr_metrics, panel_ids, panel_metrics
from stackgen.render.builders.dashboards import alert_infos
from tests.conftest import ROOT, need_tools
from tests.dashboards.conftest import panels_of
from tests.dashboards.fixture import EXTERNAL_URL, FIXTURE_UID, fixture_spec

BASE = EXTERNAL_URL.rstrip("/") + f"/d/{FIXTURE_UID}?orgId=1"
FLEET_VARS = ("{{ with $labels.cluster }}&var-cluster={{ . | urlquery }}{{ end }}"
              "{{ with $labels.job }}&var-job={{ . | urlquery }}{{ end }}"
              "{{ with $labels.instance }}&var-instance={{ . | urlquery }}{{ end }}")


@pytest.fixture
def rendered_fixture(edited_spec):
    stack, files = render_spec(edited_spec(fixture_spec), "spec.yaml")
    return stack, json.loads(files[names.dashboard_file("fixtures", FIXTURE_UID)])


def _alert(family: str) -> str:
    """The alert name a built-in family declares (stackgen/alerts/families.yaml)."""
    return families()[family].alert


def _panel(board: dict, title: str) -> dict:
    return next(p for p in board["panels"] if p["title"] == title)


def test_a_panel_mirroring_an_alert_links_to_its_runbook_section(rendered_fixture):
    stack, board = rendered_fixture
    (link,) = _panel(board, "Error ratio")["links"]
    assert link["title"] == f"Runbook: {_alert('api_errors')}"
    assert link["url"] == f"{stack.glob.runbook_url}#{_alert('api_errors').lower()}"
    assert link["targetBlank"] is True and link["type"] == "link"
    assert "links" not in _panel(board, "Requests")   # no alert threshold, no runbook link


def test_firing_alerts_of_the_dashboard_annotate_its_time_series_panels(rendered_fixture):
    _, board = rendered_fixture
    built_in, firing = board["annotations"]["list"]
    assert built_in["builtIn"] == 1
    assert firing["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
    # The alerts reading what this dashboard shows (HTTP requests and durations, the rate limiter).
    # (The spec's own alerts on those series join them; the built-in ones must be there.)
    expr = firing["expr"]
    assert expr.startswith('ALERTS{alertstate="firing", alertname=~"') and expr.endswith(
        '", cluster=~"$cluster", job=~"$job", instance=~"$instance"}')
    listed = expr.split('alertname=~"')[1].split('"')[0].split("|")
    assert listed == sorted(listed)
    assert {_alert('api_errors'), _alert('api_latency'), _alert('rate_limiting')} <= set(listed)
    assert _alert('drawdown') not in listed and _alert('fx_stale') not in listed
    time_series = [p["id"] for p in board["panels"] if p["type"] in TIME_SERIES_TYPES]   # the declared ones
    assert firing["filter"] == {"exclude": False, "ids": time_series} and len(time_series) >= 2
    assert firing["titleFormat"] == "{{alertname}}" and firing["enable"] is True


def test_a_dashboard_no_alert_concerns_gets_no_alert_annotation(edited_spec):
    def edit(data):
        fixture_spec(data)
        data["dashboards"][0]["rows"] = [data["dashboards"][0]["rows"][1]]   # orders and positions only
    _, files = render_spec(edited_spec(edit), "spec.yaml")
    board = json.loads(files[names.dashboard_file("fixtures", FIXTURE_UID)])
    assert [a.get("builtIn") for a in board["annotations"]["list"]] == [1]


def test_alert_dashboard_link_opens_the_time_series_panel_with_the_alerts_labels(rendered_fixture):
    stack, board = rendered_fixture
    requests = _panel(board, "Requests")["id"]
    assert alert_dashboard_link(stack, _alert('api_errors'), ["http_requests_total"]) == \
        f"{BASE}&viewPanel={requests}{FLEET_VARS}"
    # A histogram's series count as the histogram; the panel reading the fewest other metrics wins.
    heatmap = _panel(board, "Request duration")["id"]
    assert alert_dashboard_link(stack, _alert('api_latency'), ["http_request_duration_seconds_bucket"]) == \
        f"{BASE}&viewPanel={heatmap}{FLEET_VARS}"
    limited = _panel(board, "Rate limited")["id"]
    assert f"viewPanel={limited}" in alert_dashboard_link(stack, _alert('rate_limiting'),
                                                          ["api_rate_limiter_requests_total"])


def test_alert_dashboard_link_is_none_when_no_panel_shows_the_metric(rendered_fixture):
    stack, _ = rendered_fixture
    assert alert_dashboard_link(stack, _alert('fx_stale'), ["fx_source_last_message_timestamp_seconds"]) is None
    assert alert_dashboard_link(stack, _alert('watchdog'), []) is None


def test_external_url_defaults_to_localhost(edited_spec):
    def edit(data):
        fixture_spec(data)
        del data["grafana"]["external_url"]
    stack = load_stack(edited_spec(edit), "spec.yaml")
    assert alert_dashboard_link(stack, "X", ["http_requests_total"]).startswith(
        f"http://localhost:3000/d/{FIXTURE_UID}?orgId=1&viewPanel=")


def test_every_shipped_alert_links_to_an_existing_dashboard_and_panel(rendered):
    """Done-when: each generated alert's `dashboard` link resolves to a dashboard uid and a panel id."""
    stack, files = rendered
    boards = {json.loads(text)["uid"]: json.loads(text) for path, text in files.items()
              if path.startswith(names.DASHBOARDS_DIR + "/")}
    linked = 0
    for info in alert_infos(stack):
        url = alert_dashboard_link(stack, info.name, info.metrics)
        if not info.metrics:        # the Watchdog reads nothing: no panel to show
            assert url is None, info.name
            continue
        assert url, f"{info.name} reads {sorted(info.metrics)}, which no panel shows"
        parts = urlsplit(url.split("{{")[0])
        uid = parts.path.rsplit("/", 1)[-1]
        panel_id = int(parse_qs(parts.query)["viewPanel"][0])
        assert uid in boards, (info.name, url)
        assert panel_id in {p["id"] for p in panels_of(boards[uid]) if p["type"] != "row"}, (info.name, url)
        dashboard = next(d for d in stack.dashboards if d.uid == uid)
        panel = next(p for p, i in panel_ids(dashboard) if i == panel_id)
        assert info.metrics & panel_metrics(stack, panel), (info.name, panel.title)
        linked += 1
    assert linked >= 10


def test_prometheus_renders_the_link_with_the_alerts_label_values(rendered_fixture, tmp_path):
    """The link is a Prometheus template: promtool renders it with the firing alert's labels."""
    need_tools("promtool")
    stack, board = rendered_fixture
    link = alert_dashboard_link(stack, _alert('api_errors'), ["http_requests_total"])
    rule = {"alert": "LinkCheck", "expr": "sum by (job, instance) (http_requests_total) > 0",
            "annotations": {"dashboard": link}}
    (tmp_path / "rules.yml").write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [rule]}]}))
    series = 'http_requests_total{job="api", instance="10.0.0.1:8000", method="GET", path="/orders/{id}", status="500"}'
    requests = _panel(board, "Requests")["id"]
    want = f"{BASE}&viewPanel={requests}&var-job=api&var-instance=10.0.0.1%3A8000"
    test = {"rule_files": ["rules.yml"], "evaluation_interval": "1m", "tests": [{
        "interval": "1m", "input_series": [{"series": series, "values": "1+1x5"}],
        "alert_rule_test": [{"eval_time": "2m", "alertname": "LinkCheck", "exp_alerts": [{
            "exp_labels": {"job": "api", "instance": "10.0.0.1:8000"},
            "exp_annotations": {"dashboard": want}}]}]}]}
    (tmp_path / "test.yml").write_text(yaml.safe_dump(test))
    result = subprocess.run(["promtool", "test", "rules", "test.yml"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_shipped_spec_sets_the_grafana_url(stack):
    assert stack.grafana.external_url.startswith("http")
    assert (ROOT / names.SPEC_FILE).read_text().count("external_url:") == 1


def test_expr_metrics_reads_through_recording_rules(stack):
    recorded = {names.HTTP_LATENCY_QUANTILE: "histogram_quantile(0.99, sum by (le, instance, path) "
                                             "(rate(http_request_duration_seconds_bucket[5m])))"}
    expr = f'{names.HTTP_LATENCY_QUANTILE}{{quantile="0.99"}} > 0.5 and on (instance) up == 1'
    assert expr_metrics(stack, expr, recorded) == {"http_request_duration_seconds", "up"}
    assert expr_metrics(stack, "rate(http_requests_total[5m])") == {"http_requests_total"}
