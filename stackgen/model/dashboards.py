"""Grafana settings and the dashboards: folders, dashboards, rows, panels and their queries.

Read from the spec's `grafana:` and `dashboards:` sections. Queries are stored as the
final PromQL Grafana will run: the spec's placeholders (<filters>, <path_label>) and the
`quantiles:` / `rate:` shorthands are expanded here, so renderers and the PromQL check
see exactly what Grafana sees. Every query and variable keeps the spec field it came
from (`origin`), so a check made later (an unknown metric) still names file, line and path.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

from stackgen import conventions as names
from stackgen.errors import Gather, listed
from stackgen.model.alerts import Alerts, cite
from stackgen.model.catalog import MetricCatalog
from stackgen.spec import defaults
from stackgen.spec.fields import Field, parse_duration

@dataclass(frozen=True)
class PanelKind:
    """What one panel type is, declared once: the spec reader, the schema, the alert links and the
    renderer's checks read it (a new type is one entry here and its factory in render/panels.py)."""
    keys: tuple[str, ...] = ()     # the spec keys it takes beyond the common ones (anything else is an error)
    instant: bool = False          # one value per series (instant queries)
    over_time: bool = False        # drawn over time: an alert's dashboard link prefers it to a single figure
    annotated: bool = False        # firing alerts are drawn on it (the dashboard's ALERTS annotation)


PANEL_KINDS = {
    "stat": PanelKind(("reduce", "sparkline", "background")),
    "gauge": PanelKind(("reduce",)),
    "bargauge": PanelKind(("reduce", "orientation"), instant=True),
    "timeseries": PanelKind(("legend", "style", "stack", "fill"), over_time=True, annotated=True),
    "state-timeline": PanelKind(("legend",), over_time=True, annotated=True),
    "piechart": PanelKind(("reduce", "donut"), instant=True),
    "heatmap": PanelKind(("histogram",), over_time=True),
    "table": PanelKind(instant=True),
    "barchart": PanelKind(("x", "orientation", "stack"), instant=True),
}
PANEL_TYPES = tuple(PANEL_KINDS)

# Keys every panel accepts, and the extra keys of each type (anything else is an error).
_COMMON_KEYS = ("title", "type", "description", "width", "queries", "quantiles", "rate", "unit",
                "decimals", "min", "max", "thresholds", "mappings", "link", "time")
_TYPE_KEYS = {kind: declared.keys for kind, declared in PANEL_KINDS.items()}
INSTANT_TYPES = tuple(kind for kind, declared in PANEL_KINDS.items() if declared.instant)
TIME_SERIES_TYPES = tuple(kind for kind, declared in PANEL_KINDS.items() if declared.annotated)
OVER_TIME_TYPES = tuple(kind for kind, declared in PANEL_KINDS.items() if declared.over_time)
# Catalog unit -> the Grafana unit a panel on that metric shows by default (heatmap y axis).
CATALOG_UNITS = {"seconds": "s", "bytes": "bytes", "ratio": "percentunit", "usd": "currencyUSD"}
DEFAULT_EXTERNAL_URL = defaults.STATIC["grafana"]["external_url"]

# Grafana unit ids accepted in `unit:` (a subset of Grafana's list that fits this stack),
# plus the custom forms `suffix:<text>`, `prefix:<text>`, `currency:<text>`, `si:<unit>`,
# `count:<unit>`. Note that Grafana's `bps` is bits per second, not basis points.
UNITS = (
    "none", "short", "string", "percent", "percentunit", "sci", "locale",
    "ns", "µs", "ms", "s", "m", "h", "d", "dtdurations", "dtdhms", "dateTimeAsIso", "dateTimeFromNow",
    "bits", "bytes", "kbytes", "mbytes", "gbytes", "decbytes", "deckbytes", "decmbytes", "decgbytes",
    "bps", "Bps", "binBps",
    "ops", "reqps", "rps", "wps", "iops", "cps", "opm", "reqpm", "rpm", "wpm", "cpm",
    "currencyUSD", "currencyEUR", "currencyGBP", "currencyJPY", "currencyBTC",
)
_CUSTOM_UNIT = re.compile(r"^(suffix|prefix|currency|si|count):.+$")

