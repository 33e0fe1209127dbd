"""One Grafana 12 dashboard (JSON, as a dict) per spec dashboard: what dashboards/<folder>/<uid>.json and
k8s/dashboards/<uid>.yaml serialise.

Every query and variable is checked against the metric catalog first; a bad one raises
SpecError naming the dashboard, the panel and the spec line, and nothing is rendered.
Layout: rows top to bottom, an optional row header, panels left to right on the 24-column
grid; panel ids count up from 1 in that order, so they are stable while the spec is.

Dashboards and alerts link both ways: a panel whose thresholds name an alert's numbers links
to that alert's runbook section; firing alerts that read a dashboard's metrics are drawn as
annotations on its time series panels; and the URL of the panel that shows an alert's signal
(stackgen.model.panel_index.alert_dashboard_link) is its `dashboard` annotation.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from grafanalib import core as gl

from stackgen import conventions as names
from stackgen import promql
from stackgen.alerts.rulesets import recorded_series, rule_files
from stackgen.model.dashboards import TIME_SERIES_TYPES, Dashboard, Panel, Variable
from stackgen.model.panel_index import expr_metrics, layout, panel_ids, panel_metrics
from stackgen.model.series import catalog_index
from stackgen.model.stack import Stack
from stackgen.render.builders import bot_colours
from stackgen.render.panels import FACTORIES, plain_kept, row_header, thresholds_json
from stackgen.render.builders.profile_rules import recorded_series as profile_series

# Dashboard and variable keys kept from grafanalib's output; the rest is legacy
# (rows, style, sharedCrosshair, hideControls, __inputs, gnetId, id, version, useTags, ...).
_DASHBOARD_KEYS = ("annotations", "description", "editable", "graphTooltip", "links", "panels", "refresh",
                   "tags", "templating", "time", "timepicker", "timezone", "title", "uid")
_VARIABLE_KEYS = ("allValue", "datasource", "hide", "includeAll", "label", "multi", "name", "options", "query",
                  "refresh", "sort", "type")
ALL_VALUE = ".*"
# Variables alert annotations filter on: the fleet labels (an alert keeps its target's job/instance).
FLEET_LABELS = (*names.EXTERNAL_LABELS, *names.TARGET_LABELS)
# Grafana's own variables a query may use besides the dashboard's.
_GRAFANA_VARIABLES = ("__rate_interval", "__interval", "__interval_ms", "__range", "__range_s", "__range_ms")
_VARIABLE_REF = re.compile(r"\$\{?(\w+)")
_LABEL_VALUES = re.compile(r"^label_values\((.+),\s*([A-Za-z_][A-Za-z0-9_]*)\)$")

# Grafana adds this annotation to every dashboard; writing it keeps the file equal to what Grafana shows.
_BUILT_IN_ANNOTATION = {
    "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"}, "enable": True, "hide": True,
    "iconColor": "rgba(0, 211, 255, 1)", "name": "Annotations & Alerts", "type": "dashboard",
}


def dashboards(stack: Stack) -> dict[str, dict]:
    """Every dashboard of the stack as Grafana JSON (a dict), by its file path; built once per Stack (the
    dashboards and kubernetes renderers both serialise them; neither may change them)."""
    return stack.once("dashboards", _build_all)


def _build_all(stack: Stack) -> dict[str, dict]:
    check_queries(stack)
    titles = {d.uid: d.title for d in stack.dashboards}
    return {names.dashboard_file(d.folder, d.uid): build(d, stack, titles) for d in stack.dashboards}


# -- checks ------------------------------------------------------------------------
def query_index(stack: Stack) -> promql.SeriesIndex:
    """The catalog's and the recorded series; external labels (cluster, ...) count as present (shared stores)."""
    # Recorded series too (the alert families' and the bot profiles'): a Summary's quantiles exist only there.
    recorded = recorded_series([rule for file in rule_files(stack) for rule in file.records])
    index = catalog_index(stack).with_recorded({**recorded, **profile_series(stack)})
    return promql.SeriesIndex(index.series, index.implicit | frozenset(names.EXTERNAL_LABELS))


