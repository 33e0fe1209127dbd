"""Recorded history to backtest against: series sampled every `step` seconds, with incidents planted
at known times, written to a real VictoriaMetrics (/api/v1/import lines) or a real Prometheus
(tests/backtest/live.py writes its blocks)."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Incident:
    """What the backtest must find: this alert, at this severity, from start to end (seconds)."""
    alert: str
    severity: str
    start: float
    end: float

    def during(self, t: float) -> bool:
        return self.start <= t < self.end


@dataclass
class History:
    start: float
    end: float
    step: float
    series: list[tuple[dict, list[float]]] = field(default_factory=list)

    @property
    def times(self) -> list[float]:
        n = int((self.end - self.start) // self.step)
        return [self.start + i * self.step for i in range(n + 1)]

    def gauge(self, name: str, labels: dict, value) -> None:
        """value(t) -> the gauge at t."""
        self.series.append(({"__name__": name, **labels}, [float(value(t)) for t in self.times]))

    def counter(self, name: str, labels: dict, rate) -> None:
        """rate(t) -> increase per second at t; the counter is its running sum."""
        total, values = 0.0, []
        for t in self.times:
            total += rate(t) * self.step
            values.append(total)
        self.series.append(({"__name__": name, **labels}, values))

    def histogram(self, name: str, labels: dict, buckets: list[float], per_second: float, latency) -> None:
        """per_second observations, each of latency(t) seconds: _bucket, _count and _sum counters."""
        for le in [*buckets, math.inf]:
            bound = "+Inf" if le == math.inf else f"{le:g}"
            self.counter(f"{name}_bucket", {**labels, "le": bound},
                         lambda t, le=le: per_second if latency(t) <= le else 0.0)
        self.counter(f"{name}_count", labels, lambda t: per_second)
        self.counter(f"{name}_sum", labels, lambda t: per_second * latency(t))

    def import_lines(self) -> list[str]:
        stamps = [int(t * 1000) for t in self.times]
        return [json.dumps({"metric": metric, "values": values, "timestamps": stamps})
                for metric, values in self.series]

    def samples(self) -> list[tuple[dict, list[float], list[float]]]:
        """(labels with __name__, times in seconds, values) of every series."""
        return [(metric, self.times, values) for metric, values in self.series]


def generic(metrics: list[str], start: float, end: float, step: float, labels: dict) -> History:
    """One plausible series per metric name, by its suffix: what a benchmark needs, no incidents."""
    h = History(start, end, step)
    histograms = {m.removesuffix("_bucket") for m in metrics if m.endswith("_bucket")}
    for name in sorted(histograms):
        h.histogram(name, labels, [0.001, 0.01, 0.1, 0.5, 1.0], 5.0, lambda t: 0.005 + 0.004 * math.sin(t / 3600))
    for name in metrics:
        if any(name == f"{base}{suffix}" for base in histograms for suffix in ("_bucket", "_count", "_sum")):
            continue
        if name.endswith("_total"):
            h.counter(name, labels, lambda t: 2.0 + math.sin(t / 1800))
        elif name == "up":
            h.gauge(name, labels, lambda t: 1)
        else:
            h.gauge(name, labels, lambda t: 0.5 + 0.4 * math.sin(t / 5400))
    return h
