"""Local processes that outlive `make up`, tracked so `make down` stops exactly them.

Each process starts in its own session (so its process group is its pid) with its output
appended to run/logs/<name>.log. Its PID file (run/pids/<name>.json) records the pid, the
kernel's start time of that pid and the command line: a pid that the system has since given
to another program does not match them, and is never signalled.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from stackctl.redact import Redactor

# Children started by this Python process: waited for on stop, so they do not linger as zombies.
_CHILDREN: dict[int, subprocess.Popen] = {}


@dataclass(frozen=True)
class Record:
    name: str
    pid: int
    start_time: str          # the kernel's start time of the pid (clock ticks since boot on Linux)
    argv: tuple[str, ...]
    log: str

    def describe(self) -> str:
        return f"{self.name} (pid {self.pid})"


def _stat(pid: int | str) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (field 3 on), or None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (2nd field) may hold spaces and parentheses: split after the last ')'.
    return text[text.rindex(")") + 2:].split()


def _identity(pid: int) -> tuple[str, str] | None:
    """(start time, state) of a live pid, or None. Linux reads /proc; elsewhere `ps`."""
    if Path("/proc/self/stat").exists():
        fields = _stat(pid)
        return (fields[19], fields[0]) if fields else None     # starttime is field 22 of stat, state field 3
    proc = subprocess.run(["ps", "-o", "lstart=,state=", "-p", str(pid)], capture_output=True, text=True)
    line = proc.stdout.strip()
    if proc.returncode != 0 or not line:
        return None
    return line[:-1].strip(), line[-1]


def alive(record: Record) -> bool:
    """The recorded process still runs: same pid and same start time, not a zombie."""
    child = _CHILDREN.get(record.pid)
    if child is not None and child.poll() is not None:
        return False
    identity = _identity(record.pid)
    return identity is not None and identity[0] == record.start_time and identity[1] not in ("Z", "X")


def survivors(record: Record) -> list[int]:
    """Processes left in the session the record started when the recorded process itself is gone:
    a service whose log relay was killed (kill -9, the OOM killer). Linux keeps a pid number
    allocated while any process still uses it as its session id, so once no other program holds
    the number these are ours, never a stranger's. Elsewhere: none found (the relay's child has its
    parent-death signal only on Linux too)."""
    if alive(record) or not Path("/proc/self/stat").exists():
        return []
    identity = _identity(record.pid)
    if identity is not None and identity[0] != record.start_time:
        return []                          # the number is another program's now: so is its session
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == record.pid:
            continue
        fields = _stat(entry.name)
        if fields and int(fields[3]) == record.pid and fields[0] not in ("Z", "X"):   # field 6: the session
            found.append(int(entry.name))
    return sorted(found)


def running(record: Record) -> bool:
    """The recorded process runs, or what it started still does (its relay died under it)."""
    return alive(record) or bool(survivors(record))


def pid_file(pids_dir: Path, name: str) -> Path:
    return pids_dir / f"{name}.json"


def read(pids_dir: Path, name: str) -> Record | None:
    path = pid_file(pids_dir, name)
    try:
        data = json.loads(path.read_text())
        return Record(name=data["name"], pid=int(data["pid"]), start_time=str(data["start_time"]),
                      argv=tuple(data["argv"]), log=data["log"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def read_all(pids_dir: Path) -> list[Record]:
    records = [read(pids_dir, p.stem) for p in sorted(pids_dir.glob("*.json"))] if pids_dir.is_dir() else []
    return [r for r in records if r is not None]


def _open_log(log_path: Path):
    """The log, appended to, private to this user (mode 600, also when it existed with another mode)."""
    fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.fchmod(fd, 0o600)
    return os.fdopen(fd, "ab")


def start(name: str, argv: list[str], *, pids_dir: Path, log_path: Path, env: dict[str, str] | None = None,
          cwd: Path | None = None, redact: list[str] | None = None) -> Record:
    """Start argv detached in a new session; record it; return the record.

    With `redact` (secret values), argv runs under stackctl.redact's relay, which masks them in its
    output before they reach the log. The relay is the recorded process and leads the group; the
    service is its child in the same group, so stop() ends both, and the relay exits with the
    service's exit code."""
    pids_dir.mkdir(parents=True, exist_ok=True)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with _open_log(log_path) as log:
        line = f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {' '.join(argv)}\n"
        if redact:
            line = Redactor(redact).text(line)
        log.write(line.encode())
        log.flush()
        run = list(argv)                 # what actually runs (and is recorded)
        if redact is None:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    cwd=cwd, env=env, start_new_session=True, close_fds=True)
        else:
            read_end, write_end = os.pipe()
            run = [sys.executable, "-m", "stackctl.redact", "--secrets-fd", str(read_end), str(log_path),
                   "--", *argv]
            proc = subprocess.Popen(run, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    cwd=cwd, env=_with_package_path(env), start_new_session=True,
                                    close_fds=True, pass_fds=(read_end,))
            os.close(read_end)
            with os.fdopen(write_end, "wb") as pipe:   # the values never appear in argv or the environment
                pipe.write(json.dumps(sorted(set(redact))).encode())
    _CHILDREN[proc.pid] = proc
    identity = _identity(proc.pid)
    record = Record(name=name, pid=proc.pid, start_time=identity[0] if identity else "",
                    argv=tuple(run), log=str(log_path))
    path = pid_file(pids_dir, name)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(record), indent=2) + "\n")
    os.replace(tmp, path)
    return record


