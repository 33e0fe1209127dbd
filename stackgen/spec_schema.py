"""The spec's JSON Schema (schema/spec.schema.json) for editors, derived from the reader itself.

Nothing here lists a key of the spec. The reader's own declarations are observed while it reads
the spec being rendered (spec.yaml) and the shipped examples/*.yaml: each
`Field.mapping(required, optional)` call gives a section's keys, each typed read (string, number,
duration, one_of, items) a value's type.
The parts the reader checks without a Field method come from their declarations: the alert
families and their fields (families.yaml), the panel types and the keys of each (model/dashboards),
the built-in profile names, the spec version. A section no shipped spec reaches stays open (any
value) rather than guessed; the reader still judges it on `make generate`.
"""
from __future__ import annotations

import json
import sys
from importlib import resources
from collections import defaultdict
from pathlib import Path

from stackgen import conventions as names
from stackgen.alerts import families as fam
from stackgen.model import dashboards as dash
from stackgen.model.alerts import _ALERT_NAME
from stackgen.model import profiles
from stackgen.load import read_stack
from stackgen.spec.fields import _DURATION, MAX_DURATION, Field
from stackgen.spec.loader import load_yaml, parse_yaml

SCHEMA_FILE = "schema/spec.schema.json"
EXAMPLES_DIR = "examples"
_ANY = "*"      # a key the user names (a metric, a label set, a custom alert)
_ITEM = "[]"    # an item of a list


class _Recording(Field):
    """A Field that notes every declaration the reader makes of it, then reads as usual."""

    def __init__(self, value, path, lines, file, log):
        super().__init__(value, path, lines, file)
        self._log = log

    def child(self, key, value) -> Field:
        return _Recording(value, self.path + (key,), self._lines, self._file, self._log)

    def with_value(self, value) -> Field:
        return _Recording(value, self.path, self._lines, self._file, self._log)

    def _note(self, kind: str, **args) -> None:
        self._log.append((self.path, kind, args))

    def mapping(self, required=(), optional=()):
        # The reader writes a section's keys as a literal tuple (a constant of the calling code or
        # module); keys the user names come from the value (`mapping(optional=tuple(field.value))`).
        caller = sys._getframe(1)
        literal = tuple(optional) in caller.f_code.co_consts or any(
            value == tuple(optional) for value in caller.f_globals.values() if isinstance(value, tuple))
        named = not required and not literal
        self._note("mapping", required=tuple(required), optional=tuple(optional), named=named)
        return super().mapping(required, optional)

    def items(self, *, min_items=0):
        self._note("items", min_items=min_items)
        return super().items(min_items=min_items)

    def string(self, *, pattern=None, what=""):
        self._note("string", pattern=pattern.pattern if pattern is not None else None)
        return super().string(pattern=pattern, what=what)

    def boolean(self):
        self._note("boolean")
        return super().boolean()

    def number(self, *, low=None, high=None, low_open=False, high_open=False, integer=False):
        self._note("number", low=low, high=high, low_open=low_open, high_open=high_open, integer=integer)
        return super().number(low=low, high=high, low_open=low_open, high_open=high_open, integer=integer)

    def duration(self, *, minimum=0.0, maximum=MAX_DURATION, why=""):
        self._note("duration")
        return super().duration(minimum=minimum, maximum=maximum, why=why)

    def one_of(self, choices):
        self._note("enum", choices=tuple(choices))
        return super().one_of(choices)


def observe(paths: list[Path]) -> list[tuple[tuple, str, dict]]:
    """Every declaration the reader makes while it reads these specs."""
    log: list = []
    for path in paths:
        value, lines = load_yaml(path, path.name)
        stack = read_stack(_Recording(value, (), lines, path.name, log))
        # A key the reader requires but a default fills is not required of the user.
        log.extend((p[:-1], "defaulted", {"key": p[-1]}) for p in sorted(stack.defaulted, key=str) if p)
    # `profiles:` entries are read as the built-in profiles are (read_profiles: field.items()).
    log.append((("profiles",), "items", {"min_items": 0}))
    folder = resources.files("stackgen").joinpath(*profiles.PROFILES_DIR)
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            value, lines = parse_yaml(entry.read_text(encoding="utf-8"), entry.name)
            profiles.read_profile(_Recording(value, ("profiles", 0), lines, entry.name, log), builtin=True)
    return log


