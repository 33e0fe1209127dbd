"""Who holds a port: a real listening process found through /proc, and the systemd unit parsed from
/proc/PID/cgroup texts in the formats the kernel writes (cgroup v2 and v1)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from stackctl import holder

LISTENER = ("import socket, sys, time\n"
            "s = socket.socket(socket.{family}); s.bind(({host!r}, 0)); s.listen()\n"
            "print(s.getsockname()[1], flush=True); time.sleep(60)\n")


@pytest.fixture(params=[("AF_INET", "127.0.0.1"), ("AF_INET6", "::1")], ids=["ipv4", "ipv6"])
def listener(request):
    family, host = request.param
    proc = subprocess.Popen([sys.executable, "-c", LISTENER.format(family=family, host=host)],
                            stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        if not line:
            pytest.fail(f"the listener on {host} did not start")
        yield proc, int(line)
    finally:
        proc.kill()
        proc.wait()


def test_the_process_listening_on_a_port_is_found_in_proc(listener):
    proc, port = listener
    found = holder.holder(port)
    assert found is not None and found.pid == proc.pid
    assert found.command == Path(f"/proc/{proc.pid}/comm").read_text().strip()
    # Its unit is whatever its real cgroup file says (none in this container: "0::/").
    assert found.unit == holder.unit_from_cgroup(Path(f"/proc/{proc.pid}/cgroup").read_text())
    assert found.describe().startswith(f"{found.command} (pid {proc.pid}")


def test_a_free_port_has_no_holder(listener):
    proc, port = listener
    proc.kill()
    proc.wait()
    assert holder.listening_inodes(port) == set() and holder.holder(port) is None


# Real /proc/PID/cgroup texts: Debian 12 with systemd (cgroup v2), a v1 (hybrid) host, a user service,
# a login shell, a container, and a machine without systemd (like this one).
SYSTEM_V2 = "0::/system.slice/prometheus.service\n"
ALERTMANAGER_V1 = """12:pids:/system.slice/prometheus-alertmanager.service
11:memory:/system.slice/prometheus-alertmanager.service
3:cpu,cpuacct:/system.slice/prometheus-alertmanager.service
1:name=systemd:/system.slice/prometheus-alertmanager.service
0::/system.slice/prometheus-alertmanager.service
"""
USER_SERVICE = "0::/user.slice/user-1000.slice/user@1000.service/app.slice/my-bot.service\n"
LOGIN_SHELL = "0::/user.slice/user-1000.slice/session-3.scope\n"
CONTAINER = "0::/system.slice/docker-4f9c1a2b3c4d5e6f.scope\n"
NO_SYSTEMD = "0::/\n"
TEMPLATED = "0::/system.slice/system-grafana.slice/grafana@main.service\n"


@pytest.mark.parametrize("text, unit", [
    (SYSTEM_V2, holder.Unit("prometheus.service", user=False)),
    (ALERTMANAGER_V1, holder.Unit("prometheus-alertmanager.service", user=False)),
    (USER_SERVICE, holder.Unit("my-bot.service", user=True)),
    (TEMPLATED, holder.Unit("grafana@main.service", user=False)),
    (LOGIN_SHELL, None), (CONTAINER, None), (NO_SYSTEMD, None), ("", None),
])
def test_the_systemd_unit_of_a_process_from_its_cgroup(text, unit):
    assert holder.unit_from_cgroup(text) == unit


def test_the_advice_names_the_unit_and_the_exact_command_or_the_variable():
    debian = holder.Holder(812, "prometheus", holder.unit_from_cgroup(SYSTEM_V2))
    assert debian.describe() == "prometheus (pid 812, systemd unit prometheus.service)"
    assert holder.advice(debian, 9090, "PROM_PORT", root=False) == (
        "stop it with `sudo systemctl disable --now prometheus.service`, or move the stack to another port: "
        "PROM_PORT=9091 make up (or put it into .env)")
    assert "stop it with `systemctl disable --now prometheus.service`" in holder.advice(debian, 9090, "PROM_PORT",
                                                                                         root=True)
    mine = holder.Holder(4242, "python3", holder.unit_from_cgroup(USER_SERVICE))
    assert "`systemctl --user disable --now my-bot.service`" in holder.advice(mine, 9100, "EXPORTER_PORT")
    proxy = holder.Holder(77, "docker-proxy", holder.Unit("docker.service", user=False))
    assert holder.advice(proxy, 3000, "GRAFANA_PORT").startswith(
        "a Docker container publishes it (`docker ps --filter publish=3000`)")      # never: stop docker.service
    by_hand = holder.Holder(99, "python3", holder.unit_from_cgroup(LOGIN_SHELL))
    assert holder.advice(by_hand, 9100, "EXPORTER_PORT").startswith("stop python3 (pid 99), or move the stack")
    assert holder.advice(None, 9100, "EXPORTER_PORT").startswith("stop what holds it, or move the stack")
