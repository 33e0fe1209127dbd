"""Demo scenarios: switches that push one alert family clearly over its threshold in spec.yaml.

Each is off by default; several can be on at once. The demo reads the thresholds from the
generated catalog.json and overshoots them by a wide margin, so an alert never sits on the edge.
"""
from __future__ import annotations

import threading

SCENARIOS: dict[str, str] = {
    "drawdown": "equity falls well below its peak, past the critical drawdown (TradingDrawdownHigh)",
    "win_rate": "many round trips with few winners: the rolling win rate drops under the floor (TradingWinRateLow)",
    "loss": "a losing streak takes today's PnL past 2.5 times the daily loss limit (TradingDailyLossLimit)",
    "loop_latency": "30 % of loop iterations take 3-6 times the p99 budget (TradingLoopLatencyHigh)",
    "api_latency": "every route answers in 2-4 times the slower latency bound (ApiLatencyHigh, p99 and p95)",
    "api_errors": "a 5xx share of at least 20 %, well over the spec's ratio (ApiErrorRateHigh)",
    "rate_limiting": "at least 30 limited requests/s, three times the spec's bound (ApiRateLimiting)",
    "fx_stale": "okx stays connected but sends nothing; its timestamp stops (FxSourceStale)",
    "fx_sources_low": "all but critical_below sources disconnect; HTTP fallback on (FxValidSourcesLow warning)",
    "fx_sources_zero": "every FX source disconnects; 0 valid sources, HTTP fallback on (FxValidSourcesLow)",
    "websocket_drop": "WebSocket clients drop by three times the allowed drop (WebSocketConnectionsDrop)",
    "fx_deviation": "okx quotes three times the allowed deviation (at least 30 bps) off the others (FxSourceDeviation)",
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
