"""A real Alertmanager of its own (127.0.0.1, free port, temporary folder), fed alerts over its API."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml

from stackctl import health
from stackctl.localserver import LocalServer

BINARIES = ("prometheus-alertmanager", "alertmanager")     # Debian's name, upstream's name
# Fixed, so the links Alertmanager puts in messages (and the committed preview) never change.
EXTERNAL_URL = "http://alertmanager:9093"


class PreviewError(Exception):
    """One line a person can act on."""


class Alertmanager(LocalServer):
    def __init__(self, config: dict) -> None:
        binary = next((b for b in BINARIES if shutil.which(b)), None)
        if binary is None:
            raise PreviewError("no Alertmanager found: install Debian's prometheus-alertmanager (`make tools`)")

        def argv(folder: Path, port: int) -> list[str]:
            (folder / "alertmanager.yml").write_text(yaml.safe_dump(config, sort_keys=False))
            return [binary, f"--config.file={folder / 'alertmanager.yml'}", f"--storage.path={folder / 'data'}",
                    f"--web.listen-address=127.0.0.1:{port}", f"--web.external-url={EXTERNAL_URL}",
                    "--cluster.listen-address="]           # no gossip port: one instance
        super().__init__("alertmanager", argv, "/-/ready", PreviewError)

    def post(self, alerts: list[dict]) -> None:
        reply = health.request(f"{self.url}/api/v2/alerts", method="POST", data=json.dumps(alerts).encode(),
                               headers={"Content-Type": "application/json"}, timeout=10.0)
        if not reply.ok:
            raise PreviewError(f"Alertmanager refused the alerts: HTTP {reply.status} {reply.body[:200]}")
