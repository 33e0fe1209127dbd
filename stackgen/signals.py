"""The signal registry: every quantity rules and panels read, declared once in data/signals.yaml.

A signal has a stable key (``drawdown``, ``http_requests``, ...) and one Prometheus metric name.
The generator's conventions, the metric catalog, the profiles and (through the generated
exporter/signals.json) the exporter all take names from here.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache
from importlib import resources

import yaml

SIGNALS_FILE = "signals.yaml"
PATH_PLACEHOLDER = "{path}"     # stands for the spec's api.path_label
_KEYS = {"key", "name", "type", "help", "domain", "labels", "unit", "buckets", "exporter"}


@dataclass(frozen=True)
class SignalLabel:
    name: str
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class Signal:
    key: str
    name: str
    type: str
    help: str
    domain: str
    labels: tuple[SignalLabel, ...] = ()
    unit: str = ""
    buckets: tuple[float, ...] = ()
    exporter: bool = True          # fed by this project's exporter

    @property
    def series_names(self) -> tuple[str, ...]:
        """The names this signal appears under in Prometheus."""
        if self.type == "histogram":
            return (f"{self.name}_bucket", f"{self.name}_sum", f"{self.name}_count")
        return (self.name,)

    def label_names(self, path_label: str = "path") -> tuple[str, ...]:
        return tuple(path_label if label.name == PATH_PLACEHOLDER else label.name for label in self.labels)


@dataclass(frozen=True)
class Registry:
    signals: tuple[Signal, ...]
    label_sets: tuple[tuple[str, tuple[str, ...]], ...]

    def __getitem__(self, key: str) -> Signal:
        return self._by_key[key]

    def get(self, key: str) -> Signal | None:
        return self._by_key.get(key)

    def by_name(self, name: str) -> Signal | None:
        return next((s for s in self.signals if s.name == name), None)

    @cached_property   # built once: every signal lookup (conventions, profiles, catalog) goes through it
    def _by_key(self) -> dict[str, Signal]:
        return {s.key: s for s in self.signals}


def _labels(raw: list, label_sets: dict[str, tuple[str, ...]]) -> tuple[SignalLabel, ...]:
    out: list[SignalLabel] = []
    for entry in raw:
        if isinstance(entry, dict):
            out.append(SignalLabel(entry["name"], tuple(entry["values"])))
        elif entry in label_sets:
            out.extend(SignalLabel(name) for name in label_sets[entry])
        else:
            out.append(SignalLabel(entry))
    return tuple(out)


def parse_registry(document: dict) -> Registry:
    label_sets = {k: tuple(v) for k, v in document.get("label_sets", {}).items()}
    signals, keys, names = [], set(), set()
    for raw in document["signals"]:
        unknown = set(raw) - _KEYS
        if unknown:
            raise ValueError(f"{SIGNALS_FILE}: signal {raw.get('key')}: unknown key(s) {', '.join(sorted(unknown))} "
                             "(a comma in a flow mapping needs quotes)")
        signal = Signal(key=raw["key"], name=raw["name"], type=raw["type"], help=raw["help"], domain=raw["domain"],
                        labels=_labels(raw.get("labels", []), label_sets), unit=raw.get("unit", ""),
                        buckets=tuple(float(b) for b in raw.get("buckets", ())),
                        exporter=bool(raw.get("exporter", True)))
        if signal.key in keys or signal.name in names:
            raise ValueError(f"{SIGNALS_FILE}: signal {signal.key} ({signal.name}) is declared twice")
        keys.add(signal.key)
        names.add(signal.name)
        signals.append(signal)
    return Registry(tuple(signals), tuple(sorted(label_sets.items())))


@lru_cache(maxsize=1)
def registry() -> Registry:
    text = resources.files("stackgen").joinpath("data", SIGNALS_FILE).read_text(encoding="utf-8")
    return parse_registry(yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))


def name(key: str) -> str:
    """The metric name of a signal."""
    return registry()[key].name


# Series the built-in recording rules write (level:metric:operations; names in conventions.py).
# Alert families (stackgen/alerts/families.yaml) name them by these keys, like the signals.
RECORDED_KEYS = (
    "loop_latency_quantile", "http_latency_quantile", "http_error_ratio", "rate_limited_rate",
    "fx_source_age", "fx_source_deviation", "order_latency_quantile", "market_data_age", "rate_limit_usage",
    "exposure_ratio", "balance_drift_ratio",
)


def signal_names(stack=None) -> dict[str, str]:
    """Signal key -> series name, for the rules and panels of a stack (every stack reads the same names):
    the registry's signals and the recorded series the built-in rules write.

    Alert templates never name a metric; this is the one seam between their keys and the names."""
    from stackgen import conventions   # conventions derives its names from this module
    names = {s.key: s.name for s in registry().signals}
    names.update({key: getattr(conventions, key.upper()) for key in RECORDED_KEYS})
    return names
