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

Natively these files are mode 600 in run/<service>/ (the services run as this user). For compose
they are part of what the containers mount from run/docker/ (stackctl.docker_mode, stackctl.mounted):
Prometheus' in run/docker/prometheus/secrets/, Alertmanager's beside its config in
run/docker/alertmanager/, with the secret-bearing modes of stackctl.files (owned by the container's
user `nobody`, 600, when stackctl runs as root; else 644 behind run/'s 700).
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


def service_files(service: str, environ: dict[str, str], old_web_config: Path) -> dict[str, str]:
    """{file name: text} a service's folder gets: web.yml (reusing the hash in `old_web_config` while it
    matches) and its own password file (the compose healthcheck reads it); Prometheus' also gets
    Alertmanager's password (alerting, scraping it)."""
    out = {n.WEB_CONFIG_FILE: web_config(old_web_config, password(environ, service), n.WEB_PASSWORD_VARIABLES[service]),
           n.PASSWORD_FILES[service]: password(environ, service)}
    if service == "prometheus":
        out[n.PASSWORD_FILES["alertmanager"]] = password(environ, "alertmanager")
    return out


def write(folders: dict[str, Path], environ: dict[str, str], mode: int) -> None:
    """service_files() of each service written into its folder (natively: run/<service>/, mode 600)."""
    for service, folder in folders.items():
        for name, text in service_files(service, environ, folder / n.WEB_CONFIG_FILE).items():
            files.write(folder / name, text, mode=mode)
