"""Who holds a TCP port, read from /proc: the listening socket (/proc/net/tcp, tcp6), the process
with a file descriptor on it, and the systemd unit that process runs in (/proc/PID/cgroup).

`make up` uses it to say which service to stop (and how) when a port is taken, e.g. by the
`prometheus.service` that Debian's package starts. It only reads; it never stops anything.
Reading another user's /proc/PID/fd needs root: without it the holder may stay unknown.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
TCP_LISTEN = "0A"           # the state column of /proc/net/tcp for a listening socket


@dataclass(frozen=True)
class Unit:
    name: str               # e.g. prometheus.service
    user: bool              # a unit of a user's systemd instance (systemctl --user)

    def stop_command(self, root: bool) -> str:
        if self.user:
            return f"systemctl --user disable --now {self.name}"
        return f"{'' if root else 'sudo '}systemctl disable --now {self.name}"


@dataclass(frozen=True)
class Holder:
    pid: int
    command: str            # /proc/PID/comm
    unit: Unit | None

    def describe(self) -> str:
        return f"{self.command} (pid {self.pid}" + (f", systemd unit {self.unit.name})" if self.unit else ")")


def unit_from_cgroup(text: str) -> Unit | None:
    """The systemd service of a process from the text of /proc/PID/cgroup (cgroup v2 `0::/path`
    or v1 `N:name=systemd:/path`); None for a login session or container scope, or no systemd."""
    path = None
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hierarchy, controllers, cgroup = parts
        if (hierarchy == "0" and controllers == "") or controllers == "name=systemd":
            path = cgroup
            if controllers == "name=systemd":
                break
    if not path:
        return None
    components = [c for c in path.split("/") if c]
    user = any(c.startswith("user@") and c.endswith(".service") for c in components)
    services = [c for c in components if c.endswith(".service") and not c.startswith("user@")]
    if not services:
        return None            # init.scope, session-N.scope (started by hand), docker-<id>.scope, ...
    return Unit(services[-1], user)


def listening_inodes(port: int, proc: Path = PROC) -> set[int]:
    """Socket inodes listening on the TCP port (any address, IPv4 or IPv6) in this network namespace."""
    found = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = (proc / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == TCP_LISTEN and int(fields[1].rsplit(":", 1)[1], 16) == port:
                found.add(int(fields[9]))
    return found


def _pids_with(inodes: set[int], proc: Path) -> list[int]:
    wanted = {f"socket:[{inode}]" for inode in inodes}
    pids = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            links = [os.readlink(fd) for fd in (entry / "fd").iterdir()]
        except OSError:            # gone, or another user's process without root
            continue
        if wanted.intersection(links):
            pids.append(int(entry.name))
    return sorted(pids)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def holder(port: int, proc: Path = PROC) -> Holder | None:
    """The (first) process listening on the port, with its systemd unit; None when unknown."""
    inodes = listening_inodes(port, proc)
    if not inodes:
        return None
    pids = _pids_with(inodes, proc)
    if not pids:
        return None
    pid = pids[0]
    command = _read(proc / str(pid) / "comm").strip() or "?"
    return Holder(pid, command, unit_from_cgroup(_read(proc / str(pid) / "cgroup")))


def advice(found: Holder | None, port: int, variable: str, root: bool | None = None) -> str:
    """What to do about a taken port: stop the unit (the exact command), or move the stack."""
    move = f"or move the stack to another port: {variable}={port + 1} make up (or put it into .env)"
    if found is None:
        return f"stop what holds it, {move}"
    if found.command == "docker-proxy" or (found.unit and found.unit.name == "docker.service"):
        return (f"a Docker container publishes it (`docker ps --filter publish={port}`): stop that container, "
                f"{move}")
    if found.unit is not None:
        root = os.geteuid() == 0 if root is None else root
        return f"stop it with `{found.unit.stop_command(root)}`, {move}"
    return f"stop {found.command} (pid {found.pid}), {move}"