_HUES = ("green", "red", "yellow", "orange", "blue", "purple")
COLORS = (("text", "transparent") + _HUES
          + tuple(f"{shade}-{hue}" for shade in ("super-light", "light", "semi-dark", "dark") for hue in _HUES))
_HEX_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")

# Grafana reducer ids: how a stat/gauge/bar gauge turns a series into one number, and legend values.
REDUCERS = ("lastNotNull", "last", "firstNotNull", "first", "mean", "median", "min", "max", "sum",
            "count", "range", "delta", "diff", "diffperc", "changeCount", "distinctCount", "stdDev")
LEGEND_MODES = ("list", "table", "hidden")
LEGEND_PLACEMENTS = ("bottom", "right")
LINE_STYLES = ("line", "bars", "points")
ORIENTATIONS = ("auto", "horizontal", "vertical")

# Placeholders the spec may write in queries, legends and variable labels.
FILTERS = "<filters>"
PATH_LABEL = "<path_label>"
_PLACEHOLDER = re.compile(r"<([A-Za-z_][A-Za-z0-9_]*)>")
# Grafana's rule for uids: letters, digits, '-' and '_', at most 40 characters.
_UID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
_UID_WHAT = "uid (letters, digits, '-', '_'; 1..40 long)"
_FOLDER = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_ORIGIN = dict(compare=False, repr=False)

DEFAULT_ROW_HEIGHT = 8
DEFAULT_TIME = "6h"
DEFAULT_REFRESH = "30s"


@dataclass(frozen=True)
class Folder:
    name: str      # dashboards/<name>/ on disk, the provider name and the folder uid
    title: str     # the folder as Grafana shows it


@dataclass(frozen=True)
class Grafana:
    prometheus_uid: str
    alertmanager_uid: str
    folders: tuple[Folder, ...]
    home_dashboard: str            # uid of the dashboard Grafana opens first
    external_url: str = DEFAULT_EXTERNAL_URL   # Grafana as users reach it (alert links point here)

    def folder(self, name: str) -> Folder:
        return next(f for f in self.folders if f.name == name)


@dataclass(frozen=True)
class Query:
    expr: str                      # final PromQL (placeholders expanded)
    legend: str = ""
    origin: Field | None = field(default=None, **_ORIGIN)


@dataclass(frozen=True)
class Step:
    color: str
    value: float | None            # None: the base colour, below the first step
    ref: tuple[str, ...] = ()      # ("drawdown", "warning"): the alert threshold the value is (per-bot colours)


@dataclass(frozen=True)
class ValueText:
    value: str                     # the value as Grafana compares it (text)
    text: str
    color: str


@dataclass(frozen=True)
class Legend:
    mode: str = "list"             # list, table or hidden
    placement: str = "bottom"
    calcs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Panel:
    title: str
    type: str
    description: str
    width: int
    queries: tuple[Query, ...]
    unit: str = ""
    decimals: int | None = None
    min: float | None = None
    max: float | None = None
    thresholds: tuple[Step, ...] = ()
    mappings: tuple[ValueText, ...] = ()
    link: str = ""                 # uid of a dashboard the panel links to
    reduce: str = "lastNotNull"
    legend: Legend = Legend()
    sparkline: bool = True         # stat: draw the series behind the value
    background: bool = False       # stat: colour the background, not the text
    orientation: str = "horizontal"
    style: str = "line"            # timeseries: line, bars or points
    stack: bool = False
    fill: int = 10                 # timeseries: area opacity 0..100
    time: str = ""                 # a duration: the panel shows its own last <time>, whatever the dashboard's
    donut: bool = False            # piechart: a ring, not a full pie
    x: str = ""                    # barchart: the label whose values are the bars
    histogram: str = ""            # heatmap: the histogram whose buckets it draws
    alert_refs: tuple[tuple[str, ...], ...] = ()   # ("drawdown", "warning"): alert thresholds it mirrors
    declared_steps: tuple[Step, ...] = ()   # every step as written, before a cited one displaced any
    origin: Field | None = field(default=None, **_ORIGIN)


@dataclass(frozen=True)
class Row:
    title: str                     # empty: no row header
    height: int
    panels: tuple[Panel, ...]


