"""Docker mode without an engine: what `up` writes into run/docker/, how it waits for health and
what it says when a container fails, with the Docker SDK and compose stubbed out."""
from __future__ import annotations

import stat

import pytest

from stackgen.model.stack import load_stack
from stackctl import docker_mode
from stackctl.settings import SERVICES, Settings, StackError
from tests.conftest import ROOT


class FakeContainer:
    def __init__(self, service: str, states: list[str], logs: str = ""):
        self.labels = {docker_mode.SERVICE_LABEL: service, docker_mode.PROJECT_LABEL: docker_mode.PROJECT}
        self.name = f"tradingmon-{service}-1"
        self._states = list(states)
        self._logs = logs
        self.attrs: dict = {}
        self.reload()

    @property
    def status(self) -> str:
        return self.attrs["State"]["Status"]

    def reload(self) -> None:
        health = self._states.pop(0) if len(self._states) > 1 else self._states[0]
        self.attrs = {"State": {"Status": "exited" if health == "exited" else "running",
                                "Health": {"Status": health}}}

    def logs(self, **kwargs) -> bytes:
        return self._logs.encode()


class FakeClient:
    def __init__(self, containers):
        self._containers = containers
        self.containers = self

    def list(self, all=False, filters=None):  # noqa: A002 - the SDK's name
        return self._containers


@pytest.fixture
def settings(tmp_path):
    return Settings.from_environment(ROOT, dotenv=False, environ={"GF_SECURITY_ADMIN_PASSWORD": "s3cret-enough"},
                                     run_dir=tmp_path / "run", secrets_dir=tmp_path / "secrets", wait_seconds=1)


def _stack(settings, containers, lines):
    return docker_mode.DockerStack(settings, load_stack(ROOT / "spec.yaml"), FakeClient(containers), out=lines.append)


def test_prepare_fills_secrets_into_run_docker_for_the_container_user(settings, tmp_path):
    secrets = tmp_path / "secrets"
    secrets.mkdir(mode=0o700)
    (secrets / "slack_webhook_url").write_text("https://hooks.example/T0\n")
    (secrets / "slack_webhook_url").chmod(0o600)
    stale = settings.docker_dir / "secrets" / "old_secret"
    stale.parent.mkdir(parents=True)
    stale.write_text("x")
    lines: list[str] = []
    _stack(settings, [], lines).prepare()
    config = settings.docker_dir / "alertmanager" / "alertmanager.yml"
    text = config.read_text()
    assert "api_url_file: /etc/alertmanager/secrets/slack_webhook_url" in text       # the container path
    assert "telegram_configs" not in text and "${" not in text
    # Readable by the container's nobody; run/ itself keeps everyone else out.
    assert stat.S_IMODE(settings.run_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(config.stat().st_mode) == 0o644
    copied = settings.docker_dir / "secrets" / "slack_webhook_url"
    assert copied.read_text() == "https://hooks.example/T0\n" and stat.S_IMODE(copied.stat().st_mode) == 0o644
    assert not stale.exists()
    assert any("receiver telegram-oncall: telegram integration left out" in line for line in lines)
    assert any("receiver email-ops: email integration left out" in line for line in lines)


def test_up_runs_compose_waits_for_health_and_prints_the_urls(settings, monkeypatch):
    containers = [FakeContainer(name, ["starting", "healthy"]) for name in SERVICES]
    lines: list[str] = []
    stack = _stack(settings, containers, lines)
    calls = []
    monkeypatch.setattr(stack, "compose", lambda *args, check=True: calls.append(args) or 0)
    monkeypatch.setattr(docker_mode.health, "wait_targets_up", lambda url, timeout, expected: (True, [{}] * 3))
    monkeypatch.setattr(docker_mode.time, "sleep", lambda s: None)
    monkeypatch.setattr(docker_mode, "check_ports", lambda *a: None)
    assert stack.up() == 0
    assert calls == [("up", "-d", "--build", "--remove-orphans")]
    assert settings.mode_file.read_text() == "docker\n"
    text = "\n".join(lines)
    assert "The stack is up (Docker):" in text
    assert f"Grafana       http://127.0.0.1:{settings.ports['grafana']}/" in text
    stack = load_stack(ROOT / "spec.yaml")
    for folder in stack.grafana.folders:
        assert f"/dashboards/f/{folder.name}/" in text
    for dashboard in stack.dashboards:
        assert f"/d/{dashboard.uid}" in text


def test_an_unhealthy_container_fails_up_with_its_last_log_lines(settings, monkeypatch):
    containers = [FakeContainer("prometheus", ["starting", "unhealthy"],
                                logs="level=error msg=\"Error loading config\" err=\"parsing YAML\"\n"),
                  FakeContainer("exporter", ["healthy"])]
    stack = _stack(settings, containers, [])
    monkeypatch.setattr(docker_mode.time, "sleep", lambda s: None)
    with pytest.raises(StackError) as error:
        stack.wait_healthy(timeout=5)
    message = str(error.value)
    assert message.startswith("prometheus is unhealthy; last log lines of container tradingmon-prometheus-1:")
    assert 'msg="Error loading config"' in message


def test_a_taken_port_stops_docker_up_before_compose_runs(settings, monkeypatch):
    import socket
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        taken = Settings.from_environment(ROOT, dotenv=False, environ={"GF_SECURITY_ADMIN_PASSWORD": "x" * 20,
                                                         "GRAFANA_PORT": str(port)}, run_dir=settings.run_dir)
        stack = _stack(taken, [], [])
        monkeypatch.setattr(stack, "compose", lambda *a, **k: pytest.fail("compose must not run"))
        with pytest.raises(StackError, match=f"port {port} \\(grafana\\) is already taken on 127.0.0.1.*"
                                             f"GRAFANA_PORT={port + 1} make up"):
            stack.up()


def test_when_compose_up_fails_on_an_unhealthy_dependency_its_logs_are_shown(settings, monkeypatch):
    containers = [FakeContainer("grafana", ["created"]),
                  FakeContainer("alertmanager", ["unhealthy"], logs='level=error msg="Loading configuration file '
                                                                    'failed" err="bad config"\n')]
    stack = _stack(settings, containers, [])
    monkeypatch.setattr(stack, "compose", lambda *args, check=True: 1)
    monkeypatch.setattr(docker_mode, "check_ports", lambda *a: None)
    with pytest.raises(StackError) as error:
        stack.up()
    assert str(error.value).startswith("alertmanager is unhealthy; last log lines of container "
                                       "tradingmon-alertmanager-1:\nlevel=error")
