"""One PNG per rule domain: each alert's firing episodes shaded over the signal it watches.

The signal is the left side of the alert's comparison with its threshold (`X > 0.05` plots X with a
line at 0.05), read from the scratch store, where recorded series of the replay also live.
"""
from __future__ import annotations

import json
import re
import urllib.parse
from pathlib import Path

from stackctl import health
from stackctl.backtest.episodes import Episode
from stackctl.backtest.run import Plan

# The first comparison with a number: `a < 0.4 and on (...) increase(b[1h]) >= 20` plots a at 0.4.
_COMPARISON = re.compile(r"^(?P<signal>.+?)\s*(?P<op>>=|<=|>|<|==|!=)\s*"
                         r"(?P<threshold>-?[0-9.]+(?:e[-+]?[0-9]+)?)(?=\s|$)")
SEVERITY_COLOURS = {"critical": "#d62728", "warning": "#ff7f0e", "info": "#1f77b4", "none": "#7f7f7f"}
MAX_SERIES = 6           # lines per panel: more is unreadable; the busiest (highest) are kept
_POINTS = 1500           # points per line across the range


def signal_of(expr: str) -> tuple[str, float | None]:
    m = _COMPARISON.match(expr.strip())
    return (m["signal"], float(m["threshold"])) if m else (expr, None)


def _series(url: str, query: str, start: float, end: float, step: float) -> list[tuple[dict, list, list]]:
    params = urllib.parse.urlencode({"query": query, "start": f"{start:.0f}", "end": f"{end:.0f}",
                                     "step": f"{step:.0f}"})
    reply = health.request(f"{url}/api/v1/query_range?{params}", timeout=60.0)
    if not reply.ok:
        return []
    out = []
    for r in json.loads(reply.body)["data"]["result"]:
        xs = [float(t) for t, _ in r["values"]]
        ys = [float(v) for _, v in r["values"]]
        out.append((r["metric"], xs, ys))
    return sorted(out, key=lambda s: -max(s[2], default=0))[:MAX_SERIES]


def draw(plan: Plan, episodes: list[Episode], store_url: str, start: float, end: float, folder: Path) -> list[Path]:
    import matplotlib
    matplotlib.use("Agg")        # files only, no display
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt
    from datetime import datetime, timezone

    def dt(t: float):
        return datetime.fromtimestamp(t, tz=timezone.utc)

    step = max(1.0, (end - start) / _POINTS)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for domain in plan.documents:
        alerts: dict[str, list[dict]] = {}
        for d, rule in plan.rules():
            if d == domain and "alert" in rule:
                alerts.setdefault(rule["alert"], []).append(rule)
        if not alerts:
            continue
        fig, axes = plt.subplots(len(alerts), 1, figsize=(12, 2.3 * len(alerts)), sharex=True, squeeze=False)
        for ax, (name, rules) in zip(axes[:, 0], alerts.items(), strict=True):
            signal, _ = signal_of(rules[0]["expr"])
            for metric, xs, ys in _series(store_url, signal, start, end, step):
                label = ",".join(f"{k}={v}" for k, v in sorted(metric.items()) if k != "__name__")[:60]
                ax.plot([dt(x) for x in xs], ys, linewidth=0.8, label=label or signal[:60])
            for rule in rules:
                severity = (rule.get("labels") or {}).get("severity", "none")
                colour = SEVERITY_COLOURS.get(severity, "#7f7f7f")
                threshold = signal_of(rule["expr"])[1]
                if threshold is not None:
                    ax.axhline(threshold, color=colour, linestyle="--", linewidth=0.9, label=f"{severity} threshold")
                for e in episodes:
                    if e.alertname == name and e.severity == severity:
                        ax.axvspan(dt(e.start), dt(e.end), color=colour, alpha=0.25, linewidth=0)
            count = {sev: sum(1 for e in episodes if e.alertname == name and e.severity == sev)
                     for sev in dict.fromkeys((r.get("labels") or {}).get("severity", "none") for r in rules)}
            ax.set_title(f"{name}: " + ", ".join(f"{n} {sev} episode{'s' * (n != 1)}" for sev, n in count.items())
                         + f"   (signal: {signal[:70]})", fontsize=9, loc="left")
            ax.tick_params(labelsize=8)
            ax.grid(alpha=0.3)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=7, loc="upper left", framealpha=0.6)
        axes[-1, 0].xaxis.set_major_formatter(mdates.DateFormatter("%m-%d %H:%M", tz=timezone.utc))
        axes[-1, 0].set_xlim(dt(start), dt(end))
        fig.suptitle(f"Backtest of {plan.label}, domain {domain} (shaded: firing; UTC)", fontsize=11)
        fig.tight_layout()
        path = folder / f"{domain}.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        written.append(path)
    return written
