"""The stack with Docker: docker-compose.yml at the repository root, watched through the Docker SDK.

Compose mounts the generated configs read-only. Alertmanager's config comes from
run/docker/alertmanager/ (secrets filled in) and its `*_file` secrets from run/docker/secrets/,
a copy of the git-ignored secrets/ folder: the container runs as nobody, so these copies are
world-readable files inside run/, which only this user can enter (mode 700).
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from stackgen import conventions as n
from stackgen.model.stack import Stack
from stackctl import amconfig, files, health, redact, report, webauth
from stackctl.native import check_ports, expected_targets, reload_grafana, reload_service, report_writes
from stackctl.settings import LOCALHOST, SERVICES, START_ORDER, Settings, StackError

PROJECT = "tradingmon"            # docker-compose.yml's `name:`
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


def compose_command() -> list[str]:
    if shutil.which("docker"):
        proc = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
        if proc.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    raise StackError("a Docker engine answers but neither `docker compose` (the compose plugin) nor "
                     "`docker-compose` is installed: install docker-compose-plugin, or run natively with "
                     "STACK_MODE=native make up")


class DockerStack:
    def __init__(self, settings: Settings, stack: Stack, docker_client, out=print):
        host = settings.bind_addr if settings.bind_addr not in ("0.0.0.0", "::", "") else LOCALHOST
        self.s = dataclasses.replace(settings, host=host)
        self.stack = stack
        self.client = docker_client
        self.out = out

    # -- what compose mounts from run/ -----------------------------------------
    @property
    def alertmanager_config(self) -> Path:
        return self.s.docker_dir / "alertmanager" / "alertmanager.yml"

    def prepare(self) -> None:
        files.private_dir(self.s.run_dir)
        generated = (self.s.root / n.ALERTMANAGER_CONFIG).read_text(encoding="utf-8")
        text, dropped = amconfig.running_config(generated, environ=self.s.environ, secrets_dir=self.s.secrets_dir,
                                                native=False, strict=self.s.strict_secrets)
        for d in dropped:
            self.out(d.line())
        # Readable by the container's user (nobody); run/ itself is 700, so not by other users here.
        files.write(self.alertmanager_config, text, mode=0o644)
        # Basic auth (stackctl.webauth): run/docker/prometheus -> /etc/prometheus/secrets,
        # run/docker/alertmanager -> /etc/alertmanager/config; 644 for the same reason as above.
        webauth.write({s: self.s.docker_dir / s for s in webauth.SERVICES}, self.s.environ, mode=0o644)
        target = self.s.docker_dir / "secrets"
        target.mkdir(parents=True, exist_ok=True)
        os.chmod(target, 0o755)
        wanted = {p.name for p in self.s.secrets_dir.iterdir() if p.is_file()} if self.s.secrets_dir.is_dir() else set()
        for old in target.iterdir():
            if old.name not in wanted:
                old.unlink()
        for name in sorted(wanted):
            files.write(target / name, (self.s.secrets_dir / name).read_text(encoding="utf-8"), mode=0o644)

    def compose(self, *args: str, check: bool = True) -> int:
        env = dict(os.environ)
        env.update({k: v for k, v in self.s.environ.items() if k not in env})
        env["STACK_RUN_DIR"] = str(self.s.run_dir.resolve())
        command = [*compose_command(), "-f", str(self.s.root / COMPOSE_FILE), *args]
        proc = subprocess.run(command, cwd=self.s.root, env=env)
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
        if self.compose("up", "-d", "--build", "--remove-orphans", check=False) != 0:
            # e.g. "dependency failed to start: container ... is unhealthy": show that container's logs.
            for container in self.containers():
                container.reload()
                state = container.attrs.get("State", {})
                health_status = state.get("Health", {}).get("Status")
                if state.get("Status") in ("exited", "dead") or health_status == "unhealthy":
                    self._fail(container, f"{container.labels.get(SERVICE_LABEL, container.name)} is "
                                          f"{health_status if health_status == 'unhealthy' else state.get('Status')}")
            raise StackError("`docker compose up` failed (its output is above)")
        self.wait_healthy(timeout=max(180.0, self.s.wait_seconds))
        ok, found = health.wait_targets_up(self.s.url("prometheus"), self.s.wait_seconds,
                                           expected=expected_targets(self.stack), auth=self.s.auth("prometheus"))
        if not ok:
            raise StackError("not every Prometheus target is up:\n  "
                             + "\n  ".join(health.describe_target(t) for t in found))
        self.out(f"prometheus: all {len(found)} targets up")
        self.out("The stack is up (Docker):")
        for line in report.urls(self.s, self.stack, host=self.s.host):
            self.out(line)
        return 0

    def wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while True:
            states = {}
            for container in self.containers():
                container.reload()
                state = container.attrs.get("State", {})
                service = container.labels.get(SERVICE_LABEL, container.name)
                status = state.get("Health", {}).get("Status") or state.get("Status", "?")
                states[service] = status
                if state.get("Status") in ("exited", "dead") or status == "unhealthy":
                    self._fail(container, f"{service} is {status}")
            line = ", ".join(f"{k}: {v}" for k, v in sorted(states.items()))
            if line != last:
                self.out(f"waiting for healthy containers: {line}")
                last = line
            if states and all(v == "healthy" for v in states.values()):
                return
            if time.monotonic() >= deadline:
                bad = [c for c in self.containers() if states.get(c.labels.get(SERVICE_LABEL)) != "healthy"]
                if bad:
                    self._fail(bad[0], f"not healthy after {timeout:g}s ({line})")
                raise StackError(f"no containers of project {PROJECT} after {timeout:g}s")
            time.sleep(2)

    def _fail(self, container, why: str) -> None:
        logs = container.logs(tail=30).decode("utf-8", "replace")
        raise StackError(f"{why}; last log lines of container {container.name}:\n{logs.rstrip()}\n"
                         "(`make logs` shows all logs, `make down` stops the stack)")

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
        return 1 if bad else 0

    def reload(self) -> int:
        old = files.read(self.alertmanager_config)
        self.prepare()
        failed = not reload_service(self.s, "prometheus", self.out, new_log_lines=self._log_follower("prometheus"))
        failed += not reload_service(self.s, "alertmanager", self.out, self.alertmanager_config, old,
                                     new_log_lines=self._log_follower("alertmanager"))
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
        env = dict(os.environ)
        env.update({k: v for k, v in self.s.environ.items() if k not in env})
        env["STACK_RUN_DIR"] = str(self.s.run_dir.resolve())
        command = [*compose_command(), "-f", str(self.s.root / COMPOSE_FILE), "logs", f"--tail={lines}",
                   *(["-f"] if follow else [])]
        with subprocess.Popen(command, cwd=self.s.root, env=env, stdout=subprocess.PIPE) as proc:
            for line in proc.stdout:
                sys.stdout.buffer.write(redactor.data(line))
                sys.stdout.flush()
        return proc.returncode