def _normalise(log) -> dict[tuple, list[tuple[str, dict]]]:
    """Declarations by the shape of their path: list indices become [], user-named keys *."""
    families = fam.families()
    named: set[tuple] = set()
    fixed: set[tuple] = set()
    by_path: dict[tuple, list] = defaultdict(list)
    for length in sorted({len(p) for p, _, _ in log}):
        for path, kind, args in (r for r in log if len(r[0]) == length):
            shape: tuple = ()
            for part in path:
                if isinstance(part, int):
                    shape += (_ITEM,)
                elif shape in named - fixed or (shape == ("alerts",) and part not in families):
                    shape += (_ANY,)
                else:
                    shape += (part,)
            by_path[shape].append((kind, args))
            if kind == "mapping":
                (named if args["named"] else fixed).add(shape)
    return by_path


class _Builder:
    def __init__(self, by_path):
        self.by_path = by_path

    def node(self, path: tuple) -> dict:
        special = self._special(path)
        return special if special is not None else self._recorded(path)

    def _recorded(self, path: tuple) -> dict:
        kinds: dict[str, list[dict]] = defaultdict(list)
        for kind, args in self.by_path.get(path, ()):
            kinds[kind].append(args)
        options = [getattr(self, f"_{kind}")(path, argses) for kind, argses in kinds.items()]
        options = [o for o in options if o is not None]
        if not options:
            return {}
        return options[0] if len(options) == 1 else {"anyOf": options}

    def _defaulted(self, path, argses) -> None:
        return None            # read by _mapping: keys a default fills

    def _mapping(self, path, argses) -> dict:
        fixed = [a for a in argses if not a["named"]]
        if not fixed:
            return {"type": "object", "additionalProperties": self.node(path + (_ANY,))}
        keys = list(dict.fromkeys(k for a in fixed for k in a["required"] + a["optional"]))
        filled = {args["key"] for kind, args in self.by_path.get(path, ()) if kind == "defaulted"}
        required = [k for k in keys if all(k in a["required"] for a in fixed) and k not in filled]
        out = {"type": "object", "properties": {k: self.node(path + (k,)) for k in keys},
               "additionalProperties": False}
        if required:
            out["required"] = required
        return out

    def _items(self, path, argses) -> dict:
        out = {"type": "array", "items": self.node(path + (_ITEM,))}
        low = min(a["min_items"] for a in argses)
        if low:
            out["minItems"] = low
        return out

    def _string(self, path, argses) -> dict:
        patterns = {a["pattern"] for a in argses}
        out = {"type": "string", "minLength": 1}
        if len(patterns) == 1 and None not in patterns:
            out["pattern"] = patterns.pop()
        return out

    def _boolean(self, path, argses) -> dict:
        return {"type": "boolean"}

    def _number(self, path, argses) -> dict:
        return _number(low=_common(argses, "low"), high=_common(argses, "high"),
                       low_open=all(a["low_open"] for a in argses), high_open=all(a["high_open"] for a in argses),
                       integer=all(a["integer"] for a in argses))

    def _duration(self, path, argses) -> dict:
        return _duration()

    def _enum(self, path, argses) -> dict:
        return {"enum": list(dict.fromkeys(c for a in argses for c in a["choices"]))}

    # -- what the reader checks by its own tables ----------------------------------------------
    def _special(self, path: tuple) -> dict | None:
        if path == ("version",):
            return {"const": names.SPEC_VERSION, "description": "the spec format's version"}
        if path == ("alerts",):
            return self._alerts()
        if path == ("bots", _ITEM, "profile"):
            return {"anyOf": [{"enum": sorted(profiles.builtin_profiles())}, {"type": "string", "minLength": 1}],
                    "description": "a built-in profile or the name of one under `profiles:`"}
        if path == _PANEL:
            return self._panel()
        if path == _PANEL + ("type",):
            return {"enum": list(dash.PANEL_TYPES)}
        if path == _PANEL + ("thresholds", _ITEM, "from"):    # a number, or the alert threshold it moves with
            cited = [f"alerts.{key}.{spec.name}" for key, family in fam.families().items()
                     for spec in family.fields if spec.type in ("number", "duration")]
            return {"anyOf": [self._recorded(path), {"enum": cited}]}
        return None

    def _alerts(self) -> dict:
        properties = {key: _family(family) for key, family in fam.families().items()}
        return {"type": "object", "properties": properties,
                "patternProperties": {_ALERT_NAME.pattern: self.node(("alerts", _ANY))},
                "additionalProperties": False,
                "description": "built-in alert families (families.yaml), or alerts of your own in CamelCase"}

    def _panel(self) -> dict:
        keys = list(dict.fromkeys(dash._COMMON_KEYS + tuple(k for ks in dash._TYPE_KEYS.values() for k in ks)))
        per_type = [{"if": {"properties": {"type": {"const": kind}}, "required": ["type"]},
                     "then": {"propertyNames": {"enum": list(dash._COMMON_KEYS + extra)}}}
                    for kind, extra in dash._TYPE_KEYS.items()]
        return {"type": "object", "properties": {k: self.node(_PANEL + (k,)) for k in keys},
                "required": ["title", "type", "description"], "additionalProperties": False, "allOf": per_type}


