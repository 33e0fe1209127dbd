"""Who can get in: Prometheus and Alertmanager answer only with the user and password from .env.

Both run with `--web.config.file` (Prometheus 2.42 and Alertmanager 0.25 read `basic_auth_users`:
user -> bcrypt hash), so every endpoint, the lifecycle API (/-/quit, /-/reload) and the silences API
included, refuses a request without the credentials (HTTP 401), whatever its Origin.

The passwords are PROM_WEB_PASSWORD and AM_WEB_PASSWORD in .env (random, written by the first
`make up`). What this module writes, per service, into its folder of the run directory:

- web.yml: the web config with the bcrypt hash (the hash is kept while it still matches the
  password, so `make up` and `make reload` do not rewrite it);
- for Prometheus, prometheus_password and alertmanager_password: the files its own config reads
  (`basic_auth.password_file`) to scrape itself and Alertmanager and to send alerts.

Natively these files are mode 600 (the services run as this user). For compose they are 644: the
containers run as `nobody`, which must read them through the bind mount; they stay private because
the run folder is mode 700 (nobody else on the host can enter it).
"""
from __future__ import annotations

import base64
from pathlib import Path

import bcrypt
import yaml

from stackgen import conventions as n
from stackctl import files
from stackctl.settings import StackError

BCRYPT_ROUNDS = 10   # exporter-toolkit caches a verified password, so the cost is paid once per client
SERVICES = tuple(n.WEB_PASSWORD_VARIABLES)
HEADER = "# Written by stackctl from .env: the bcrypt hash of the web password. Never commit it.\n"


def password(environ: dict[str, str], service: str) -> str:
    variable = n.WEB_PASSWORD_VARIABLES[service]
    value = environ.get(variable, "")
    if not value:
        raise StackError(f"{variable} is not set: `make up` writes a random one into .env; "
                         "set it there (or in the environment)")
    return value


def credentials(environ: dict[str, str], service: str) -> tuple[str, str] | None:
    """(user, password) for a service behind basic auth; None for the others (exporter, Grafana)."""
    if service not in n.WEB_PASSWORD_VARIABLES or not environ.get(n.WEB_PASSWORD_VARIABLES[service]):
        return None
    return n.WEB_AUTH_USER, environ[n.WEB_PASSWORD_VARIABLES[service]]


def header(auth: tuple[str, str] | None) -> dict[str, str]:
    if auth is None:
        return {}
    return {"Authorization": "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()}


def _current_hash(path: Path) -> str | None:
    try:
        users = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("basic_auth_users") or {}
    except (OSError, yaml.YAMLError, AttributeError):
        return None
    value = users.get(n.WEB_AUTH_USER)
    return value if isinstance(value, str) else None


def web_config(path: Path, secret: str, variable: str) -> str:
    """The web config text for `secret`, reusing the hash already in `path` while it matches."""
    old = _current_hash(path)
    try:
        if old and bcrypt.checkpw(secret.encode(), old.encode()):
            hashed = old
        else:
            hashed = bcrypt.hashpw(secret.encode(), bcrypt.gensalt(rounds=BCRYPT_ROUNDS)).decode()
    except ValueError as exc:    # bcrypt refuses passwords over 72 bytes
        raise StackError(f"{variable}: {exc}") from None
    return HEADER + yaml.safe_dump({"basic_auth_users": {n.WEB_AUTH_USER: hashed}})


def write(folders: dict[str, Path], environ: dict[str, str], mode: int) -> None:
    """web.yml and its own password file (the compose healthcheck reads it) into each service's
    folder; Prometheus' folder also gets Alertmanager's password (alerting, scraping it)."""
    for service, folder in folders.items():
        target = folder / n.WEB_CONFIG_FILE
        files.write(target, web_config(target, password(environ, service), n.WEB_PASSWORD_VARIABLES[service]),
                    mode=mode)
        files.write(folder / n.PASSWORD_FILES[service], password(environ, service), mode=mode)
    files.write(folders["prometheus"] / n.PASSWORD_FILES["alertmanager"], password(environ, "alertmanager"),
                mode=mode)
