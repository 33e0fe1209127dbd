"""The built-in alert families, loaded once from families.yaml (shipped in the package).

This module knows the shape of a family and how to read its spec fields; the rules and
tests are built in engine.py. Nothing here imports the model, so the model's reader can
use it.
"""
from __future__ import annotations

import contextlib
import functools
import math
import re
import sys
from dataclasses import dataclass, field as dataclass_field
from importlib import resources

import jinja2
import jinja2.sandbox
from jinja2.environment import TemplateExpression

from stackgen.alerts.humanize import duration, humanize_duration
from stackgen.conventions import SEVERITIES
from stackgen.errors import SpecError
from stackgen.spec.fields import Field, parse_duration
from stackgen.spec.loader import parse_yaml

FAMILIES_FILE = "families.yaml"
SEVERITY_CHOICES = ("critical", "warning", "info")
FIELD_TYPES = ("number", "duration", "severity")
UNITS = ("ratio", "seconds", "usd", "bps", "count", "per_second", "duration")
# Durations Prometheus and promtool handle comfortably; a `for: 300y` is refused, not rendered.
MAX_DURATION = 7 * 86400
DEFAULT_MAX_NUMBER = 1e12


@dataclass(frozen=True)
class FieldSpec:
    name: str
    type: str
    default: object = None
    unit: str = ""
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    integer: bool = False
    minimum: float = 0.0           # durations, seconds
    maximum: float = MAX_DURATION
    above: str = ""                # must be above this other field
    below: str = ""                # must be below this other field
    within_buckets: str = ""       # signal key of a histogram the value must lie within

    @property
    def required(self) -> bool:
        return self.default is None


@dataclass(frozen=True)
class RecordSpec:
    key: str
    domain: str
    expr: str
    labels: tuple[str, ...] = ()
    each: tuple[tuple[str, tuple[str, ...]], ...] = ()
    origin: Field | None = dataclass_field(default=None, compare=False, repr=False)   # its entry in the file


# The demo's fixed vocabulary (exporter/demo.py): what a scenario can do, and what calm can bound.
# move: push a signal to a value (or a [low, high] range) -- on a share of observations, on the
#   series with `labels`; silence: a source stays connected but sends nothing; disconnect: all but
#   `keep` sources disconnect; bot_alert: the bot reports alerts of a severity from a source; stress:
#   the risk metrics (sharpe, calmar, VaR) turn bad.
DEMO_ACTIONS = {
    "move": ("to", "share", "labels"),
    "silence": (),
    "disconnect": ("keep",),
    "bot_alert": ("source",),
    "stress": (),
}
# Signals (or recorded series) the demo knows how to move or bound.
DEMO_SIGNALS = ("drawdown", "win_rate", "round_trips", "daily_pnl", "loop_latency", "http_duration",
                "http_error_ratio", "rate_limited_rate", "fx_source_age", "fx_valid_sources",
                "fx_source_deviation", "websocket_connections", "websocket_drop",
                # trading operations (exporter/demo.py, _tick_ops)
                "exchange_connected", "order_reject_ratio", "order_fill_ratio", "order_rate", "order_latency",
                "market_data_age", "clock_skew", "trading_state", "kill_switch", "rate_limit_usage",
                "rate_limit_bans", "exposure_ratio", "balance_drift_ratio")


@dataclass(frozen=True)
class Scenario:
    name: str
    about: str
    actions: tuple[dict, ...]      # one demo action each, values still expressions over the fields
    # The native e2e drives it: {severity} its alert must carry; optionally `spec` (family fields the
    # e2e's spec sets, e.g. a window short enough to clear within the run) and `resolves_within` (a
    # duration, when the alert's own window keeps it firing past the run's default wait).
    e2e: dict | None = None
    check: dict | None = None      # {signal, above | below, labels}: the gauge the scenario pushes over


@dataclass(frozen=True)
class Family:
    key: str
    domain: str
    alert: str
    fields: tuple[FieldSpec, ...]
    rules: tuple[dict, ...]
    runbook: dict
    test: dict
    summary: str = ""
    description: str = ""
    switch: bool = False           # `key: true` turns it on; it has no fields
    scenarios: tuple["Scenario", ...] = ()   # the demo scenarios that drive it
    calm: tuple[tuple[str, str, str], ...] = ()   # (signal, "max" | "min", expression): the demo's calm bound
    origin: Field | None = dataclass_field(default=None, compare=False, repr=False)   # its entry in the file

    def field_spec(self, name: str) -> FieldSpec | None:
        return next((f for f in self.fields if f.name == name), None)

    @property
    def alert_names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(rule.get("alert", self.alert) for rule in self.rules))


