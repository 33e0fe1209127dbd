"""What runs, read from /proc (no procps needed: minimal Debian images lack pgrep and ps)."""
from __future__ import annotations

from pathlib import Path


def _processes():
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            yield int(entry.name), fields[0], int(fields[2]), cmdline   # pid, state, process group, cmdline


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes in the process group."""
    return sorted(pid for pid, state, group, _ in _processes() if group == pgid and state not in ("Z", "X"))


def matching(text: str) -> list[str]:
    """Command lines of live processes that contain `text`."""
    return [cmd for _, state, _, cmd in _processes() if text in cmd and state not in ("Z", "X")]
