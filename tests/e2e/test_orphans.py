"""A service never outlives what records it: `kill -9` of each process of each native service (its
log relay, or the service itself), then `status` says what happened, `down` stops what is left and
`up` starts it again without "port already taken" (issue: a killed relay orphaned its service).

Real processes of a real native stack (prometheus, alertmanager, the exporter), one per module."""
from __future__ import annotations

import os
import signal
import time

import pytest

from stackctl import health, processes
from stackctl.settings import SERVICES
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