@dataclass(frozen=True)
class FamilyCatalog:
    families: dict[str, Family]
    records: dict[str, RecordSpec]


# -- templates ----------------------------------------------------------------------
# << expr >> and <% block %>: PromQL's [..] and {..} and Prometheus' {{ $labels.x }} stay literal.
class _TextIsName(jinja2.BaseLoader):
    """A recipe template is named by its own text. Loading it through a loader (not from_string) lets
    Jinja's bytecode cache keep its compiled code between runs, as Python keeps .pyc files: compiling
    the ~100 recipes a run needs is most of a cold run's template time."""

    def get_source(self, environment, template):
        return template, None, lambda: True


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    """Jinja's per-user cache folder (under the temp dir, 0700, its owner checked by Jinja); none where
    Python itself is told to write no bytecode (PYTHONDONTWRITEBYTECODE) or the folder is unsafe."""
    if sys.dont_write_bytecode:
        return None
    try:
        return jinja2.FileSystemBytecodeCache()
    except (OSError, RuntimeError):
        return None


def environment(bytecode_cache: jinja2.BytecodeCache | None) -> jinja2.Environment:
    env = jinja2.sandbox.SandboxedEnvironment(
        variable_start_string="<<", variable_end_string=">>", block_start_string="<%", block_end_string="%>",
        comment_start_string="<#", comment_end_string="#>", undefined=jinja2.StrictUndefined,
        autoescape=False, keep_trailing_newline=False, loader=_TextIsName(), bytecode_cache=bytecode_cache,
        cache_size=-1)
    env.filters.update(percent=percent, g=g, humanize_duration=humanize_duration, seconds=seconds)
    env.globals.update(seconds=seconds, min=min, max=max, abs=abs, round=round, ceil=math.ceil)
    return env


def percent(value: float) -> str:
    """A ratio as operators read it (0.05 -> 5%)."""
    return f"{value * 100:g}%"


def g(value: float) -> str:
    return f"{value:g}"


def seconds(text) -> float:
    if isinstance(text, (int, float)):
        return float(text)
    value = parse_duration(text)
    if value is None:
        raise ValueError(f"not a duration: {text!r}")
    return value


ENV = environment(_bytecode_cache())


@functools.lru_cache(maxsize=None)
def template(text: str) -> jinja2.Template:
    return ENV.get_template(text)


# An expression is compiled as the template `<% set result = EXPR %>`, which is what
# compile_expression builds (an assignment to `result`), so it too goes through the cache.
_EXPRESSION_SAFE = re.compile(r"[^<>%#]*")


@functools.lru_cache(maxsize=None)
def expression(text: str):
    text = str(text)
    if not _EXPRESSION_SAFE.fullmatch(text) or "," in text or "\n" in text:
        return ENV.compile_expression(text, undefined_to_none=False)
    return TemplateExpression(ENV.get_template(f"<% set result = {text} %>"), False)


# Most templates only put names in text (`<< window >>`). Compiling each with Jinja costs ~0.7 ms,
# most of a cold run's template time; such a text is split once here and filled in directly, the
# same way Jinja prints a value (str(); one trailing newline dropped, as keep_trailing_newline=False
# does). Anything else (a call, a filter, a block, `\r`, a name not in the context) goes to Jinja.
_NAME_ONLY = re.compile(r"<<\s*([A-Za-z_][A-Za-z0-9_]*)\s*>>")
_PLAIN_VALUE = (str, int, float)
_MISSING = object()
# Words Jinja reads as literals or operators, never as a name from the context.
_JINJA_WORDS = frozenset("true false none True False None and or not in is if else".split())


@functools.lru_cache(maxsize=None)
def _plain_parts(text: str) -> tuple[str, ...] | None:
    """`text` as [data, name, data, name, ..., data] when it only substitutes names; else None."""
    if "\r" in text or "<%" in text or "<#" in text:
        return None
    if text.endswith("\n"):
        text = text[:-1]
    parts, at = [], 0
    while (start := text.find("<<", at)) >= 0:      # Jinja's lexer takes the first `<<` it meets
        found = _NAME_ONLY.match(text, start)
        if found is None or found.group(1) in _JINJA_WORDS:
            return None
        parts += [text[at:start], found.group(1)]
        at = found.end()
    parts.append(text[at:])
    return tuple(parts)


