"""Asking the running services how they are: HTTP probes, free ports, Prometheus targets."""
from __future__ import annotations

import errno
import json
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass


@dataclass(frozen=True)
class Reply:
    status: int          # 0 when nothing answered
    body: str

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def request(url: str, method: str = "GET", timeout: float = 3.0, data: bytes | None = None,
            headers: dict[str, str] | None = None) -> Reply:
    req = urllib.request.Request(url, method=method, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return Reply(response.status, response.read().decode("utf-8", "replace"))
    except urllib.error.HTTPError as exc:
        return Reply(exc.code, exc.read().decode("utf-8", "replace"))
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return Reply(0, str(reason))


def get_json(url: str, timeout: float = 3.0) -> dict | None:
    reply = request(url, timeout=timeout)
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


def targets(prometheus_url: str) -> list[dict]:
    data = get_json(f"{prometheus_url}/api/v1/targets?state=active")
    return data["data"]["activeTargets"] if data and data.get("status") == "success" else []


def describe_target(target: dict) -> str:
    labels = target.get("labels", {})
    error = target.get("lastError") or ""
    return (f"{labels.get('job', '?')} {labels.get('instance', target.get('scrapeUrl', '?'))}: "
            f"{target.get('health', '?')}" + (f" ({error})" if error else ""))


def wait_targets_up(prometheus_url: str, timeout: float, expected: int = 1,
                    still_running=lambda: True) -> tuple[bool, list[dict]]:
    """Poll until at least `expected` active targets exist and all are up."""
    deadline = time.monotonic() + timeout
    found: list[dict] = []
    while True:
        found = targets(prometheus_url)
        if len(found) >= expected and all(t.get("health") == "up" for t in found):
            return True, found
        if time.monotonic() >= deadline or not still_running():
            return False, found
        time.sleep(0.5)


def wait_until(check, timeout: float, interval: float = 0.25) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
