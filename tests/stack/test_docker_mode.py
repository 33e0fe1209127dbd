"""Docker mode's preparation, which needs no engine: what `up` writes into run/docker/.

Starting containers, waiting for health and reporting a failing container are tested against a
real engine only (tests/stack/test_docker_stack.py), never against a stand-in."""
from __future__ import annotations

import stat

import bcrypt
import pytest
import yaml

from stackgen.model.stack import load_stack
from stackctl import docker_mode
from stackctl.settings import Settings
from tests.conftest import ROOT


@pytest.fixture
def settings(tmp_path):
    return Settings.from_environment(ROOT, dotenv=False, environ={"GF_SECURITY_ADMIN_PASSWORD": "s3cret-enough",
                                                                 "PROM_WEB_PASSWORD": "prom-pass-1",
                                                                 "AM_WEB_PASSWORD": "am-pass-2"},
                                     run_dir=tmp_path / "run", secrets_dir=tmp_path / "secrets", wait_seconds=1)


def _stack(settings, lines):
    # prepare() only writes files; it never talks to the engine, so no client is needed.
    return docker_mode.DockerStack(settings, load_stack(ROOT / "spec.yaml"), None, out=lines.append)


def test_prepare_fills_secrets_into_run_docker_for_the_container_user(settings, tmp_path):
    secrets = tmp_path / "secrets"
    secrets.mkdir(mode=0o700)
    (secrets / "slack_webhook_url").write_text("https://hooks.example/T0\n")
    (secrets / "slack_webhook_url").chmod(0o600)
    stale = settings.docker_dir / "secrets" / "old_secret"
    stale.parent.mkdir(parents=True)
    stale.write_text("x")
    lines: list[str] = []
    _stack(settings, lines).prepare()
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


def test_prepare_writes_the_web_configs_and_password_files_the_containers_mount(settings):
    _stack(settings, []).prepare()
    prom, am = settings.docker_dir / "prometheus", settings.docker_dir / "alertmanager"
    for folder, secret in ((prom, "prom-pass-1"), (am, "am-pass-2")):
        web = folder / "web.yml"
        hashed = yaml.safe_load(web.read_text())["basic_auth_users"]["admin"]
        assert bcrypt.checkpw(secret.encode(), hashed.encode()) and secret not in web.read_text()
        assert stat.S_IMODE(web.stat().st_mode) == 0o644          # the containers run as nobody
    assert (prom / "prometheus_password").read_text() == "prom-pass-1"
    assert (prom / "alertmanager_password").read_text() == "am-pass-2"
    assert (am / "alertmanager_password").read_text() == "am-pass-2"
    # The hash is kept while the password matches, so a second `up` leaves the file alone.
    before = (prom / "web.yml").read_text()
    _stack(settings, []).prepare()
    assert (prom / "web.yml").read_text() == before
