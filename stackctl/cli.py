"""python -m stackctl up|down|status|reload|logs — what `make up`, `make down`, ... run.

Mode: Docker compose when an engine answers, else native processes (STACK_MODE=docker|native
forces one). down/status/reload/logs act on the mode `up` recorded in run/mode.
"""
from __future__ import annotations

import argparse
import errno
import os
import sys
from pathlib import Path

from stackgen.errors import SpecError
from stackgen.load import load_stack
from stackctl import docker_mode, envfile, files, processes
from stackctl.native import NativeStack
from stackctl.settings import ENV_FILE, ROOT, Settings, StackError

COMMANDS = {
    "up": "start the stack (Docker when an engine answers, else local processes) and wait until it is healthy",
    "down": "stop exactly what `up` started",
    "status": "health of every service, its port and the Prometheus targets",
    "reload": "re-render the running configs and hot-reload Prometheus and Alertmanager",
    "logs": "show (-f: follow) the logs",
}


def _mode(settings: Settings, command: str, forced: str) -> tuple[str, object]:
    """('docker', client) or ('native', None)."""
    if forced == "native":
        return "native", None
    recorded = settings.mode_file.read_text().strip() if settings.mode_file.is_file() else ""
    if forced == "auto":
        records = processes.read_all(settings.pids_dir)
        if any(processes.running(r) for r in records):     # a native stack runs: never start a second one
            return "native", None
        if command != "up" and (recorded == "native" or (not recorded and records)):
            return "native", None
    client, why = docker_mode.client()
    if client is not None:
        return "docker", client
    if forced == "docker" or recorded == "docker":
        raise StackError(f"no Docker engine answers ({why})")
    if command == "up":
        print(f"no Docker engine answers ({why}): running the stack natively (Prometheus, Alertmanager and "
              "the exporter as local processes under run/)")
    return "native", None


NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def describe_os_error(exc: OSError) -> str:
    where = f" ({exc.filename})" if exc.filename else ""
    if exc.errno in NO_SPACE:
        folder = Path(exc.filename).parent if exc.filename else Path.cwd()
        return (f"no room to write{where}: {exc.strerror or exc}. Free some space (df -h {folder}) and run "
                "the command again; the running stack keeps its previous files")
    return f"{exc.strerror or exc}{where}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stackctl", description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("auto", "docker", "native"), default=None,
                        help="default: $STACK_MODE, else auto")
    parser.add_argument("--root", type=Path, default=ROOT,
                        help="the generated tree with spec.yaml, .env and run/ (default: this repository)")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in COMMANDS.items():
        p = sub.add_parser(name, help=text, description=text)
        if name == "logs":
            p.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
            p.add_argument("-n", "--lines", type=int, default=40, help="lines per log (default 40)")
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            _, added = envfile.ensure(args.root / ENV_FILE)
            if added:
                print(f"wrote random passwords into {args.root / ENV_FILE} (mode 600): {', '.join(added)} "
                      "(Grafana, Prometheus and Alertmanager; the user is admin everywhere)")
        else:
            envfile.tighten(args.root / ENV_FILE)
        settings = Settings.from_environment(args.root)
        forced = args.mode or settings.environ.get("STACK_MODE") or "auto"
        if forced not in ("auto", "docker", "native"):
            raise StackError(f"STACK_MODE={forced!r}: expected auto, docker or native")
        stack = load_stack(settings.spec)
        mode, client = _mode(settings, args.command, forced)
        runner = docker_mode.DockerStack(settings, stack, client) if mode == "docker" else NativeStack(settings, stack)
        if args.command == "logs":
            return runner.logs(args.follow, args.lines)
        return getattr(runner, args.command)()
    except SpecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:          # `make status | head`
        sys.stdout = open(os.devnull, "w")
        return 0
    except PermissionError as exc:       # e.g. a root-owned run/ left by a `docker compose up` run by hand
        where = Path(exc.filename) if exc.filename else None
        while where is not None and not os.path.lexists(where) and where != where.parent:
            where = where.parent          # a temp file that could not be created: name its folder
        run_dir = Path(os.environ.get("STACK_RUN_DIR") or args.root / "run")
        print("error: " + (files.run_dir_problem(where, run_dir) if where is not None
                           else f"permission denied: {exc.strerror}"), file=sys.stderr)
        return 1
    except OSError as exc:             # a full disk, a read-only folder, ...: one line, never a traceback
        print(f"error: {describe_os_error(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
