"""The compose stack for real: `make up` with Docker, then health, a query through Prometheus and one
through Grafana's API with the admin password from .env. Skipped where no Docker engine answers."""
from __future__ import annotations

import base64
import json
import os
import subprocess

import pytest

from stackgen.load import load_stack
from stackctl import docker_mode, health, processes
from stackctl.settings import Settings, StackError
from tests.conftest import ROOT

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def docker_stack():
    client, why = docker_mode.client()
    if client is None:
        pytest.skip(f"no Docker engine answers ({why})")
    try:
        docker_mode.compose_command()
    except StackError as exc:
        pytest.skip(str(exc))
    if client.containers.list(all=True, filters={"label": f"{docker_mode.PROJECT_LABEL}={docker_mode.PROJECT}"}):
        pytest.skip(f"compose project {docker_mode.PROJECT} already exists here: not touching your stack")
    settings = Settings.from_environment(ROOT)
    if any(processes.alive(r) for r in processes.read_all(settings.pids_dir)):
        pytest.skip("a native stack runs in this checkout (make down stops it)")
    env = dict(os.environ, STACK_MODE="docker")
    try:
        up = subprocess.run(["make", "up"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
        assert up.returncode == 0, up.stdout[-4000:] + up.stderr[-4000:]
        yield Settings.from_environment(ROOT), client, up.stdout
    finally:
        subprocess.run(["make", "down"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def _grafana(settings: Settings, path: str, password: str | None = None, body: dict | None = None):
    headers = {"Content-Type": "application/json"}
    if password is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(f"admin:{password}".encode()).decode()
    return health.request(settings.url("grafana", path), method="POST" if body else "GET", headers=headers,
                          data=json.dumps(body).encode() if body else None, timeout=10)


def test_every_container_is_healthy_and_up_printed_the_urls(docker_stack):
    settings, client, output = docker_stack
    containers = client.containers.list(filters={"label": f"{docker_mode.PROJECT_LABEL}={docker_mode.PROJECT}"})
    states = {c.labels[docker_mode.SERVICE_LABEL]: c.attrs["State"]["Health"]["Status"] for c in containers}
    assert states == {"prometheus": "healthy", "alertmanager": "healthy", "grafana": "healthy",
                      "exporter": "healthy"}
    assert f"http://127.0.0.1:{settings.ports['grafana']}/" in output


def test_a_query_through_prometheus(docker_stack):
    settings, _, _ = docker_stack
    assert health.request(settings.url("prometheus", "/api/v1/query?query=up")).status == 401   # basic auth
    data = health.get_json(settings.url("prometheus", "/api/v1/query?query=up"), auth=settings.auth("prometheus"))
    jobs = {r["metric"]["job"]: r["value"][1] for r in data["data"]["result"]}
    assert jobs == {"prometheus": "1", "alertmanager": "1", "exporter": "1"}


def test_a_query_through_grafana_with_the_password_from_env(docker_stack):
    settings, _, _ = docker_stack
    password = settings.environ["GF_SECURITY_ADMIN_PASSWORD"]
    assert password and password != "admin"
    assert _grafana(settings, "/api/search").status == 401                 # anonymous access is off
    assert _grafana(settings, "/api/search", password="admin").status == 401  # no default password
    stack = load_stack(settings.spec)
    found = json.loads(_grafana(settings, "/api/search?type=dash-db", password=password).body)
    assert {d.uid for d in stack.dashboards} <= {d["uid"] for d in found}
    reply = _grafana(settings, "/api/ds/query", password=password, body={
        "from": "now-5m", "to": "now",
        "queries": [{"refId": "A", "datasource": {"uid": stack.grafana.prometheus_uid}, "expr": "up",
                     "instant": True}]})
    assert reply.ok, reply.body
    frames = json.loads(reply.body)["results"]["A"]["frames"]
    assert frames and any(frame["data"]["values"] for frame in frames)
