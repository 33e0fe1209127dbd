"""House panel factories: one per panel type, from the model's Panel to Grafana 12 panel JSON.

Why grafanalib plus an explicit cleaning step: grafanalib (0.7.1) models the panel
envelope well (type, id, title, description, datasource, gridPos, targets, links) and the
time series field config, but its JSON is in legacy shapes: nulls everywhere
(cacheTimeout, interval, repeat, ...), keys Grafana dropped (span, minSpan, height,
error), Graphite-era target keys (target, metric, step, intervalFactor), stat and
time series options that lack keys Grafana 12 requires (wideLayout, showPercentChange,
legend.showLegend, tooltip.sort), and gauge / bar gauge options in the pre-Grafana-7
`fieldOptions` shape. So each factory builds the grafanalib panel, and `_finish` keeps
only the envelope from its `to_json_data()`, rebuilds the targets, and sets `options`
and `fieldConfig` from explicit dicts that match the plugin schemas (the tests validate
every panel against Grafana's published schema for its plugin).
"""
from __future__ import annotations

from grafanalib import core as gl

from stackgen.model.dashboards import Legend, Panel, Step, ValueText

# The keys a generated panel carries; everything else grafanalib emits is dropped.
_ENVELOPE = ("type", "id", "title", "description", "datasource", "gridPos", "links")
# Colour of the only step when the spec gives no thresholds (Grafana's own default,
# green with red from 80, would colour an ordinary value red).
NEUTRAL = "blue"


_SCALARS = frozenset((str, int, float, bool, type(None)))