def render(text: str, context: dict) -> str:
    parts = _plain_parts(text)
    if parts is not None:
        out = []
        for i, part in enumerate(parts):
            if i % 2 == 0:
                out.append(part)
                continue
            value = context.get(part, _MISSING)
            if type(value) not in _PLAIN_VALUE:      # missing, or a value Jinja might print its own way
                return template(text).render(context)
            out.append(str(value))
        return "".join(out)
    return template(text).render(context)


def evaluate(text, context: dict):
    """A value of a recipe: numbers stay numbers, strings are expressions."""
    if isinstance(text, bool) or isinstance(text, (int, float)):
        return text
    if (text in context and text.isidentifier() and text not in _JINJA_WORDS
            and type(context[text]) in _PLAIN_VALUE):
        return context[text]                  # a bare name (`mid`): what Jinja's expression returns
    return expression(text)(**context)


# A mistake in a family's templates or test recipe (a name no template knows, a series id the recipe
# never declared) shows only when a stack renders it. It is the families.yaml author's, so it names that
# file's line and the entry's path, in one line, never a traceback.
_AUTHOR_MISTAKES = (jinja2.TemplateError, KeyError, IndexError, TypeError, ValueError, ZeroDivisionError,
                    AttributeError)


@contextlib.contextmanager
def declared(origin: Field | None, *part):
    """Run code that reads a family's (or record's) declaration; its mistakes become a SpecError at `part`."""
    try:
        yield
    except SpecError:
        raise
    except _AUTHOR_MISTAKES as exc:
        if origin is None:
            raise
        raise at(origin, *part).error(_mistake(exc)) from None


def at(origin: Field, *part) -> Field:
    """The place `part` (keys under a family's or record's entry) in families.yaml, for its error."""
    for key in part:
        origin = origin.child(key, None)
    return origin


def _mistake(exc: Exception) -> str:
    if isinstance(exc, jinja2.UndefinedError):
        return f"template: {exc.message} (names in scope: the signal keys, the family's fields, let:)"
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return f"template syntax: {exc.message}"
    if isinstance(exc, KeyError):
        return f"names {exc.args[0]!r}, which is not declared here (a series id, signal key or field)"
    return f"{type(exc).__name__}: {exc}"


# -- the file -------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def catalog() -> FamilyCatalog:
    text = resources.files("stackgen.alerts").joinpath(FAMILIES_FILE).read_text(encoding="utf-8")
    value, lines = parse_yaml(text, f"stackgen/alerts/{FAMILIES_FILE}")
    return read_catalog(Field(value, (), lines, f"stackgen/alerts/{FAMILIES_FILE}"))


def families() -> dict[str, Family]:
    return catalog().families


def read_catalog(root: Field) -> FamilyCatalog:
    f = root.mapping(required=("families",), optional=("records",))
    records = {}
    for key, item in (f["records"].mapping(optional=tuple(f["records"].value)).items() if "records" in f else ()):
        r = item.mapping(required=("domain", "expr"), optional=("labels", "each"))
        each = ()
        if "each" in r:
            each = tuple((name, tuple(str(v.value) for v in values.items(min_items=1)))
                         for name, values in r["each"].mapping(optional=tuple(r["each"].value)).items())
        records[key] = RecordSpec(key, r["domain"].slug("domain"), r["expr"].string(),
                                  tuple(x.string() for x in r["labels"].items()) if "labels" in r else (), each,
                                  origin=item)
    found = {}
    fams = f["families"]
    for key, item in fams.mapping(optional=tuple(fams.value)).items():
        found[key] = _family(key, item)
    return FamilyCatalog(found, records)


_FAMILY_KEYS = ("domain", "alert", "fields", "rules", "runbook", "test", "summary", "description", "switch",
                "scenarios", "calm")
_FIELD_KEYS = ("type", "default", "unit", "range", "open", "integer", "min", "max", "above", "below",
               "within_buckets")


