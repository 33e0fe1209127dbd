"""`make status` calls a Prometheus that cannot write unhealthy, though /-/healthy still says ok.

A real Prometheus behind basic auth, started under a file-size limit (RLIMIT_FSIZE, through
`prlimit`): once its write-ahead log reaches the limit every write fails with "file too large",
just as it fails with ENOSPC on a full disk, and Prometheus counts it in its own TSDB metrics.
"""
from __future__ import annotations

import shutil

import pytest

from stackgen.load import load_stack
from stackctl import health, processes, webauth
from stackctl.native import NativeStack
from stackctl.settings import SERVICES, Settings
from tests.conftest import ROOT

pytestmark = pytest.mark.tools

LIMIT = 30_000      # bytes: the WAL reaches it after a few dozen one-second scrapes


@pytest.fixture
def prometheus(tmp_path):
    if not (shutil.which("prometheus") and shutil.which("prlimit")):
        pytest.skip("needs prometheus (make tools) and prlimit (util-linux)")
    ports = {name: health.free_port() for name in SERVICES}
    settings = Settings.from_environment(ROOT, dotenv=False, run_dir=tmp_path / "run", ports=ports,
                                         environ={"PROM_WEB_PASSWORD": "p-" + "x" * 20, "AM_WEB_PASSWORD": "a" * 20})
    folder = settings.service_dir("prometheus")
    webauth.write({s: settings.service_dir(s) for s in webauth.SERVICES}, settings.environ, mode=0o600)
    (folder / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: prometheus\n"
        f"    basic_auth: {{username: admin, password_file: {folder / 'prometheus_password'}}}\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{ports['prometheus']}']}}]\n")
    record = processes.start("prometheus", [
        "prlimit", f"--fsize={LIMIT}", "prometheus", f"--config.file={folder / 'prometheus.yml'}",
        f"--storage.tsdb.path={folder / 'data'}", f"--web.listen-address=127.0.0.1:{ports['prometheus']}",
        f"--web.config.file={folder / 'web.yml'}"], pids_dir=settings.pids_dir,
        log_path=settings.logs_dir / "prometheus.log")
    try:
        yield settings, record
    finally:
        processes.stop(record)


def test_status_reports_a_prometheus_that_cannot_write_as_unhealthy(prometheus):
    settings, record = prometheus
    native = NativeStack(settings, load_stack(ROOT / "spec.yaml"), out=lambda line: None)
    url, auth = settings.url("prometheus"), settings.auth("prometheus")
    assert health.wait_until(lambda: health.request(f"{url}/-/ready", auth=auth).ok, 30)
    assert health.prometheus_write_problems(url, auth, stale_after=60) == []       # healthy at first

    assert health.wait_until(lambda: health.prometheus_write_problems(url, auth, stale_after=60), 60, interval=1), \
        processes.tail(record.log)
    assert health.request(f"{url}/-/healthy", auth=auth).ok                         # it still says healthy
    lines: list[str] = []
    native.out = lines.append
    assert native.status() == 1
    text = "\n".join(lines)
    assert "prometheus: CANNOT WRITE its data (" in text
    assert "failed writes to the write-ahead log (prometheus_tsdb_wal_writes_failed_total)" in text
    assert "file too large" in processes.tail(record.log, 50)


def test_a_stale_newest_sample_alone_is_reported(prometheus):
    settings, _ = prometheus
    url, auth = settings.url("prometheus"), settings.auth("prometheus")
    assert health.wait_until(lambda: health.request(f"{url}/-/ready", auth=auth).ok, 30)
    assert health.wait_until(lambda: health.prometheus_write_problems(url, auth, 60) == [] and
                             health.prometheus_write_problems(url, auth, 60, now=4e9) != [], 20)
    problems = health.prometheus_write_problems(url, auth, stale_after=60, now=4e9)
    assert any(p.startswith("its newest sample is ") and p.endswith("s old (scrapes are not being stored)")
               for p in problems), problems
