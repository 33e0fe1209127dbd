"""Demo scenarios: switches that push one alert family clearly over its threshold in spec.yaml.

Each is off by default; several can be on at once. Values overshoot the
spec's thresholds by a wide margin so an alert test never sits on the edge.
"""
from __future__ import annotations

import threading

SCENARIOS: dict[str, str] = {
    "drawdown": "equity falls ~25 % below its peak (TradingDrawdownHigh: > 10 %)",
    "win_rate": "8 round trips/s with ~15 % winners; rolling win rate drops to ~0.15 (TradingWinRateLow: < 40 %)",
    "loss": "a losing streak takes today's PnL to about -2500 USD (TradingDailyLossLimit: < -1000 USD)",
    "loop_latency": "30 % of loop iterations take 0.15-1 s; p99 ~0.6 s (TradingLoopLatencyHigh: p99 > 0.1 s)",
    "api_latency": "every route answers in ~2 s (p95 ~3.3 s, p99 ~4 s) (ApiLatencyHigh: p99 > 0.5 s, p95 > 1 s)",
    "api_errors": "20 % of requests end in 5xx (ApiErrorRateHigh: > 5 %)",
    "rate_limiting": "about 30 limited requests/s (ApiRateLimiting: > 10/s)",
    "fx_stale": "okx stays connected but sends nothing; its timestamp stops (FxSourceStale: > 30 s)",
    "fx_sources_low": "okx and bybit disconnect; 1 valid source, HTTP fallback on (FxValidSourcesLow: < 2)",
    "fx_sources_zero": "every FX source disconnects; 0 valid sources, HTTP fallback on (FxValidSourcesLow: 0)",
    "fx_deviation": "okx quotes 30 bps above the others (FxSourceDeviation: > 10 bps)",
}


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
