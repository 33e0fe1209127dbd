"""Alert thresholds, `for` durations and severities. Omit an alert's key to turn it off."""
from __future__ import annotations

from dataclasses import dataclass

from stackgen.spec.fields import Field, parse_duration

SEVERITY_CHOICES = ("critical", "warning", "info")


@dataclass(frozen=True)
class Drawdown:
    warning: float
    critical: float
    for_: str


@dataclass(frozen=True)
class WinRate:
    below: float
    min_round_trips: int
    window: str
    for_: str
    severity: str


@dataclass(frozen=True)
class DailyLoss:
    limit_usd: float
    for_: str
    severity: str


@dataclass(frozen=True)
class LoopLatency:
    p99_seconds: float
    for_: str
    severity: str


@dataclass(frozen=True)
class ApiLatency:
    p99_seconds: float     # critical
    p95_seconds: float     # warning
    for_: str


@dataclass(frozen=True)
class ApiErrors:
    ratio: float
    for_: str
    severity: str


@dataclass(frozen=True)
class RateLimiting:
    limited_per_second: float
    for_: str
    severity: str


@dataclass(frozen=True)
class FxStale:
    max_age: str
    for_: str
    severity: str

    @property
    def max_age_seconds(self) -> float:
        return parse_duration(self.max_age)


@dataclass(frozen=True)
class FxSources:
    warning_below: int
    critical_below: int
    for_: str


@dataclass(frozen=True)
class FxDeviation:
    max_bps: float
    for_: str
    severity: str


@dataclass(frozen=True)
class TargetDown:
    for_: str
    severity: str


@dataclass(frozen=True)
class Alerts:
    drawdown: Drawdown | None = None
    win_rate: WinRate | None = None
    daily_loss: DailyLoss | None = None
    loop_latency: LoopLatency | None = None
    api_latency: ApiLatency | None = None
    api_errors: ApiErrors | None = None
    rate_limiting: RateLimiting | None = None
    fx_stale: FxStale | None = None
    fx_sources: FxSources | None = None
    fx_deviation: FxDeviation | None = None
    target_down: TargetDown | None = None
    watchdog: bool = False


def _for(f: dict[str, Field]) -> str:
    return f["for"].duration()


def _severity(f: dict[str, Field], default: str) -> str:
    return f["severity"].one_of(SEVERITY_CHOICES) if "severity" in f else default


def _drawdown(field: Field) -> Drawdown:
    f = field.mapping(required=("warning", "critical", "for"))
    warning = f["warning"].number(low=0, high=1, low_open=True)
    critical = f["critical"].number(low=0, high=1, low_open=True)
    if critical <= warning:
        raise f["critical"].error(f"must be above warning ({warning:g}), got {critical:g}")
    return Drawdown(warning, critical, _for(f))


def _win_rate(field: Field) -> WinRate:
    f = field.mapping(required=("below", "min_round_trips", "window", "for"), optional=("severity",))
    return WinRate(f["below"].number(low=0, high=1, low_open=True),
                   f["min_round_trips"].number(low=1, integer=True),
                   f["window"].duration(minimum=60), _for(f), _severity(f, "warning"))


def _daily_loss(field: Field) -> DailyLoss:
    f = field.mapping(required=("limit_usd", "for"), optional=("severity",))
    limit = f["limit_usd"].number()
    if limit >= 0:
        raise f["limit_usd"].error(f"is a loss, so it must be below 0 (got {limit:g})")
    return DailyLoss(limit, _for(f), _severity(f, "critical"))


def _loop_latency(field: Field) -> LoopLatency:
    f = field.mapping(required=("p99_seconds", "for"), optional=("severity",))
    return LoopLatency(f["p99_seconds"].number(low=0, low_open=True), _for(f), _severity(f, "warning"))


def _api_latency(field: Field) -> ApiLatency:
    f = field.mapping(required=("p99_seconds", "p95_seconds", "for"))
    return ApiLatency(f["p99_seconds"].number(low=0, low_open=True),
                      f["p95_seconds"].number(low=0, low_open=True), _for(f))


def _api_errors(field: Field) -> ApiErrors:
    f = field.mapping(required=("ratio", "for"), optional=("severity",))
    return ApiErrors(f["ratio"].number(low=0, high=1, low_open=True), _for(f), _severity(f, "warning"))


def _rate_limiting(field: Field) -> RateLimiting:
    f = field.mapping(required=("limited_per_second", "for"), optional=("severity",))
    return RateLimiting(f["limited_per_second"].number(low=0, low_open=True), _for(f), _severity(f, "warning"))


def _fx_stale(field: Field) -> FxStale:
    f = field.mapping(required=("max_age", "for"), optional=("severity",))
    return FxStale(f["max_age"].duration(minimum=1), _for(f), _severity(f, "warning"))


def _fx_sources(field: Field) -> FxSources:
    f = field.mapping(required=("warning_below", "critical_below", "for"))
    warning = f["warning_below"].number(low=1, integer=True)
    critical = f["critical_below"].number(low=1, integer=True)
    if critical >= warning:
        raise f["critical_below"].error(f"must be below warning_below ({warning}), got {critical}")
    return FxSources(warning, critical, _for(f))


def _fx_deviation(field: Field) -> FxDeviation:
    f = field.mapping(required=("max_bps", "for"), optional=("severity",))
    return FxDeviation(f["max_bps"].number(low=0, high=10000, low_open=True), _for(f), _severity(f, "warning"))


def _target_down(field: Field) -> TargetDown:
    f = field.mapping(required=("for",), optional=("severity",))
    return TargetDown(_for(f), _severity(f, "critical"))


_READERS = {
    "drawdown": _drawdown, "win_rate": _win_rate, "daily_loss": _daily_loss,
    "loop_latency": _loop_latency, "api_latency": _api_latency, "api_errors": _api_errors,
    "rate_limiting": _rate_limiting, "fx_stale": _fx_stale, "fx_sources": _fx_sources,
    "fx_deviation": _fx_deviation, "target_down": _target_down,
}


def read_alerts(field: Field) -> Alerts:
    f = field.mapping(optional=tuple(_READERS) + ("watchdog",))
    values = {key: _READERS[key](value) for key, value in f.items() if key in _READERS}
    watchdog = f["watchdog"].boolean() if "watchdog" in f else False
    return Alerts(**values, watchdog=watchdog)
