"""Where things are and which ports they use: one immutable Settings built from the environment.

The environment wins over `.env` (the file compose also reads), which wins over the defaults.
"""
from __future__ import annotations

import io
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dotenv.parser import parse_stream

from stackgen import conventions as n

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_RUN_DIR = "run"
ENV_FILE = ".env"
SECRETS_DIR = "secrets"          # git-ignored; *_file secrets live here (mounted at SECRETS_MOUNT)
SECRETS_MOUNT = "/etc/alertmanager/secrets"
LOCALHOST = "127.0.0.1"


@dataclass(frozen=True)
class Service:
    name: str
    port_variable: str        # the environment variable that changes its host port
    health_path: str          # liveness
    ready_path: str           # readiness
    title: str

    @property
    def default_port(self) -> int:
        return n.SERVICE_PORTS[self.name]


SERVICES: dict[str, Service] = {s.name: s for s in (
    Service("exporter", "EXPORTER_PORT", "/health", "/health", "Exporter"),
    Service("alertmanager", "AM_PORT", "/-/healthy", "/-/ready", "Alertmanager"),
    Service("prometheus", "PROM_PORT", "/-/healthy", "/-/ready", "Prometheus"),
    Service("grafana", "GRAFANA_PORT", "/api/health", "/api/health", "Grafana"),
)}
# Where users reach Prometheus and Alertmanager (reverse proxy, DNS name); compose reads the same names.
EXTERNAL_URL_VARIABLES = {"prometheus": "PROM_EXTERNAL_URL", "alertmanager": "AM_EXTERNAL_URL"}
# Start order: what is scraped first, Prometheus after Alertmanager, Grafana last.
START_ORDER = ("exporter", "alertmanager", "prometheus", "grafana")
EXPORTER_OFF = "off"        # EXPORTER_SOURCE=off: run the stack without the exporter beside it


class StackError(Exception):
    """Something the operator must fix; the CLI prints it as one line and exits non-zero."""