def check_queries(stack: Stack) -> None:
    """Every panel query and variable query reads only catalog metrics and labels, and known variables."""
    index = query_index(stack)
    for dashboard in stack.dashboards:
        where = f"dashboard {dashboard.uid!r} ({dashboard.title})"
        for variable in dashboard.variables:
            problems = label_values_problems(variable.query, index)
            if problems:
                raise variable.origin.error(f"{where}, variable {variable.label!r}: {'; '.join(problems)}")
        known = {v.label for v in dashboard.variables} | {names.DATASOURCE_VARIABLE, *_GRAFANA_VARIABLES}
        for panel in dashboard.panels:
            for query in panel.queries:
                problems = promql.problems(query.expr, index)
                problems += [f"variable ${name} is not defined on this dashboard (defined: "
                             f"{', '.join(sorted(v.label for v in dashboard.variables)) or 'none'})"
                             for name in dict.fromkeys(_VARIABLE_REF.findall(query.expr))
                             if name not in known and not name.isdigit()]
                if problems:
                    raise query.origin.error(f"{where}, panel {panel.title!r}: {'; '.join(problems)}")


def label_values_problems(query: str, index: promql.SeriesIndex) -> list[str]:
    """What is wrong with label_values(<selector>, <label>): the selector as PromQL, the label on its metric."""
    match = _LABEL_VALUES.match(query.strip())
    if not match:
        return [f"expected label_values(<metric>, <label>), got {query!r}"]
    selector, label = match.groups()
    problems = promql.problems(selector, index)
    if problems:
        return problems
    metric = selector.split("{", 1)[0].strip()
    labels = index.series.get(metric, frozenset()) | index.implicit
    if label not in labels:
        return [f"metric {metric!r} has no label {label!r} (it has: {', '.join(sorted(labels))})"]
    return []


# -- the dashboard -----------------------------------------------------------------
def datasource_ref() -> dict:
    return {"type": "prometheus", "uid": f"${{{names.DATASOURCE_VARIABLE}}}"}


def build(dashboard: Dashboard, stack: Stack, titles: dict[str, str]) -> dict:
    """The dashboard as Grafana 12 JSON (a dict): grafanalib's Dashboard, cleaned, with the house panels."""
    glboard = gl.Dashboard(
        title=dashboard.title, uid=dashboard.uid,
        description=(f"{dashboard.description} Generated by {names.GENERATED_BY} from {stack.source}: "
                     "change the spec, not this dashboard."),
        tags=[names.DASHBOARD_TAG, *dashboard.tags], timezone=names.DASHBOARD_TIMEZONE,
        time=gl.Time(f"now-{dashboard.time}", "now"), refresh=dashboard.refresh,
        editable=False,     # provisioned: Grafana cannot save changes to it anyway
        graphTooltip=gl.GRAPH_TOOLTIP_MODE_SHARED_CROSSHAIR,
        annotations=gl.Annotations(list=[_BUILT_IN_ANNOTATION, *_alert_annotations(dashboard, stack)]),
        links=[gl.DashboardLink(type="dashboards", title="Dashboards", tags=[names.DASHBOARD_TAG],
                                asDropdown=True, keepTime=True, includeVars=False, icon="external link")],
        templating=gl.Templating(list=[_datasource_variable(stack)] + [_variable(v) for v in dashboard.variables]),
    )
    raw = plain_kept(glboard)
    out = {key: raw[key] for key in _DASHBOARD_KEYS if key in raw}
    for link in out["links"]:
        link.pop("url", None)   # grafanalib writes url "" on a tag-list link, which takes none
    out["timepicker"] = {"refresh_intervals": raw["timepicker"]["refresh_intervals"]}
    out["templating"] = {"list": [_clean_variable(v, stack) for v in raw["templating"]["list"]]}
    out["schemaVersion"] = names.DASHBOARD_SCHEMA_VERSION
    out["panels"] = _panels(dashboard, stack, titles)
    return out


def _panels(dashboard: Dashboard, stack: Stack, titles: dict[str, str]) -> list[dict]:
    panels: list[dict] = []
    for item, panel_id, grid in layout(dashboard):
        if isinstance(item, str):
            panels.append(row_header(item, panel_id, grid["y"]))
        else:
            shown, scopes = bot_colours.coloured(stack, item, lambda: query_index(stack))   # per-bot colours
            panel = FACTORIES[item.type](shown, panel_id, grid, datasource_ref(), titles,
                                         runbooks=runbooks(stack, item))
            if scopes:
                panel["fieldConfig"]["overrides"] = bot_colours.overrides(item, scopes, thresholds_json)
            panels.append(panel)
    return panels


def _datasource_variable(stack: Stack) -> gl.Template:
    return gl.Template(name=names.DATASOURCE_VARIABLE, label="Data source", type="datasource", query="prometheus",
                       default=stack.grafana.prometheus_uid, refresh=gl.REFRESH_ON_DASHBOARD_LOAD,
                       hide=gl.SHOW)


