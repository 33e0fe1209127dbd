"""Asking the running services how they are: HTTP probes, free ports, Prometheus targets."""
from __future__ import annotations

import base64
import errno
import json
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

from stackgen.signals import registry

@dataclass(frozen=True)
class Reply:
    status: int          # 0 when nothing answered
    body: str

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

def request(url: str, method: str = "GET", timeout: float = 3.0, data: bytes | None = None,
            headers: dict[str, str] | None = None, auth: tuple[str, str] | None = None) -> Reply:
    """One HTTP request; `auth` = (user, password) sends basic auth (Prometheus, Alertmanager)."""
    headers = dict(headers or {})
    if auth is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    req = urllib.request.Request(url, method=method, data=data, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return Reply(response.status, response.read().decode("utf-8", "replace"))
    except urllib.error.HTTPError as exc:
        return Reply(exc.code, exc.read().decode("utf-8", "replace"))
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return Reply(0, str(reason))

def get_json(url: str, timeout: float = 3.0, auth: tuple[str, str] | None = None) -> dict | None:
    reply = request(url, timeout=timeout, auth=auth)
    if not reply.ok:
        return None
    try:
        return json.loads(reply.body)
    except ValueError:
        return None

def port_taken(host: str, port: int) -> bool:
    """Something already listens on host:port (a bind there would fail)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            return exc.errno in (errno.EADDRINUSE, errno.EACCES)
    return False

def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]

def targets(prometheus_url: str, auth: tuple[str, str] | None = None) -> list[dict]:
    data = get_json(f"{prometheus_url}/api/v1/targets?state=active", auth=auth)
    return data["data"]["activeTargets"] if data and data.get("status") == "success" else []

def describe_target(target: dict) -> str:
    labels = target.get("labels", {})
    error = target.get("lastError") or ""
    state = target.get("health", "?")
    if state == "unknown" and not error:
        state = "unknown (not scraped yet: Prometheus scrapes it within its scrape interval)"
    return (f"{labels.get('job', '?')} {labels.get('instance', target.get('scrapeUrl', '?'))}: "
            f"{state}" + (f" ({error})" if error else ""))


# Once the stack's own targets are up, how long `up` still waits for the bots' (a bot that is down
# must not keep the monitoring from starting: that is when TargetDown has to page).
BOT_GRACE_SECONDS = 5.0


def _settled(ready_own: bool, ready_all: bool, since: list[float]) -> bool:
    """All up; or the stack's own targets up for BOT_GRACE_SECONDS (the bots' are reported, not waited out)."""
    if ready_all:
        return True
    if not ready_own:
        since.clear()
        return False
    if not since:
        since.append(time.monotonic())
    return time.monotonic() - since[0] >= BOT_GRACE_SECONDS


def wait_targets_up(prometheus_url: str, timeout: float, expected: int = 1,
                    still_running=lambda: True, auth: tuple[str, str] | None = None,
                    own=lambda target: True) -> tuple[bool, list[dict]]:
    """Poll until at least `expected` active targets exist and all are up, or the `own` ones are
    (then the rest are given BOT_GRACE_SECONDS). True when every `own` target is up."""
    deadline = time.monotonic() + timeout
    found: list[dict] = []
    since: list[float] = []
    while True:
        found = targets(prometheus_url, auth)
        up = [t.get("health") == "up" for t in found]
        ready_own = len(found) >= expected and all(u for t, u in zip(found, up, strict=True) if own(t))
        if _settled(ready_own, ready_own and all(up), since):
            return True, found
        if time.monotonic() >= deadline or not still_running():
            return False, found
        time.sleep(0.2)


def wait_targets_answer(prometheus_url: str, timeout: float, expected: int, probe,
                        auth: tuple[str, str] | None = None, interval: float = 0.1,
                        own=lambda target: True) -> tuple[bool, list[dict], int]:
    """Poll until Prometheus lists at least `expected` active targets and each one is up: scraped up
    by Prometheus, or, before Prometheus' first scrape of it (health "unknown"; that scrape comes at
    a fixed offset within the job's scrape interval, up to 15 s later), answering `probe(target)`,
    a GET of its scrape URL with Prometheus' own credentials. A target Prometheus scraped as down
    is never counted. Only the `own` targets (the stack's) must be up; the others (bots) get
    BOT_GRACE_SECONDS once they are. Returns (own all up, the targets, how many Prometheus scraped up)."""
    deadline = time.monotonic() + timeout
    answered: set[str] = set()
    found: list[dict] = []
    since: list[float] = []
    while True:
        found = targets(prometheus_url, auth)
        scraped = sum(t.get("health") == "up" for t in found)
        for target in found:
            url = target.get("scrapeUrl", "")
            if target.get("health") == "unknown" and url not in answered and probe(target):
                answered.add(url)
        ready = [t.get("health") == "up" or (t.get("health") == "unknown" and t.get("scrapeUrl", "") in answered)
                 for t in found]
        ready_own = len(found) >= expected and all(r for t, r in zip(found, ready, strict=True) if own(t))
        if _settled(ready_own, ready_own and all(ready), since):
            return True, found, scraped
        if time.monotonic() >= deadline:
            return False, found, scraped
        time.sleep(interval)

def wait_until(check, timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)

# Prometheus' own counters of failed TSDB writes (2.42): any of them above 0 means data was lost. Declared
# once, as the tsdb_* signals (stackgen/data/signals.yaml) the PrometheusTsdbFailures alert reads too.
TSDB_WRITE_FAILURES = {s.name: s.help[:1].lower() + s.help[1:].rstrip(".") for s in registry().signals
                       if s.key.startswith("tsdb_") and s.key.endswith("_failures")}
HEAD_MAX_TIME = "prometheus_tsdb_head_max_time_seconds"    # the newest sample in the head

def _samples(text: str) -> dict[str, float]:
    """Metric name -> value (summed over label sets) of an exposition text."""
    values: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        head, _, rest = line.partition(" ") if "{" not in line.split(" ", 1)[0] else line.partition("} ")
        name = head.split("{", 1)[0]
        try:
            values[name] = values.get(name, 0.0) + float(rest.split()[0])
        except (IndexError, ValueError):
            continue
    return values

def prometheus_write_problems(prometheus_url: str, auth: tuple[str, str] | None, stale_after: float,
                              now: float | None = None) -> list[str]:
    """Why this Prometheus cannot write its TSDB (disk full, read-only, ...), from its own /metrics:
    a failure counter above 0, or a newest sample older than `stale_after` seconds. [] when it can,
    or when it does not answer (the health check says that already)."""
    reply = request(f"{prometheus_url}/metrics", timeout=3, auth=auth)
    if not reply.ok:
        return []
    values = _samples(reply.body)
    problems = [f"{int(values[name])} {what} ({name})" for name, what in TSDB_WRITE_FAILURES.items()
                if values.get(name, 0) > 0]
    newest = values.get(HEAD_MAX_TIME, 0.0)
    age = (time.time() if now is None else now) - newest
    if newest > 0 and age > stale_after:
        problems.append(f"its newest sample is {age:.0f}s old (scrapes are not being stored)")
    return problems
