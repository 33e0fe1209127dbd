"""End to end, natively: every panel and variable has data, every rule evaluates, driven alerts reach
a webhook through the real Alertmanager and resolve, reload survives a broken config, and `down`
leaves nothing behind. The tests run in file order against one stack (see conftest.py).
"""
from __future__ import annotations

import json
import re
import time
import urllib.parse

import pytest
import yaml

from stackgen import conventions as n
from stackctl import health, processes
from tests.e2e.conftest import DRIVEN
from tests.stack import procfs

pytestmark = pytest.mark.e2e

# Grafana's built-in variables, as a Grafana with a 1 s scrape interval would fill them in.
BUILTINS = {"__rate_interval": "1m", "__interval": "15s", "__interval_ms": "15000", "__range": "5m",
            "__range_s": "300", "__range_ms": "300000"}
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")
DATA_TIMEOUT = 30.0


def substitute(expr: str) -> str:
    """A panel query as Prometheus receives it: built-ins by value, every dashboard variable (only
    used in regex matchers) by `.*`, i.e. the "All" selection."""
    def value(match: re.Match) -> str:
        name = next(g for g in match.groups() if g)
        return BUILTINS.get(name, ".*")
    return _VARIABLE.sub(value, expr)


def dashboards(tree) -> dict[str, dict]:
    return {p.relative_to(tree).as_posix(): json.loads(p.read_text())
            for p in sorted((tree / n.DASHBOARDS_DIR).rglob("*.json"))}


def panel_queries(tree) -> list[tuple[str, str]]:
    """(where, expr) of every query of every panel of every generated dashboard."""
    found = []

    def walk(path, panels):
        for panel in panels:
            for target in panel.get("targets", []):
                if target.get("expr"):
                    found.append((f"{path}: {panel.get('title')!r} {target.get('refId', '')}", target["expr"]))
            walk(path, panel.get("panels", []))

    for path, dashboard in dashboards(tree).items():
        walk(path, dashboard.get("panels", []))
    return found


def query_variables(tree) -> list[tuple[str, str]]:
    found = []
    for path, dashboard in dashboards(tree).items():
        for variable in dashboard.get("templating", {}).get("list", []):
            if variable.get("type") == "query":
                query = variable.get("query")
                query = query.get("query") if isinstance(query, dict) else query
                found.append((f"{path}: ${variable['name']}", query))
    return found


def poll_until_all(checks: dict[str, callable], timeout: float) -> dict[str, str]:
    """Run every check until each passed once; the ones still failing at the deadline, with why."""
    pending = dict(checks)
    failures: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    while pending:
        for key, check in list(pending.items()):
            why = check()
            if why is None:
                del pending[key]
                failures.pop(key, None)
            else:
                failures[key] = why
        if not pending or time.monotonic() >= deadline:
            break
        time.sleep(1)
    return failures


# -- the stack came up ----------------------------------------------------------------------
def test_up_started_every_service_and_every_target_is_up(e2e):
    assert {r.name for r in e2e.started} >= {"prometheus", "alertmanager", "exporter"}
    targets = health.targets(e2e.url("prometheus"))
    jobs = {t["labels"]["job"] for t in targets}
    assert jobs == {"prometheus", "alertmanager", "exporter"}
    assert all(t["health"] == "up" for t in targets), [health.describe_target(t) for t in targets]
    assert e2e.up_seconds < 30, f"up took {e2e.up_seconds:.1f}s"
    # No secret configured here: the integrations that need one were left out, each with one line.
    assert any(line.startswith("alertmanager: receiver telegram-oncall: telegram integration left out: "
                               "TELEGRAM_BOT_TOKEN is not set") for line in e2e.output)
    assert any(line.startswith("alertmanager: receiver slack-trading: slack integration left out") for line in
               e2e.output)


def test_the_running_alertmanager_config_is_private(e2e):
    config = e2e.native.config_path("alertmanager")
    assert config.stat().st_mode & 0o777 == 0o600
    assert (e2e.settings.run_dir.stat().st_mode & 0o777) == 0o700


def test_status_reports_every_running_service_healthy(e2e):
    lines = []
    e2e.native.out, out = lines.append, e2e.native.out
    try:
        assert e2e.native.status() == 0
    finally:
        e2e.native.out = out
    text = "\n".join(lines)
    for name in ("prometheus", "alertmanager", "exporter"):
        assert re.search(rf"^{name}\s+running \(pid \d+\)\s+{e2e.settings.ports[name]}\s+ok\s+ok$", text, re.M), text
    assert "prometheus targets: 3/3 up" in text


