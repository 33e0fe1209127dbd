"""Configs a container reads from a mounted folder under run/docker/, with a last good copy.

Prometheus and Alertmanager in compose read their configs (Prometheus also its rules, both their
basic-auth files) from run/docker/<service>/, never from the repository's generated files: a config they reject on
`make reload` is replaced there by the last config they accepted, so the next container restart
does not crash-loop on the rejected file. The steps of `apply`:

1. validate the new files with the local promtool / amtool where installed (a rejected config
   is never installed);
2. install them into the mounted folder (atomic per file; files no longer rendered removed);
3. POST /-/reload; accepted: the files become the last good copy (run/docker/last-good/<service>/);
   rejected: the last good copy is put back into the mounted folder.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from stackgen import conventions as n
from stackctl import files

TOOLS = {"prometheus": "promtool", "alertmanager": "amtool"}


@dataclass(frozen=True)
class Mounted:
    service: str                # prometheus | alertmanager
    folder: Path                # what compose mounts (its subfolders, for Prometheus)
    last_good: Path             # the last files the service accepted; never mounted
    access: files.Access        # modes and owner of the mounted folder and files
    config: str                 # the config file, relative to folder
    # Container paths in Prometheus' config -> the subfolders they are mounted from.
    mounts: tuple[tuple[str, str], ...] = ((n.PROMETHEUS_RULES_MOUNT, "rules"), (n.PROMETHEUS_SECRETS_MOUNT, "secrets"))

    def current(self) -> dict[str, str]:
        return files.read_tree(self.folder)

    def install(self, new: dict[str, str]) -> None:
        files.install_tree(self.folder, new, self.access)

    def keep_as_good(self) -> None:
        files.install_tree(self.last_good, self.current(), files.Access.private())

    def roll_back(self) -> bool:
        """Put the last good files back; False when there are none."""
        good = files.read_tree(self.last_good)
        if not good:
            return False
        self.install(good)
        return True

    def validate(self, new: dict[str, str]) -> str | None:
        """The local tool's complaint about the new files, or None (also when it is not installed)."""
        tool = shutil.which(TOOLS[self.service])
        if tool is None:
            return None
        with tempfile.TemporaryDirectory(prefix=f"stackctl-{self.service}-") as tmp:
            staged = Path(tmp)
            for rel, text in new.items():
                if self.service == "prometheus" and rel == self.config:
                    # The rule files' and password files' container paths, pointed at the staged copies.
                    for mount, sub in self.mounts:
                        text = text.replace(mount, str(staged / sub))
                files.write(staged / rel, text)
            command = ([tool, "check", "config", str(staged / self.config)] if self.service == "prometheus"
                       else [tool, "check-config", str(staged / self.config)])
            proc = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if proc.returncode == 0:
            return None
        return (proc.stdout + proc.stderr).replace(str(staged), str(self.folder)).strip()


def apply(mounted: Mounted, new: dict[str, str], reload, out, validate: bool = True) -> bool:
    """Validate, install, reload; roll back to the last good files when the service rejects them.
    `reload()` POSTs /-/reload and reports; it returns whether the service accepted."""
    problem = mounted.validate(new) if validate else None
    if problem is not None:
        out(f"{mounted.service}: new config REJECTED by {TOOLS[mounted.service]}, not installed; "
            f"still running the previous one:\n  " + "\n  ".join(problem.splitlines()[-10:]))
        return False
    mounted.install(new)
    if reload():
        mounted.keep_as_good()
        return True
    if mounted.roll_back():
        out(f"{mounted.service}: put the last good files back into {mounted.folder} "
            f"(a container restart runs them, not the rejected ones)")
    return False
