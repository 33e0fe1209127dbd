"""Real servers a scale-out test starts itself: each on 127.0.0.1, logs in the test's folder, stopped by
its own pid (and only that), never by name."""
from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
from pathlib import Path

import pytest

from stackctl import health


def need(*binaries: str) -> None:
    missing = [b for b in binaries if shutil.which(b) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (Debian packages: prometheus, prometheus-alertmanager, "
                    "victoria-metrics)")


class Servers:
    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.logs.mkdir(parents=True, exist_ok=True)
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, name: str, argv: list[str]) -> subprocess.Popen:
        log = (self.logs / f"{name}.log").open("wb")
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        self.procs[name] = proc
        return proc

    def log(self, name: str, lines: int = 30) -> str:
        path = self.logs / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def wait_ready(self, name: str, url: str, timeout: float = 30.0) -> None:
        """Until url answers 2xx; fails with the server's last log lines if it exits or never answers."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.procs[name].poll() is not None:
                pytest.fail(f"{name} exited with {self.procs[name].returncode}:\n{self.log(name)}")
            if health.request(url, timeout=1.0).ok:
                return
            time.sleep(0.2)
        pytest.fail(f"{name} did not answer {url} within {timeout:.0f}s:\n{self.log(name)}")

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name)
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)

    def stop_all(self) -> None:
        for name in list(reversed(self.procs)):
            self.stop(name)


def query(base: str, promql: str, **extra) -> list:
    """An instant query through the Prometheus HTTP API (Prometheus or VictoriaMetrics)."""
    params = [("query", promql)] + [(k, v) for k, values in extra.items() for v in values]
    data = health.get_json(f"{base}/api/v1/query?{urllib.parse.urlencode(params)}", timeout=10.0)
    assert data is not None and data.get("status") == "success", (promql, data)
    return data["data"]["result"]


def get(url: str) -> dict:
    reply = health.request(url, timeout=10.0)
    assert reply.ok, (url, reply)
    return json.loads(reply.body)


def poll(check, timeout: float, interval: float = 0.5):
    """check() until it returns something truthy; that value, or the last falsy one at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)
