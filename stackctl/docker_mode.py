"""The stack with Docker: docker-compose.yml at the repository root, watched through the Docker SDK.

Compose mounts Grafana's provisioning and the dashboards read-only from the repository, and what
Prometheus and Alertmanager read from run/docker/ (stackctl.mounted): their configs (Alertmanager's
with the secrets filled in), Prometheus' rules, their basic-auth web.yml and password files
(stackctl.webauth; Prometheus' in run/docker/prometheus/secrets/) and a copy of the git-ignored
secrets/ folder, each with the modes and owner its container user needs (stackctl.files). `make reload` validates the
new files, installs them, reloads, and puts the last good ones back when a service rejects them.
`make up` runs `docker compose up --wait` with a bounded timeout and, when it fails, shows the
failing container's state and last log lines.
"""
from __future__ import annotations

import dataclasses
import os
import re
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

from stackgen import conventions as n
from stackgen.model.stack import Stack
from stackctl import amconfig, files, health, redact, report, webauth
from stackctl import mounted as mounted_files
from stackctl.native import (check_ports, expected_targets, own_target, print_targets, reload_grafana,
                             reload_service, report_bots_down, report_writes)
from stackctl.settings import EXTERNAL_URL_VARIABLES, LOCALHOST, SERVICES, START_ORDER, Settings, StackError

PROJECT = "tradingmon"            # docker-compose.yml's `name:`
# The users the images run as: (uid, gid). prom/prometheus and prom/alertmanager: nobody; grafana/grafana:
# 472 with group root (0); the exporter image (exporter/Dockerfile): 10001.
CONTAINER_USERS = {"prometheus": (65534, 65534), "alertmanager": (65534, 65534), "grafana": (472, 0),
                   "exporter": (10001, 10001)}
# Generated folders compose mounts straight from the repository (read-only).
MOUNTED_SOURCES = (("grafana", n.GRAFANA_PROVISIONING_DIR), ("grafana", n.DASHBOARDS_DIR))
COMPOSE_FILE = "docker-compose.yml"
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"


