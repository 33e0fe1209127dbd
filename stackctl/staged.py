"""The native stack's running configs: checked before they replace anything, the last good ones kept.

Natively Prometheus reads run/prometheus/prometheus.yml and its own copy of the rule files,
run/prometheus/rules/ (not the repository's rules/, which `make generate` rewrites), and
Alertmanager reads run/alertmanager/alertmanager.yml. A new set is first written next to them
(run/<service>/next/) and judged by the real tools, `promtool check config` (which loads every rule
file) and `amtool check-config`. Only a set they accept replaces the running one, and the files it
replaces are kept in run/<service>/last-good/ until the service has accepted the new set
(POST /-/reload); a set the service still refuses is swapped back. So a rejected file never stays
where the next start would read it.

A machine without promtool/amtool skips the check (one line says so) and relies on the reload's
answer and the swap back.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from stackctl import files

TOOLS = {"prometheus": ("promtool", "check", "config"), "alertmanager": ("amtool", "check-config")}
RULES = "rules"
NEXT = "next"
LAST_GOOD = "last-good"


@dataclass(frozen=True)
class Verdict:
    ok: bool
    output: str          # the tool's own words (its error), or why nothing was checked
    checked: bool = True


def check(service: str, config: Path) -> Verdict:
    tool = TOOLS[service]
    if shutil.which(tool[0]) is None:
        return Verdict(True, f"{tool[0]} is not installed: the new config is not checked before the reload",
                       checked=False)
    try:
        proc = subprocess.run([*tool, str(config)], capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        return Verdict(False, f"{' '.join(tool)} did not finish within 120 s")
    text = "\n".join(line for line in (proc.stdout + proc.stderr).splitlines() if line.strip())
    return Verdict(proc.returncode == 0, text)


class Staged:
    """One service's running files under `folder`: `config_name`, and for Prometheus the rules folder."""

    def __init__(self, service: str, folder: Path, config_name: str, mode: int) -> None:
        self.service, self.folder, self.config_name, self.mode = service, folder, config_name, mode

    @property
    def config(self) -> Path:
        return self.folder / self.config_name

    @property
    def rules(self) -> Path:
        return self.folder / RULES

    @property
    def next(self) -> Path:
        return self.folder / NEXT

    @property
    def last_good(self) -> Path:
        return self.folder / LAST_GOOD

    def stage(self, render, rule_files: list[Path] = ()) -> Path:
        """Write the candidate into next/: the rule files, then the config `render(rules_dir)` points
        at them. Returns the candidate config."""
        _remove(self.next)
        self.next.mkdir(parents=True)
        os.chmod(self.next, 0o700)
        if self.service == "prometheus":
            (self.next / RULES).mkdir()
            for path in rule_files:
                files.write(self.next / RULES / path.name, path.read_text(encoding="utf-8"))
        candidate = self.next / self.config_name
        files.write(candidate, render(self.next / RULES), mode=self.mode)
        return candidate

    def install(self, render) -> bool:
        """Keep the running files in last-good/, move the checked candidate in place (the config
        re-rendered to point at the final rules folder). True when there was a previous set."""
        had_previous = self.config.exists()
        _remove(self.last_good)
        if had_previous:
            self.last_good.mkdir(parents=True)
            os.chmod(self.last_good, 0o700)
            shutil.copy2(self.config, self.last_good / self.config_name)
            if self.rules.is_dir():
                shutil.copytree(self.rules, self.last_good / RULES)
        if self.service == "prometheus":
            _swap_dir(self.next / RULES, self.rules)
        files.write(self.config, render(self.rules), mode=self.mode)
        _remove(self.next)
        return had_previous

    def restore(self) -> bool:
        """Put last-good/ back in place. False when there is nothing to put back."""
        if not (self.last_good / self.config_name).is_file():
            return False
        if (self.last_good / RULES).is_dir():
            _swap_dir(self.last_good / RULES, self.rules)
        os.replace(self.last_good / self.config_name, self.config)
        os.chmod(self.config, self.mode)
        _remove(self.last_good)
        return True

    def discard(self) -> None:
        _remove(self.next)


def _swap_dir(new: Path, target: Path) -> None:
    old = target.with_name(target.name + ".old")
    _remove(old)
    if target.exists():
        os.replace(target, old)
    os.replace(new, target)
    _remove(old)


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()
