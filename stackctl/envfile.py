"""`.env`: the machine's own settings, never committed. Compose reads it; so does stackctl.

The first `make up` creates it with random passwords (mode 600): Grafana's admin password and
the web passwords of Prometheus and Alertmanager (basic auth, see stackctl.webauth). A variable
missing from an existing .env is appended. A password of `admin` (Grafana's default) is refused.
A .env that other users can read (e.g. 644) is tightened to 600 with a warning.
"""
from __future__ import annotations

import os
import secrets
import stat
import sys
from pathlib import Path

from stackgen import conventions as n
from stackctl.settings import SERVICES, StackError, read_env_file

PASSWORD_VARIABLE = "GF_SECURITY_ADMIN_PASSWORD"
WEAK_PASSWORDS = ("", "admin", "password", "changeme")

TEMPLATE = """\
# Local settings for `make up` and docker compose. Git-ignored: never commit this file.
# Grafana's admin password (user: admin), generated at random by the first `make up`.
{password_variable}={password}
# Prometheus' and Alertmanager's web passwords (user: admin; basic auth on every endpoint).
{web_passwords}
# Host ports (defaults shown); change one when it is taken on this machine.
{ports}
# Where Docker publishes the ports; 0.0.0.0 exposes the stack to your network.
# BIND_ADDR=127.0.0.1
# Secrets Alertmanager reads from the environment (see docs/stack.md), e.g.
# TELEGRAM_BOT_TOKEN=...
"""


GENERATED = (PASSWORD_VARIABLE, *n.WEB_PASSWORD_VARIABLES.values())


def tighten(path: Path, warn=None) -> bool:
    """Make an existing .env private (600) when group or others may read or write it; say so."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return False
    mode = stat.S_IMODE(info.st_mode)
    if not stat.S_ISREG(info.st_mode):     # never chmod a device or a pipe .env points at
        return False
    if not mode & 0o077:
        return False
    os.chmod(path, 0o600)
    (warn or (lambda line: print(line, file=sys.stderr)))(
        f"warning: {path} was mode {mode:o} (readable by other users) and holds passwords: made it 600")
    return True


def ensure(path: Path) -> tuple[str, list[str]]:
    """Grafana's admin password and the variables just written (empty when nothing was missing).
    Every variable of GENERATED that is missing gets a random value."""
    tighten(path)
    values = read_env_file(path)
    password = values.get(PASSWORD_VARIABLE, "")
    if PASSWORD_VARIABLE in values and password.lower() in WEAK_PASSWORDS:
        raise StackError(f"{path}: {PASSWORD_VARIABLE} is {password!r}; set a real password "
                         f"(or delete the line and `make up` generates one)")
    missing = [name for name in GENERATED if not values.get(name)]
    if not missing:
        return password, []
    new = {name: secrets.token_urlsafe(18) for name in missing}
    password = password or new[PASSWORD_VARIABLE]
    if path.exists():
        text = path.read_text(encoding="utf-8")
        text += ("" if text.endswith("\n") or not text else "\n") + "".join(f"{k}={v}\n" for k, v in new.items())
    else:
        ports = "\n".join(f"# {s.port_variable}={s.default_port}" for s in SERVICES.values())
        web = "\n".join(f"{name}={new[name]}" for name in n.WEB_PASSWORD_VARIABLES.values())
        text = TEMPLATE.format(password_variable=PASSWORD_VARIABLE, password=password, ports=ports,
                               web_passwords=web)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(path, 0o600)
    return password, missing
