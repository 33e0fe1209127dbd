"""dashboards/<folder>/<uid>.json: one Grafana 12 dashboard per spec dashboard.

Every query and variable is checked against the metric catalog first; a bad one raises
SpecError naming the dashboard, the panel and the spec line, and nothing is rendered.
Layout: rows top to bottom, an optional row header, panels left to right on the 24-column
grid; panel ids count up from 1 in that order, so they are stable while the spec is.

Dashboards and alerts link both ways: a panel whose thresholds name an alert's numbers links
to that alert's runbook section; firing alerts that read a dashboard's metrics are drawn as
annotations on its time series panels; and `alert_dashboard_link` gives an alert the URL of
the panel that shows its signal.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote

from grafanalib import core as gl

from stackgen import conventions as names
from stackgen import promql
from stackgen.model.dashboards import TIME_SERIES_TYPES, Dashboard, Panel, Variable
from stackgen.model.stack import Stack
from stackgen.render.output import to_json
from stackgen.render.panels import FACTORIES, plain_kept, row_header

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


_last_render: tuple[Stack, dict[str, str]] | None = None   # the kubernetes renderer reads the same files


def render(stack: Stack) -> dict[str, str]:
    global _last_render
    if _last_render is not None and _last_render[0] is stack:   # a Stack is frozen: same object, same files
        return dict(_last_render[1])
    check_queries(stack)
    titles = {d.uid: d.title for d in stack.dashboards}
    files = {names.dashboard_file(d.folder, d.uid): to_json(build(d, stack, titles)) for d in stack.dashboards}
    _last_render = (stack, files)
    return dict(files)


# -- checks ------------------------------------------------------------------------
def query_index(stack: Stack) -> promql.SeriesIndex:
    """The catalog's and the recorded series; external labels (cluster, ...) count as present (shared stores)."""
    # Recorded series too (the alert families' and the bot profiles'): a Summary's quantiles exist only there.
    from stackgen.alerts.rulesets import recorded_series, rule_files
    from stackgen.render.profile_rules import recorded_series as profile_series
    recorded = recorded_series([rule for file in rule_files(stack) for rule in file.records])
    index = promql.catalog_index(stack).with_recorded({**recorded, **profile_series(stack)})
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


def _layout(dashboard: Dashboard) -> list[tuple[str | Panel, int, dict]]:
    """(row title or panel, id, gridPos) in dashboard order: the one place panel ids are numbered."""
    placed: list[tuple[str | Panel, int, dict]] = []
    y = 0
    for row in dashboard.rows:
        if row.title:
            placed.append((row.title, len(placed) + 1, {"h": 1, "w": 24, "x": 0, "y": y}))
            y += 1
        x = 0
        for panel in row.panels:
            placed.append((panel, len(placed) + 1, {"h": row.height, "w": panel.width, "x": x, "y": y}))
            x += panel.width
        y += row.height
    return placed


def panel_ids(dashboard: Dashboard) -> list[tuple[Panel, int]]:
    """Every content panel with the id it gets in the rendered dashboard."""
    return [(item, panel_id) for item, panel_id, _ in _layout(dashboard) if isinstance(item, Panel)]


def _panels(dashboard: Dashboard, stack: Stack, titles: dict[str, str]) -> list[dict]:
    panels: list[dict] = []
    for item, panel_id, grid in _layout(dashboard):
        if isinstance(item, str):
            panels.append(row_header(item, panel_id, grid["y"]))
        else:
            panels.append(FACTORIES[item.type](item, panel_id, grid, datasource_ref(), titles,
                                               runbooks=runbooks(stack, item)))
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


def metric_base(stack: Stack, series: str) -> str:
    """A catalog metric's name for one of its series (a histogram's _bucket/_sum/_count -> the histogram)."""
    for suffix in ("_bucket", "_sum", "_count"):
        if series.endswith(suffix):
            metric = stack.catalog.get(series[: -len(suffix)])
            if metric is not None and metric.type == "histogram":
                return metric.name
    return series


def panel_metrics(stack: Stack, panel: Panel) -> frozenset[str]:
    """The catalog metrics (and well-known series such as up) a panel's queries read."""
    return frozenset(metric_base(stack, m) for q in panel.queries for m in promql.selected_metrics(q.expr))


