"""The spec's `slos:` section: service objectives and money budgets, validated.

An objective (sloth's vocabulary: objective in percent, a period, an SLI as error and total events)
is read on a signal (so a bot's profile makes it work for any bot), on a histogram with a latency
threshold (an `le` bucket), or on raw PromQL with sloth's `{{.window}}` placeholder. A money budget is
a gauge signal moving toward a limit (today's PnL toward the daily loss limit, the drawdown toward its
allowance). Both alert on pairs of windows, the SRE workbook's multiwindow multi-burn-rate alerts.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal

from stackgen import conventions as n
from stackgen.model.alerts import Alerts, cite
from stackgen.model.catalog import MetricCatalog
from stackgen.signals import registry
from stackgen.spec.fields import Field, parse_duration

WINDOW_PLACEHOLDER = "{{.window}}"      # sloth's placeholder in raw SLI queries
SEVERITIES = {"page": "critical", "ticket": "warning"}   # sloth_severity -> the stack's severity label
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_ALERT = re.compile(r"^[A-Z][A-Za-z0-9]*$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_ORIGIN = dict(compare=False, repr=False)
# Each objective or budget brings a dozen rules and generated tests per window pair: bounded, like the
# spec's other lists, so a hostile spec cannot make generation take minutes.
MAX_ENTRIES = 100
MAX_WINDOWS = 8


@dataclass(frozen=True)
class Window:
    """One alert of a window pair: fires while both windows burn faster than `burn` (an objective's) or
    both project the budget gone within `within` (a money budget's)."""
    severity: str          # page | ticket (sloth_severity)
    long: str
    short: str
    burn: float = 0.0
    within: str = ""

    @property
    def label(self) -> str:
        return SEVERITIES[self.severity]


# The SRE workbook's pairs (sloth's defaults) for a 30d objective; money budgets project exhaustion.
DEFAULT_WINDOWS = (Window("page", "1h", "5m", burn=14.4), Window("page", "6h", "30m", burn=6),
                   Window("ticket", "1d", "2h", burn=3), Window("ticket", "3d", "6h", burn=1))
DEFAULT_BUDGET_WINDOWS = (Window("page", "1h", "5m", within="2h"), Window("ticket", "6h", "30m", within="12h"))


@dataclass(frozen=True)
class Sli:
    """What the SLI counts, for the tests that feed its native series: kind is latency, bad, good or raw."""
    kind: str
    metric: str = ""
    below: float = 0.0                          # latency: the threshold (an le bound)
    picked: tuple[tuple[str, str], ...] = ()    # bad/good: the matchers that pick those events


@dataclass(frozen=True)
class Objective:
    name: str              # sloth_slo
    service: str           # sloth_service
    objective: float       # percent
    period: str
    error_query: str       # PromQL with {{.window}}: error events per second
    total_query: str       # PromQL with {{.window}}: all events per second
    min_events: int        # the low-traffic guard: events the long window needs before it alerts
    windows: tuple[Window, ...]
    alert: str
    description: str
    runbook: str
    sli: Sli = Sli("raw")
    matchers: tuple[tuple[str, str], ...] = ()
    origin: Field | None = field(default=None, **_ORIGIN)

    @property
    def id(self) -> str:   # sloth_id
        return f"{self.service}-{self.name}"

    @property
    def budget(self) -> float:
        return float((100 - Decimal(repr(self.objective))) / 100)

    def query(self, which: str, window: str) -> str:
        return (self.error_query if which == "error" else self.total_query).replace(WINDOW_PLACEHOLDER, window)


@dataclass(frozen=True)
class Budget:
    name: str              # the `budget` label
    signal: str            # the gauge's metric name
    limit: float           # where the budget is gone: below 0, the signal falls to it; above, it rises to it
    windows: tuple[Window, ...]
    alert: str
    runbook: str
    labels: tuple[str, ...] = ()    # the signal's labels (besides job/instance): the alert's, per bot
    origin: Field | None = field(default=None, **_ORIGIN)

    @property
    def falling(self) -> bool:
        return self.limit < 0


@dataclass(frozen=True)
class Slos:
    service: str
    folder: str                      # Grafana folder of the error-budget dashboard
    objectives: tuple[Objective, ...] = ()
    budgets: tuple[Budget, ...] = ()

    @property
    def alerts(self) -> tuple[str, ...]:
        return tuple(o.alert for o in self.objectives) + tuple(b.alert for b in self.budgets)


def camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[-_]", name))


def read_slos(field: Field, catalog: MetricCatalog, alerts: Alerts, project: str, home_folder: str,
              folders: tuple[str, ...]) -> Slos:
    f = field.mapping(optional=("service", "folder", "windows", "objectives", "budgets"))
    service = f["service"].slug("service name") if "service" in f else project
    folder = f["folder"].one_of(folders) if "folder" in f else home_folder
    windows = _windows(f["windows"], burn=True) if "windows" in f else DEFAULT_WINDOWS
    objectives = tuple(_objective(name, item, service, windows, catalog)
                       for name, item in _named(f.get("objectives")))
    budgets = tuple(_budget(name, item, catalog, alerts) for name, item in _named(f.get("budgets")))
    if not objectives and not budgets:
        raise field.error("declare at least one of objectives or budgets")
    taken: dict[str, Field] = {}
    for thing in objectives + budgets:
        if thing.alert in taken or thing.alert in alerts_names(alerts):
            raise thing.origin.error(f"alert {thing.alert} is declared twice (set `alert:` to another name)")
        taken[thing.alert] = thing.origin
    return Slos(service, folder, objectives, budgets)


def alerts_names(alerts: Alerts) -> set[str]:
    from stackgen.alerts import families as fam
    return {a.name for a in alerts.custom} | {n for f in fam.families().values() for n in f.alert_names}


def _named(field: Field | None) -> list[tuple[str, Field]]:
    if field is None:
        return []
    items = field.mapping(optional=tuple(field.value or {}) if isinstance(field.value, dict) else ())
    if len(items) > MAX_ENTRIES:
        raise field.error(f"at most {MAX_ENTRIES} entries (got {len(items)})")
    for name, item in items.items():
        if not isinstance(name, str) or not _SLUG.match(name):
            raise item.error(f"{name!r} is not a valid name (lowercase letters, digits, '-')")
    return list(items.items())


def _windows(field: Field, *, burn: bool) -> tuple[Window, ...]:
    out = []
    if isinstance(field.value, list) and len(field.value) > MAX_WINDOWS:
        raise field.error(f"at most {MAX_WINDOWS} window pairs (got {len(field.value)})")
    for item in field.items(min_items=1):
        f = item.mapping(required=("severity", "long", "short", "burn" if burn else "within"))
        severity = f["severity"].one_of(tuple(SEVERITIES))
        long, short = f["long"].duration(minimum=60), f["short"].duration(minimum=60)
        if parse_duration(short) >= parse_duration(long):
            raise f["short"].error(f"the short window must be shorter than the long one ({long}), got {short}")
        if any(w.severity == severity and parse_duration(w.long) == parse_duration(long) for w in out):
            raise f["long"].error(f"a {severity} pair on the long window {long} is declared twice "
                                  "(the long window tells a severity's pairs apart)")
        if burn:
            out.append(Window(severity, long, short, burn=f["burn"].number(low=0, low_open=True, high=1000)))
        else:
            out.append(Window(severity, long, short, within=f["within"].duration(minimum=60)))
    return tuple(out)


def _objective(name: str, item: Field, service: str, windows: tuple[Window, ...], catalog: MetricCatalog) -> Objective:
    f = item.mapping(required=("objective", "sli"),
                     optional=("window", "matchers", "min_events", "windows", "alert", "description", "runbook"))
    objective = f["objective"].number(low=0, high=100, low_open=True)
    if objective >= 100:
        raise f["objective"].error("must be below 100 (a 100 % objective has no error budget)")
    period = f["window"].duration(minimum=3600) if "window" in f else "30d"
    if "windows" in f:
        windows = _windows(f["windows"], burn=True)
    budget = float((100 - Decimal(repr(objective))) / 100)
    for w in windows:
        if parse_duration(w.long) >= parse_duration(period):
            where = f["windows"] if "windows" in f else f.get("window") or f["objective"]
            raise where.error(f"a long window of {w.long} needs an SLO window longer than it (window: {period})")
        if w.burn * budget >= 1:
            where = f["windows"] if "windows" in f else f["objective"]
            raise where.error(f"a burn rate of {w.burn:g} over an error budget of {budget:.4g} needs more than "
                              "100 % errors: it can never alert (lower the burn or the objective)")
    matchers = _matchers(f["matchers"]) if "matchers" in f else ()
    error, total, sli = _sli(f["sli"], catalog, matchers)
    description = f["description"].string() if "description" in f else f"{name}: {objective:g} % over {period}"
    alert = f["alert"].string(pattern=_ALERT, what="alert name (CamelCase)") if "alert" in f else \
        f"{camel(name)}BudgetBurn"
    min_events = f["min_events"].number(low=1, high=10**9, integer=True) if "min_events" in f else 10
    return Objective(name, service, objective, period, error, total, min_events, windows, alert, description,
                     f["runbook"].string() if "runbook" in f else "", sli, matchers, origin=item)


def _matchers(field: Field) -> tuple[tuple[str, str], ...]:
    f = field.mapping(optional=tuple(field.value or {}) if isinstance(field.value, dict) else ())
    out = []
    for label, value in f.items():
        if not _LABEL.match(str(label)):
            raise value.error(f"{label!r} is not a label name")
        text = value.string()
        if '"' in text or "\\" in text:
            raise value.error('a matcher value may not contain " or \\')
        out.append((label, text))
    return tuple(out)


def _selector(name: str, *matchers: tuple[str, str]) -> str:
    inner = ", ".join(f'{k}=~"{v}"' for k, v in matchers)
    return f"{name}{{{inner}}}" if inner else name


def _metric(field: Field, catalog: MetricCatalog, kind: str) -> str:
    """`signal: key` (the signals' names, which profiles map any bot onto) or `metric: name` of the catalog."""
    sources = [k for k in ("signal", "metric") if k in field.value]
    if len(sources) != 1:
        raise field.error("give exactly one of signal (a signal key) or metric (a catalog metric)")
    where = field.child(sources[0], field.value[sources[0]])
    if sources[0] == "signal":
        signal = registry().get(where.string())
        if signal is None:
            known = ", ".join(s.key for s in registry().signals)
            raise where.error(f"unknown signal {where.value!r} (signals: {known})")
        name = signal.name
    else:
        name = where.name("metric name")
    metric = catalog.get(name)
    if metric is None:
        raise where.error(f"metric {name!r} is not in the metric catalog")
    if metric.type != kind:
        raise where.error(f"expected a {kind}, {name} is a {metric.type}")
    return name


def _sli(field: Field, catalog: MetricCatalog, matchers: tuple) -> tuple[str, str, Sli]:
    """The SLI as (error events per second, all events per second), PromQL with {{.window}}."""
    f = field.mapping(optional=("events", "latency"))
    if len(f) != 1:
        raise field.error("give exactly one of events or latency")
    w = f"[{WINDOW_PLACEHOLDER}]"
    if "latency" in f:
        lf = f["latency"].mapping(required=("below",), optional=("signal", "metric"))
        name = _metric(f["latency"], catalog, "histogram")
        below = lf["below"].number(low=0, low_open=True)
        buckets = catalog.get(name).buckets
        if below not in buckets:
            raise lf["below"].error(f"must be a bucket bound of {name} (an le value: "
                                    f"{', '.join(f'{b:g}' for b in buckets)}), got {below:g}")
        total = f"sum(rate({_selector(name + '_count', *matchers)}{w}))"
        inner = ", ".join([*(f'{k}=~"{v}"' for k, v in matchers), f'le="{below!r}"'])   # le exactly
        good = f"sum(rate({name}_bucket{{{inner}}}{w}))"
        return f"{total} - {good}", total, Sli("latency", name, below)
    ef = f["events"].mapping(optional=("signal", "metric", "bad", "good", "error_query", "total_query"))
    if "error_query" in ef or "total_query" in ef:
        extra = [k for k in ef if k not in ("error_query", "total_query")]
        if extra or len(ef) != 2:
            raise f["events"].error("raw PromQL events need error_query and total_query (and nothing else)")
        queries = []
        for key in ("error_query", "total_query"):
            text = ef[key].string()
            if WINDOW_PLACEHOLDER not in text:
                raise ef[key].error(f"must contain the window placeholder {WINDOW_PLACEHOLDER}, as in "
                                    f"sum(rate(x[{WINDOW_PLACEHOLDER}]))")
            queries.append(text)
        return queries[0], queries[1], Sli("raw")
    name = _metric(f["events"], catalog, "counter")
    sides = [k for k in ("bad", "good") if k in ef]
    if len(sides) != 1:
        raise f["events"].error("give exactly one of bad or good (label matchers picking those events)")
    picked = _matchers(ef[sides[0]])
    labels = set(catalog.get(name).label_names)
    for label, _ in picked + matchers:
        if label not in labels:
            raise ef[sides[0]].error(f"{name} has no label {label!r} (it has: {', '.join(sorted(labels))})")
    total = f"sum(rate({_selector(name, *matchers)}{w}))"
    chosen = f"sum(rate({_selector(name, *matchers, *picked)}{w}))"
    # A selector that matches nothing yields no series, not 0: `or ... * 0` keeps the ratio defined.
    chosen = f"({chosen} or {total} * 0)"
    sli = Sli(sides[0], name, picked=picked)
    return (chosen, total, sli) if sides[0] == "bad" else (f"{total} - {chosen}", total, sli)


def _budget(name: str, item: Field, catalog: MetricCatalog, alerts: Alerts) -> Budget:
    f = item.mapping(required=("signal", "limit"), optional=("windows", "alert", "runbook"))
    signal = _metric(item, catalog, "gauge")
    limit_field = f["limit"]
    if isinstance(limit_field.value, str):
        limit = cite(limit_field, limit_field.value, alerts).value
        if not isinstance(limit, float):
            raise limit_field.error(f"{limit_field.value} is not a number")
    else:
        limit = limit_field.number()
    if limit == 0:
        raise limit_field.error("must not be 0: below 0 the signal falls to it (a loss), above 0 it rises to it")
    windows = _windows(f["windows"], burn=False) if "windows" in f else DEFAULT_BUDGET_WINDOWS
    alert = f["alert"].string(pattern=_ALERT, what="alert name (CamelCase)") if "alert" in f else \
        f"{camel(name)}BudgetBurn"
    labels = tuple(label for label in catalog.get(signal).label_names)
    return Budget(name, signal, float(limit), windows, alert, f["runbook"].string() if "runbook" in f else "",
                  labels, origin=item)


# -- the names of an objective's and a budget's series (what rules record and panels read) ----
BASE_WINDOW = "5m"      # sloth's: the period's ratio averages this window's recorded ratio


def seconds(window: str) -> int:
    return int(parse_duration(window))


def windows(o: Objective) -> list[str]:
    """The windows recorded for an objective, shortest first (the period is recorded from BASE_WINDOW)."""
    found = {BASE_WINDOW} | {w.long for w in o.windows} | {w.short for w in o.windows}
    return sorted((w for w in found if seconds(w) != seconds(o.period)), key=seconds)


def slo_labels(o: Objective) -> dict[str, str]:
    return {"sloth_id": o.id, "sloth_service": o.service, "sloth_slo": o.name}


def selector(name: str, o: Objective) -> str:
    return f'{name}{{sloth_id="{o.id}"}}'


def ratio_name(window: str) -> str:
    return n.SLO_ERROR_RATIO.format(window=window)


def events_name(window: str) -> str:
    return n.SLO_EVENTS_RATE.format(window=window)


def exhaustion_name(window: str) -> str:
    return n.BUDGET_EXHAUSTION.format(window=window)
