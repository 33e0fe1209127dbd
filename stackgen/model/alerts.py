"""The spec's `alerts:` section: built-in families (declared in stackgen/alerts/families.yaml)
and the user's own alerts, plus the user's recording rules (`recording_rules:`).

Omit a family's key to turn it off. A key in CamelCase is an alert of the user's own: a
threshold alert (`metric` with `above` or `below`: its tests are generated) or a free-form
alert (`expr` with the promtool test cases the user writes).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from stackgen.errors import listed
from stackgen.alerts import families as fam
from stackgen.errors import Gather
from stackgen.spec.fields import Field, parse_duration

SEVERITY_CHOICES = fam.SEVERITY_CHOICES
_ALERT_NAME = re.compile(r"^[A-Z][A-Za-z0-9]*$")
# An override's label value is written into rule texts, the runbook and promtool's expected annotations:
# no template braces, no control characters (quotes and regex characters are escaped where it goes).
_OVERRIDE_VALUE = re.compile(r"^(?!.*(\{\{|\}\}))[^\x00-\x1f\x7f]+$", re.S)
_SERIES_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_RECORD_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*:[a-zA-Z_][a-zA-Z0-9_]*:[a-zA-Z0-9_]+$")
_CUSTOM_COMMON = ("for", "severity", "summary", "description", "runbook")


# Labels an override may match on, most specific first: a series matched by several overrides takes the
# first one's values (a bot's own entry wins over its strategy's, which wins over its env's).
OVERRIDE_LABELS = ("job", "instance", "strategy", "universe", "env")


@dataclass(frozen=True)
class Override:
    """Other field values of a family for the series whose `label` is `value` (a bot: job=<its name>)."""
    label: str
    value: str
    values: tuple[tuple[str, object], ...]   # every field, the family's values with the override's on top
    path: tuple = ()                          # where in the spec it is declared (for errors)

    @property
    def name(self) -> str:
        return f"{self.label}={self.value}"


@dataclass(frozen=True)
class FamilyConfig:
    """One enabled built-in family with its field values, named as the spec spells them."""
    key: str
    values: tuple[tuple[str, object], ...] = ()
    overrides: tuple[Override, ...] = ()

    def __getitem__(self, name: str):
        return dict(self.values)[name]

    def get(self, name: str, default=None):
        return dict(self.values).get(name, default)

    @property
    def for_(self) -> str:
        return self.get("for", "")


@dataclass(frozen=True)
class CustomAlert:
    """An alert of the user's own: `metric` + `above`/`below` (generated tests) or `expr` + `tests`."""
    name: str
    severity: str
    for_: str
    summary: str
    description: str
    runbook: str
    metric: str = ""               # a gauge of the catalog or a recorded series
    op: str = ""                   # ">" or "<"
    threshold: float = 0.0
    by: tuple[str, ...] = ()
    expr: str = ""
    tests: tuple = field(default=(), compare=False)     # promtool test cases, as the user wrote them
    origin: Field | None = field(default=None, compare=False, repr=False)

    @property
    def threshold_alert(self) -> bool:
        return bool(self.metric)


@dataclass(frozen=True)
class CustomRecord:
    record: str
    expr: str
    labels: tuple[tuple[str, str], ...] = ()
    tests: tuple = field(default=(), compare=False)
    origin: Field | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Alerts:
    families: tuple[FamilyConfig, ...] = ()
    custom: tuple[CustomAlert, ...] = ()
    records: tuple[CustomRecord, ...] = ()

    def family(self, key: str) -> FamilyConfig | None:
        return next((f for f in self.families if f.key == key), None)

    def __getattr__(self, key: str):
        # stack.alerts.drawdown reads as before: the family's config, or None when it is off.
        if key.startswith("_") or key not in fam.families():
            raise AttributeError(key)
        return self.family(key)


