"""`make tools`: install Debian's prometheus and prometheus-alertmanager without leaving their
system services running. Standard library only: it runs before .venv exists.

    python3 -m stackctl.tools install

Debian's maintainer scripts enable and start prometheus.service (all interfaces, :9090, no
authentication) and prometheus-alertmanager.service (:9093). The project runs its own
processes on 127.0.0.1, so:

1. While apt-get runs, /usr/sbin/policy-rc.d answers 101 ("action forbidden"), so
   invoke-rc.d/deb-systemd-invoke start nothing. The file is created only when none exists,
   and removed afterwards only if it is still the one written here.
2. The systemd units that the packages installed by this step ship are recorded in a state
   file (STACK_TOOLS_STATE, default /var/lib/tradingmon/installed-units.json).
3. Where systemd runs, exactly those units get `systemctl disable --now` (the postinst enables
   them for the next boot even when the start was refused). A unit of a package that was
   already installed before is never touched.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

# Debian package -> the binaries the project needs from it.
PACKAGES = {
    "prometheus": ("prometheus", "promtool"),
    "prometheus-alertmanager": ("prometheus-alertmanager", "amtool"),
    # VictoriaMetrics: the long-term store of the scale-out tests and a second rule checker (vmalert -dryRun).
    "victoria-metrics": ("victoria-metrics", "vmagent", "vmalert"),
}
# Installed when missing, but not required: a machine without it (e.g. a CI runner without root) still tests.
OPTIONAL = ("victoria-metrics",)
POLICY_RC_D = Path("/usr/sbin/policy-rc.d")
POLICY_TEXT = ("#!/bin/sh\n# Written by `make tools` (stackctl.tools) while it installs packages: start no service.\n"
               "# Removed when the installation ends.\nexit 101\n")
DEFAULT_STATE = Path("/var/lib/tradingmon/installed-units.json")
UNIT_FILE = re.compile(r"^/(?:usr/)?lib/systemd/system/([^/]+\.service)$")
APT_HINT = "sudo apt-get install --no-install-recommends " + " ".join(PACKAGES)


def missing_packages(which=shutil.which) -> list[str]:
    return [package for package, binaries in PACKAGES.items() if any(which(b) is None for b in binaries)]


@contextmanager
def services_not_started(path: Path = POLICY_RC_D):
    """While inside, Debian's maintainer scripts start no service. Yields whether the guard file
    was created here (an existing policy-rc.d is left exactly as it is)."""
    if path.exists() or path.is_symlink():
        yield False
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o755)
    with os.fdopen(fd, "w") as handle:
        handle.write(POLICY_TEXT)
    os.chmod(path, 0o755)
    try:
        yield True
    finally:
        try:
            if path.read_text() == POLICY_TEXT:
                path.unlink()
        except OSError:
            pass


def units_of_package(file_list: str) -> list[str]:
    """The systemd service units in a package's file list (the output of `dpkg-query -L PACKAGE`)."""
    return sorted({m.group(1) for line in file_list.splitlines() if (m := UNIT_FILE.match(line.strip()))})


def package_installed(package: str) -> bool:
    proc = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True)
    return proc.returncode == 0 and proc.stdout.strip().endswith(" installed")


def package_units(package: str) -> list[str]:
    proc = subprocess.run(["dpkg-query", "-L", package], capture_output=True, text=True)
    return units_of_package(proc.stdout) if proc.returncode == 0 else []


def systemd_running(root: Path = Path("/")) -> bool:
    """systemd is PID 1 (sd_booted(): /run/systemd/system exists)."""
    return (root / "run" / "systemd" / "system").is_dir()


def read_state(path: Path) -> dict[str, list[str]]:
    try:
        data = json.loads(path.read_text())
        return {"packages": sorted(data.get("packages", [])), "units": sorted(data.get("units", []))}
    except (OSError, ValueError, AttributeError):
        return {"packages": [], "units": []}


def record(path: Path, packages: list[str], units: list[str]) -> dict[str, list[str]]:
    """Add what this step installed to the state file (what was recorded before stays)."""
    state = read_state(path)
    state = {"packages": sorted(set(state["packages"]) | set(packages)),
             "units": sorted(set(state["units"]) | set(units))}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(state, indent=2) + "\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    return state


def disable_commands(state: dict[str, list[str]]) -> list[list[str]]:
    """`systemctl disable --now` for each unit this project installed, and for nothing else."""
    return [["systemctl", "disable", "--now", unit] for unit in state["units"]]


def install(state_path: Path, policy: Path = POLICY_RC_D, out=print) -> int:
    missing = missing_packages()
    if not missing:
        out("tools: prometheus, promtool, alertmanager, amtool and VictoriaMetrics (vmalert, vmagent) are installed")
        return 0
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        if all(p in OPTIONAL for p in missing):
            # Only the scale-out tests need it; they skip, saying so, where it is missing.
            out(f"tools: {', '.join(missing)} not installed (optional: the scale-out tests skip without it); "
                f"run: sudo apt-get install --no-install-recommends {' '.join(missing)}")
            return 0
        print(f"tools: missing ({', '.join(missing)}); run: {APT_HINT} "
              "(then `make tools` as root disables the services the packages start)", file=sys.stderr)
        return 1
    new = [p for p in missing if not package_installed(p)]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    with services_not_started(policy) as guarded:
        if not guarded:
            out(f"tools: {policy} exists and is left as it is; services the packages start are stopped below")
        for argv in (["apt-get", "update", "-qq"],
                     ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing]):
            if subprocess.run(argv, env=env, stdout=subprocess.DEVNULL).returncode != 0:
                print(f"tools: `{' '.join(argv)}` failed", file=sys.stderr)
                return 1
    units = sorted({u for p in new for u in package_units(p)})
    state = record(state_path, new, units) if new else read_state(state_path)
    out(f"tools: installed {', '.join(missing)}; their units installed by this step: "
        f"{', '.join(units) or 'none'} (recorded in {state_path})")
    if not systemd_running():
        out("tools: no systemd here; policy-rc.d kept the packages' services from starting")
        return 0
    failed = 0
    for argv in disable_commands(state):
        proc = subprocess.run(argv, capture_output=True, text=True)
        out(f"tools: `{' '.join(argv)}`: " + ("done" if proc.returncode == 0 else f"failed: {proc.stderr.strip()}"))
        failed += proc.returncode != 0
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m stackctl.tools", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("install", help="install the missing Debian packages, start none of their services")
    sub.add_parser("units", help="print the units recorded as installed by `make tools`")
    args = parser.parse_args(argv)
    state_path = Path(os.environ.get("STACK_TOOLS_STATE") or DEFAULT_STATE)
    if args.command == "units":
        for unit in read_state(state_path)["units"]:
            print(unit)
        return 0
    return install(state_path)


if __name__ == "__main__":
    sys.exit(main())
