"""The real engine of a backtest: a scratch VictoriaMetrics and vmalert's replay mode.

Both run on 127.0.0.1 on free ports, in a temporary folder, and are stopped by their own pid.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import yaml

from stackctl import health
from stackctl.localserver import LocalServer, tail

VICTORIA_METRICS = "victoria-metrics"
VMALERT = "vmalert"
MAX_POINTS = 1_000_000       # points of one series in one query: 115 days at a 10s step


class EngineError(Exception):
    """A backtest step that failed; the message is one line a person can act on."""


def need_binaries() -> None:
    missing = [b for b in (VICTORIA_METRICS, VMALERT) if shutil.which(b) is None]
    if missing:
        raise EngineError(f"{', '.join(missing)} not found: install Debian's victoria-metrics package "
                          "(`make tools`), which ships both")


class ScratchStore(LocalServer):
    """A VictoriaMetrics of its own in a temporary folder: the history copy and the replay's output."""

    def __init__(self) -> None:
        need_binaries()
        # Old samples are the point: no retention cut, no rollup cache (backfilled data would hide
        # behind cached results), no latency offset (nothing here is still being written).
        super().__init__("victoria-metrics", lambda folder, port: [
            VICTORIA_METRICS, f"-storageDataPath={folder / 'data'}", f"-httpListenAddr=127.0.0.1:{port}",
            "-retentionPeriod=100y", "-search.disableCache", "-search.latencyOffset=0s",
            f"-search.maxPointsPerTimeseries={MAX_POINTS}", "-loggerLevel=ERROR"], "/health", EngineError)

    def import_lines(self, lines: list[str]) -> None:
        """JSON lines in /api/v1/export format (what /api/v1/import takes)."""
        if not lines:
            return
        reply = health.request(f"{self.url}/api/v1/import", method="POST", timeout=120.0,
                               data=("\n".join(lines) + "\n").encode())
        if not reply.ok:
            raise EngineError(f"scratch import failed: HTTP {reply.status} {reply.body[:200]}")

    def flush(self) -> None:
        """Make what was written searchable now (VictoriaMetrics flushes every second by itself)."""
        health.request(f"{self.url}/internal/force_flush", timeout=30.0)

    def export(self, match: str, start: float, end: float) -> list[dict]:
        """Every raw sample of the series `match` selects: [{"metric": {...}, "values": [...], "timestamps": [ms]}]."""
        query = urllib.parse.urlencode({"match[]": match, "start": f"{start:.3f}", "end": f"{end:.3f}"})
        reply = health.request(f"{self.url}/api/v1/export?{query}", timeout=120.0)
        if not reply.ok:
            raise EngineError(f"scratch export of {match} failed: HTTP {reply.status} {reply.body[:200]}")
        return [json.loads(line) for line in reply.body.splitlines() if line.strip()]


def rfc3339(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def stages(documents: list[dict], selected) -> list[dict]:
    """Rule-file documents -> rule-file documents to replay one after another: the recording rules in
    layers (a rule reading a recorded series comes in a later layer than the rule recording it), then
    every alerting rule. `selected(expr)` gives the series names an expression reads.

    vmalert replays a group's rules one after another with no pause between groups, so a rule would
    query a recorded series before its results are searchable; replaying each layer to the end (then
    flushing) before the next one starts honours every chain, with no per-rule delay.
    """
    groups = [g for d in documents for g in d.get("groups") or []]
    by_name: dict[str, list[dict]] = {}
    for g in groups:
        for r in g.get("rules") or []:
            if "record" in r:
                by_name.setdefault(r["record"], []).append(r)

    def layer(rule: dict, seen: tuple = ()) -> int:
        reads = [m for m in selected(rule["expr"]) if m in by_name and m not in seen]
        return 1 + max((layer(r, (*seen, m)) for m in reads for r in by_name[m]), default=-1)

    out: dict[int, list[dict]] = {}
    for g in groups:
        for r in g.get("rules") or []:
            key = layer(r) if "record" in r else 1_000_000
            bucket = out.setdefault(key, [])
            if not bucket or bucket[-1]["name"] != g["name"]:
                bucket.append({**{k: v for k, v in g.items() if k != "rules"}, "rules": []})
            bucket[-1]["rules"].append(r)
    return [{"groups": out[k]} for k in sorted(out)]


@dataclass(frozen=True)
class Replay:
    documents: tuple[dict, ...]     # rule-file documents, as rules/*.rules.yml hold them
    start: float
    end: float
    interval: str                   # the spec's evaluation_interval: vmalert's step (a group's own interval wins)

    def run(self, store: ScratchStore, selected, timeout: float = 600.0) -> float:
        """Replays the recording rules layer by layer, then the alerting rules; returns the seconds taken."""
        began = time.monotonic()
        for i, stage in enumerate(stages(list(self.documents), selected)):
            path = store.dir / f"stage{i}.rules.yml"
            path.write_text(yaml.safe_dump(stage, sort_keys=False))
            self._vmalert(store, path, timeout)
        return time.monotonic() - began

    def _vmalert(self, store: ScratchStore, rule_file: Path, timeout: float) -> None:
        log = rule_file.with_suffix(".log")
        argv = [VMALERT, f"-rule={rule_file}",
                f"-datasource.url={store.url}", f"-remoteWrite.url={store.url}",
                f"-replay.timeFrom={rfc3339(self.start)}", f"-replay.timeTo={rfc3339(self.end)}",
                # queryStep is the step of the replay's range queries (5m by default: 1 point in 5).
                f"-evaluationInterval={self.interval}", f"-datasource.queryStep={self.interval}",
                "-replay.disableProgressBar", "-remoteWrite.flushInterval=200ms", "-replay.rulesDelay=0s",
                # One range query per rule (up to the store's points limit): where vmalert splits a range,
                # the first point of the next request can go missing, splitting an episode in two.
                f"-replay.maxDatapointsPerQuery={MAX_POINTS}",
                # ... whose results vmalert queues whole: a week of an always-firing alert is 40,000 samples.
                "-remoteWrite.maxQueueSize=20000000",
                # The annotations are Prometheus templates (promtool tests prove them); a replay needs labels.
                "-disableAlertgroupLabel", "-rule.validateTemplates=false",
                f"-httpListenAddr=127.0.0.1:{health.free_port()}", "-loggerLevel=WARN"]
        with log.open("wb") as out:
            try:
                rc = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    timeout=timeout).returncode
            except subprocess.TimeoutExpired:
                raise EngineError(f"vmalert -replay took longer than {timeout:.0f}s") from None
        if rc != 0:
            raise EngineError(f"vmalert -replay failed (exit {rc}):\n{tail(log)}")
        store.flush()
        time.sleep(1.0)    # VictoriaMetrics makes new samples searchable within a second