# -- every panel has data -----------------------------------------------------------------------
def test_every_panel_query_returns_data(e2e):
    queries = panel_queries(e2e.tree)
    assert len(queries) >= 40, "expected the four generated dashboards"

    def check(expr):
        def run():
            result = e2e.query(substitute(expr))
            return None if result else "no series"
        return run

    failures = poll_until_all({f"{where}: {substitute(expr)}": check(expr) for where, expr in queries},
                              DATA_TIMEOUT)
    assert not failures, "panels without data:\n" + "\n".join(f"{k} -> {v}" for k, v in failures.items())


def test_every_dashboard_variable_has_values(e2e):
    variables = query_variables(e2e.tree)
    assert variables

    def check(query):
        match = re.fullmatch(r"\s*label_values\((.+),\s*(\w+)\)\s*", query)
        assert match, f"unexpected variable query {query!r}"
        metric, label = match.groups()

        def run():
            url = e2e.url("prometheus", f"/api/v1/label/{label}/values?"
                          + urllib.parse.urlencode({"match[]": substitute(metric)}))
            data = health.get_json(url)
            return None if data and data["data"] else f"no values ({data})"
        return run

    failures = poll_until_all({f"{where}: {query}": check(query) for where, query in variables}, DATA_TIMEOUT)
    assert not failures, failures


def test_pie_heatmap_table_and_bar_panels_return_data_and_the_heatmap_has_its_buckets(e2e):
    """The newer panel types, by name: each query returns data; the heatmap one series per bucket (`le`)."""
    found: dict[str, list[str]] = {}
    for dashboard in dashboards(e2e.tree).values():
        for panel in dashboard["panels"]:
            if panel["type"] in ("piechart", "heatmap", "table", "barchart"):
                found.setdefault(panel["type"], []).extend(t["expr"] for t in panel["targets"])
    assert sorted(found) == ["barchart", "heatmap", "piechart", "table"]

    def check(kind, expr):
        def run():
            result = e2e.query(substitute(expr))
            if not result:
                return "no series"
            buckets = {s["metric"].get("le") for s in result}
            if kind == "heatmap" and (len(buckets) < 3 or "+Inf" not in buckets):
                return f"buckets {sorted(buckets, key=str)}"
            return None
        return run

    failures = poll_until_all({f"{kind}: {expr}": check(kind, expr) for kind, exprs in found.items()
                               for expr in exprs}, DATA_TIMEOUT)
    assert not failures, failures


# -- every rule evaluates ---------------------------------------------------------------------------
def test_every_rule_group_evaluates_without_error(e2e):
    generated = {g["name"] for p in (e2e.tree / n.RULES_DIR).glob("*.rules.yml")
                 for g in yaml.safe_load(p.read_text())["groups"]}

    def problems() -> list[str]:
        data = health.get_json(e2e.url("prometheus", "/api/v1/rules"))
        groups = data["data"]["groups"]
        found = [] if {g["name"] for g in groups} == generated else [f"groups {sorted(g['name'] for g in groups)}"]
        for group in groups:
            for rule in group["rules"]:
                if rule["health"] != "ok" or rule.get("lastError"):
                    found.append(f"{group['name']}/{rule['name']}: {rule['health']} {rule.get('lastError', '')}")
        return found

    assert health.wait_until(lambda: not problems(), 15), problems()


# -- alerts reach a receiver, and resolve -------------------------------------------------------
def _labels_for(e2e, alertname: str) -> dict[str, str]:
    exporter = f"127.0.0.1:{e2e.settings.ports['exporter']}"
    g = e2e.spec["global"]
    common = {"alertname": alertname, "job": "exporter", "instance": exporter,
              "project": g["project"], "cluster": g["cluster"], "environment": g["environment"]}
    if alertname == "TradingDrawdownHigh":
        return {**common, "severity": "critical", "env": "paper", "universe": "top20", "strategy": "topn_arb"}
    return {**common, "severity": "warning", "source": "okx"}