def _family(key: str, item: Field) -> Family:
    f = item.mapping(required=("domain", "alert", "rules", "runbook", "test"),
                     optional=tuple(k for k in _FAMILY_KEYS if k not in ("domain", "alert", "rules", "runbook",
                                                                          "test")))
    fields = []
    if "fields" in f:
        for name, spec in f["fields"].mapping(optional=tuple(f["fields"].value)).items():
            fields.append(_field_spec(name, spec))
    names = {x.name for x in fields}
    for spec in fields:
        for other in (spec.above, spec.below):
            if other and other not in names:
                raise f["fields"].child(spec.name, None).error(f"names unknown field {other!r}")
    rules = tuple(_rule(r, names) for r in f["rules"].items(min_items=1))
    _recipe(f["test"])
    switch = f["switch"].boolean() if "switch" in f else False
    family = Family(key=key, domain=f["domain"].slug("domain"), alert=f["alert"].name("alert name"),
                    fields=tuple(fields), rules=rules, runbook=f["runbook"].value, test=f["test"].value,
                    summary=f["summary"].string() if "summary" in f else "",
                    description=f["description"].string() if "description" in f else "",
                    switch=switch, scenarios=_scenarios(f["scenarios"], names) if "scenarios" in f else (),
                    calm=_calm(f["calm"]) if "calm" in f else (), origin=item)
    # What the demo and its tests need of a family, asked here rather than by a test far away: a family a
    # bot feeds brings the demo scenario that drives it (the platform families watch the stack itself).
    if not family.scenarios and not switch and family.domain != "platform":
        raise item.error("a family a bot feeds needs scenarios: (the demo scenario that drives it over its "
                         "thresholds; docs/families.md)")
    for alert in family.alert_names:
        if alert not in family.runbook:
            raise f["runbook"].error(f"alert {alert} has no runbook text (meaning, steps)")
    return family


_RULE_KEYS = ("alert", "let", "summary", "description", "field")
# The test recipe's keys (engine.family_case reads them): a misspelt one is refused, not ignored.
_RECIPE_KEYS = ("name", "labels", "let", "active", "at", "series", "fires", "samples")
_RECIPE_ITEM_KEYS = {
    "series": ("id", "metric", "values", "labels", "each", "histogram", "upper", "per_step"),
    "fires": ("severity", "alert", "series", "value", "labels"),
    "samples": ("expr", "value", "series", "labels"),
}


def _rule(item: Field, fields: set[str]) -> dict:
    r = item.mapping(required=("severity", "expr"), optional=_RULE_KEYS)
    if "field" in r and r["field"].value not in fields:
        raise r["field"].error(f"names unknown field {r['field'].value!r}")
    return dict(item.value)


def _recipe(item: Field) -> None:
    t = item.mapping(required=("name",), optional=tuple(k for k in _RECIPE_KEYS if k != "name"))
    if "active" in t:
        t["active"].mapping(optional=("earliest", "latest"))
    for key, allowed in _RECIPE_ITEM_KEYS.items():
        for entry in t[key].items() if key in t else ():
            entry.mapping(optional=allowed)
    ids = {str(s.value["id"]) for s in t["series"].items() if "id" in s.value} if "series" in t else set()
    for key in ("fires", "samples"):
        for entry in t[key].items() if key in t else ():
            named = entry.value.get("series")
            templated = "<<" in str(named) or any("<<" in i for i in ids)   # known only once rendered
            if named is not None and str(named) not in ids and not templated:
                raise entry.child("series", named).error(
                    f"names series {named!r}, which test.series does not declare (ids: {', '.join(sorted(ids))})")


def _scenarios(item: Field, fields: set[str]) -> tuple[Scenario, ...]:
    found = []
    for name, entry in item.mapping(optional=tuple(item.value)).items():
        if not isinstance(name, str) or not name.replace("_", "").isalnum():
            raise entry.error(f"scenario name {name!r}: expected letters, digits and _")
        s = entry.mapping(required=("about", "do"), optional=("e2e", "check"))
        actions = []
        for action in s["do"].items(min_items=1):
            verb = next((k for k in DEMO_ACTIONS if isinstance(action.value, dict) and k in action.value), None)
            if verb is None:
                raise action.error(f"expected one demo action of {', '.join(DEMO_ACTIONS)}")
            a = action.mapping(required=(verb,), optional=DEMO_ACTIONS[verb])
            if verb == "move" and a["move"].value not in DEMO_SIGNALS:
                raise a["move"].error(f"the demo cannot move {a['move'].value!r}; it moves {', '.join(DEMO_SIGNALS)}")
            if verb == "move" and "to" not in a:
                raise action.error("move needs to: (a value or [low, high])")
            actions.append(dict(action.value))
        e2e = _e2e(s["e2e"], fields) if "e2e" in s else None
        check = None
        if "check" in s:
            c = s["check"].mapping(required=("signal",), optional=("above", "below", "labels"))
            if ("above" in c) == ("below" in c):
                raise s["check"].error("a check needs one of above, below")
            check = dict(s["check"].value)
        found.append(Scenario(name, " ".join(s["about"].string().split()), tuple(actions), e2e, check))
    return tuple(found)