def _with_package_path(env: dict[str, str] | None) -> dict[str, str]:
    """The environment with this package importable (the relay is `python -m stackctl.redact`)."""
    env = dict(os.environ if env is None else env)
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def exited(record: Record) -> int | None:
    """The exit code when this Python process started it and it has ended, else None."""
    child = _CHILDREN.get(record.pid)
    return child.poll() if child is not None else None


def stop(record: Record, timeout: float = 10.0) -> str:
    """SIGTERM the process group, wait until all of it is gone, SIGKILL after `timeout`.
    Says what happened, in words."""
    if not alive(record):
        _reap(record)
        left = survivors(record)
        if not left:
            return "not running"
        return _stop_survivors(record, left, timeout)
    group = _leads_group(record.pid)

    def gone() -> bool:
        return not alive(record) and not (group and _group_alive(record.pid))

    _signal(record, signal.SIGTERM, group)
    if _wait(gone, timeout):
        _reap(record)
        return "stopped"
    _signal(record, signal.SIGKILL, group)
    _wait(gone, 5)
    _reap(record)
    return "killed (did not stop within %gs of SIGTERM)" % timeout


def _stop_survivors(record: Record, pids: list[int], timeout: float) -> str:
    """The relay is gone; its service (same process group) still runs: stop the group."""
    what = f"its log relay had died; its service (pid {', '.join(map(str, pids))})"
    _signal(record, signal.SIGTERM, True)
    if _wait(lambda: not survivors(record), timeout):
        return f"{what} stopped"
    _signal(record, signal.SIGKILL, True)
    _wait(lambda: not survivors(record), 5)
    return f"{what} killed (did not stop within {timeout:g}s of SIGTERM)"


def _wait(check, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def _leads_group(pid: int) -> bool:
    """Started in its own session: its process group id is its pid and holds what it started."""
    try:
        return os.getpgid(pid) == pid
    except ProcessLookupError:
        return False


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal(record: Record, sig: int, group: bool) -> None:
    try:
        if group:
            os.killpg(record.pid, sig)
        else:
            os.kill(record.pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError as exc:
        print(f"cannot signal {record.describe()}: {exc}", file=sys.stderr)


def _reap(record: Record) -> None:
    """Forget our child once it has ended (poll() also collects its exit status)."""
    child = _CHILDREN.get(record.pid)
    if child is not None and child.poll() is not None:
        del _CHILDREN[record.pid]


def remove_pid_file(pids_dir: Path, name: str) -> None:
    try:
        pid_file(pids_dir, name).unlink()
    except FileNotFoundError:
        pass


def tail(path: Path | str, lines: int = 20) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
