"""The HTTP side in-process: /metrics, /health, /scenario and errors."""
from __future__ import annotations

import gzip
import json
import urllib.request

import pytest

from exporter.cli import scenario_route
from exporter.scenarios import ScenarioSet
from exporter.server import MetricsServer

from .conftest import http


@pytest.fixture
def serve(metrics):
    servers = []

    def start(**kwargs):
        server = MetricsServer(lambda: metrics.registry, metrics, port=0, addr="127.0.0.1", **kwargs).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def test_metrics_and_health(serve, metrics):
    server = serve()
    status, body = http(server.url + "/health")
    assert status == 200
    health = json.loads(body)
    assert health["status"] == "ok"
    assert health["last_event_age_seconds"] is None  # nothing applied yet
    assert health["uptime_seconds"] >= 0
    metrics.record_trade("entry")
    assert json.loads(http(server.url + "/health")[1])["last_event_age_seconds"] >= 0
    status, body = http(server.url + "/metrics")
    assert status == 200 and b"# TYPE trading_trades_total counter" in body


def test_metrics_supports_gzip_and_openmetrics(serve):
    server = serve()
    request = urllib.request.Request(server.url + "/metrics", headers={
        "Accept-Encoding": "gzip", "Accept": "application/openmetrics-text; version=1.0.0"})
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.headers["Content-Encoding"] == "gzip"
        assert "openmetrics" in response.headers["Content-Type"]
        text = gzip.decompress(response.read()).decode()
    assert text.rstrip().endswith("# EOF")


def test_unknown_path_is_404_json(serve):
    status, body = http(serve().url + "/nope")
    assert status == 404 and json.loads(body) == {"error": "no such endpoint: /nope"}


def test_unbound_registry_is_503(metrics):
    server = MetricsServer(lambda: None, None, port=0, addr="127.0.0.1").start()
    try:
        status, body = http(server.url + "/metrics")
        assert status == 503 and b"init_metrics" in body
    finally:
        server.stop()


def test_scenario_route(serve):
    scenarios = ScenarioSet()
    server = serve(routes={"/scenario": scenario_route(scenarios)})
    status, body = http(server.url + "/scenario")
    assert status == 200 and json.loads(body)["active"] == []
    assert "drawdown" in json.loads(body)["available"]
    status, body = http(server.url + "/scenario?name=drawdown,loss&on=1", method="POST")
    assert status == 200 and json.loads(body)["active"] == ["drawdown", "loss"]
    status, body = http(server.url + "/scenario?name=loss&on=0", method="POST")
    assert json.loads(body)["active"] == ["drawdown"]
    status, body = http(server.url + "/scenario?name=nope", method="POST")
    assert status == 400 and "unknown scenario 'nope'" in json.loads(body)["error"]
    status, body = http(server.url + "/scenario?name=loss&on=maybe", method="POST")
    assert status == 400
    status, body = http(server.url + "/scenario", method="POST")
    assert status == 400 and "name is required" in json.loads(body)["error"]
    status, body = http(server.url + "/scenario", method="DELETE")
    assert status == 200 and json.loads(body)["active"] == []
    assert scenarios.active == []