def _variable(variable: Variable) -> gl.Template:
    # "All" is `.*`, not a list of the values found: it also matches series without the label (an
    # external label such as cluster is absent on a single host) and values that appear later.
    return gl.Template(name=variable.label, label=variable.title, query=variable.query,
                       dataSource=datasource_ref(), includeAll=True, multi=True, allValue=ALL_VALUE,
                       refresh=gl.REFRESH_ON_TIME_RANGE_CHANGE, sort=gl.SORT_ALPHA_ASC, hide=gl.SHOW)


def _clean_variable(raw: dict, stack: Stack) -> dict:
    variable = {key: raw[key] for key in _VARIABLE_KEYS if key in raw}
    if raw["type"] == "datasource":
        variable["current"] = {"text": names.GRAFANA_PROMETHEUS_NAME, "value": stack.grafana.prometheus_uid}
        variable["regex"] = ""
    else:
        # Multi-select with "All" selected: Grafana expands it to a regex of every value (=~ matchers).
        variable["current"] = {"text": ["All"], "value": ["$__all"]}
        variable["definition"] = raw["query"]
        variable["regex"] = ""
    return variable


# -- alerts <-> dashboards -------------------------------------------------------------
@dataclass(frozen=True)
class AlertInfo:
    name: str
    runbook_url: str
    spec_paths: tuple[tuple, ...]     # where in the spec its thresholds live: ("alerts", family[, field])
    metrics: frozenset[str]           # catalog metrics it reads, through recording rules


def alert_infos(stack: Stack) -> tuple[AlertInfo, ...]:
    """Every alert of the stack's rules, once per name, with the catalog metrics its expression reads."""
    return stack.once("alert_infos", _alert_infos)     # asked once per panel: built once per Stack


def _alert_infos(stack: Stack) -> tuple[AlertInfo, ...]:
    files = rule_files(stack)    # the rules are built from the same Stack
    recorded = {r.record: r.expr for f in files for r in f.records}
    found: dict[str, AlertInfo] = {}
    for rule in (r for f in files for r in f.alerts):
        old = found.get(rule.alert)
        metrics = expr_metrics(stack, rule.expr, recorded) | (old.metrics if old else frozenset())
        paths = (old.spec_paths if old else ()) + ((tuple(rule.spec_path),) if rule.spec_path else ())
        found[rule.alert] = AlertInfo(rule.alert, dict(rule.annotations).get("runbook_url", ""), paths, metrics)
    return tuple(found.values())


def runbooks(stack: Stack, panel: Panel) -> tuple[tuple[str, str], ...]:
    """(alert, runbook URL) of every alert whose threshold the panel's colours name (`from: alerts.x.y`)."""
    if not panel.alert_refs:
        return ()
    out: dict[str, str] = {}
    for info in alert_infos(stack):
        for path in info.spec_paths:
            family, field = path[1:2], path[2:3]
            for ref in panel.alert_refs:
                if family == ref[:1] and (not field or field == ref[1:2]) and info.runbook_url:
                    out.setdefault(info.name, info.runbook_url)
    return tuple(out.items())


def dashboard_alerts(stack: Stack, dashboard: Dashboard) -> tuple[str, ...]:
    """Alerts whose expressions read a metric some panel of the dashboard shows."""
    shown = frozenset().union(*(panel_metrics(stack, p) for p in dashboard.panels))
    return tuple(sorted(info.name for info in alert_infos(stack) if info.metrics & shown))


def _alert_annotations(dashboard: Dashboard, stack: Stack) -> list[dict]:
    """Firing alerts of this dashboard as annotations on its time series panels (Prometheus' ALERTS)."""
    alerts = dashboard_alerts(stack, dashboard)
    ids = [panel_id for panel, panel_id in panel_ids(dashboard) if panel.type in TIME_SERIES_TYPES]
    if not alerts or not ids:
        return []
    matchers = ['alertstate="firing"', f'alertname=~"{"|".join(alerts)}"']
    matchers += [v.matcher for v in dashboard.variables if v.label in FLEET_LABELS]
    expr = f"ALERTS{{{', '.join(matchers)}}}"
    problems = promql.problems(expr, query_index(stack))
    if problems:   # cannot happen for a checked spec: ALERTS and the fleet labels always exist
        raise dashboard.origin.error(f"dashboard {dashboard.uid!r}: alert annotation: {'; '.join(problems)}")
    return [{"datasource": datasource_ref(), "enable": True, "expr": expr, "filter": {"exclude": False, "ids": ids},
             "hide": False, "iconColor": "red", "name": "Firing alerts", "step": "1m", "tagKeys": "severity",
             "textFormat": "{{severity}}: {{job}} {{instance}}", "titleFormat": "{{alertname}}",
             "useValueForTime": False}]
