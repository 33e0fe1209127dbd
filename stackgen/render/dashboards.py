"""dashboards/<folder>/<uid>.json: one Grafana 12 dashboard per spec dashboard.

Every query and variable is checked against the metric catalog first; a bad one raises
SpecError naming the dashboard, the panel and the spec line, and nothing is rendered.
Layout: rows top to bottom, an optional row header, panels left to right on the 24-column
grid; panel ids count up from 1 in that order, so they are stable while the spec is.
"""
from __future__ import annotations

import re

from grafanalib import core as gl

from stackgen import conventions as names
from stackgen import promql
from stackgen.model.dashboards import Dashboard, Variable
from stackgen.model.stack import Stack
from stackgen.render.output import to_json
from stackgen.render.panels import FACTORIES, drop_nulls, plain, row_header

# Dashboard and variable keys kept from grafanalib's output; the rest is legacy
# (rows, style, sharedCrosshair, hideControls, __inputs, gnetId, id, version, useTags, ...).
_DASHBOARD_KEYS = ("annotations", "description", "editable", "graphTooltip", "links", "panels", "refresh",
                   "tags", "templating", "time", "timepicker", "timezone", "title", "uid")
_VARIABLE_KEYS = ("datasource", "hide", "includeAll", "label", "multi", "name", "options", "query", "refresh",
                  "sort", "type")
# Grafana's own variables a query may use besides the dashboard's.
_GRAFANA_VARIABLES = ("__rate_interval", "__interval", "__interval_ms", "__range", "__range_s", "__range_ms")
_VARIABLE_REF = re.compile(r"\$\{?(\w+)")
_LABEL_VALUES = re.compile(r"^label_values\((.+),\s*([A-Za-z_][A-Za-z0-9_]*)\)$")

# Grafana adds this annotation to every dashboard; writing it keeps the file equal to what Grafana shows.
_BUILT_IN_ANNOTATION = {
    "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"}, "enable": True, "hide": True,
    "iconColor": "rgba(0, 211, 255, 1)", "name": "Annotations & Alerts", "type": "dashboard",
}


def render(stack: Stack) -> dict[str, str]:
    check_queries(stack)
    titles = {d.uid: d.title for d in stack.dashboards}
    return {names.dashboard_file(d.folder, d.uid): to_json(build(d, stack, titles)) for d in stack.dashboards}


# -- checks ------------------------------------------------------------------------
def check_queries(stack: Stack) -> None:
    """Every panel query and variable query reads only catalog metrics and labels, and known variables."""
    # Recorded series too (the alert families' and the bot profiles'): a Summary's quantiles exist only there.
    from stackgen.alerts.rulesets import recorded_series, rule_files
    from stackgen.render.profile_rules import recorded_series as profile_series
    index = promql.catalog_index(stack).with_recorded({**recorded_series(rule_files(stack)), **profile_series(stack)})
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
        time=gl.Time(f"now-{dashboard.time}", "now"), refresh=dashboard.refresh, editable=True,
        graphTooltip=gl.GRAPH_TOOLTIP_MODE_SHARED_CROSSHAIR,
        annotations=gl.Annotations(list=[_BUILT_IN_ANNOTATION]),
        links=[gl.DashboardLink(type="dashboards", title="Dashboards", tags=[names.DASHBOARD_TAG],
                                asDropdown=True, keepTime=True, includeVars=False, icon="external link")],
        templating=gl.Templating(list=[_datasource_variable(stack)] + [_variable(v) for v in dashboard.variables]),
    )
    raw = drop_nulls(plain(glboard))
    out = {key: raw[key] for key in _DASHBOARD_KEYS if key in raw}
    for link in out["links"]:
        link.pop("url", None)   # grafanalib writes url "" on a tag-list link, which takes none
    out["timepicker"] = {"refresh_intervals": raw["timepicker"]["refresh_intervals"]}
    out["templating"] = {"list": [_clean_variable(v, stack) for v in raw["templating"]["list"]]}
    out["schemaVersion"] = names.DASHBOARD_SCHEMA_VERSION
    out["panels"] = _panels(dashboard, titles)
    return out


def _panels(dashboard: Dashboard, titles: dict[str, str]) -> list[dict]:
    panels: list[dict] = []
    y = 0
    for row in dashboard.rows:
        if row.title:
            panels.append(row_header(row.title, len(panels) + 1, y))
            y += 1
        x = 0
        for panel in row.panels:
            grid = {"h": row.height, "w": panel.width, "x": x, "y": y}
            panels.append(FACTORIES[panel.type](panel, len(panels) + 1, grid, datasource_ref(), titles))
            x += panel.width
        y += row.height
    return panels


def _datasource_variable(stack: Stack) -> gl.Template:
    return gl.Template(name=names.DATASOURCE_VARIABLE, label="Data source", type="datasource", query="prometheus",
                       default=stack.grafana.prometheus_uid, refresh=gl.REFRESH_ON_DASHBOARD_LOAD,
                       hide=gl.SHOW)


def _variable(variable: Variable) -> gl.Template:
    return gl.Template(name=variable.label, label=variable.title, query=variable.query,
                       dataSource=datasource_ref(), includeAll=True, multi=True,
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
