"""A real Alertmanager of its own (127.0.0.1, free port, temporary folder), fed alerts over its API."""
from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import yaml

from stackctl import health

BINARIES = ("prometheus-alertmanager", "alertmanager")     # Debian's name, upstream's name
# Fixed, so the links Alertmanager puts in messages (and the committed preview) never change.
EXTERNAL_URL = "http://alertmanager:9093"


class PreviewError(Exception):
    """One line a person can act on."""


class Alertmanager:
    def __init__(self, config: dict) -> None:
        binary = next((b for b in BINARIES if shutil.which(b)), None)
        if binary is None:
            raise PreviewError("no Alertmanager found: install Debian's prometheus-alertmanager (`make tools`)")
        self.dir = Path(tempfile.mkdtemp(prefix="alertmanager-"))
        (self.dir / "alertmanager.yml").write_text(yaml.safe_dump(config, sort_keys=False))
        port = health.free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.log = self.dir / "alertmanager.log"
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [binary, f"--config.file={self.dir / 'alertmanager.yml'}", f"--storage.path={self.dir / 'data'}",
                 f"--web.listen-address=127.0.0.1:{port}", f"--web.external-url={EXTERNAL_URL}",
                 "--cluster.listen-address="], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        ready = health.wait_until(lambda: self.proc.poll() is not None or health.request(f"{self.url}/-/ready").ok,
                                  timeout=20.0)
        if not ready or self.proc.poll() is not None:
            tail = self.tail()
            self.close()
            raise PreviewError(f"Alertmanager did not start:\n{tail}")

    def tail(self, lines: int = 15) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:]) if self.log.exists() else ""

    def post(self, alerts: list[dict]) -> None:
        reply = health.request(f"{self.url}/api/v2/alerts", method="POST", data=json.dumps(alerts).encode(),
                               headers={"Content-Type": "application/json"}, timeout=10.0)
        if not reply.ok:
            raise PreviewError(f"Alertmanager refused the alerts: HTTP {reply.status} {reply.body[:200]}")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Alertmanager:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