def client(timeout: float = 2.0):
    """A Docker SDK client whose engine answered a ping, or (None, why not)."""
    try:
        import docker
    except ImportError as exc:
        return None, f"the docker SDK is not installed ({exc})"
    reasons = []
    candidates = [None]
    context_host = _context_host()
    if context_host and context_host not in (os.environ.get("DOCKER_HOST"), "unix:///var/run/docker.sock"):
        candidates.append(context_host)
    for base_url in candidates:
        try:
            c = docker.from_env(timeout=timeout) if base_url is None else docker.DockerClient(base_url=base_url,
                                                                                                timeout=timeout)
            c.ping()
            return c, ""
        except Exception as exc:   # any failure means: no engine here
            reasons.append(_reason(exc, base_url or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"))
    return None, "; ".join(dict.fromkeys(reasons))


def _reason(exc: Exception, where: str) -> str:
    text = str(exc)
    if "FileNotFoundError" in text:
        return f"no Docker socket at {where}"
    if "PermissionError" in text or "Permission denied" in text:
        return f"permission denied on {where} (is your user in the docker group?)"
    if "ConnectionRefused" in text or "Connection refused" in text:
        return f"connection refused at {where}"
    return f"{where}: {text.splitlines()[0] if text else type(exc).__name__}"


def _context_host() -> str | None:
    """The endpoint of the docker CLI's current context (rootless Docker, Docker Desktop)."""
    if shutil.which("docker") is None:
        return None
    try:
        proc = subprocess.run(["docker", "context", "inspect", "--format", "{{.Endpoints.docker.Host}}"],
                              capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    host = proc.stdout.strip()
    return host if proc.returncode == 0 and host else None


COMPOSE_MINIMUM = (2, 17)     # `up --wait` (2.1) and `--wait-timeout` (2.17)
V1_MESSAGE = ("only the old docker-compose v1 is installed: it rejects docker-compose.yml's top-level `name:` and "
              "labels containers differently. Install the compose plugin (Debian/Ubuntu: apt-get install "
              "docker-compose-plugin; or Docker's packages), or run natively: STACK_MODE=native make up")


def compose_version(text: str) -> tuple[int, ...] | None:
    """(major, minor, patch) from `docker compose version --short` ("2.29.1", "v2.29.1") or the
    long form ("Docker Compose version v2.29.1", "docker-compose version 1.29.2, build 5becea4c")."""
    match = re.search(r"(?<![\d.])v?(\d+)\.(\d+)(?:\.(\d+))?", text)
    if not match:
        return None
    return tuple(int(g) for g in match.groups(default="0"))


def choose_compose(found: list[tuple[list[str], str]]) -> list[str]:
    """The compose command to use from (command, output of its `version`) in order of preference:
    the first of version 2.17 or newer. v1 alone, or too old a v2, is refused in one line."""
    versions = [(command, compose_version(text)) for command, text in found]
    versions = [(command, version) for command, version in versions if version is not None]
    for command, version in versions:
        if version >= COMPOSE_MINIMUM:
            return command
    if versions and all(version[0] < 2 for _, version in versions):
        raise StackError(V1_MESSAGE)
    if versions:
        command, version = next((c, v) for c, v in versions if v[0] >= 2)
        raise StackError(f"`{' '.join(command)}` is version {'.'.join(map(str, version))}; `make up` needs "
                         f"{'.'.join(map(str, COMPOSE_MINIMUM))} or newer (`up --wait --wait-timeout`): update the "
                         "compose plugin, or STACK_MODE=native make up")
    raise StackError("a Docker engine answers but `docker compose` (the compose plugin) is not installed: install "
                     "docker-compose-plugin, or run natively with STACK_MODE=native make up")


def compose_command() -> list[str]:
    """`docker compose` (v2), or a standalone `docker-compose` of version 2; never v1."""
    found = []
    for command in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(command[0]) is None:
            continue
        proc = subprocess.run([*command, "version"], capture_output=True, text=True)
        if proc.returncode == 0:
            found.append((command, proc.stdout))
    return choose_compose(found)


def up_arguments(timeout: float) -> list[str]:
    """`docker compose` arguments of `make up`: detached, and bounded: compose itself waits until every
    container is healthy (or running, without a healthcheck) and fails after `timeout` seconds."""
    return ["up", "-d", "--build", "--remove-orphans", "--wait", "--wait-timeout", str(max(1, int(timeout)))]


def failing(states: list[dict]) -> list[dict]:
    """The containers to blame, worst first, from `docker inspect` documents: exited, dead or
    unhealthy, then restarting, then still starting (not healthy when the wait ran out)."""
    def rank(doc: dict) -> int | None:
        state = doc.get("State", {})
        status, health_status = state.get("Status"), (state.get("Health") or {}).get("Status")
        if status in ("exited", "dead") or health_status == "unhealthy":
            return 0
        if status == "restarting" or state.get("Restarting"):
            return 1
        if health_status not in (None, "healthy") or status not in ("running",):
            return 2
        return None
    ranked = [(rank(doc), i, doc) for i, doc in enumerate(states)]
    return [doc for r, _, doc in sorted((r, i, d) for r, i, d in ranked if r is not None)]


def describe_state(doc: dict) -> str:
    state = doc.get("State", {})
    health_status = (state.get("Health") or {}).get("Status")
    words = [state.get("Status", "?")]
    if health_status:
        words.append(health_status)
    if state.get("Status") in ("exited", "dead"):
        words.append(f"exit code {state.get('ExitCode')}")
    if doc.get("RestartCount"):
        words.append(f"restarted {doc['RestartCount']} times")
    return ", ".join(words)


class DockerStack:
    def __init__(self, settings: Settings, stack: Stack, docker_client, out=print, root: bool | None = None):
        host = settings.bind_addr if settings.bind_addr not in ("0.0.0.0", "::", "") else LOCALHOST
        self.s = dataclasses.replace(settings, host=host)
        self.stack = stack
        self.client = docker_client
        self.out = out
        self.root = os.geteuid() == 0 if root is None else root

    # -- what compose mounts from run/docker/ ------------------------------------
    def mounted(self, service: str) -> mounted_files.Mounted:
        # Both folders bear secrets (the web passwords; Alertmanager's filled-in config).
        folder = self.s.docker_dir / service
        last_good = self.s.docker_dir / "last-good" / service
        access = files.Access.secret_for(*CONTAINER_USERS[service], self.root)
        config = "config/prometheus.yml" if service == "prometheus" else "alertmanager.yml"
        return mounted_files.Mounted(service, folder, last_good, access, config)

    def render(self, service: str) -> dict[str, str]:
        """The files of the mounted folder: the generated ones, Alertmanager's with its secrets filled in."""
        if service == "prometheus":
            rules = self.s.root / n.RULES_DIR
            config_dir = (self.s.root / n.PROMETHEUS_CONFIG).parent      # prometheus.yml and any file beside it
            out = {f"config/{p.name}": p.read_text(encoding="utf-8") for p in sorted(config_dir.iterdir())
                   if p.is_file() and not p.name.startswith(".")}
            out.update({f"rules/{p.name}": p.read_text(encoding="utf-8") for p in sorted(rules.glob("*.rules.yml"))})
            out.update(self.web_auth("prometheus"))
            return out
        generated = (self.s.root / n.ALERTMANAGER_CONFIG).read_text(encoding="utf-8")
        text, dropped = amconfig.running_config(generated, environ=self.s.environ, secrets_dir=self.s.secrets_dir,
                                                native=False, strict=self.s.strict_secrets)
        for d in dropped:
            self.out(d.line())
        text_files = {"alertmanager.yml": text}
        text_files.update(self.web_auth("alertmanager"))
        return text_files

    def web_auth(self, service: str) -> dict[str, str]:
        """Basic auth (stackctl.webauth): web.yml and the password files, at their place in the mounted folder."""
        sub = "secrets/" if service == "prometheus" else ""
        return {sub + name: text for name, text in webauth.service_files(
            service, self.s.environ, self.mounted(service).folder / sub / n.WEB_CONFIG_FILE).items()}

    def prepare(self) -> None:
        """run/ (0700) with what the containers mount: Prometheus' config and rules, Alertmanager's
        config and *_file secrets, each with the modes its container user needs (see stackctl.files)."""
        files.check_run_dir(self.s.run_dir)
        check_readable(self.s.root)
        files.private_dir(self.s.run_dir)
        files.private_dir(self.s.docker_dir)
        for service in ("prometheus", "alertmanager"):
            target = self.mounted(service)
            new = self.render(service)
            problem = target.validate(new)
            if problem is not None:
                raise StackError(f"{service}: the config is rejected by {mounted_files.TOOLS[service]}:\n  "
                                 + "\n  ".join(problem.splitlines()[-10:]))
            target.install(new)
        uid, gid = CONTAINER_USERS["alertmanager"]
        secrets = {p.name: p.read_text(encoding="utf-8") for p in sorted(self.s.secrets_dir.iterdir())
                   if p.is_file()} if self.s.secrets_dir.is_dir() else {}
        files.install_tree(self.s.docker_dir / "secrets", secrets, files.Access.secret_for(uid, gid, self.root))

    def compose_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({k: v for k, v in self.s.environ.items() if k not in env})
        env["STACK_RUN_DIR"] = str(self.s.run_dir.resolve())
        for service, variable in EXTERNAL_URL_VARIABLES.items():
            env[variable] = self.s.external_url(service)
        return env

    def compose(self, *args: str, check: bool = True) -> int:
        command = [*compose_command(), "-f", str(self.s.root / COMPOSE_FILE), *args]
        proc = subprocess.run(command, cwd=self.s.root, env=self.compose_env())
        if check and proc.returncode != 0:
            raise StackError(f"`{' '.join(command)}` failed (exit {proc.returncode})")
        return proc.returncode

    def containers(self) -> list:
        return self.client.containers.list(all=True, filters={"label": f"{PROJECT_LABEL}={PROJECT}"})

    # -- up --------------------------------------------------------------------
    def up(self) -> int:
        running = {c.labels.get(SERVICE_LABEL) for c in self.containers() if c.status == "running"}
        check_ports(self.s, [name for name in START_ORDER if name not in running], self.s.bind_addr)
        self.prepare()
        files.write(self.s.mode_file, "docker\n")
        timeout = max(180.0, self.s.wait_seconds)
        if self.compose(*up_arguments(timeout), check=False) != 0:
            self.report_failure(f"`docker compose up --wait` failed or not every container was healthy within "
                                f"{timeout:g}s")
        rejected = 0
        for service in ("prometheus", "alertmanager"):
            target = self.mounted(service)
            if service in running:       # not recreated by compose: it still runs the files it had
                if not reload_service(self.s, service, self.out, new_log_lines=self._log_follower(service)):
                    rejected += 1
                    if target.roll_back():
                        self.out(f"{service}: put the last good files back into {target.folder}")
                    continue
            target.keep_as_good()        # a healthy container accepted them
        own = own_target(self.stack)
        ok, found = health.wait_targets_up(self.s.url("prometheus"), self.s.wait_seconds,
                                           expected=expected_targets(self.stack), auth=self.s.auth("prometheus"),
                                           own=own)
        if not ok:
            raise StackError("not every target of the stack is up:\n  "
                             + "\n  ".join(health.describe_target(t) for t in found))
        down = report_bots_down(found, own, self.out)
        self.out(f"prometheus: {f'{len(found) - down} of ' if down else 'all '}{len(found)} targets up")
        self.out("The stack is up (Docker):")
        for line in report.urls(self.s, self.stack, host=self.s.host):
            self.out(line)
        return 1 if rejected else 0

    def report_failure(self, why: str) -> None:
        """Raise with the failing container's state and last log lines (compose printed its own error)."""
        by_id = {}
        for container in self.containers():
            container.reload()
            by_id[container.attrs.get("Id", container.name)] = container
        blamed = failing([c.attrs for c in by_id.values()])
        if not blamed:
            raise StackError(f"{why} (its output is above)")
        doc = blamed[0]
        container = by_id[doc.get("Id", "")]
        service = container.labels.get(SERVICE_LABEL, container.name)
        logs = container.logs(tail=30).decode("utf-8", "replace").rstrip()
        others = ", ".join(f"{c.get('Name', '?').lstrip('/')}: {describe_state(c)}" for c in blamed[1:])
        raise StackError(f"{why}: {service} is {describe_state(doc)}; last log lines of container "
                         f"{container.name}:\n{logs}\n" + (f"(also not healthy: {others})\n" if others else "")
                         + "(`make logs` shows all logs, `make down` stops the stack)")

    # -- the rest --------------------------------------------------------------
    def down(self) -> int:
        self.compose("down")
        try:
            self.s.mode_file.unlink()
        except FileNotFoundError:
            pass
        return 0

    def status(self) -> int:
        bad = 0
        containers = {c.labels.get(SERVICE_LABEL, c.name): c for c in self.containers()}
        self.out(f"{'service':<13} {'container':<28} {'port':<6} {'healthy':<9} ready")
        for name in START_ORDER:
            container = containers.get(name)
            if container is None:
                state = "not created"
            else:
                s = container.attrs.get("State", {})
                state = f"{s.get('Status', '?')}/{s.get('Health', {}).get('Status', 'no healthcheck')}"
            service = SERVICES[name]
            healthy = health.request(self.s.url(name, service.health_path), timeout=2, auth=self.s.auth(name))
            ready = health.request(self.s.url(name, service.ready_path), timeout=2, auth=self.s.auth(name))
            self.out(f"{name:<13} {state:<28} {self.s.ports[name]:<6} {'ok' if healthy.ok else 'no':<9} "
                     f"{'ok' if ready.ok else 'no'}")
            bad += not (healthy.ok and ready.ok)
        bad += not report_writes(self.s, self.stack, "the prometheus-data volume", self.out)
        print_targets(self.s, self.out)
        if not containers:
            self.out(f"no containers of compose project {PROJECT} (make up starts them)")
            return 0          # stopped is a state, not a failure
        return 1 if bad else 0

    def reload(self) -> int:
        files.check_run_dir(self.s.run_dir)
        failed = 0
        for service in ("prometheus", "alertmanager"):
            follower = self._log_follower(service)
            accepted = mounted_files.apply(
                self.mounted(service), self.render(service), out=self.out,
                reload=lambda service=service, follower=follower: reload_service(
                    self.s, service, self.out, new_log_lines=follower))
            failed += not accepted
        reload_grafana(self.s, self.out)
        return 1 if failed else 0

    def _log_follower(self, service: str):
        """A callable returning what the service's container logged since this call."""
        since = int(time.time()) - 1

        def new_lines() -> list[str]:
            time.sleep(0.5)
            for container in self.containers():
                if container.labels.get(SERVICE_LABEL) == service:
                    return container.logs(since=since).decode("utf-8", "replace").splitlines()
            return []
        return new_lines

    def logs(self, follow: bool, lines: int = 100) -> int:
        """`docker compose logs`, every secret value masked (stackctl.redact)."""
        redactor = redact.Redactor(redact.stack_secrets(self.s, self.stack))
        command = [*compose_command(), "-f", str(self.s.root / COMPOSE_FILE), "logs", f"--tail={lines}",
                   *(["-f"] if follow else [])]
        with subprocess.Popen(command, cwd=self.s.root, env=self.compose_env(), stdout=subprocess.PIPE) as proc:
            for line in proc.stdout:
                sys.stdout.buffer.write(redactor.data(line))
                sys.stdout.flush()
        return proc.returncode


def check_readable(root: Path) -> None:
    """Every generated folder a container mounts is readable by its user (make generate sets the modes)."""
    problems = []
    for service, rel in MOUNTED_SOURCES:
        uid, gid = CONTAINER_USERS[service]
        base = root / rel
        for path in [base, *sorted(base.rglob("*"))] if base.is_dir() else []:
            if not files.can_read(path, uid, gid):
                mode = stat.S_IMODE(path.stat().st_mode)
                problems.append(f"{service} (uid {uid}) cannot read {path} (mode {mode:o})")
                break
    if problems:
        raise StackError("; ".join(problems) + ": run `make generate` (it sets 0644/0755), or "
                         "chmod -R a+rX " + " ".join(sorted({rel for _, rel in MOUNTED_SOURCES})))
