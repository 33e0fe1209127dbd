"""Which panel shows what: panel ids, the metrics each panel and each alert expression reads, and
the panel an alert links to (its `dashboard` annotation).

Model knowledge, not rendering: the alert rules (stackgen.alerts.links) and the dashboards renderer
both read it, so neither needs the other's output.
"""
from __future__ import annotations

import zlib
from collections.abc import Iterable
from urllib.parse import quote

from stackgen import promql
from stackgen.model.dashboards import OVER_TIME_TYPES, Dashboard, Panel
from stackgen.model.stack import Stack


def layout(dashboard: Dashboard) -> list[tuple[str | Panel, int, dict]]:
    """(row title or panel, id, gridPos) in dashboard order: the one place panel ids are given."""
    placed: list[tuple[str | Panel, int, dict]] = []
    taken: set[int] = set()
    seen: dict[str, int] = {}
    y = 0
    for row in dashboard.rows:
        if row.title:
            placed.append((row.title, _identity_id(dashboard.uid, f"row\0{row.title}", seen, taken),
                           {"h": 1, "w": 24, "x": 0, "y": y}))
            y += 1
        x = 0
        for panel in row.panels:
            placed.append((panel, _identity_id(dashboard.uid, panel.title, seen, taken),
                           {"h": row.height, "w": panel.width, "x": x, "y": y}))
            x += panel.width
        y += row.height
    return placed


_ID_SPACE = 1_000_000     # short enough to read in a viewPanel link, wide enough that clashes are rare


def _identity_id(uid: str, title: str, seen: dict[str, int], taken: set[int]) -> int:
    """A panel's id from what it is (dashboard uid + title, and which of equal titles it is), not where it
    sits: a row added above leaves every other panel's id, so the alerts' viewPanel links stay. A clash
    (rare) takes the next free id."""
    nth = seen.get(title, 0)
    seen[title] = nth + 1
    key = f"{uid}\0{title}" + (f"\0{nth}" if nth else "")
    panel_id = zlib.crc32(key.encode()) % _ID_SPACE + 1
    while panel_id in taken:
        panel_id = panel_id % _ID_SPACE + 1
    taken.add(panel_id)
    return panel_id


def panel_ids(dashboard: Dashboard) -> list[tuple[Panel, int]]:
    """Every content panel with the id it gets in the rendered dashboard."""
    return [(item, panel_id) for item, panel_id, _ in layout(dashboard) if isinstance(item, Panel)]


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


PanelAt = tuple[int, int]          # (dashboard index, panel id)
def _panels_reading(stack: Stack) -> tuple[dict[str, list[PanelAt]], dict[PanelAt, tuple[Panel, frozenset, int]]]:
    """metric -> the panels reading it; panel -> (Panel, the metrics it reads, its place). Built once per Stack,
    so linking every alert costs what its own metrics' panels cost, not a walk of every dashboard."""
    return stack.once("panels_reading", _build_panels_reading)


def _build_panels_reading(stack: Stack) -> tuple[dict[str, list[PanelAt]], dict[PanelAt, tuple[Panel, frozenset, int]]]:
    readers: dict[str, list[PanelAt]] = {}
    panels: dict[PanelAt, tuple[Panel, frozenset, int]] = {}
    for d_index, dashboard in enumerate(stack.dashboards):
        for place, (panel, panel_id) in enumerate(panel_ids(dashboard)):
            read = panel_metrics(stack, panel)
            panels[d_index, panel_id] = (panel, read, place)
            for metric in read:
                readers.setdefault(metric, []).append((d_index, panel_id))
    return readers, panels


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
        panel, read, place = panels[d_index, panel_id]
        hit = wanted & read
        key = (-len(hit), panel.type not in OVER_TIME_TYPES, len(read - wanted), d_index,
               place)
        if best is None or key < best[0]:
            best = (key, dashboard, panel_id)
    if best is None:
        return None
    _, dashboard, panel_id = best
    variables = "".join(f"{{{{ with $labels.{v.label} }}}}&var-{v.label}={{{{ . | urlquery }}}}{{{{ end }}}}"
                        for v in dashboard.variables)
    return f"{stack.grafana.external_url}/d/{quote(dashboard.uid)}?orgId=1&viewPanel={panel_id}{variables}"
