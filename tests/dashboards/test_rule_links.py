"""Done-when of issue 11: every generated alert's `dashboard` annotation (in the rule files written, the
bots' BotStopped rules included) resolves to an existing dashboard uid and panel id, and the panel reads
what the alert reads. An alert no panel concerns carries none, and notifications show the link."""
from __future__ import annotations

import json
import subprocess
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from stackgen import conventions as names
from stackgen.alerts.links import ANNOTATION
from stackgen.pipeline import render_spec
from stackgen.model.panel_index import metric_base, panel_ids, panel_metrics
from stackgen.promql import selected_metrics
from tests.conftest import ROOT, need_tools
from tests.dashboards.conftest import panels_of
from tests.dashboards.fixture import EXTERNAL_URL, fixture_spec

EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))


def _alerts(files: dict[str, str]) -> list[dict]:
    rules = []
    for path, text in sorted(files.items()):
        if path.startswith(names.RULES_DIR + "/") and path.endswith(".rules.yml"):
            rules += [r for g in yaml.safe_load(text)["groups"] for r in g["rules"] if "alert" in r]
    return rules


def check_links(stack, files: dict[str, str]) -> tuple[int, list[str]]:
    """(alerts linked, names of alerts without a link); fails on any link that does not resolve."""
    boards = {b["uid"]: b for b in (json.loads(t) for p, t in files.items()
                                    if p.startswith(names.DASHBOARDS_DIR + "/"))}
    shown = frozenset().union(*(panel_metrics(stack, p) for d in stack.dashboards for p in d.panels))
    linked, unlinked = 0, []
    for rule in _alerts(files):
        url = rule.get("annotations", {}).get(ANNOTATION)
        if url is None:
            # Only an alert whose own series no panel shows goes without (recorded series expand to theirs).
            read = {metric_base(stack, m) for m in selected_metrics(rule["expr"])}
            assert not read & shown, f"{rule['alert']} reads {sorted(read & shown)}, which a panel shows"
            unlinked.append(rule["alert"])
            continue
        assert url.startswith(stack.grafana.external_url + "/d/"), url
        parts = urlsplit(url.split("{{")[0])
        uid = parts.path.rsplit("/", 1)[-1]
        panel_id = int(parse_qs(parts.query)["viewPanel"][0])
        assert uid in boards, (rule["alert"], url)
        assert panel_id in {p["id"] for p in panels_of(boards[uid]) if p["type"] != "row"}, (rule["alert"], url)
        dashboard = next(d for d in stack.dashboards if d.uid == uid)
        assert panel_id in {i for _, i in panel_ids(dashboard)}
        # Each variable of that dashboard is filled from the alert's label of the same name, when it has one.
        for variable in dashboard.variables:
            assert f"{{{{ with $labels.{variable.label} }}}}&var-{variable.label}=" in url, (rule["alert"], url)
        linked += 1
    return linked, unlinked


def test_every_alert_of_the_shipped_spec_links_to_a_panel(rendered):
    stack, files = rendered
    linked, unlinked = check_links(stack, files)
    assert unlinked == ["Watchdog"]     # vector(1): it shows nothing
    assert linked >= 15


def test_every_alert_of_the_fixture_spec_links_to_its_panel(edited_spec):
    def edit(data):
        fixture_spec(data)
        data["dashboards"] = data["dashboards"][:1]     # only the fixture's own dashboard
    stack, files = render_spec(edited_spec(edit), "spec.yaml")
    linked, unlinked = check_links(stack, files)
    assert linked >= 3 and "Watchdog" in unlinked
    for rule in _alerts(files):
        if ANNOTATION in rule.get("annotations", {}):
            assert rule["annotations"][ANNOTATION].startswith(EXTERNAL_URL.rstrip("/") + "/d/")


@pytest.mark.parametrize("spec", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_alert_of_each_example_links_to_a_panel(spec):
    stack, files = render_spec(spec)
    linked, unlinked = check_links(stack, files)
    assert linked >= 5 and unlinked == ["Watchdog"], unlinked   # each example shows every other alert's signal
    assert any(r["alert"] == "BotStopped" for r in _alerts(files)), spec.name   # the bots' rules are checked too


def test_promtool_expects_the_rendered_link_in_the_generated_tests(rendered):
    """The generated promtool tests carry the link as Prometheus renders it (label values url-escaped)."""
    _, files = rendered
    expected = [a["exp_annotations"][ANNOTATION] for path, text in files.items()
                if path.startswith(names.RULES_DIR + "/tests/")
                for t in yaml.safe_load(text)["tests"] for c in t.get("alert_rule_test", [])
                for a in c.get("exp_alerts") or [] if ANNOTATION in a.get("exp_annotations", {})]
    assert expected and all("{{" not in url and "viewPanel=" in url for url in expected)
    assert any("%3A" in url for url in expected)      # instance="host:port", escaped like Go's urlquery


def test_notifications_show_the_dashboard_link(rendered, tmp_path):
    _, files = rendered
    config = yaml.safe_load(files[names.ALERTMANAGER_CONFIG])
    texts = [c["text"] for r in config["receivers"] for c in r.get("slack_configs", [])]
    assert texts and all(".Annotations.dashboard" in t for t in texts)      # the link, where the alert has one
    need_tools("amtool")
    (tmp_path / "none.tmpl").write_text('{{ define "unused" }}{{ end }}')
    for text in texts:      # Alertmanager's own template engine executes the message
        done = subprocess.run(["amtool", "template", "render", f"--template.glob={tmp_path}/none.tmpl",
                               f"--template.text={text}"], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
