"""Fake bots that serve a seed document's own sample exposition over real HTTP, and a real
Prometheus loaded with a generated tree. Both on 127.0.0.1, free ports, temporary folders.

A FakeBot serves its fixture file as is; a test may then set a series to another value (in the
bot's own units), make it grow at a rate per second (a counter in use), add a series, or stop
the bot (its target goes down).
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml

from stackctl import health

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "expositions"
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?)\s+(\S+)\s*$")


class FakeBot:
    def __init__(self, fixture: str = "", metrics_path: str = "/metrics", lines: list[str] | None = None):
        """Serve tests/fixtures/expositions/<fixture>.prom, or these exposition lines."""
        self.fixture = fixture
        self.lines = lines if lines is not None else \
            (FIXTURES / f"{fixture}.prom").read_text(encoding="utf-8").splitlines()
        self.metrics_path = metrics_path
        self._overrides: dict[str, tuple[float, float, float]] = {}   # series -> (value, per_second, since)
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                if self.path != outer.metrics_path:
                    self.send_response(404)
                    self.end_headers()
                    return
                body = outer.exposition().encode("utf-8")
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self.target = f"127.0.0.1:{self.port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def exposition(self) -> str:
        now = time.monotonic()
        out, seen = [], set()
        with self._lock:
            overrides = dict(self._overrides)
        for line in self.lines:
            match = _SAMPLE.match(line)
            if match and match.group(1) in overrides:
                series = match.group(1)
                seen.add(series)
                value, per_second, since = overrides[series]
                line = f"{series} {value + per_second * (now - since)!r}"
            out.append(line)
        for series, (value, per_second, since) in overrides.items():
            if series not in seen:
                out.append(f"{series} {value + per_second * (now - since)!r}")
        return "\n".join(out) + "\n"

    def value(self, series: str) -> float:
        for line in self.exposition().splitlines():
            match = _SAMPLE.match(line)
            if match and match.group(1) == series:
                return float(match.group(2))
        raise KeyError(series)

    def set(self, series: str, value: float, per_second: float = 0.0) -> None:
        """Serve `series` (exactly as written in the exposition) at this value, growing per second."""
        with self._lock:
            self._overrides[series] = (value, per_second, time.monotonic())

    def grow(self, series: str, per_second: float) -> None:
        try:
            start = self.value(series)
        except KeyError:
            start = 0.0
        self.set(series, start, per_second)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class Prometheus:
    """A real Prometheus on a generated tree (its rule files loaded from the tree)."""

    def __init__(self, tree: Path, workdir: Path):
        binary = shutil.which("prometheus")
        assert binary
        config = yaml.safe_load((tree / "stack/prometheus/prometheus.yml").read_text())
        config["rule_files"] = [str(tree / "rules" / "*.rules.yml")]
        config.pop("alerting", None)
        config["scrape_configs"] = [c for c in config["scrape_configs"] if c["job_name"] != "alertmanager"]
        self.config = workdir / "prometheus.yml"
        self.config.write_text(yaml.safe_dump(config, sort_keys=False))
        self.port = health.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = (workdir / "prometheus.log").open("w")
        self.proc = subprocess.Popen(
            [binary, f"--config.file={self.config}", f"--storage.tsdb.path={workdir / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=self.log, stderr=subprocess.STDOUT)
        assert health.wait_until(lambda: health.request(f"{self.url}/-/ready").ok, 30), "prometheus not ready"

    def query(self, promql: str) -> list:
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(url, timeout=10) as reply:
            data = json.loads(reply.read())
        assert data["status"] == "success", (promql, data)
        return data["data"]["result"]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
