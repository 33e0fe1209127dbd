"""`.env`: the machine's own settings, never committed. Compose reads it; so does stackctl.

The first `make up` creates it with a random Grafana admin password (mode 600). A password
of `admin` (Grafana's default) is refused.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path

from stackctl.settings import SERVICES, StackError, read_env_file

PASSWORD_VARIABLE = "GF_SECURITY_ADMIN_PASSWORD"
WEAK_PASSWORDS = ("", "admin", "password", "changeme")

TEMPLATE = """\
# Local settings for `make up` and docker compose. Git-ignored: never commit this file.
# Grafana's admin password (user: admin), generated at random by the first `make up`.
{password_variable}={password}
# Host ports (defaults shown); change one when it is taken on this machine.
{ports}
# Where Docker publishes the ports; 0.0.0.0 exposes the stack to your network.
# BIND_ADDR=127.0.0.1
# Secrets Alertmanager reads from the environment (see docs/stack.md), e.g.
# TELEGRAM_BOT_TOKEN=...
"""


def ensure(path: Path) -> tuple[str, bool]:
    """The admin password and whether the file was just created (or the password just added)."""
    values = read_env_file(path)
    if PASSWORD_VARIABLE in values:
        password = values[PASSWORD_VARIABLE]
        if password.lower() in WEAK_PASSWORDS:
            raise StackError(f"{path}: {PASSWORD_VARIABLE} is {password!r}; set a real password "
                             f"(or delete the line and `make up` generates one)")
        return password, False
    password = secrets.token_urlsafe(18)
    if path.exists():
        text = path.read_text(encoding="utf-8")
        text += ("" if text.endswith("\n") or not text else "\n") + f"{PASSWORD_VARIABLE}={password}\n"
    else:
        ports = "\n".join(f"# {s.port_variable}={s.default_port}" for s in SERVICES.values())
        text = TEMPLATE.format(password_variable=PASSWORD_VARIABLE, password=password, ports=ports)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(path, 0o600)
    return password, True