def read_env_file(path: Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables of a `.env` file as compose reads them (its documented syntax, see
    tests/stack/test_envfile.py): python-dotenv's parser for quotes, escapes, inline comments,
    `export` and multi-line values; `KEY: VALUE` lines; then compose's interpolation of
    `$VAR`/`${VAR...}` in unquoted and double-quoted values from `environ` (default: os.environ),
    then the file's earlier lines. A line it cannot read is a StackError with file:line."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    env = os.environ if environ is None else environ
    for key, value, raw, line in _bindings(path, path.read_text(encoding="utf-8")):
        if key is None or value is None:        # a comment, a blank line, a bare `KEY` (compose: unset)
            continue
        quoted_single = raw.split("=", 1)[1].lstrip().startswith("'") if "=" in raw else False
        values[key] = value if quoted_single else _interpolate(value, lambda k: env.get(k, values.get(k)),
                                                               f"{path}:{line}")
    return values


def _bindings(path: Path, text: str, first_line: int = 1):
    """(key, value, raw text, line) per binding; a `KEY: VALUE` line is read as `KEY=VALUE`."""
    for b in parse_stream(io.StringIO(text)):
        raw, line = b.original.string, b.original.line + first_line - 1
        if not b.error:
            yield b.key, b.value, raw, line
            continue
        stripped = raw.lstrip()
        line += raw[:len(raw) - len(stripped)].count("\n")
        if not _COLON_LINE.match(stripped):
            raise StackError(f"{path}:{line}: not a KEY=VALUE line: {stripped.strip()[:60]!r}")
        yield from _bindings(path, _COLON_LINE.sub(r"\1=", stripped, count=1), line)


_COLON_LINE = re.compile(r"^((?:export\s+)?[A-Za-z_][A-Za-z0-9_.-]*)\s*:")
# Compose's interpolation: $$, $VAR, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error},
# ${VAR?error}, ${VAR:+replacement}, ${VAR+replacement}.
_VARIABLE = re.compile(r"\$(?:(?P<dollar>\$)|(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
                       r"|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<word>[^}]*))?\})")


def _interpolate(value: str, lookup, where: str) -> str:
    def substitute(match: re.Match) -> str:
        if match["dollar"]:
            return "$"
        found = lookup(match["bare"] or match["name"])
        op, word = match["op"], match["word"] or ""
        present = found is not None and (found != "" or not (op or "").startswith(":"))
        if op and op.endswith("-"):
            return found if present else word
        if op and op.endswith("+"):
            return word if present else ""
        if op and op.endswith("?") and not present:
            raise StackError(f"{where}: {match['name']}: {word or 'required variable is not set'}")
        return found or ""
    return _VARIABLE.sub(substitute, value)


def _port(environ: dict[str, str], service: Service) -> int:
    raw = environ.get(service.port_variable, "").strip()
    if not raw:
        return service.default_port
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise StackError(f"{service.port_variable}={raw!r} is not a TCP port (1..65535)")
    return int(raw)


@dataclass(frozen=True)
class Settings:
    root: Path                       # the generated tree: rules/, stack/, dashboards/
    spec: Path                       # the spec the tree was generated from
    run_dir: Path                    # data, logs, PID files, configs with secrets filled in
    ports: dict[str, int]
    environ: dict[str, str] = field(repr=False)
    bind_addr: str = LOCALHOST      # where Docker publishes the ports (native always uses 127.0.0.1)
    secrets_dir: Path = ROOT / SECRETS_DIR
    strict_secrets: bool = False
    exporter_args: tuple[str, ...] = ("--source", "demo")
    wait_seconds: float = 60.0       # how long `up` waits for health and every target up
    python: str = ""                 # the interpreter that runs the exporter (default: this one)
    host: str = LOCALHOST            # where this tool reaches the services
    prometheus_args: tuple[str, ...] = ()   # extra flags for a native Prometheus (tests shorten timings)

    @classmethod
    def from_environment(cls, root: Path = ROOT, environ: dict[str, str] | None = None, *, dotenv: bool = True,
                         **overrides) -> Settings:
        """From `environ` (default: os.environ) over root/.env (unless dotenv=False) over the defaults."""
        environ = os.environ if environ is None else environ
        env = read_env_file(root / ENV_FILE, environ) if dotenv else {}
        env.update(environ)
        ports = {name: _port(env, service) for name, service in SERVICES.items()}
        values = dict(
            root=root, spec=Path(env.get("STACK_SPEC") or root / n.SPEC_FILE),
            run_dir=Path(env.get("STACK_RUN_DIR") or root / DEFAULT_RUN_DIR), ports=ports, environ=env,
            bind_addr=env.get("BIND_ADDR") or LOCALHOST,
            secrets_dir=Path(env.get("SECRETS_DIR") or root / SECRETS_DIR),
            strict_secrets=env.get("STRICT_SECRETS", "") in ("1", "true", "yes"),
            wait_seconds=float(env.get("STACK_WAIT_SECONDS") or 60),
        )
        source = env.get("EXPORTER_SOURCE")
        if source:
            values["exporter_args"] = ("--source", source)
        values.update(overrides)
        return cls(**values)

    def url(self, service: str, path: str = "") -> str:
        return f"http://{self.host}:{self.ports[service]}{path}"

    def external_url(self, service: str) -> str:
        """The URL users reach the service at (links in notifications, Alertmanager's
        generatorURL): PROM_EXTERNAL_URL / AM_EXTERNAL_URL from the environment or .env, else
        this machine's published port."""
        value = self.environ.get(EXTERNAL_URL_VARIABLES[service], "").strip()
        if value:
            if not value.startswith(("http://", "https://")):
                raise StackError(f"{EXTERNAL_URL_VARIABLES[service]}={value!r}: expected an http:// or https:// URL")
            return value if value.endswith("/") else value + "/"
        host = self.bind_addr if self.bind_addr not in ("", "0.0.0.0", "::") else LOCALHOST
        return f"http://{host}:{self.ports[service]}/"

    def auth(self, service: str) -> tuple[str, str] | None:
        """(user, password) this tool logs in to the service with (Prometheus, Alertmanager), else None."""
        variable = n.WEB_PASSWORD_VARIABLES.get(service)
        return (n.WEB_AUTH_USER, self.environ[variable]) if variable and self.environ.get(variable) else None

    # -- the run folder --------------------------------------------------------
    def service_dir(self, service: str) -> Path:
        return self.run_dir / service

    @property
    def logs_dir(self) -> Path:
        return self.run_dir / "logs"

    @property
    def pids_dir(self) -> Path:
        return self.run_dir / "pids"

    @property
    def mode_file(self) -> Path:
        return self.run_dir / "mode"

    @property
    def docker_dir(self) -> Path:
        """What the compose stack mounts from the run folder (alertmanager.yml, secrets/)."""
        return self.run_dir / "docker"
