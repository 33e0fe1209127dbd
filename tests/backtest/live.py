"""The same rules evaluated the way a live Prometheus does, by Prometheus itself: the reference a
backtest is measured against.

A live Prometheus evaluates each rule at every tick of its group: the recording rules write their
series, then each alert's expression is an instant query at that tick, and an alert fires once its
expression has returned the same series at every tick for `for`. Here each expression is a range
query at the tick step (by definition, an instant query at every tick), the recorded series are
written back into Prometheus' TSDB as blocks, and the `for` state machine is applied per series,
as in Prometheus' rules/alerting.go.
"""
from __future__ import annotations

import json
import subprocess
import urllib.parse
from pathlib import Path

from stackctl import health
from stackctl.backtest.episodes import Episode
from stackgen.spec.fields import parse_duration

_MAX_POINTS = 10_000


def write_blocks(series, data_dir: Path, folder: Path) -> None:
    """(labels with __name__, times, values) series -> TSDB blocks in data_dir, by promtool.

    `promtool tsdb create-blocks-from openmetrics` parses its whole input again for each 2-hour block
    it writes, so the input is cut into one file per day: a week takes 7 short runs, not one of 84 passes.
    """
    days: dict[int, list[str]] = {}
    for metric, times, values in series:
        labels = ",".join(f'{k}="{v}"' for k, v in sorted(metric.items()) if k != "__name__")
        head = f"{metric['__name__']}{{{labels}}}"
        for t, v in zip(times, values, strict=True):
            days.setdefault(int(t // 86400), []).append(f"{head} {v:g} {t:.0f}")
    for day, lines in sorted(days.items()):
        path = folder / f"day-{day}.om"
        path.write_text("\n".join(lines) + "\n# EOF\n")
        subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", str(path), str(data_dir)],
                       check=True, capture_output=True, timeout=120)
        path.unlink()


def record(url: str, documents: list[dict], start: float, end: float, step: float, wanted) -> list:
    """What Prometheus records at every tick for each recording rule `wanted(rule)` keeps: the rule's
    expression at each step (what `promtool tsdb create-blocks-from rules` asks too, by the same range
    queries; its own block writer takes a second per rule and day, too slow for a test)."""
    out = []
    for document in documents:
        for group in document["groups"]:
            for rule in group["rules"]:
                if "record" not in rule or not wanted(rule):
                    continue
                for metric, points in _range(url, rule["expr"], start, end, step).items():
                    labels = {k: v for k, v in metric if k != "__name__"} | dict(rule.get("labels") or {})
                    out.append(({**labels, "__name__": rule["record"]}, [t for t, _ in points],
                                [v for _, v in points]))
    return out


def _range(url: str, expr: str, start: float, end: float, step: float) -> dict[tuple, list[tuple[float, float]]]:
    series: dict[tuple, list[tuple[float, float]]] = {}
    t = start
    while t <= end:
        stop = min(end, t + step * _MAX_POINTS)
        params = urllib.parse.urlencode({"query": expr, "start": t, "end": stop, "step": step})
        reply = health.request(f"{url}/api/v1/query_range?{params}", timeout=60.0)
        assert reply.ok, (expr, reply.status, reply.body[:300])
        for r in json.loads(reply.body)["data"]["result"]:
            key = tuple(sorted(r["metric"].items()))
            series.setdefault(key, []).extend((float(ts), float(v)) for ts, v in r["values"] if float(ts) >= t)
        t = stop + step
    return series


def alert_episodes(url: str, documents: list[dict], start: float, end: float, step: float) -> list[Episode]:
    """Every alerting rule's firing episodes over [start, end], ticking every `step` seconds."""
    episodes = []
    for document in documents:
        for group in document["groups"]:
            for rule in group["rules"]:
                if "alert" not in rule:
                    continue
                hold = parse_duration(rule.get("for", "0s")) or 0.0
                extra = dict(rule.get("labels") or {})
                for metric, points in _range(url, rule["expr"], start, end, step).items():
                    labels = {k: v for k, v in metric if k != "__name__"} | extra | {"alertname": rule["alert"]}
                    episodes.extend(_fire(labels, sorted({t for t, _ in points}), hold, step))
    return sorted(episodes, key=lambda e: (e.start, e.alertname, e.labels))


def _fire(labels: dict, ticks: list[float], hold: float, step: float) -> list[Episode]:
    """Active from the first tick of each unbroken run; firing from the tick `hold` after it."""
    out, run = [], []
    for t in [*ticks, None]:
        if run and (t is None or t - run[-1] > 1.5 * step):
            firing = [x for x in run if x - run[0] >= hold]
            if firing:
                out.append(Episode(labels["alertname"], labels.get("severity", ""), tuple(sorted(labels.items())),
                                   firing[0], firing[-1] + step))
            run = []
        if t is not None:
            run.append(t)
    return out