def test_driven_alerts_reach_the_webhook_with_their_labels_and_then_resolve(e2e):
    receiver = e2e.receiver
    expected = {name: _labels_for(e2e, name) for name in DRIVEN.values()}

    def matches(labels: dict, want: dict) -> bool:
        return all(labels.get(k) == v for k, v in want.items())

    for alertname, want in expected.items():   # quiet before the scenarios
        assert not [a for _, _, a in receiver.alerts() if matches(a["labels"], want)], alertname
    e2e.scenario(",".join(DRIVEN), on=True)
    try:
        for alertname, want in expected.items():
            got = receiver.wait_for(lambda p, nt, a, w=want: a["status"] == "firing" and matches(a["labels"], w),
                                    45)
            assert got, f"no firing {alertname} with {want} reached the receiver; got: " + \
                json.dumps([a["labels"] for _, _, a in receiver.alerts()], indent=1)
            path, notification, alert = got
            assert path == "/alerts"                               # the audit-webhook receiver
            assert notification["receiver"] == "audit-webhook"
            assert alert["annotations"]["summary"] and alert["annotations"]["runbook_url"].endswith(
                "#" + alertname.lower())
    finally:
        e2e.scenario(",".join(DRIVEN), on=False)
    for alertname, want in expected.items():
        got = receiver.wait_for(lambda p, nt, a, w=want: a["status"] == "resolved" and matches(a["labels"], w), 45)
        assert got, f"{alertname} never resolved at the receiver"


def test_the_watchdog_reaches_the_dead_mans_switch(e2e):
    got = e2e.receiver.wait_for(lambda p, nt, a: p == "/watchdog" and a["labels"]["alertname"] == "Watchdog", 20)
    assert got, sorted({(p, a["labels"]["alertname"]) for p, _, a in e2e.receiver.alerts()})
    assert got[1]["receiver"] == "deadmans-switch"


# -- reload ------------------------------------------------------------------------------------------
def _rule_expr(e2e, alertname: str) -> list[str]:
    groups = health.get_json(e2e.url("prometheus", "/api/v1/rules"))["data"]["groups"]
    return [r["query"] for g in groups for r in g["rules"] if r["name"] == alertname]


def test_reload_applies_a_regenerated_spec_without_a_restart(e2e):
    pids = {r.name: r.pid for r in e2e.native.running().values()}
    edited = json.loads(json.dumps(e2e.spec))
    edited["alerts"]["fx_deviation"]["max_bps"] = 12
    e2e.generate(edited)
    lines = []
    e2e.native.out, out = lines.append, e2e.native.out
    try:
        assert e2e.native.reload() == 0, lines
    finally:
        e2e.native.out = out
    assert "prometheus: reloaded" in lines and "alertmanager: reloaded" in lines
    assert any(q.endswith("> 12.0") or q.endswith("> 12") for q in _rule_expr(e2e, "FxSourceDeviation"))
    assert {r.name: r.pid for r in e2e.native.running().values()} == pids


def test_reload_reports_a_rejected_config_and_the_old_one_keeps_running(e2e):
    before = _rule_expr(e2e, "FxSourceDeviation")
    broken = e2e.tree / n.RULES_DIR / "broken.rules.yml"
    broken.write_text("groups:\n  - name: broken\n    rules:\n      - alert: Broken\n        expr: rate(up[5m]\n")
    am_config = e2e.native.config_path("alertmanager")
    am_before = am_config.read_text()
    render = e2e.native.render_alertmanager
    e2e.native.render_alertmanager = lambda: ("route: {receiver: nowhere}\nreceivers: []\n", [])
    lines = []
    e2e.native.out, out = lines.append, e2e.native.out
    try:
        assert e2e.native.reload() == 1
    finally:
        e2e.native.out, e2e.native.render_alertmanager = out, render
        broken.unlink()
    text = "\n".join(lines)
    print(text)
    assert "prometheus: config REJECTED (HTTP 500), still running the previous one:" in text
    assert "broken.rules.yml" in text
    assert "alertmanager: config REJECTED (HTTP 500), still running the previous one:" in text
    assert 'undefined receiver "nowhere"' in text
    # Both still serve their previous configuration; the run folder holds it again.
    assert health.request(e2e.url("prometheus", "/-/ready")).ok
    assert _rule_expr(e2e, "FxSourceDeviation") == before
    assert e2e.query("up")
    status = health.get_json(e2e.url("alertmanager", "/api/v2/status"))
    assert "audit-webhook" in status["config"]["original"]
    assert am_config.read_text() == am_before
    # Fixed again: the next reload is accepted.
    assert e2e.native.reload() == 0


# -- down ------------------------------------------------------------------------------------------------
def test_down_stops_everything_up_started_and_leaves_no_process_behind(e2e):
    records = list(e2e.native.running().values())
    assert records
    assert e2e.native.down() == 0
    for record in records:
        assert not processes.alive(record), record
        assert procfs.group_members(record.pid) == [], f"{record.name}: processes left in its group"
    assert procfs.matching(str(e2e.settings.run_dir)) == []
    for name in ("prometheus", "alertmanager", "exporter"):
        assert not health.port_taken("127.0.0.1", e2e.settings.ports[name]), name
    assert not list(e2e.settings.pids_dir.glob("*.json"))