@dataclass(frozen=True)
class Variable:
    """A filter dropdown: the values of `label` on `metric`, multi-select with "All"."""
    label: str
    metric: str
    title: str
    origin: Field | None = field(default=None, **_ORIGIN)

    @property
    def query(self) -> str:
        return f"label_values({self.metric}, {self.label})"

    @property
    def matcher(self) -> str:
        return f'{self.label}=~"${self.label}"'


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    folder: str
    description: str
    tags: tuple[str, ...]
    time: str                      # a duration: the dashboard shows now-<time> .. now
    refresh: str
    variables: tuple[Variable, ...]
    rows: tuple[Row, ...]
    origin: Field | None = field(default=None, **_ORIGIN)

    @property
    def panels(self) -> tuple[Panel, ...]:
        return tuple(p for row in self.rows for p in row.panels)


# -- grafana: ------------------------------------------------------------------
def read_grafana(field: Field) -> Grafana:
    f = field.mapping(required=("prometheus_uid", "alertmanager_uid", "folders", "home_dashboard"),
                      optional=("external_url",))
    prom = f["prometheus_uid"].string(pattern=_UID, what=f"datasource {_UID_WHAT}")
    am = f["alertmanager_uid"].string(pattern=_UID, what=f"datasource {_UID_WHAT}")
    if am == prom:
        raise f["alertmanager_uid"].error(f"must differ from prometheus_uid ({prom!r})")
    folders: list[Folder] = []
    for item in f["folders"].items(min_items=1):
        ff = item.mapping(required=("name", "title"))
        name = ff["name"].string(pattern=_FOLDER, what="folder name (lowercase letters, digits, '-')")
        title = ff["title"].string()
        for other in folders:
            if other.name == name:
                raise ff["name"].error(f"folder {name!r} is declared twice")
            if other.title == title:
                raise ff["title"].error(f"folder title {title!r} is used twice")
        folders.append(Folder(name, title))
    home = f["home_dashboard"].string()
    url = DEFAULT_EXTERNAL_URL
    if "external_url" in f:
        url = f["external_url"].string()
        if not re.match(r"^https?://[^/\s]+(/\S*)?$", url):
            raise f["external_url"].error(f"expected Grafana's http(s) URL as users reach it, got {url!r}")
        url = url.rstrip("/")
    return Grafana(prom, am, tuple(folders), home, url)


# -- dashboards: ---------------------------------------------------------------
@dataclass
class _Context:
    """What reading a panel needs beyond its own fields."""
    path_label: str
    alerts: Alerts | None
    catalog: MetricCatalog | None = None
    links: list[tuple[Field, str]] = field(default_factory=list)   # (where, target uid), checked at the end
    notes: list[str] = field(default_factory=list)                 # printed by generate.py


def read_dashboards(field: Field, grafana: Grafana, path_label: str, grafana_field: Field | None = None,
                    alerts: Alerts | None = None, catalog: MetricCatalog | None = None,
                    notes: list[str] | None = None) -> tuple[Dashboard, ...]:
    """The dashboards, in spec order; checks folders, unique uids/titles, links and the home dashboard."""
    dashboards: list[Dashboard] = []
    ctx = _Context(path_label, alerts, catalog, notes=notes if notes is not None else [])
    g = Gather()
    for item in field.items(min_items=1):
        dashboard = g.run(_dashboard, item, grafana, ctx)
        if dashboard is None:
            continue
        for other in dashboards:
            if other.uid == dashboard.uid:
                raise item.child("uid", None).error(f"dashboard uid {dashboard.uid!r} is used twice")
            if other.folder == dashboard.folder and other.title == dashboard.title:
                raise item.child("title", None).error(
                    f"dashboard title {dashboard.title!r} is used twice in folder {dashboard.folder!r}")
        dashboards.append(dashboard)
    g.done()
    uids = [d.uid for d in dashboards]
    used = {d.folder for d in dashboards}
    for folder in grafana.folders:
        if folder.name not in used and grafana_field is not None:
            index = grafana.folders.index(folder)
            raise grafana_field.child("folders", None).child(index, None).error(
                f"folder {folder.name!r} holds no dashboard (remove it, or set a dashboard's folder to it)")
    for where, uid in ctx.links:
        if uid not in uids:
            raise where.error(f"links to dashboard {uid!r}, which is not defined (dashboards: {', '.join(uids)})")
    if grafana.home_dashboard not in uids:
        where = grafana_field.child("home_dashboard", None) if grafana_field is not None else field
        raise where.error(f"home dashboard {grafana.home_dashboard!r} is not defined "
                          f"(dashboards: {', '.join(uids)})")
    return tuple(dashboards)


