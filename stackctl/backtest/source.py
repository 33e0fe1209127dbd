"""The user's recorded history: a Prometheus or a VictoriaMetrics, read over its HTTP API.

The URL and credentials come from the environment (never the spec or the command line, which end up
in shell history and CI logs). VictoriaMetrics answers /api/v1/export with every raw sample; a
Prometheus has no export API, so its series are read with range queries at the scrape step.
"""
from __future__ import annotations

import base64
import json
import os
import urllib.parse
from dataclasses import dataclass

from stackctl import health
from stackctl.backtest.engine import EngineError, ScratchStore

URL_ENV = "BACKTEST_URL"
USER_ENV, PASSWORD_ENV, TOKEN_ENV = "BACKTEST_USER", "BACKTEST_PASSWORD", "BACKTEST_BEARER_TOKEN"
# Prometheus refuses range queries of more than 11,000 points per series.
_MAX_POINTS = 10_000


@dataclass(frozen=True)
class Source:
    url: str
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_env(cls, url: str | None, environ=os.environ) -> Source:
        url = (url or environ.get(URL_ENV, "")).rstrip("/")
        if not url:
            raise EngineError(f"no history to replay: set {URL_ENV} to your Prometheus or VictoriaMetrics URL "
                              "(or pass --url)")
        headers = {}
        if environ.get(TOKEN_ENV):
            headers["Authorization"] = f"Bearer {environ[TOKEN_ENV]}"
        elif environ.get(USER_ENV):
            pair = f"{environ[USER_ENV]}:{environ.get(PASSWORD_ENV, '')}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        return cls(url, tuple(headers.items()))

    def _get(self, path: str, params: dict) -> health.Reply:
        return health.request(f"{self.url}{path}?{urllib.parse.urlencode(params)}", timeout=300.0,
                              headers=dict(self.headers))

    def copy(self, metrics: list[str], start: float, end: float, store: ScratchStore, step: float) -> int:
        """Every series of `metrics` over [start, end] into the store; returns the number of series copied."""
        copied = 0
        for metric in metrics:
            match = f'{{__name__="{metric}"}}'
            reply = self._get("/api/v1/export", {"match[]": match, "start": f"{start:.3f}", "end": f"{end:.3f}"})
            if reply.ok:            # VictoriaMetrics: its export lines are what import takes
                lines = [line for line in reply.body.splitlines() if line.strip()]
            elif reply.status == 0:
                raise EngineError(f"{self.url} does not answer ({reply.body}): is {URL_ENV} right?")
            elif reply.status in (404, 405):
                lines = self._range_lines(match, start, end, step)
            else:
                raise EngineError(f"{self.url}: reading {metric} failed: HTTP {reply.status} "
                                  f"{reply.body.strip()[:200] or '(no answer)'}")
            store.import_lines(lines)
            copied += len(lines)
        store.flush()
        return copied

    def _range_lines(self, match: str, start: float, end: float, step: float) -> list[str]:
        series: dict[str, dict] = {}
        chunk = step * _MAX_POINTS
        t = start
        while t <= end:
            stop = min(end, t + chunk)
            reply = self._get("/api/v1/query_range", {"query": match, "start": f"{t:.3f}", "end": f"{stop:.3f}",
                                                      "step": f"{step:g}"})
            if not reply.ok:
                raise EngineError(f"{self.url}: query_range {match} failed: HTTP {reply.status} {reply.body[:200]}")
            for result in json.loads(reply.body)["data"]["result"]:
                key = json.dumps(result["metric"], sort_keys=True)
                entry = series.setdefault(key, {"metric": result["metric"], "values": [], "timestamps": []})
                for ts, value in result["values"]:
                    if entry["timestamps"] and entry["timestamps"][-1] >= int(float(ts) * 1000):
                        continue        # the chunk's first point repeats the previous chunk's last
                    entry["timestamps"].append(int(float(ts) * 1000))
                    entry["values"].append(float(value))
            t = stop + step
        return [json.dumps(entry) for entry in series.values()]
