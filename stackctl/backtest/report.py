"""Per-alert verdicts of a backtest, as a terminal table and a Markdown file (a CI job summary)."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass

from stackctl.backtest.episodes import Episode, firing_time

WEEK = 7 * 86400.0


@dataclass(frozen=True)
class AlertRow:
    alertname: str
    severity: str
    domain: str
    episodes: tuple[Episode, ...]
    notifications: int
    receivers: tuple[str, ...]

    @property
    def key(self) -> tuple[str, str]:
        return self.alertname, self.severity

    @property
    def firing(self) -> float:
        return firing_time(list(self.episodes))


@dataclass(frozen=True)
class Result:
    label: str                 # what was replayed ("spec.yaml", "spec.yaml at main")
    start: float
    end: float
    rows: tuple[AlertRow, ...]
    seconds: float             # wall time of the replay

    @property
    def weeks(self) -> float:
        return max(self.end - self.start, 1.0) / WEEK

    def row(self, key: tuple[str, str]) -> AlertRow | None:
        return next((r for r in self.rows if r.key == key), None)

    def pages_per_week(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for r in self.rows:
            out[r.severity] = out.get(r.severity, 0.0) + r.notifications / self.weeks
        return out


def human_duration(seconds: float) -> str:
    if seconds <= 0:
        return "0"
    parts, left = [], int(round(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if left >= size:
            parts.append(f"{left // size}{unit}")
            left %= size
    return "".join(parts[:2])


def when(t: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(t)) if t else "-"


_HEAD = ("alert", "severity", "episodes", "firing", "notifications", "per week", "first", "last")


def _cells(result: Result, r: AlertRow) -> tuple[str, ...]:
    eps = r.episodes
    return (r.alertname, r.severity, str(len(eps)), human_duration(r.firing), str(r.notifications),
            f"{r.notifications / result.weeks:.1f}", when(eps[0].start if eps else None),
            when(eps[-1].start if eps else None))


def _table(head: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(x) for x in col) for col in zip(head, *rows, strict=True)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()  # noqa: E731
    return [line(head), line(tuple("-" * w for w in widths)), *map(line, rows)]


def _summary(result: Result) -> str:
    pages = result.pages_per_week()
    per_week = ", ".join(f"{sev} {pages[sev]:.1f}" for sev in sorted(pages)) or "none"
    return (f"{result.label}: {when(result.start)} .. {when(result.end)} UTC ({result.weeks * 7:.1f} days), "
            f"replayed in {result.seconds:.1f}s; notifications per week by severity: {per_week}")


def terminal(result: Result) -> str:
    return "\n".join([_summary(result), *_table(_HEAD, [_cells(result, r) for r in result.rows])])


def _markdown_table(head: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head), *("| " + " | ".join(r) + " |" for r in rows)]


def markdown(result: Result, diff_against: Result | None = None, images: tuple[str, ...] = ()) -> str:
    out = ["# Alert backtest", "", _summary(result), "",
           *_markdown_table(_HEAD, [_cells(result, r) for r in result.rows]), ""]
    if diff_against is not None:
        out += [f"## Against {diff_against.label}", "", _summary(diff_against), "",
                *_markdown_table(_DIFF_HEAD, diff_rows(diff_against, result)), ""]
    out += [f"![{name}]({name})" for name in images]
    return "\n".join(out).rstrip() + "\n"


_DIFF_HEAD = ("alert", "severity", "episodes", "firing", "notifications", "verdict")


def diff_rows(base: Result, head: Result) -> list[tuple[str, ...]]:
    """One row per alert of either replay: base -> head figures and what changed."""
    keys = list(dict.fromkeys([r.key for r in base.rows] + [r.key for r in head.rows]))
    rows = []
    for key in keys:
        a, b = base.row(key), head.row(key)
        ea, eb = (len(x.episodes) if x else 0 for x in (a, b))
        fa, fb = (x.firing if x else 0.0 for x in (a, b))
        na, nb = (x.notifications if x else 0 for x in (a, b))
        if a is None or b is None:
            verdict = "new alert" if a is None else "removed"
        elif (ea, round(fa), na) == (eb, round(fb), nb):
            verdict = "same"
        else:
            verdict = "more" if (eb, fb) > (ea, fa) else "fewer"
            verdict += f" ({eb - ea:+d} episodes, {nb - na:+d} notifications)"
        rows.append((*key, f"{ea} -> {eb}", f"{human_duration(fa)} -> {human_duration(fb)}", f"{na} -> {nb}",
                     verdict))
    return rows


def as_json(result: Result) -> str:
    """The same verdicts for a program (a CI step, a test): every episode with its labels."""
    return json.dumps({"label": result.label, "start": result.start, "end": result.end, "seconds": result.seconds,
                       "alerts": [{"alert": r.alertname, "severity": r.severity, "domain": r.domain,
                                   "firing_seconds": r.firing, "notifications": r.notifications,
                                   "receivers": list(r.receivers),
                                   "episodes": [{"start": e.start, "end": e.end, "labels": dict(e.labels)}
                                                for e in r.episodes]} for r in result.rows]},
                      indent=1, sort_keys=True) + "\n"


def terminal_diff(base: Result, head: Result) -> str:
    return "\n".join([f"difference from {base.label} to {head.label}:",
                      *_table(_DIFF_HEAD, diff_rows(base, head))])
