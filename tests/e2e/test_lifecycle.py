"""What `up` prints opens, and a service never outlives what records it: `kill -9` of each process
of each native service (its log relay, or the service itself), then `status` says what happened,
`down` stops what is left and `up` starts it again without "port already taken".

Real processes of a real native stack (prometheus, alertmanager, the exporter), one per module."""
from __future__ import annotations

import os
import re
import signal
import time

import subprocess
import sys

import pytest

from stackgen.load import load_stack
from stackctl import health, processes
from stackctl.native import NativeStack
from stackctl.settings import SERVICES, Settings
from tests.conftest import ROOT
from tests.e2e.conftest import _free_ports, _need_binaries
from tests.generator.hostile import FIXTURE
from tests.stack import procfs

pytestmark = pytest.mark.e2e


def _service_pid(record: processes.Record) -> int:
    """The service under the relay: the other member of the relay's process group."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        others = [pid for pid in procfs.group_members(record.pid) if pid != record.pid]
        if others:
            return others[0]
        time.sleep(0.05)
    raise AssertionError(f"{record.describe()} has no service process")


def _until(check, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _answers(e2e, name: str) -> bool:
    return health.request(e2e.url(name, SERVICES[name].health_path), timeout=1, auth=e2e.auth(name)).ok


def _status(e2e) -> tuple[int, str]:
    e2e.output.clear()
    code = e2e.native.status()
    return code, "\n".join(e2e.output)


def _printed_urls(lines) -> list[tuple[str, str]]:
    return [(line.split()[0], url) for line in lines for url in re.findall(r"http://[^\s,)]+", line)]


def test_every_url_up_prints_opens_with_the_credentials(e2e):
    """Debian's Prometheus serves only its classic UI (/targets is 404) and Debian's Alertmanager no UI
    at all: up prints the pages the running builds serve, and says when there is no UI."""
    printed = e2e.output[e2e.output.index("The stack is up:") + 1:]
    found = _printed_urls(printed)
    assert {"Prometheus", "Alertmanager", "Exporter"} <= {name for name, _ in found}, printed
    for name, url in found:
        service = {"Prometheus": "prometheus", "Alertmanager": "alertmanager"}.get(name)
        reply = health.request(url, timeout=5, auth=e2e.auth(service) if service else None)
        assert reply.status == 200, (url, reply.status, reply.body[:200])
        assert "does not include a web application" not in reply.body, url
    if "does not include a web" in health.request(e2e.url("alertmanager", "/"), auth=e2e.auth("alertmanager")).body:
        assert any("API only" in line for line in printed if line.split()[:1] == ["Alertmanager"]), printed


@pytest.mark.parametrize("service", ["exporter", "alertmanager", "prometheus"])
@pytest.mark.parametrize("victim", ["relay", "service"])
def test_kill_9_of_either_process_never_leaves_the_service_unrecorded(e2e, service, victim):
    record = e2e.native.running()[service]
    child = _service_pid(record)
    os.kill(record.pid if victim == "relay" else child, signal.SIGKILL)
    # The relay's death takes its service down (parent-death signal); the service's death ends its relay.
    assert _until(lambda: not processes.running(record)), procfs.group_members(record.pid)
    assert not _answers(e2e, service)
    code, text = _status(e2e)
    assert code == 1 and f"{service:<13} DEAD" in text, text
    # `up` starts it again: nothing of the old one holds its port.
    e2e.output.clear()
    assert e2e.native.up() == 0, "\n".join(e2e.output)
    assert f"{service}: started" in "\n".join(e2e.output)
    assert _until(lambda: _answers(e2e, service))
    code, text = _status(e2e)
    assert code == 0 and f"{service:<13} running" in text, text


def test_a_service_that_outlives_its_relay_is_reported_stopped_by_down_and_never_blocks_up(e2e, monkeypatch):
    """Where the parent-death signal is not armed (not Linux; a service that ignores SIGTERM), what is
    left in the relay's session is found: status says ORPHANED, `up` stops and restarts it."""
    record = e2e.native.running()["exporter"]
    child = _service_pid(record)
    os.kill(child, signal.SIGSTOP)          # a stopped process takes the parent-death SIGTERM only later
    try:
        os.kill(record.pid, signal.SIGKILL)
        assert _until(lambda: not processes.alive(record))
        assert processes.survivors(record) == [child]
        code, text = _status(e2e)
        assert code == 1 and "ORPHANED (pid" in text and f"the service (pid {child}) still runs" in text, text
    finally:
        os.kill(child, signal.SIGCONT)
    # (SIGCONT delivers the pending SIGTERM: give `up` a survivor that is still there or just gone.)
    e2e.output.clear()
    assert e2e.native.up() == 0, "\n".join(e2e.output)
    assert not processes.survivors(record)
    assert _until(lambda: _answers(e2e, "exporter"))


def test_down_stops_a_service_whose_relay_died(e2e):
    record = e2e.native.running()["alertmanager"]
    child = _service_pid(record)
    os.kill(child, signal.SIGSTOP)
    os.kill(record.pid, signal.SIGKILL)
    assert _until(lambda: not processes.alive(record))
    assert processes.survivors(record) == [child]
    e2e.output.clear()
    e2e.native.down()
    text = "\n".join(e2e.output)
    assert "alertmanager: its log relay had died; its service (pid" in text, text
    assert not procfs.group_members(record.pid)
    e2e.output.clear()
    assert e2e.native.up() == 0, "\n".join(e2e.output)


def test_a_spec_of_your_own_runs_from_its_folder_with_a_bot_down_and_no_demo_exporter(tmp_path):
    """The README's "another spec, another folder": generate.py --out DIR, then stackctl --root DIR up.
    A bot that does not answer yet never keeps the monitoring from starting (TargetDown is for it)."""
    _need_binaries()
    spec, tree = tmp_path / "spec.yaml", tmp_path / "stack"
    spec.write_text(FIXTURE.read_text())           # scrapes bot:9100, which nothing serves
    proc = subprocess.run([sys.executable, str(ROOT / "generate.py"), "--spec", str(spec), "--out", str(tree)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    ports = dict(zip(SERVICES, _free_ports(len(SERVICES)), strict=True))
    settings = Settings.from_environment(tree, dotenv=False, spec=spec, run_dir=tmp_path / "run", ports=ports,
                                         environ={"PROM_WEB_PASSWORD": "p" * 24, "AM_WEB_PASSWORD": "a" * 24,
                                                  "GF_SECURITY_ADMIN_PASSWORD": "g" * 24}, wait_seconds=45.0)
    lines: list[str] = []
    native = NativeStack(settings, load_stack(spec), out=lines.append)
    try:
        assert native.up() == 0, "\n".join(lines)
        text = "\n".join(lines)
        assert "prometheus: bot target not up yet: bot bot:9100: down" in text, text
        assert "exporter: started" not in text and "Exporter " not in text, text   # nothing scrapes it
        assert set(native.running()) == {"prometheus", "alertmanager"}
        lines.clear()
        assert native.status() == 0, "\n".join(lines)      # the stack's services are healthy ...
        assert any(line.strip().startswith("bot bot:9100: down") for line in lines), lines   # ... the bot is not
    finally:
        native.down()
    assert not native.running()