def _dashboard(item: Field, grafana: Grafana, ctx: _Context) -> Dashboard:
    f = item.mapping(required=("uid", "title", "folder", "description", "rows"),
                     optional=("tags", "time", "refresh", "variables"))
    uid = f["uid"].string(pattern=_UID, what=f"dashboard {_UID_WHAT}")
    folder = f["folder"].string()
    known = [x.name for x in grafana.folders]
    if folder not in known:
        raise f["folder"].error(f"folder {folder!r} is not declared in grafana.folders "
                                f"(declared: {', '.join(known)})")
    tags = tuple(t.string() for t in f["tags"].items()) if "tags" in f else ()
    time = f["time"].duration(minimum=60) if "time" in f else DEFAULT_TIME
    # Grafana's default min_refresh_interval is 5s: a faster refresh would be silently raised.
    refresh = f["refresh"].duration(minimum=5) if "refresh" in f else DEFAULT_REFRESH
    variables: list[Variable] = []
    for v in (f["variables"].items() if "variables" in f else []):
        variable = _variable(v, ctx.path_label)
        if variable.label in [x.label for x in variables]:
            raise v.child("label", None).error(f"variable {variable.label!r} is declared twice")
        variables.append(variable)
    filters = ", ".join(v.matcher for v in variables)
    rows = tuple(_row(r, filters, ctx) for r in f["rows"].items(min_items=1))
    return Dashboard(uid=uid, title=f["title"].string(), folder=folder, description=f["description"].string(),
                     tags=tags, time=time, refresh=refresh, variables=tuple(variables), rows=rows, origin=item)


def _variable(item: Field, path_label: str) -> Variable:
    f = item.mapping(required=("label", "metric"), optional=("title",))
    label_field = f["label"]
    label = _expand(label_field, label_field.string(), "", path_label)
    if not re.match(r"^[a-zA-Z_][a-zA-Z0-9_]*$", label) or label.startswith("__"):
        raise label_field.error(f"{label!r} is not a valid label name")
    if label == names.DATASOURCE_VARIABLE:
        raise label_field.error(f"{label!r} is the datasource variable every dashboard already has")
    metric = f["metric"].name("metric name")
    title = f["title"].string() if "title" in f else label
    return Variable(label, metric, title, origin=item)