def _e2e(item: Field, fields: set[str]) -> dict:
    e = item.mapping(required=("severity",), optional=("spec", "resolves_within"))
    severity = e["severity"].value
    if severity not in SEVERITIES:
        raise e["severity"].error(f"expected one of {', '.join(SEVERITIES)} (got {severity!r})")
    found = {"severity": severity}
    if "spec" in e:
        for name, value in e["spec"].mapping(optional=tuple(e["spec"].value)).items():
            if name not in fields:
                raise value.error(f"names field {name!r}, which the family does not declare "
                                  f"(fields: {', '.join(sorted(fields)) or 'none'})")
        found["spec"] = dict(e["spec"].value)
    if "resolves_within" in e:
        found["resolves_within"] = e["resolves_within"].duration(minimum=1)
    return found


def _calm(item: Field) -> tuple[tuple[str, str, str], ...]:
    bounds = []
    for signal, entry in item.mapping(optional=tuple(item.value)).items():
        if signal not in DEMO_SIGNALS:
            raise entry.error(f"the demo cannot bound {signal!r}; it bounds {', '.join(DEMO_SIGNALS)}")
        for kind, value in entry.mapping(optional=("max", "min")).items():
            bounds.append((signal, kind, str(value.value)))
    return tuple(bounds)


def _field_spec(name: str, item: Field) -> FieldSpec:
    f = item.mapping(required=("type",), optional=tuple(k for k in _FIELD_KEYS if k != "type"))
    kind = f["type"].one_of(FIELD_TYPES)
    kw: dict = {"name": name, "type": kind}
    if "default" in f:
        kw["default"] = f["default"].value
    if "unit" in f:
        kw["unit"] = f["unit"].one_of(UNITS)
    if "range" in f:
        low, high = (x.number() for x in f["range"].items(min_items=2))
        kw.update(low=low, high=high)
    if "open" in f:
        which = f["open"].one_of(("low", "high", "both"))
        kw.update(low_open=which in ("low", "both"), high_open=which in ("high", "both"))
    if "integer" in f:
        kw["integer"] = f["integer"].boolean()
    if "min" in f:
        kw["minimum"] = parse_duration(f["min"].duration())
    if "max" in f:
        kw["maximum"] = parse_duration(f["max"].duration())
    for key in ("above", "below", "within_buckets"):
        if key in f:
            kw[key] = f[key].string()
    return FieldSpec(**kw)


# -- reading a family's spec fields ----------------------------------------------------------
def read_value(spec: FieldSpec, item: Field):
    """One field of a family in the spec, checked against its declaration."""
    if spec.type == "severity":
        return item.one_of(SEVERITY_CHOICES)
    if spec.type == "duration":
        text = item.duration(minimum=spec.minimum)
        if parse_duration(text) > spec.maximum:
            raise item.error(f"must be at most {duration(spec.maximum)} (got {text})")
        return text
    high = spec.high if spec.high is not None else DEFAULT_MAX_NUMBER
    return item.number(low=spec.low, high=high, low_open=spec.low_open, high_open=spec.high_open,
                       integer=spec.integer)


def cite(spec: FieldSpec | None, value) -> str:
    """A field's value as text cites it (0.05 -> 5%, 0.5 s -> 500ms, 30s stays 30s)."""
    unit = spec.unit if spec else ""
    if isinstance(value, str):
        return value
    if unit == "ratio":
        return percent(value)
    if unit == "seconds":
        return humanize_duration(value)
    if unit == "usd":
        return f"{value:g} USD"
    if unit == "bps":
        return f"{value:g} bps"
    if unit == "per_second":
        return f"{value:g}/s"
    return f"{value:g}"
