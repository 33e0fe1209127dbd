"""Units a metric name tells by its suffix (data/units.yaml), and whether a mapping converts them."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import yaml

_SERIES_SUFFIXES = ("_total", "_count", "_sum", "_bucket", "_created")
# How a signal's unit reads in a message.
UNIT_WORDS = {"usd": "USD", "ratio": "a ratio 0..1", "seconds": "seconds", "bytes": "bytes"}


@dataclass(frozen=True)
class Unit:
    words: str          # how the bot's unit reads ("percent")
    unit: str           # the signal unit it converts to
    scale: float        # multiply by this to get there
    suffix: str         # the name suffix that told it


@lru_cache(maxsize=1)
def _table() -> tuple[tuple[str, Unit], ...]:
    text = resources.files("stackgen").joinpath("data", "units.yaml").read_text(encoding="utf-8")
    rows = [(suffix, Unit(u["as"], u["unit"], float(u.get("scale", 1.0)), suffix))
            for u in yaml.safe_load(text)["units"] for suffix in u["suffixes"]]
    return tuple(sorted(rows, key=lambda r: -len(r[0])))    # the longest suffix wins (_percentage, _pct)


def base_name(metric: str) -> str:
    """The name without the series suffix a counter, histogram or Summary adds."""
    for suffix in _SERIES_SUFFIXES:
        if metric.endswith(suffix) and len(metric) > len(suffix):
            return metric[: -len(suffix)]
    return metric


def unit_of(metric: str) -> Unit | None:
    """The unit the metric's name says, if any."""
    name = base_name(metric)
    return next((unit for suffix, unit in _table() if name.endswith(suffix)), None)


def contradiction(metric: str, signal, scale: float | None) -> str | None:
    """Why mapping `metric` (with this scale) onto `signal` mixes units, or None when it does not."""
    unit = unit_of(metric)
    if unit is None or not signal.unit:
        return None
    want = UNIT_WORDS.get(signal.unit, signal.unit)
    if unit.unit != signal.unit:
        from stackgen.signals import registry
        alike = [s.key for s in registry().signals if s.unit == unit.unit]
        return (f"{metric} is in {unit.words} (by its name) but signal {signal.key} ({signal.name}) is in {want}: "
                f"they do not convert" + (f" (signals in {unit.words}: {', '.join(alike)})" if alike else ""))
    if signal.type == "histogram" and unit.scale != 1:
        return (f"{metric} is a histogram in {unit.words} (by its name) and signal {signal.key} ({signal.name}) in "
                f"{want}: its buckets' le bounds cannot be rescaled by a rule (leave it unmapped, query it by name)")
    given = 1.0 if scale is None else scale
    if abs(given - unit.scale) > 1e-12 * max(1.0, unit.scale):
        fix = f"scale: {unit.scale:g} converts it" if unit.scale != 1 else "no scale"
        return (f"{metric} is in {unit.words} (by its name) and signal {signal.key} ({signal.name}) in {want}: "
                f"{fix}, got scale {given:g}")
    return None