_PANEL = ("dashboards", _ITEM, "rows", _ITEM, "panels", _ITEM)


def _common(argses, key):
    values = {a[key] for a in argses}
    return values.pop() if len(values) == 1 else None


def _number(*, low=None, high=None, low_open=False, high_open=False, integer=False) -> dict:
    out: dict = {"type": "integer" if integer else "number"}
    if low is not None:
        out["exclusiveMinimum" if low_open else "minimum"] = low
    if high is not None:
        out["exclusiveMaximum" if high_open else "maximum"] = high
    return out


def _duration() -> dict:
    return {"type": "string", "minLength": 1, "pattern": _DURATION.pattern,
            "description": "a Prometheus duration: 30s, 5m, 1h30m"}


def _family(family: fam.Family) -> dict:
    about = f"alert {family.alert}" + (f": {family.summary}" if family.summary else "")
    if family.switch:
        return {"type": "boolean", "description": about}
    properties = {}
    for spec in family.fields:
        if spec.type == "severity":
            value = {"enum": list(fam.SEVERITY_CHOICES)}
        elif spec.type == "duration":
            value = _duration()
        else:
            value = _number(low=spec.low, high=spec.high if spec.high is not None else fam.DEFAULT_MAX_NUMBER,
                            low_open=spec.low_open, high_open=spec.high_open, integer=spec.integer)
        if not spec.required:
            value["default"] = spec.default
        properties[spec.name] = value
    out = {"type": "object", "properties": properties, "additionalProperties": False, "description": about}
    required = [s.name for s in family.fields if s.required]
    if required:
        out["required"] = required
    return out


def build(paths: list[Path]) -> dict:
    """The schema from the declarations the reader makes reading `paths`."""
    root = _Builder(_normalise(observe(paths))).node(())
    return {"$schema": "http://json-schema.org/draft-07/schema#",
            "title": "trading-bot monitoring spec (spec.yaml)",
            "description": "Generated by generate.py from the spec reader's declarations: do not edit.", **root}


def corpus(root: Path, spec: Path | None = None) -> list[Path]:
    """The specs the schema is observed on: the one being rendered (default: spec.yaml) and the examples."""
    return list(dict.fromkeys([spec or root / names.SPEC_FILE, *sorted((root / EXAMPLES_DIR).glob("*.yaml"))]))


def render(root: Path, spec: Path | None = None) -> dict[str, str]:
    return {SCHEMA_FILE: json.dumps(build(corpus(root, spec)), indent=2, ensure_ascii=False) + "\n"}
