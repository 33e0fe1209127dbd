"""The signal registry: every quantity rules and panels read, declared once in data/signals.yaml.

A signal is a Metric (below) with a stable key (``drawdown``, ``http_requests``, ...) and one Prometheus
metric name; the catalog's entries are the same type.
The generator's conventions, the metric catalog, the profiles and (through the generated
exporter/signals.json) the exporter all take names from here.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import cached_property, lru_cache
from importlib import resources

import yaml

SIGNALS_FILE = "signals.yaml"
PATH_PLACEHOLDER = "{path}"     # stands for the spec's api.path_label
_KEYS = {"key", "name", "type", "help", "domain", "labels", "unit", "buckets", "exporter"}


@dataclass(frozen=True)
class Label:
    name: str
    values: tuple[str, ...] = ()   # empty: open set (e.g. source, path)

    @property
    def closed(self) -> bool:
        return bool(self.values)


@dataclass(frozen=True)
class Metric:
    """One metric: a signal of data/signals.yaml (its `key` set) or a metric the spec's `metrics:` declares.

    The one model of a metric: the signal registry, the stack's catalog (stackgen/model/catalog.py) and,
    through the signal keys, the profiles' mappings all hold these.
    """
    name: str
    type: str
    help: str
    domain: str
    labels: tuple[Label, ...] = ()
    unit: str = ""
    buckets: tuple[float, ...] = ()
    exported: bool = True          # exposed by this project's exporter (exporter/catalog.json)
    key: str = ""                  # the signal key; "" for a metric only the spec declares

    @property
    def label_names(self) -> tuple[str, ...]:
        return tuple(label.name for label in self.labels)

    def label(self, name: str) -> Label | None:
        return next((label for label in self.labels if label.name == name), None)

    @property
    def series_names(self) -> tuple[str, ...]:
        """The names this metric appears under in Prometheus."""
        if self.type == "histogram":
            return (f"{self.name}_bucket", f"{self.name}_sum", f"{self.name}_count")
        return (self.name,)

    def with_path_label(self, path_label: str) -> Metric:
        """This metric with the registry's {path} placeholder label named as the spec's api.path_label."""
        if not any(label.name == PATH_PLACEHOLDER for label in self.labels):
            return self
        labels = tuple(Label(path_label, label.values) if label.name == PATH_PLACEHOLDER else label
                       for label in self.labels)
        return replace(self, labels=labels)


@dataclass(frozen=True)
class Derived:
    """A signal recorded from other signals (signals.yaml `derived:`), with its promtool case."""
    key: str
    inputs: tuple[str, ...]
    expr: str                               # {key}: an input's series, {self}: the recorded signal
    about: str
    midnight: int | None                    # the values start this many steps before the bot's 00:00
    series: tuple[tuple[str, str], ...]     # input key -> promtool values
    expect: tuple[tuple[str, float], ...]   # signal key -> value at the last step


@dataclass(frozen=True)
class Registry:
    signals: tuple[Metric, ...]
    label_sets: tuple[tuple[str, tuple[str, ...]], ...]
    derived: tuple[Derived, ...] = ()

    def __getitem__(self, key: str) -> Metric:
        return self._by_key[key]

    def get(self, key: str) -> Metric | None:
        return self._by_key.get(key)

    def by_name(self, name: str) -> Metric | None:
        return next((s for s in self.signals if s.name == name), None)

    @cached_property   # built once: every signal lookup (conventions, profiles, catalog) goes through it
    def _by_key(self) -> dict[str, Metric]:
        return {s.key: s for s in self.signals}


def _labels(raw: list, label_sets: dict[str, tuple[str, ...]]) -> tuple[Label, ...]:
    out: list[Label] = []
    for entry in raw:
        if isinstance(entry, dict):
            out.append(Label(entry["name"], tuple(entry["values"])))
        elif entry in label_sets:
            out.extend(Label(name) for name in label_sets[entry])
        else:
            out.append(Label(entry))
    return tuple(out)


def parse_registry(document: dict) -> Registry:
    label_sets = {k: tuple(v) for k, v in document.get("label_sets", {}).items()}
    signals, keys, names = [], set(), set()
    for raw in document["signals"]:
        unknown = set(raw) - _KEYS
        if unknown:
            raise ValueError(f"{SIGNALS_FILE}: signal {raw.get('key')}: unknown key(s) {', '.join(sorted(unknown))} "
                             "(a comma in a flow mapping needs quotes)")
        signal = Metric(key=raw["key"], name=raw["name"], type=raw["type"], help=raw["help"], domain=raw["domain"],
                        labels=_labels(raw.get("labels", []), label_sets), unit=raw.get("unit", ""),
                        buckets=tuple(float(b) for b in raw.get("buckets", ())),
                        exported=bool(raw.get("exporter", True)))
        if signal.key in keys or signal.name in names:
            raise ValueError(f"{SIGNALS_FILE}: signal {signal.key} ({signal.name}) is declared twice")
        keys.add(signal.key)
        names.add(signal.name)
        signals.append(signal)
    derived = tuple(_derived(raw, keys) for raw in document.get("derived", ()))
    return Registry(tuple(signals), tuple(sorted(label_sets.items())), derived)


def _derived(raw: dict, keys: set[str]) -> Derived:
    test = raw["test"]
    entry = Derived(key=raw["key"], inputs=tuple(raw["from"]), expr=raw["expr"], about=test["about"],
                    midnight=test.get("midnight"), series=tuple(test["series"].items()),
                    expect=tuple((k, float(v)) for k, v in test["expect"].items()))
    refs = set(re.findall(r"\{(\w+)\}", entry.expr)) - {"self", "utc_offset"}
    unknown = ({entry.key} | set(entry.inputs) | refs | {k for k, _ in entry.series + entry.expect}) - keys
    if unknown or not refs <= set(entry.inputs):
        raise ValueError(f"{SIGNALS_FILE}: derived {entry.key}: unknown signal(s) {', '.join(sorted(unknown))}"
                         if unknown else f"{SIGNALS_FILE}: derived {entry.key}: expr reads "
                         f"{', '.join(sorted(refs - set(entry.inputs)))}, not in its `from`")
    return entry


@lru_cache(maxsize=1)
def registry() -> Registry:
    text = resources.files("stackgen").joinpath("data", SIGNALS_FILE).read_text(encoding="utf-8")
    return parse_registry(yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))


def name(key: str) -> str:
    """The metric name of a signal."""
    return registry()[key].name