def plain(value):
    """grafanalib objects -> plain dicts and lists (what its JSON encoder does, without the JSON)."""
    kind = type(value)
    if kind in _SCALARS:                    # the exact built-in types first: most values are these
        return value
    if kind is dict:
        return {k: plain(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [plain(v) for v in value]
    if hasattr(value, "to_json_data"):
        return plain(value.to_json_data())
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def plain_kept(value):
    """drop_nulls(plain(value)) in one pass."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is dict:
        out = {}
        for key, item in value.items():
            item = plain_kept(item)
            if item is not None:
                out[key] = item
        return out
    if kind is list or kind is tuple:
        return [plain_kept(v) for v in value]
    if hasattr(value, "to_json_data"):
        return plain_kept(value.to_json_data())
    return drop_nulls(plain(value))


def drop_nulls(value):
    """Remove keys whose value is None, at every depth (grafanalib's way of saying "unset")."""
    kind = type(value)
    if kind is dict:
        return {k: drop_nulls(v) for k, v in value.items() if v is not None}
    if kind is list:
        return [drop_nulls(v) for v in value]
    if kind in _SCALARS:
        return value
    if isinstance(value, dict):
        return {k: drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_nulls(v) for v in value]
    return value


def _merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


# -- pieces shared by the factories ------------------------------------------------
def ref_id(index: int) -> str:
    """A panel query's refId by its place: A, B, C..."""
    return chr(ord("A") + index)


def _targets(panel: Panel, datasource: dict, instant: bool = False) -> list:
    return [gl.Target(expr=q.expr, legendFormat=q.legend, refId=ref_id(i), datasource=datasource,
                      instant=instant)
            for i, q in enumerate(panel.queries)]


def _clean_target(raw: dict, instant: bool, fmt: str = "") -> dict:
    target = {"datasource": raw["datasource"], "editorMode": "code", "expr": raw["expr"],
              "instant": instant, "range": not instant, "refId": raw["refId"]}
    if raw.get("legendFormat"):
        target["legendFormat"] = raw["legendFormat"]
    if fmt:
        target["format"] = fmt   # time_series (Grafana's default), table or heatmap
    return target


def _num(value: float) -> float | int:
    """3 rather than 3.0 in the JSON (the spec reads every number as a float)."""
    return int(value) if float(value).is_integer() else value


def thresholds_json(steps: tuple[Step, ...]) -> dict:
    # The base step's value is null: that is how Grafana writes -Infinity in JSON.
    steps = steps or (Step(NEUTRAL, None),)
    return {"mode": "absolute", "steps": [{"color": s.color, "value": None if s.value is None else _num(s.value)}
                                          for s in steps]}


def _mappings(mappings: tuple[ValueText, ...]) -> list:
    if not mappings:
        return []
    options = {}
    for i, m in enumerate(mappings):
        result = {"index": i, "text": m.text}
        if m.color:
            result["color"] = m.color
        options[m.value] = result
    return [{"type": "value", "options": options}]


def _defaults(panel: Panel, color_mode: str) -> dict:
    defaults = {"color": {"mode": color_mode}, "mappings": _mappings(panel.mappings),
                "thresholds": thresholds_json(panel.thresholds)}
    if panel.unit:
        defaults["unit"] = panel.unit
    if panel.decimals is not None:
        defaults["decimals"] = panel.decimals
    if panel.min is not None:
        defaults["min"] = _num(panel.min)
    if panel.max is not None:
        defaults["max"] = _num(panel.max)
    return defaults


def _legend(legend: Legend) -> dict:
    return {"calcs": list(legend.calcs), "displayMode": legend.mode, "placement": legend.placement,
            "showLegend": legend.mode != "hidden"}


def _reduce(panel: Panel) -> dict:
    return {"calcs": [panel.reduce], "fields": "", "values": False}


def _link(uid: str, title: str) -> gl.DashboardLink:
    return gl.DashboardLink(type="link", uri=f"/d/{uid}", title=f"Open {title}", icon="dashboard",
                            keepTime=True, includeVars=False)


def _runbook_link(alert: str, url: str) -> gl.DashboardLink:
    return gl.DashboardLink(type="link", uri=url, title=f"Runbook: {alert}", icon="doc", keepTime=False,
                            includeVars=False, targetBlank=True,
                            tooltip=f"What to do when {alert} fires (this panel mirrors its threshold)")


def _common(panel: Panel, panel_id: int, grid: dict, datasource: dict, links: dict[str, str],
            instant: bool = False, runbooks: tuple[tuple[str, str], ...] = ()) -> dict:
    """The grafanalib keyword arguments every panel class takes."""
    return dict(title=panel.title, description=panel.description, id=panel_id, dataSource=datasource,
                gridPos=gl.GridPos(**grid), targets=_targets(panel, datasource, instant),
                links=([_link(panel.link, links[panel.link])] if panel.link else [])
                + [_runbook_link(alert, url) for alert, url in runbooks])


def _finish(raw: dict, options: dict, defaults: dict, instant: bool = False, panel: Panel | None = None,
            fmt: str = "", transformations: list | None = None) -> dict:
    """Keep grafanalib's envelope (raw: plain_kept of the grafanalib panel, converted once by its
    factory); set targets, options and fieldConfig in Grafana 12's shape."""
    out = {key: raw[key] for key in _ENVELOPE if key in raw}
    if not out.get("links"):
        out.pop("links", None)
    out["targets"] = [_clean_target(t, instant, fmt) for t in raw["targets"]]
    out["options"] = options
    out["fieldConfig"] = {"defaults": defaults, "overrides": []}
    if panel is not None and panel.time:
        out["timeFrom"] = panel.time   # this panel's own range (its $__range), shown in its header
    if transformations:
        out["transformations"] = transformations
    return out


# -- the factories ---------------------------------------------------------------
# Every factory: (panel, panel_id, grid, datasource, links, runbooks) -> panel JSON. `links` maps dashboard
# uids to titles (for `link:`); `runbooks` are (alert, url) of the alerts whose thresholds the panel mirrors.
Runbooks = tuple[tuple[str, str], ...]


def stat(panel: Panel, panel_id: int, grid: dict, datasource: dict, links: dict[str, str],
         runbooks: Runbooks = ()) -> dict:
    """A single big value per series, coloured by thresholds (or value mappings), with a sparkline."""
    glpanel = gl.Stat(colorMode="background" if panel.background else "value",
                      graphMode="area" if panel.sparkline else "none", reduceCalc=panel.reduce,
                      textMode="auto", alignment="auto", orientation="auto",
                      **_common(panel, panel_id, grid, datasource, links, runbooks=runbooks))
    raw = plain_kept(glpanel)
    options = _merge(raw["options"], {
        "percentChangeColorMode": "standard", "showPercentChange": False, "wideLayout": True})
    return _finish(raw, options, _defaults(panel, "thresholds"), panel=panel)


def gauge(panel: Panel, panel_id: int, grid: dict, datasource: dict, links: dict[str, str],
          runbooks: Runbooks = ()) -> dict:
    """A dial per series between min and max, with threshold markers."""
    glpanel = gl.GaugePanel(**_common(panel, panel_id, grid, datasource, links, runbooks=runbooks))
    options = {"minVizHeight": 75, "minVizWidth": 75, "orientation": "auto", "reduceOptions": _reduce(panel),
               "showThresholdLabels": False, "showThresholdMarkers": True, "sizing": "auto"}
    return _finish(plain_kept(glpanel), options, _defaults(panel, "thresholds"), panel=panel)


def bargauge(panel: Panel, panel_id: int, grid: dict, datasource: dict, links: dict[str, str],
             runbooks: Runbooks = ()) -> dict:
    """One bar per series (now), coloured by thresholds: "which source / endpoint is worst"."""
    # Instant queries: a bar gauge shows one value per series, so the range is never drawn.
    glpanel = gl.BarGauge(**_common(panel, panel_id, grid, datasource, links, instant=True, runbooks=runbooks))
    options = {"displayMode": "gradient", "legend": _legend(Legend(mode="hidden")), "maxVizHeight": 300,
               "minVizHeight": 16, "minVizWidth": 8, "namePlacement": "auto", "orientation": panel.orientation,
               "reduceOptions": _reduce(panel), "showUnfilled": True, "sizing": "auto", "valueMode": "color"}
    return _finish(plain_kept(glpanel), options, _defaults(panel, "thresholds"), instant=True, panel=panel)


def timeseries(panel: Panel, panel_id: int, grid: dict, datasource: dict, links: dict[str, str],
               runbooks: Runbooks = ()) -> dict:
    """Lines (or bars) over time; thresholds become dashed lines, `stack` stacks the series."""
    glpanel = gl.TimeSeries(
        drawStyle=panel.style, fillOpacity=panel.fill, showPoints="never", lineWidth=1,
        stacking={"group": "A", "mode": "normal" if panel.stack else "none"},
        thresholdsStyleMode="dashed" if panel.thresholds else "off",
        legendDisplayMode=panel.legend.mode, legendPlacement=panel.legend.placement,
        legendCalcs=list(panel.legend.calcs), tooltipMode="multi", tooltipSort="desc",
        **_common(panel, panel_id, grid, datasource, links, runbooks=runbooks))
    raw = plain_kept(glpanel)
    options = _merge(raw["options"], {"legend": _legend(panel.legend)})
    defaults = _defaults(panel, "palette-classic")
    defaults["custom"] = raw["fieldConfig"]["defaults"]["custom"]
    return _finish(raw, options, defaults, panel=panel)


def state_timeline(panel: Panel, panel_id: int, grid: dict, datasource: dict, links: dict[str, str],
                   runbooks: Runbooks = ()) -> dict:
    """One band per series whose colour is the state (value mappings: UP/DOWN, connected, ...)."""
    glpanel = gl.StateTimeline(**_common(panel, panel_id, grid, datasource, links, runbooks=runbooks))
    raw = plain_kept(glpanel)
    options = _merge(raw["options"], {"legend": _legend(panel.legend), "tooltip": {"mode": "single", "sort": "none"}})
    defaults = _defaults(panel, "thresholds")
    defaults["custom"] = raw["fieldConfig"]["defaults"]["custom"]
    return _finish(raw, options, defaults, panel=panel)


def piechart(panel: Panel, panel_id: int, grid: dict, datasource: dict, links: dict[str, str],
             runbooks: Runbooks = ()) -> dict:
    """Shares of a whole, one slice per series (now): "buy vs sell", "orders by exchange"."""
    glpanel = gl.PieChartv2(pieType="donut" if panel.donut else "pie", reduceOptionsCalcs=[panel.reduce],
                            **_common(panel, panel_id, grid, datasource, links, instant=True, runbooks=runbooks))
    raw = plain_kept(glpanel)
    options = {"displayLabels": ["percent"],
               "legend": {"calcs": [], "displayMode": "table", "placement": "right", "showLegend": True,
                          "values": ["value", "percent"]},
               "orientation": "auto", "pieType": raw["options"]["pieType"], "reduceOptions": _reduce(panel),
               "tooltip": {"mode": "single", "sort": "none"}}
    defaults = _defaults(panel, "palette-classic")
    defaults["custom"] = {"hideFrom": {"legend": False, "tooltip": False, "viz": False}}
    return _finish(raw, options, defaults, instant=True, panel=panel)


def heatmap(panel: Panel, panel_id: int, grid: dict, datasource: dict, links: dict[str, str],
            runbooks: Runbooks = ()) -> dict:
    """A histogram's buckets over time: one row per bucket (`le`), the colour is how many fell in it.

    The query returns the per-bucket rate in Prometheus' cumulative form with format "heatmap", so
    Grafana de-accumulates the buckets itself and does not recalculate them (`calculate: false`)."""
    glpanel = gl.Heatmap(**_common(panel, panel_id, grid, datasource, links, runbooks=runbooks))
    y_axis = {"axisPlacement": "left", "reverse": False}
    if panel.unit:
        y_axis["unit"] = panel.unit
    if panel.decimals is not None:
        y_axis["decimals"] = panel.decimals
    options = {"calculate": False, "cellGap": 1, "cellValues": {},
               "color": {"exponent": 0.5, "fill": "dark-orange", "mode": "scheme", "reverse": False,
                         "scale": "exponential", "scheme": "Oranges", "steps": 64},
               "exemplars": {"color": "rgba(255,0,255,0.7)"}, "filterValues": {"le": 1e-09},
               "legend": {"show": True}, "rowsFrame": {"layout": "auto"}, "selectionMode": "x",
               "showValue": "never", "tooltip": {"mode": "single", "showColorScale": False, "yHistogram": True},
               "yAxis": y_axis}
    defaults = {"custom": {"hideFrom": {"legend": False, "tooltip": False, "viz": False},
                           "scaleDistribution": {"type": "linear"}}}
    return _finish(plain_kept(glpanel), options, defaults, panel=panel, fmt="heatmap")


def _value_columns(panel: Panel) -> dict[str, str]:
    """Grafana's names for the value column of each instant table query -> the query's legend."""
    if len(panel.queries) == 1:
        return {"Value": panel.queries[0].legend} if panel.queries[0].legend else {}
    return {f"Value #{chr(ord('A') + i)}": q.legend for i, q in enumerate(panel.queries) if q.legend}


def _table_transformations(panel: Panel) -> list:
    """Queries joined into one frame on their labels, the Time column dropped, value columns named."""
    steps = [{"id": "merge", "options": {}}] if len(panel.queries) > 1 else []
    steps.append({"id": "organize", "options": {"excludeByName": {"Time": True}, "indexByName": {},
                                                "renameByName": _value_columns(panel)}})
    return steps


def table(panel: Panel, panel_id: int, grid: dict, datasource: dict, links: dict[str, str],
          runbooks: Runbooks = ()) -> dict:
    """One row per series (now): its labels as columns, then each query's value (column named by its legend)."""
    glpanel = gl.Table(**_common(panel, panel_id, grid, datasource, links, instant=True, runbooks=runbooks))
    columns = _value_columns(panel)
    first = next(iter(columns.values()), "Value")
    options = {"cellHeight": "sm", "footer": {"countRows": False, "reducer": ["sum"], "show": False},
               "frameIndex": 0, "showHeader": True, "sortBy": [{"desc": True, "displayName": first}]}
    defaults = _defaults(panel, "thresholds")
    defaults["custom"] = {"align": "auto", "inspect": False}   # cells: Grafana's default (auto)
    return _finish(plain_kept(glpanel), options, defaults, instant=True, panel=panel, fmt="table",
                   transformations=_table_transformations(panel))


def barchart(panel: Panel, panel_id: int, grid: dict, datasource: dict, links: dict[str, str],
             runbooks: Runbooks = ()) -> dict:
    """One bar per value of a label (now), e.g. orders per exchange; several queries make grouped bars.

    Grafana publishes no JSON schema for the bar chart: its options follow the plugin's panelcfg
    (Grafana 12), and the tests check them against that key list and the shared legend/tooltip schemas."""
    glpanel = gl.BarChart(orientation=panel.orientation, stacking="normal" if panel.stack else "none",
                          **_common(panel, panel_id, grid, datasource, links, instant=True, runbooks=runbooks))
    raw = plain_kept(glpanel)
    options = {"barRadius": 0, "barWidth": 0.8, "fullHighlight": False, "groupWidth": 0.7,
               "legend": _legend(Legend(mode="list" if len(panel.queries) > 1 else "hidden")),
               "orientation": panel.orientation, "showValue": "auto",
               "stacking": "normal" if panel.stack else "none",
               "tooltip": {"mode": "single", "sort": "none"}, "xField": panel.x, "xTickLabelRotation": 0,
               "xTickLabelSpacing": 0}
    defaults = _defaults(panel, "palette-classic")
    custom = raw["fieldConfig"]["defaults"]["custom"]
    defaults["custom"] = {key: custom[key] for key in ("axisCenteredZero", "axisColorMode", "axisLabel",
                                                       "axisPlacement", "fillOpacity", "gradientMode",
                                                       "hideFrom", "lineWidth", "scaleDistribution")}
    return _finish(raw, options, defaults, instant=True, panel=panel, fmt="table",
                   transformations=_table_transformations(panel))


def row_header(title: str, panel_id: int, y: int) -> dict:
    """A row header across the dashboard (never collapsed, so it holds no panels of its own)."""
    raw = plain_kept((gl.RowPanel(title=title, id=panel_id, gridPos=gl.GridPos(h=1, w=24, x=0, y=y))))
    return {"collapsed": False, "gridPos": raw["gridPos"], "id": raw["id"], "panels": [], "title": raw["title"],
            "type": "row"}


FACTORIES = {
    "stat": stat,
    "gauge": gauge,
    "bargauge": bargauge,
    "timeseries": timeseries,
    "state-timeline": state_timeline,
    "piechart": piechart,
    "heatmap": heatmap,
    "table": table,
    "barchart": barchart,
}
