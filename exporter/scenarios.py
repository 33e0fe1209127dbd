"""Demo scenarios: switches that push one alert family clearly over its threshold in spec.yaml.

Each is off by default; several can be on at once. The scenarios are declared in their alert
family's entry (stackgen/alerts/families.yaml) and reach the exporter through the generated
catalog.json (its `demo` section, with the numbers worked out from the spec's thresholds), so
an alert never sits on the edge, and a new family brings its scenario with it.
"""
from __future__ import annotations

import json
import threading
from importlib import resources


def _scenarios() -> dict[str, str]:
    """Scenario name -> what it does (and the alert it drives), in the families' order."""
    try:
        document = json.loads(resources.files(__package__).joinpath("catalog.json").read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    found = (document.get("demo") or {}).get("scenarios") or ()
    return {entry["name"]: f"{entry.get('about', '')} ({entry.get('alert', '')})" for entry in found
            if isinstance(entry, dict) and isinstance(entry.get("name"), str)}


SCENARIOS: dict[str, str] = _scenarios()


class UnknownScenario(KeyError):
    def __str__(self) -> str:
        return f"unknown scenario {self.args[0]!r}; known: {', '.join(SCENARIOS)}"


def parse_names(values: list[str] | tuple[str, ...] | str) -> list[str]:
    """Names from repeated and/or comma-separated values; UnknownScenario for a bad one."""
    if isinstance(values, str):
        values = [values]
    found = []
    for value in values:
        for name in value.split(","):
            name = name.strip()
            if not name:
                continue
            if name not in SCENARIOS:
                raise UnknownScenario(name)
            if name not in found:
                found.append(name)
    return found


class ScenarioSet:
    """The scenarios switched on; safe to change from the HTTP thread while the demo ticks."""

    def __init__(self, names=()) -> None:
        self._lock = threading.Lock()
        self._active = frozenset(parse_names(list(names)))

    def __contains__(self, name: str) -> bool:
        return name in self._active

    def set(self, name: str, on: bool) -> None:
        parse_names(name)
        with self._lock:
            self._active = self._active | {name} if on else self._active - {name}

    def clear(self) -> None:
        with self._lock:
            self._active = frozenset()

    @property
    def active(self) -> list[str]:
        return sorted(self._active)