def expr_metrics(stack: Stack, expr: str, recorded: dict[str, str] | None = None,
                 _seen: frozenset[str] = frozenset()) -> frozenset[str]:
    """The catalog metrics an expression reads; a recorded series (`recorded`: name -> its expression)
    counts as what its recording rule reads. Pass the result to alert_dashboard_link."""
    recorded = recorded or {}
    out: set[str] = set()
    for name in promql.selected_metrics(expr):
        if name in recorded and name not in _seen:
            out |= expr_metrics(stack, recorded[name], recorded, _seen | {name})
        else:
            out.add(metric_base(stack, name))
    return frozenset(out)


_last_infos: tuple[Stack, tuple[AlertInfo, ...]] | None = None


def alert_infos(stack: Stack) -> tuple[AlertInfo, ...]:
    """Every alert of the stack's rules, once per name, with the catalog metrics its expression reads."""
    global _last_infos
    if _last_infos is None or _last_infos[0] is not stack:     # asked once per panel: built once per Stack
        _last_infos = (stack, _alert_infos(stack))
    return _last_infos[1]


def _alert_infos(stack: Stack) -> tuple[AlertInfo, ...]:
    from stackgen.alerts.rulesets import rule_files   # the rules are built from the same Stack

    files = rule_files(stack)
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


PanelAt = tuple[int, int]          # (dashboard index, panel id)
_last_index: tuple[Stack, dict, dict] | None = None


def _panels_reading(stack: Stack) -> tuple[dict[str, list[PanelAt]], dict[PanelAt, tuple[Panel, frozenset]]]:
    """metric -> the panels reading it; panel -> (Panel, the metrics it reads). Built once per Stack,
    so linking every alert costs what its own metrics' panels cost, not a walk of every dashboard."""
    global _last_index
    if _last_index is None or _last_index[0] is not stack:
        readers: dict[str, list[PanelAt]] = {}
        panels: dict[PanelAt, tuple[Panel, frozenset]] = {}
        for d_index, dashboard in enumerate(stack.dashboards):
            for panel, panel_id in panel_ids(dashboard):
                read = panel_metrics(stack, panel)
                panels[d_index, panel_id] = (panel, read)
                for metric in read:
                    readers.setdefault(metric, []).append((d_index, panel_id))
        _last_index = (stack, readers, panels)
    return _last_index[1], _last_index[2]


def alert_dashboard_link(stack: Stack, alert_name: str, metric_names: Iterable[str]) -> str | None:
    """The URL of the Grafana panel that shows an alert's signal, for its `dashboard` annotation.

    metric_names: the metrics the alert's expression reads (catalog metrics, or a histogram's
    _bucket/_sum/_count series); expand recorded series first with expr_metrics(stack, expr, records). The
    panel chosen reads the most of them; among those, one drawn over time (time series, heatmap,
    state timeline) before a single figure, then the one reading the fewest other metrics, then the
    first in spec order. None when no panel reads any of them.

    The URL starts at grafana.external_url and opens the panel alone (`viewPanel=<id>`); each of the
    dashboard's variables takes the alert's value of that label, and only when the alert carries it
    (`{{ with $labels.job }}&var-job={{ . | urlquery }}{{ end }}`), so an alert aggregated away from a
    label leaves that variable on "All". alert_name does not change the choice (the metrics decide).
    """
    wanted = {metric_base(stack, m) for m in metric_names}
    if not wanted or stack.grafana is None:
        return None
    readers, panels = _panels_reading(stack)
    best = None
    for d_index, panel_id in {at for metric in wanted for at in readers.get(metric, ())}:
        dashboard = stack.dashboards[d_index]
        panel, read = panels[d_index, panel_id]
        hit = wanted & read
        key = (-len(hit), panel.type not in (*TIME_SERIES_TYPES, "heatmap"), len(read - wanted), d_index,
               panel_id)
        if best is None or key < best[0]:
            best = (key, dashboard, panel_id)
    if best is None:
        return None
    _, dashboard, panel_id = best
    variables = "".join(f"{{{{ with $labels.{v.label} }}}}&var-{v.label}={{{{ . | urlquery }}}}{{{{ end }}}}"
                        for v in dashboard.variables)
    return f"{stack.grafana.external_url}/d/{quote(dashboard.uid)}?orgId=1&viewPanel={panel_id}{variables}"
