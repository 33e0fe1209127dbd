"""Fixtures for the exporter tests: a fresh registry per test, the real spec, and real processes."""
from __future__ import annotations

import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry

from exporter.metrics import BotMetrics

ROOT = Path(__file__).resolve().parents[2]
BOT = ("test", "top20", "topn_arb")
BOT_LABELS = {"env": "test", "universe": "top20", "strategy": "topn_arb"}


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def metrics(registry) -> BotMetrics:
    """A BotMetrics with its bot labels bound, on a fresh registry (no process collectors)."""
    m = BotMetrics(registry, process_collectors=False)
    m.init_metrics(*BOT)
    return m


@pytest.fixture(scope="session")
def spec() -> dict:
    return yaml.safe_load((ROOT / "spec.yaml").read_text())


def duration_seconds(text: str | float) -> float:
    """Prometheus duration (30s, 5m, 1h30m) in seconds; a number is seconds already (catalog.json)."""
    if isinstance(text, (int, float)):
        return float(text)
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    parts = re.findall(r"(\d+)(ms|s|m|h|d|w|y)", text)
    assert parts and "".join(n + u for n, u in parts) == text, text
    return sum(int(n) * units[u] for n, u in parts)


def samples(registry, name: str) -> dict[frozenset, float]:
    """{frozenset(labels.items()): value} of every sample called `name`."""
    found = {}
    for family in registry.collect():
        for sample in family.samples:
            if sample.name == name:
                found[frozenset(sample.labels.items())] = sample.value
    return found


def value(registry, name: str, **labels) -> float | None:
    """The one sample `name` whose labels include `labels` (None if there is none)."""
    matches = [v for k, v in samples(registry, name).items() if set(labels.items()) <= set(k)]
    assert len(matches) <= 1, f"{name}{labels} matches {len(matches)} samples"
    return matches[0] if matches else None


def histogram_quantile(q: float, buckets: dict[float, float]) -> float:
    """Prometheus's histogram_quantile over {upper bound: cumulative count}."""
    bounds = sorted(buckets)
    total = buckets[math.inf]
    rank = q * total
    lower, below = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if bound == math.inf:
                return lower
            return lower + (bound - lower) * (rank - below) / max(count - below, 1e-12)
        lower, below = bound, count
    return lower


def buckets_of(registry, name: str, **labels) -> dict[float, float]:
    """Cumulative bucket counts of histogram `name`, summed over series matching `labels`."""
    out: dict[float, float] = {}
    for key, count in samples(registry, name + "_bucket").items():
        label_map = dict(key)
        if set(labels.items()) <= set(label_map.items()):
            bound = float(label_map["le"])
            out[bound] = out.get(bound, 0.0) + count
    return out


def lines_of(text: str, family: str) -> list[str]:
    """The exposition lines of one metric family (HELP, TYPE and samples), in order."""
    keep = []
    for line in text.splitlines():
        name = line.split(" ")[2] if line.startswith("# ") else re.split(r"[{ ]", line)[0]
        base = re.sub(r"_(bucket|count|sum)$", "", name)
        if name == family or base == family:
            keep.append(line)
    return keep


# -- real processes ----------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SCENARIO_HEADERS = {"X-Tradingmon-Scenario": "1"}  # what a state-changing request must carry


def http(url: str, method: str = "GET", timeout: float = 5.0, headers: dict | None = None,
         data: bytes | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, method=method, headers=headers or {}, data=data)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_for(predicate, timeout: float = 15.0, interval: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except (OSError, ValueError) as exc:
            last = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


class ExporterProcess:
    def __init__(self, proc: subprocess.Popen, port: int) -> None:
        self.proc, self.port = proc, port
        self.url = f"http://127.0.0.1:{port}"

    def get(self, path: str) -> tuple[int, bytes]:
        return http(self.url + path)

    def health(self) -> dict:
        status, body = self.get("/health")
        assert status == 200, body
        return json.loads(body)

    def stop(self, sig=signal.SIGTERM, timeout: float = 10.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)


@pytest.fixture
def start_exporter(tmp_path):
    """start_exporter(*args, stdin=None) -> ExporterProcess on 127.0.0.1, ready (/health answers).

    Every process started is stopped (SIGTERM, then SIGKILL) when the test ends.
    """
    started: list[subprocess.Popen] = []

    def start(*args: str, stdin=None, port: int | None = None, wait: bool = True) -> ExporterProcess:
        port = port or free_port()
        log = open(tmp_path / f"exporter-{port}-{len(started)}.log", "w+b")
        proc = subprocess.Popen([sys.executable, "-m", "exporter", "--bind", "127.0.0.1", "--port", str(port),
                                 *args], cwd=ROOT, stdin=stdin, stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        proc.log = log  # type: ignore[attr-defined]
        started.append(proc)
        process = ExporterProcess(proc, port)
        if wait:
            def ready():
                if proc.poll() is not None:
                    raise AssertionError(f"exporter exited with {proc.returncode}: {read_log(proc)}")
                return process.get("/health")[0] == 200
            wait_for(ready, what=f"exporter on port {port}")
        return process

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        proc.log.close()


def read_log(proc) -> str:
    proc.log.flush()
    proc.log.seek(0)
    return proc.log.read().decode("utf-8", "replace")
