"""ALERTS samples -> firing episodes: a run of firing evaluations, ended by the first one without it."""
from __future__ import annotations

from dataclasses import dataclass

# Labels of an ALERTS series that are not the alert's own.
_NOT_IDENTITY = ("__name__", "alertstate")


@dataclass(frozen=True)
class Episode:
    alertname: str
    severity: str
    labels: tuple[tuple[str, str], ...]      # the alert's labels (alertname and severity included)
    start: float                             # the first firing evaluation (s)
    end: float                               # the first evaluation after the last firing one (s)

    @property
    def duration(self) -> float:
        return self.end - self.start

    def active(self, t: float) -> bool:
        return self.start <= t < self.end


def from_series(series: list[dict], interval: float) -> list[Episode]:
    """Exported ALERTS series ({"metric", "values", "timestamps" in ms}) -> episodes, sorted by start.

    Two firing samples more than 1.5 evaluation intervals apart belong to two episodes: an
    evaluation in between did not fire.
    """
    episodes = []
    for s in series:
        metric = s["metric"]
        if metric.get("alertstate") != "firing":
            continue
        labels = tuple(sorted((k, v) for k, v in metric.items() if k not in _NOT_IDENTITY))
        times = sorted(ts / 1000 for ts in s["timestamps"])
        if not times:
            continue
        start = previous = times[0]
        for t in times[1:] + [None]:
            if t is None or t - previous > 1.5 * interval:
                episodes.append(Episode(metric.get("alertname", ""), metric.get("severity", ""), labels,
                                        start, previous + interval))
                if t is not None:
                    start = t
            if t is not None:
                previous = t
    return sorted(episodes, key=lambda e: (e.start, e.alertname, e.labels))


def firing_time(episodes: list[Episode]) -> float:
    return sum(e.duration for e in episodes)


def overlap(a: list[Episode], b: list[Episode]) -> float:
    """Seconds both lists fire the same alert instance (same labels) at once."""
    by_labels: dict[tuple, list[Episode]] = {}
    for e in b:
        by_labels.setdefault(e.labels, []).append(e)
    total = 0.0
    for e in a:
        for other in by_labels.get(e.labels, []):
            total += max(0.0, min(e.end, other.end) - max(e.start, other.start))
    return total
