"""The self-monitoring alerts read Prometheus' and Alertmanager's own metrics: every one of those names (the
platform signals) is exposed by the real binaries installed here (prometheus 2.42, alertmanager 0.25)."""
from __future__ import annotations

import shutil

import pytest
import yaml

from stackctl import health
from stackgen.signals import registry
from tests.e2e.servers import Servers, need

pytestmark = pytest.mark.tools


def _names(text: str) -> set[str]:
    return {line.split("{", 1)[0].split(" ", 1)[0] for line in text.splitlines() if line and not line.startswith("#")}


def test_every_platform_signal_is_exposed_by_the_real_binaries(tmp_path):
    need("prometheus")
    am_binary = next((shutil.which(b) for b in ("prometheus-alertmanager", "alertmanager") if shutil.which(b)), None)
    if am_binary is None:
        pytest.skip("prometheus-alertmanager not installed")
    prom, am, cluster = health.free_port(), health.free_port(), health.free_port()
    (tmp_path / "rules.yml").write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [
        {"record": "x", "expr": "vector(1)"}]}]}))
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s"}, "rule_files": [str(tmp_path / "rules.yml")],
        "scrape_configs": [{"job_name": "self", "sample_limit": 5,
                            "static_configs": [{"targets": [f"127.0.0.1:{prom}"]}]}]}))
    (tmp_path / "am.yml").write_text(yaml.safe_dump({
        "route": {"receiver": "r"}, "receivers": [{"name": "r", "webhook_configs": [{"url": "http://127.0.0.1:9/"}]}]}))
    servers = Servers(tmp_path / "logs")
    try:
        servers.start("prometheus", [shutil.which("prometheus"), f"--config.file={tmp_path / 'prometheus.yml'}",
                                     f"--storage.tsdb.path={tmp_path / 'data'}",
                                     f"--web.listen-address=127.0.0.1:{prom}"])
        servers.start("alertmanager", [am_binary, f"--config.file={tmp_path / 'am.yml'}",
                                       f"--storage.path={tmp_path / 'am'}", f"--web.listen-address=127.0.0.1:{am}",
                                       f"--cluster.listen-address=127.0.0.1:{cluster}"])
        servers.wait_ready("prometheus", f"http://127.0.0.1:{prom}/-/ready")
        servers.wait_ready("alertmanager", f"http://127.0.0.1:{am}/-/ready")
        exposed = (_names(health.request(f"http://127.0.0.1:{prom}/metrics").body)
                   | _names(health.request(f"http://127.0.0.1:{am}/metrics").body))
        wanted = {s.name for s in registry().signals if s.domain == "platform"}
        assert len(wanted) >= 12
        assert wanted - exposed == set()
    finally:
        servers.stop_all()
