"""Where things are and which ports they use: one immutable Settings built from the environment.

The environment wins over `.env` (the file compose also reads), which wins over the defaults.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

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


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines as compose reads them (comments, blank lines and `export ` ignored)."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        key = key.strip().removeprefix("export ").strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = value
    return values


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
        env = read_env_file(root / ENV_FILE) if dotenv else {}
        env.update(os.environ if environ is None else environ)
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
