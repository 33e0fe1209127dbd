"""No secret value in the logs: what the services print is masked before it reaches run/logs/, and
`make logs` masks what it shows (Docker's logs too).

Alertmanager 0.25 prints a failed notification's URL, and Telegram's URL holds the bot token
(`.../bot<token>/sendMessage`). So a native service's output goes through a relay
(`python -m stackctl.redact LOG -- COMMAND`) that replaces every secret value with `***` before
the line reaches the log file (mode 600). The relay gets the values through a pipe (never its
command line or environment).

It runs the service as its child (same process group) and exits with its exit code.
The values masked: the passwords in .env (GF_SECURITY_ADMIN_PASSWORD, PROM_WEB_PASSWORD,
AM_WEB_PASSWORD and any variable whose name says PASSWORD, TOKEN, SECRET, KEY or WEBHOOK), every
secret the spec names from the environment (`{env: NAME}`, or the file of NAME_FILE), and every
file of the secrets folder. Also their URL-encoded forms. Values shorter than 4 characters are not
masked (they would mangle ordinary words).
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import re
import signal
import subprocess
import sys
import urllib.parse
from pathlib import Path

from stackgen import secrets as spec_secrets

MASK = "***"
MIN_LENGTH = 4
SECRET_NAME = re.compile(r"PASSWORD|TOKEN|SECRET|KEY|WEBHOOK|CREDENTIAL", re.I)
PR_SET_PDEATHSIG = 1     # <linux/prctl.h>
MAX_LINE = 1 << 20     # the relay reads at most this much at once (a line longer than this is split)


class Redactor:
    def __init__(self, values) -> None:
        forms = set()
        for value in values:
            value = (value or "").strip()
            if len(value) < MIN_LENGTH:
                continue
            forms.update({value, urllib.parse.quote(value, safe=""), urllib.parse.quote_plus(value)})
        ordered = sorted(forms, key=len, reverse=True)       # the longest form first
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None
        self._bytes = re.compile(self._pattern.pattern.encode()) if ordered else None

    def __bool__(self) -> bool:
        return self._pattern is not None

    def text(self, line: str) -> str:
        return self._pattern.sub(MASK, line) if self._pattern else line

    def data(self, line: bytes) -> bytes:
        return self._bytes.sub(MASK.encode(), line) if self._bytes else line


def values_from(environ: dict[str, str], env_file_values: dict[str, str], names, secrets_dir: Path | None):
    """Every secret value this stack knows of: `names` looked up in `environ` (NAME, or the file of
    NAME_FILE), the values of .env whose variable names say they are secret, the secrets folder's files."""
    found = [value for name, value in env_file_values.items()
             if SECRET_NAME.search(name) and not name.endswith("_FILE")]
    for name in names:
        value = spec_secrets.lookup(name, environ)
        if value:
            found.append(value)
    if secrets_dir is not None and secrets_dir.is_dir():
        for path in sorted(secrets_dir.iterdir()):
            try:
                if path.is_file():
                    found.append(path.read_text(encoding="utf-8", errors="replace"))
            except OSError:
                pass
    return sorted({v.strip() for v in found if len(v.strip()) >= MIN_LENGTH})


def stack_secrets(settings, stack) -> list[str]:
    """What the logs must never show for this stack: the passwords of .env, the secrets the spec
    names, the files of the secrets folder."""
    from stackgen.render import alertmanager_config
    from stackctl.envfile import GENERATED
    from stackctl.settings import ENV_FILE, read_env_file

    names = [*GENERATED, *spec_secrets.placeholders(alertmanager_config.render_native(stack))]
    return values_from(settings.environ, read_env_file(settings.root / ENV_FILE), names, settings.secrets_dir)


# -- the relay: runs the service, masks its output, appends it to the log ----------------------------
def relay(source, sink, redactor: Redactor) -> None:
    while True:
        line = source.readline(MAX_LINE)
        if not line:
            return
        sink.write(redactor.data(line))
        sink.flush()


def _die_with(parent: int):
    """In the service, before it runs: SIGTERM when this relay dies, even by SIGKILL (Linux's
    PR_SET_PDEATHSIG), so a killed relay never leaves its service serving without a recorded pid.
    stackctl.processes.survivors() finds what is left where this is not available."""
    def arm() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        except (OSError, AttributeError):
            return
        if os.getppid() != parent:          # the relay died before the signal was armed
            os.kill(os.getpid(), signal.SIGTERM)
    return arm if sys.platform.startswith("linux") else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stackctl.redact",
                                     description="run COMMAND; copy its output to standard output with every "
                                                 "secret value masked; exit with its exit code")
    parser.add_argument("log", type=Path, help="the log file (named for `ps`; the output goes to stdout)")
    parser.add_argument("--secrets-fd", type=int, required=True, help="a pipe with a JSON list of the values")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    with os.fdopen(args.secrets_fd, "rb") as pipe:
        redactor = Redactor(json.loads(pipe.read() or b"[]"))
    child = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             preexec_fn=_die_with(os.getpid()))
    # stop() signals the whole group (this relay and the service); a signal to this pid alone is passed on.
    # Either way the relay keeps copying until the service has closed its output.
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda number, frame: child.send_signal(number))
    relay(child.stdout, sys.stdout.buffer, redactor)
    return child.wait()


if __name__ == "__main__":
    sys.exit(main())