def _row(item: Field, filters: str, ctx: _Context) -> Row:
    f = item.mapping(required=("panels",), optional=("title", "height"))
    title = f["title"].string() if "title" in f else ""
    height = f["height"].number(low=2, high=40, integer=True) if "height" in f else DEFAULT_ROW_HEIGHT
    items = f["panels"].items(min_items=1)
    fixed = {i: p.value.get("width") for i, p in enumerate(items) if isinstance(p.value, dict) and "width" in p.value}
    for i, value in fixed.items():
        items[i].child("width", value).number(low=1, high=24, integer=True)
    used = sum(int(w) for w in fixed.values())
    free = len(items) - len(fixed)
    if used > 24 or (free and 24 - used < free):
        raise f["panels"].error(f"the panels of one row are at most 24 columns wide together "
                                f"(widths given add up to {used}, and {free} panel(s) have no width)")
    auto = [(24 - used) // free + (1 if k < (24 - used) % free else 0) for k in range(free)] if free else []
    panels = []
    for i, p in enumerate(items):
        width = int(fixed[i]) if i in fixed else auto.pop(0)
        panels.append(_panel(p, width, filters, ctx))
    return Row(title, height, tuple(panels))


def _panel(item: Field, width: int, filters: str, ctx: _Context) -> Panel:
    if not isinstance(item.value, dict):
        raise item.error("expected a mapping (a panel: title, type, description, queries, ...)")
    if "type" not in item.value:
        raise item.error("missing required key 'type'")
    ptype = item.child("type", item.value["type"])
    if ptype.value not in PANEL_TYPES:
        close = difflib.get_close_matches(str(ptype.value), PANEL_TYPES, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ptype.error(f"unknown panel type {ptype.value!r} (expected one of: {listed(PANEL_TYPES, 50)}){hint}")
    kind = ptype.value
    allowed = _COMMON_KEYS + _TYPE_KEYS[kind]
    for key in item.value:
        if key not in allowed and any(key in extra for extra in _TYPE_KEYS.values()):
            owners = [t for t, extra in _TYPE_KEYS.items() if key in extra]
            raise item.child(key, None).error(f"{key!r} applies to {' and '.join(owners)} panels only, "
                                              f"not to {kind}")
    f = item.mapping(required=("title", "type", "description"), optional=tuple(k for k in allowed if k != "type"))
    title = f["title"].string()
    kw: dict = {}
    sources = [k for k in ("queries", "quantiles", "rate", "histogram") if k in f]
    if kind == "heatmap":
        if sources != ["histogram"]:
            raise item.error("a heatmap panel draws a histogram's buckets: give `histogram: NAME` "
                             f"(and no {', '.join(s for s in sources if s != 'histogram') or 'queries'})")
        queries, kw["histogram"], unit = _heatmap(f["histogram"], filters, ctx)
        if unit:
            kw["unit"] = unit
    elif len(sources) != 1:
        raise item.error("a panel needs exactly one of queries, quantiles or rate"
                         + (f" (got {', '.join(sources)})" if sources else ""))
    elif "queries" in f:
        queries = tuple(_query(q, filters, ctx.path_label) for q in f["queries"].items(min_items=1))
    elif "quantiles" in f:
        queries = _quantiles(f["quantiles"], filters, ctx.path_label)
    else:
        queries = _rate(f["rate"], filters, ctx.path_label)
    if "unit" in f:
        kw["unit"] = _unit(f["unit"])
    if "decimals" in f:
        kw["decimals"] = f["decimals"].number(low=0, high=10, integer=True)
    for key in ("min", "max"):
        if key in f:
            kw[key] = f[key].number()
    if "min" in kw and "max" in kw and kw["max"] <= kw["min"]:
        raise f["max"].error(f"must be above min ({kw['min']:g}), got {kw['max']:g}")
    if "thresholds" in f:
        kw["thresholds"], kw["declared_steps"] = _thresholds(f["thresholds"], ctx)
        kw["alert_refs"] = tuple(dict.fromkeys(s.ref for s in kw["declared_steps"] if s.ref))
    if "mappings" in f:
        kw["mappings"] = tuple(_mapping(m) for m in f["mappings"].items(min_items=1))
    if "link" in f:
        kw["link"] = f["link"].string()
        ctx.links.append((f["link"], kw["link"]))
    if "reduce" in f:
        kw["reduce"] = f["reduce"].one_of(REDUCERS)
    if "legend" in f:
        kw["legend"] = _legend(f["legend"])
    for key in ("sparkline", "background", "stack", "donut"):
        if key in f:
            kw[key] = f[key].boolean()
    if "time" in f:
        kw["time"] = f["time"].duration(minimum=60)
    if kind == "barchart":
        kw["orientation"] = "vertical"
        if "x" not in f:
            raise item.error("missing required key 'x' (the label whose values are the bars, e.g. x: exchange)")
        kw["x"] = _expand(f["x"], f["x"].name("label name"), "", ctx.path_label)
        for q in queries:
            kept = promql_by_labels(q.expr)
            if kept and kw["x"] not in kept:
                raise f["x"].error(f"query {q.expr!r} does not keep label {kw['x']!r} "
                                   f"(aggregate with `sum by ({kw['x']}) (...)`)")
    if "orientation" in f:
        kw["orientation"] = f["orientation"].one_of(ORIENTATIONS)
    if "style" in f:
        kw["style"] = f["style"].one_of(LINE_STYLES)
    if "fill" in f:
        kw["fill"] = f["fill"].number(low=0, high=100, integer=True)
    return Panel(title=title, type=kind, description=_cite_text(f["description"], ctx), width=width,
                 queries=queries, origin=item, **kw)


def promql_by_labels(expr: str) -> set[str]:
    """Labels named in the expression's `by (...)` clauses (a cheap check that a label survives aggregation)."""
    return {label.strip() for group in re.findall(r"\bby\s*\(([^)]*)\)", expr) for label in group.split(",")}


def _heatmap(field: Field, filters: str, ctx: _Context) -> tuple[tuple[Query, ...], str, str]:
    """A histogram's buckets as a heatmap: the per-bucket rate, summed by `le`; the y unit from the catalog."""
    metric = field.name("metric name")
    unit = ""
    if ctx.catalog is not None:
        spec = ctx.catalog.get(metric)
        if spec is None or spec.type != "histogram":
            histograms = [m.name for m in ctx.catalog.metrics if m.type == "histogram"]
            got = f"a {spec.type}" if spec is not None else "not in the metric catalog"
            raise field.error(f"{metric!r} is {got}: a heatmap needs a catalog histogram "
                              f"({', '.join(histograms) or 'none declared'})")
        unit = CATALOG_UNITS.get(spec.unit, "")
    selector = f"{{{filters}}}" if filters else ""
    expr = f"sum by (le) (rate({metric}_bucket{selector}[$__rate_interval]))"
    return (Query(expr, "{{le}}", origin=field),), metric, unit


def _query(item: Field, filters: str, path_label: str) -> Query:
    f = item.mapping(required=("expr",), optional=("legend",))
    expr = _expand(f["expr"], f["expr"].string(), filters, path_label)
    legend = _expand(f["legend"], f["legend"].string(), filters, path_label) if "legend" in f else ""
    return Query(expr, legend, origin=f["expr"])


def _quantiles(field: Field, filters: str, path_label: str) -> tuple[Query, ...]:
    """Latency quantiles of a histogram: histogram_quantile over the dashboard's filters, one series per level."""
    f = field.mapping(required=("histogram", "levels"), optional=("by", "average"))
    metric = f["histogram"].name("metric name")
    levels = [lv.number(low=0, high=1, low_open=True) for lv in f["levels"].items(min_items=1)]
    by = _by(f, path_label)
    selector = f"{{{filters}}}" if filters else ""
    group = ", ".join(("le",) + by)
    queries = []
    for level in levels:
        expr = (f"histogram_quantile({level:g}, sum by ({group}) "
                f"(rate({metric}_bucket{selector}[$__rate_interval])))")
        queries.append(Query(expr, _legend_text(by, f"p{level * 100:g}"), origin=field))
    if "average" in f and f["average"].boolean():
        total = _sum_by(by)
        expr = (f"{total}(rate({metric}_sum{selector}[$__rate_interval])) / "
                f"{total}(rate({metric}_count{selector}[$__rate_interval]))")
        queries.append(Query(expr, _legend_text(by, "avg"), origin=field))
    return tuple(queries)


def _rate(field: Field, filters: str, path_label: str) -> tuple[Query, ...]:
    """Rate of a counter split by labels, per second or scaled to a per-minute/per-hour figure."""
    f = field.mapping(required=("counter",), optional=("by", "per"))
    metric = f["counter"].name("metric name")
    by = _by(f, path_label)
    selector = f"{{{filters}}}" if filters else ""
    expr = f"{_sum_by(by)}(rate({metric}{selector}[$__rate_interval]))"
    if "per" in f:
        seconds = parse_duration(f["per"].duration(minimum=1))
        if seconds != 1:
            expr += f" * {seconds:g}"
    return (Query(expr, _legend_text(by, "") or "rate", origin=field),)


def _sum_by(by: tuple[str, ...]) -> str:
    return f"sum by ({', '.join(by)}) " if by else "sum"


def _by(f: dict[str, Field], path_label: str) -> tuple[str, ...]:
    if "by" not in f:
        return ()
    labels = []
    for item in f["by"].items():
        label = _expand(item, item.string(), "", path_label)
        if not re.match(r"^[a-zA-Z_][a-zA-Z0-9_]*$", label):
            raise item.error(f"{label!r} is not a valid label name")
        labels.append(label)
    return tuple(labels)


def _legend_text(by: tuple[str, ...], suffix: str) -> str:
    return " ".join([f"{{{{{label}}}}}" for label in by] + ([suffix] if suffix else []))


def _expand(where: Field, text: str, filters: str, path_label: str) -> str:
    """Replace <filters> and <path_label>; anything else in <...> is an error naming the field."""
    for match in _PLACEHOLDER.finditer(text):
        if f"<{match.group(1)}>" not in (FILTERS, PATH_LABEL):
            raise where.error(f"unknown placeholder <{match.group(1)}> (known: {FILTERS}, {PATH_LABEL})")
    if not filters:
        # No filter variables: drop the placeholder together with the comma that joins it.
        text = re.sub(r"<filters>\s*,\s*|,\s*<filters>", "", text)
    return text.replace(FILTERS, filters).replace(PATH_LABEL, path_label)


def _unit(field: Field) -> str:
    unit = field.value
    if isinstance(unit, str) and (unit in UNITS or _CUSTOM_UNIT.match(unit)):
        return unit
    close = difflib.get_close_matches(str(unit), UNITS, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise field.error(f"unknown unit {unit!r} (expected a Grafana unit id such as currencyUSD, percentunit, s, "
                      f"bytes, reqps, short, or a custom suffix:<text>){hint}")


def _color(field: Field) -> str:
    color = field.value
    if isinstance(color, str) and (color in COLORS or _HEX_COLOR.match(color)):
        return color
    raise field.error(f"unknown colour {color!r} (expected a Grafana colour name such as green, yellow, "
                      "orange, red, blue, dark-red, or #rrggbb)")


def _thresholds(field: Field, ctx: _Context) -> tuple[tuple[Step, ...], tuple[Step, ...]]:
    """[{color: red}, {color: green, from: 0}]: the base colour first, then each colour from its value up.
    Returns the steps, and every step as declared (a bot's own thresholds may keep one the family's drop).

    `from` may name an alert threshold (`alerts.drawdown.warning`), so panel colours move with the alert."""
    steps: list[Step] = []
    declared: list[Step] = []
    cited: list[bool] = []             # per step: does its value come from an alert threshold?
    for i, item in enumerate(field.items(min_items=1)):
        f = item.mapping(required=("color",), optional=("from",))
        color = _color(f["color"])
        if i == 0:
            if "from" in f:
                raise f["from"].error("the first step is the base colour (below every other step): "
                                      "it takes no 'from'")
            steps.append(Step(color, None))
            cited.append(False)
            continue
        if "from" not in f:
            raise item.error("missing required key 'from' (the value from which this colour applies)")
        from_alert = isinstance(f["from"].value, str)
        value = _alert_value(f["from"], ctx) if from_alert else f["from"].number()
        declared.append(Step(color, value, tuple(str(f["from"].value).split(".")[1:]) if from_alert else ()))
        while len(steps) > 1 and value <= steps[-1].value:
            if not from_alert and not cited[-1]:
                raise f["from"].error(f"steps must increase (got {value:g} after {steps[-1].value:g})")
            # An alert threshold moved past a step: the threshold wins, the other step goes (and we say so).
            where = f"{field._file}:{item.line}: {field.where}[{i}]"
            if not from_alert:
                ctx.notes.append(f"{where}: step from {value:g} dropped: not above the alert threshold "
                                 f"{steps[-1].value:g} before it")
                break
            ctx.notes.append(f"{where}: the step before ({steps[-1].value:g}) dropped: not below the alert "
                             f"threshold {value:g}")
            steps.pop()
            cited.pop()
        else:
            steps.append(declared[-1])
            cited.append(from_alert)
    return tuple(steps), (steps[0], *declared)


def _alert_value(ref: Field, ctx: _Context) -> float:
    """The number an `alerts.<family>.<field>` reference names; durations in seconds."""
    cited = cite(ref, ref.value, ctx.alerts)
    if cited.note:
        ctx.notes.append(cited.note)
    if isinstance(cited.value, bool) or not isinstance(cited.value, (int, float)):
        raise ref.error(f"{ref.value} is not a number")
    return float(cited.value)


_CITATION = re.compile(r"<(alerts\.[A-Za-z0-9_]+\.[A-Za-z0-9_]+)>")


def _cite_text(item: Field, ctx: _Context) -> str:
    """A description may cite thresholds as <alerts.drawdown.warning>: rendered as 5%, 500ms, 30s..."""
    def one(match: re.Match) -> str:
        cited = cite(item, match.group(1), ctx.alerts)
        if cited.note:
            ctx.notes.append(cited.note)
        return cited.text
    return _CITATION.sub(one, item.string())


def _mapping(item: Field) -> ValueText:
    f = item.mapping(required=("value", "text"), optional=("color",))
    raw = f["value"].value
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        raise f["value"].error("expected a number or a string")
    # Field.number itself (the bounded reader), not a subclass's: the schema must not learn "number"
    # for a value that may as well be a string.
    value = raw if isinstance(raw, str) else f"{Field.number(f['value']):g}"
    return ValueText(value, f["text"].string(), _color(f["color"]) if "color" in f else "")


def _legend(field: Field) -> Legend:
    f = field.mapping(optional=("mode", "placement", "calcs"))
    return Legend(mode=f["mode"].one_of(LEGEND_MODES) if "mode" in f else "list",
                  placement=f["placement"].one_of(LEGEND_PLACEMENTS) if "placement" in f else "bottom",
                  calcs=tuple(c.one_of(REDUCERS) for c in f["calcs"].items()) if "calcs" in f else ())


# -- many hosts, one store -------------------------------------------------------------------
HOST_VARIABLE_METRIC = "up"          # every scraped target has it, so every host appears
HOST_VARIABLE_TITLE = "Host"


def with_host_variable(dashboards: tuple[Dashboard, ...], host_label: str) -> tuple[Dashboard, ...]:
    """With agent hosts writing into a shared store: every dashboard gets a `host` variable (unless it
    declares one) and every selector of every panel query a `host=~"$host"` matcher. "All" is `.*`,
    which also matches series without the label, so the same dashboards work on a single Prometheus
    (where the host, an external label, is absent) and on the store."""
    return with_variables(dashboards, ((host_label, HOST_VARIABLE_METRIC, HOST_VARIABLE_TITLE),))


# Every dashboard tells one bot of a fleet from another: these variables, and their matchers on every
# selector (Grafana's dashboard-linter rules template-job/-instance and target-job/-instance).
FLEET_VARIABLES = (("job", HOST_VARIABLE_METRIC, "Job"), ("instance", HOST_VARIABLE_METRIC, "Instance"))


def with_fleet_variables(dashboards: tuple[Dashboard, ...]) -> tuple[Dashboard, ...]:
    return with_variables(dashboards, FLEET_VARIABLES)


def with_variables(dashboards: tuple[Dashboard, ...], added: tuple[tuple[str, str, str], ...]) -> tuple[Dashboard, ...]:
    """Every dashboard with these (label, metric, title) variables first (each unless it declares it)
    and a `label=~"$label"` matcher on every selector of every panel query without one on `label`."""
    from dataclasses import replace

    from stackgen import promql
    out = []
    for dashboard in dashboards:
        declared = {v.label for v in dashboard.variables}
        variables = tuple(Variable(label, metric, title, origin=dashboard.origin)
                          for label, metric, title in added if label not in declared) + dashboard.variables
        rows = []
        for row in dashboard.rows:
            panels = []
            for panel in row.panels:
                queries = []
                for query in panel.queries:
                    expr = query.expr
                    try:
                        promql.parse(expr)
                    except ValueError:      # the query check says what is wrong with it
                        queries.append(query)
                        continue
                    for label, _, _ in reversed(added):      # each matcher goes first: job, instance, ...
                        try:
                            expr = promql.add_matcher(expr, label, f"${label}")
                        except ValueError as e:
                            raise query.origin.error(f"dashboard {dashboard.uid!r}, panel {panel.title!r}: {e}; "
                                                     f"add {label}=~\"${label}\" to its selectors") from None
                    queries.append(replace(query, expr=expr) if expr != query.expr else query)
                panels.append(replace(panel, queries=tuple(queries)))
            rows.append(replace(row, panels=tuple(panels)))
        out.append(replace(dashboard, variables=variables, rows=tuple(rows)))
    return tuple(out)