def read_alerts(field: Field, records_field: Field | None = None,
                bot_alerts: tuple[tuple[str, Field], ...] = ()) -> Alerts:
    """`bot_alerts`: (job name, the bot entry's `alerts:`) pairs, each a family -> fields mapping that
    becomes that family's override for job=<name>."""
    known = fam.families()
    if not isinstance(field.value, dict):
        field.mapping()     # raises: expected a mapping
    configs, custom = [], []
    g = Gather()
    for key, value in field.value.items():
        item = field.child(key, value)
        if key in known:
            config = g.run(_read_family, known[key], item, _bot_overrides(key, bot_alerts, known))
            if config is not None:
                configs.append(config)
        elif isinstance(key, str) and _ALERT_NAME.match(key):
            owner = next((k for k, f in known.items() if key in f.alert_names), None)
            if owner:
                raise item.error(f"{key} is the alert of the built-in family {owner!r}; "
                                 "name your own alert differently")
            alert = g.run(_read_custom, key, item)
            if alert is not None:
                custom.append(alert)
        else:
            import difflib
            close = difflib.get_close_matches(str(key), sorted(known), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise item.error(f"unknown alert family (expected one of: {listed(known)}; or an alert "
                             f"name in CamelCase for an alert of your own){hint}")
    g.done()
    for _job, entry in bot_alerts:
        for key, item in entry.mapping(optional=tuple(entry.value or {})).items():
            if key not in known:
                raise item.error(f"unknown alert family (expected one of: {listed(known)})")
            if key not in field.value:
                raise item.error(f"alert family {key!r} is off (not under alerts:); a bot can only change "
                                 "the fields of a family that is on")
    order = list(known)
    configs.sort(key=lambda c: order.index(c.key))
    records = _read_records(records_field) if records_field is not None else ()
    return Alerts(tuple(configs), tuple(custom), records)


def _bot_overrides(key: str, bot_alerts: tuple[tuple[str, Field], ...], known: dict) -> list[tuple[Field, dict]]:
    """(fields, {"job": name}) for each bot entry that changes family `key`."""
    found = []
    for job, entry in bot_alerts:
        if isinstance(entry.value, dict) and key in entry.value:
            found.append((entry.child(key, entry.value[key]), {"job": job}))
    return found


def _read_family(family: fam.Family, item: Field, bot_overrides: list | None = None) -> FamilyConfig | None:
    if family.switch:
        return FamilyConfig(family.key) if item.boolean() else None
    required = tuple(s.name for s in family.fields if s.required)
    optional = tuple(s.name for s in family.fields if not s.required) + ("overrides",)
    f = item.mapping(required=required, optional=optional)
    values = _field_values(family, item, f, {})
    overrides = []
    for entry in (f["overrides"].items(min_items=1) if "overrides" in f else ()):
        e = entry.mapping(required=("match",), optional=tuple(s.name for s in family.fields))
        match = e["match"].mapping(optional=OVERRIDE_LABELS)
        if len(match) != 1:
            raise e["match"].error(f"match exactly one label, one of {', '.join(OVERRIDE_LABELS)} "
                                   "(a bot's own entry under bots: matches its job)")
        (label, value), = match.items()
        overrides.append((entry, e, label, value.string(
            pattern=_OVERRIDE_VALUE, what="label value to match (no {{, }} or control characters)")))
    for fields, matched in bot_overrides or ():
        f2 = fields.mapping(optional=tuple(s.name for s in family.fields))
        (label, value), = matched.items()
        overrides.append((fields, f2, label, value))
    found: list[Override] = []
    for where, fields, label, value in overrides:
        if any(o.label == label and o.value == value for o in found):
            raise where.error(f"alerts.{family.key}: {label}={value} is overridden twice")
        merged = _field_values(family, where, {k: v for k, v in fields.items() if k != "match"}, values)
        found.append(Override(label, value, tuple(merged.items()), tuple(where.path)))
    found.sort(key=lambda o: OVERRIDE_LABELS.index(o.label))
    return FamilyConfig(family.key, tuple(values.items()), tuple(found))


def _field_values(family: fam.Family, item: Field, f: dict, base: dict) -> dict:
    """The family's field values: those given in `f`, else `base`'s, else the defaults; orderings checked."""
    values: dict[str, object] = {}
    for spec in family.fields:
        if spec.name in f:
            values[spec.name] = fam.read_value(spec, f[spec.name])
        elif spec.name in base:
            values[spec.name] = base[spec.name]
        else:
            values[spec.name] = spec.default
            if spec.type == "number":
                values[spec.name] = int(spec.default) if spec.integer else float(spec.default)
    for spec in family.fields:
        where = f.get(spec.name) or item.child(spec.name, None)
        value = values[spec.name]
        if spec.above and not value > values[spec.above]:
            raise where.error(f"must be above {spec.above} ({values[spec.above]:g}), got {value:g}")
        if spec.below and not value < values[spec.below]:
            raise where.error(f"must be below {spec.below} ({values[spec.below]:g}), got {value:g}")
    return values


# -- alerts of the user's own ---------------------------------------------------------------
def _runbook_text(f: dict[str, Field]) -> str:
    return f["runbook"].string() if "runbook" in f else ""


def _read_custom(name: str, item: Field) -> CustomAlert:
    if not isinstance(item.value, dict):
        item.mapping()
    if "metric" in item.value:
        f = item.mapping(required=("metric", "for", "summary", "description"),
                         optional=("above", "below", "by", "severity", "runbook"))
        sides = [k for k in ("above", "below") if k in f]
        if len(sides) != 1:
            raise item.error("a threshold alert needs exactly one of above or below"
                             + (f" (got {', '.join(sides)})" if sides else ""))
        side = sides[0]
        threshold = f[side].number(low=-fam.DEFAULT_MAX_NUMBER, high=fam.DEFAULT_MAX_NUMBER)
        by = tuple(x.name("label name") for x in f["by"].items(min_items=1)) if "by" in f else ()
        return CustomAlert(name=name, severity=_severity(f), for_=_for(f), summary=f["summary"].string(),
                           description=f["description"].string(), runbook=_runbook_text(f),
                           metric=f["metric"].string(pattern=_SERIES_NAME, what="metric or recorded series name"),
                           op=">" if side == "above" else "<",
                           threshold=threshold, by=by, origin=item)
    if "expr" in item.value:
        f = item.mapping(required=("expr", "for", "summary", "description", "tests"),
                         optional=("severity", "runbook"))
        tests = f["tests"].items(min_items=1)
        silent = firing = False
        for test in tests:
            t = test.mapping(required=("input_series", "alert_rule_test"), optional=("name", "interval"))
            _input_series(t)
            for check in t["alert_rule_test"].items(min_items=1):
                c = check.mapping(required=("eval_time", "exp_alerts"))
                c["eval_time"].duration()
                expected = c["exp_alerts"].items()
                silent |= not expected
                firing |= bool(expected)
                for exp in expected:
                    e = exp.mapping(optional=("exp_labels", "exp_annotations", "value"))
                    if "value" in e:
                        e["value"].number()
        if not (silent and firing):
            missing = " and ".join(x for x, have in (("a silent case (exp_alerts: [])", silent),
                                                    ("a firing case", firing)) if not have)
            raise f["tests"].error(f"free-form alert {name} needs {missing}: write the promtool test cases "
                                   "that prove it stays quiet and that it fires")
        return CustomAlert(name=name, severity=_severity(f), for_=_for(f), summary=f["summary"].string(),
                           description=f["description"].string(), runbook=_runbook_text(f),
                           expr=f["expr"].string(), tests=tuple(t.value for t in tests), origin=item)
    raise item.error("an alert of your own needs `metric` with `above` or `below` (a threshold alert), "
                     "or `expr` with `tests` (a free-form alert)")


def _input_series(t: dict[str, Field]) -> None:
    if "interval" in t:
        t["interval"].duration(minimum=1)
    for series in t["input_series"].items():
        s = series.mapping(required=("series", "values"))
        s["series"].string()
        if not isinstance(s["values"].value, (str, int, float)) or isinstance(s["values"].value, bool):
            raise s["values"].error("expected promtool's expanding notation, such as 0+10x20 or 1x30")


def _for(f: dict[str, Field]) -> str:
    text = f["for"].duration()
    if parse_duration(text) > fam.MAX_DURATION:
        raise f["for"].error(f"must be at most 7d (got {text})")
    return text


def _severity(f: dict[str, Field]) -> str:
    return f["severity"].one_of(SEVERITY_CHOICES) if "severity" in f else "warning"


def _read_records(field: Field) -> tuple[CustomRecord, ...]:
    out = []
    for item in field.items():
        f = item.mapping(required=("record", "expr", "tests"), optional=("labels",))
        record = f["record"].string()
        if not _RECORD_NAME.match(record):
            raise f["record"].error(f"{record!r} is not a level:metric:operations name "
                                    "(e.g. job:api_orders:rejected_ratio_rate5m)")
        if record in [r.record for r in out]:
            raise f["record"].error(f"recording rule {record!r} is declared twice")
        labels = ()
        if "labels" in f:
            labels = tuple(sorted((k, v.string()) for k, v in f["labels"].mapping(
                optional=tuple(f["labels"].value)).items()))
        tests = f["tests"].items(min_items=1)
        checked = False
        for test in tests:
            t = test.mapping(required=("input_series", "promql_expr_test"), optional=("name", "interval"))
            _input_series(t)
            for check in t["promql_expr_test"].items():
                c = check.mapping(required=("expr", "eval_time"), optional=("exp_samples",))
                c["eval_time"].duration()
                for sample in (c["exp_samples"].items() if "exp_samples" in c else []):
                    sample.mapping(required=("value",), optional=("labels",))["value"].number()
            checked |= bool(t["promql_expr_test"].items(min_items=1))
        if not checked:
            raise f["tests"].error(f"recording rule {record} needs a promql_expr_test")
        out.append(CustomRecord(record, f["expr"].string(), labels, tuple(t.value for t in tests), origin=item))
    return tuple(out)


# -- citing a threshold (panel colours, panel descriptions) -----------------------------------
@dataclass(frozen=True)
class Cited:
    value: float | str             # the number (durations in seconds), or a duration/severity as written
    text: str                      # as text cites it: 5%, 500ms, 30s, -1000 USD
    note: str = ""                 # set when the family is off and its default stands in


def cite(ref: Field, text: str, alerts: Alerts | None) -> Cited:
    """`alerts.<family>.<field>` (fields as the spec spells them, `for` included), or
    `alerts.<YourAlert>.above|below|for`. A family that is off cites its default, with a note."""
    parts = text.split(".")
    known = fam.families()
    if len(parts) != 3 or parts[0] != "alerts":
        raise ref.error(f"expected a number or an alert threshold such as alerts.drawdown.warning, got {text!r}")
    _, key, name = parts
    if key in known:
        family = known[key]
        spec = family.field_spec(name)
        if spec is None:
            have = ", ".join(s.name for s in family.fields) or "none"
            raise ref.error(f"alerts.{key} has no field {name!r} (it has: {have})")
        config = alerts.family(key) if alerts is not None else None
        note = ""
        if config is None:
            value = spec.default if spec.type != "number" else float(spec.default)
            note = (f"{ref._file}:{ref.line}: {ref.where}: alert family {key!r} is off; "
                    f"citing its default {name} {fam.cite(spec, value)}")
        else:
            value = config[name]
        shown = fam.cite(spec, value)
        # Per-bot (env, strategy) values: the text names them too (the colours follow them: bot_colours.py).
        others = [f"{o.name}: {fam.cite(spec, dict(o.values)[name])}" for o in (config.overrides if config else ())
                  if dict(o.values)[name] != value]
        if others:
            shown += f" ({'; '.join(others)})"
        if spec.type == "duration":
            value = parse_duration(value)
        return Cited(value, shown, note)
    for alert in (alerts.custom if alerts is not None else ()):
        if alert.name == key:
            if name in ("above", "below") and alert.threshold_alert and \
                    (name == "above") == (alert.op == ">"):
                return Cited(alert.threshold, f"{alert.threshold:g}")
            if name == "for":
                return Cited(parse_duration(alert.for_), alert.for_)
            raise ref.error(f"alerts.{key} has no numeric field {name!r}")
    raise ref.error(f"alert family {key!r} is not known (families: {', '.join(known)})")
