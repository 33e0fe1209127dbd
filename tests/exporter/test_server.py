"""The HTTP side in-process: /metrics, /health, /scenario and errors."""
from __future__ import annotations

import gzip
import json
import socket
import threading
import time
import urllib.request

import pytest

from exporter.cli import scenario_route
from exporter.scenarios import ScenarioSet
from exporter import server as server_module
from exporter.server import MetricsServer

from .conftest import SCENARIO_HEADERS, http


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
    post = {"method": "POST", "headers": SCENARIO_HEADERS}
    status, body = http(server.url + "/scenario?name=drawdown,loss&on=1", **post)
    assert status == 200 and json.loads(body)["active"] == ["drawdown", "loss"]
    status, body = http(server.url + "/scenario?name=loss&on=0", **post)
    assert json.loads(body)["active"] == ["drawdown"]
    status, body = http(server.url + "/scenario?name=nope", **post)
    assert status == 400 and "unknown scenario 'nope'" in json.loads(body)["error"]
    status, body = http(server.url + "/scenario?name=loss&on=maybe", **post)
    assert status == 400
    status, body = http(server.url + "/scenario", **post)
    assert status == 400 and "name is required" in json.loads(body)["error"]
    status, body = http(server.url + "/scenario", method="DELETE", headers=SCENARIO_HEADERS)
    assert status == 200 and json.loads(body)["active"] == []
    assert scenarios.active == []


# -- issue 12: who may change state, half-sent requests, slow and many clients, health -------------

def _raw(server, data: bytes, close: bool = True, timeout: float = 5.0) -> bytes:
    """Send raw bytes over one TCP connection; what the server answered before closing."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:
        sock.sendall(data)
        if close:
            sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


@pytest.mark.parametrize("headers, status", [
    ({}, 403),                                                               # no custom header
    ({"Origin": "http://evil.example", **SCENARIO_HEADERS}, 403),           # foreign page
    ({"Origin": "null", **SCENARIO_HEADERS}, 403),                          # sandboxed page, file://
    ({"Sec-Fetch-Site": "cross-site", **SCENARIO_HEADERS}, 403),
    ({"X-Tradingmon-Scenario": "yes"}, 403),
    ({"Content-Type": "text/plain", **SCENARIO_HEADERS}, 415),               # fetch(..., {mode: no-cors})
    ({"Content-Type": "application/x-www-form-urlencoded", **SCENARIO_HEADERS}, 415),  # an HTML form
    ({"Content-Type": "multipart/form-data; boundary=x", **SCENARIO_HEADERS}, 415),
])
def test_scenario_refuses_cross_origin_and_simple_requests(serve, headers, status):
    scenarios = ScenarioSet()
    server = serve(routes={"/scenario": scenario_route(scenarios)})
    for method in ("POST", "DELETE"):
        got, body = http(server.url + "/scenario?name=drawdown&on=1", method=method, headers=headers, data=b"x")
        assert got == status, body
        assert "error" in json.loads(body)
    assert scenarios.active == []
    assert http(server.url + "/scenario")[0] == 200  # reading stays open


def test_scenario_accepts_its_own_origin_with_the_header(serve):
    scenarios = ScenarioSet()
    server = serve(routes={"/scenario": scenario_route(scenarios)})
    origin = f"http://127.0.0.1:{server.port}"
    status, body = http(server.url + "/scenario?name=loss", method="POST", data=b"{}",
                        headers={"Origin": origin, "Content-Type": "application/json", **SCENARIO_HEADERS})
    assert status == 200, body
    assert scenarios.active == ["loss"]


def test_a_half_sent_request_is_never_executed(serve):
    scenarios = ScenarioSet()
    server = serve(routes={"/scenario": scenario_route(scenarios)})
    head = (f"POST /scenario?name=drawdown&on=1 HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
            f"X-Tradingmon-Scenario: 1\r\nContent-Type: application/json\r\n").encode()
    # the body is cut off, then the client hangs up
    answer = _raw(server, head + b"Content-Length: 100\r\n\r\n" + b"{" * 10)
    assert b" 400 " in answer.split(b"\r\n")[0] and b"nothing changed" in answer
    # headers cut off: nothing is dispatched at all
    _raw(server, head)
    # chunked bodies are refused
    answer = _raw(server, head + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
    assert b" 411 " in answer.split(b"\r\n")[0]
    assert scenarios.active == []
    answer = _raw(server, head + b"Content-Length: 2\r\n\r\n{}")  # complete: executed
    assert b" 200 " in answer.split(b"\r\n")[0]
    assert scenarios.active == ["drawdown"]


@pytest.fixture
def short_timeout(monkeypatch):
    monkeypatch.setattr(server_module._QuietHandler, "timeout", 0.5)


def test_idle_and_slow_clients_are_dropped_after_the_timeout(serve, short_timeout):
    scenarios = ScenarioSet()
    server = serve(routes={"/scenario": scenario_route(scenarios)})
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        assert sock.recv(100) == b""  # idle: the server closes the connection
    assert time.monotonic() - started < 5
    # a body that stops arriving: timed out, not executed
    head = ("POST /scenario?name=loss HTTP/1.1\r\nHost: x\r\nX-Tradingmon-Scenario: 1\r\n"
            "Content-Length: 10\r\n\r\n{").encode()
    answer = _raw(server, head, close=False, timeout=10)
    assert b" 408 " in answer.split(b"\r\n")[0]
    assert scenarios.active == []


def test_connections_are_bounded_and_the_backlog_is_deep(serve, short_timeout):
    server = serve()
    httpd = server._httpd
    assert httpd.request_queue_size >= 128
    before = threading.active_count()
    idle = []
    try:
        for _ in range(server_module.MAX_CONNECTIONS + 40):  # slow clients: connect, send nothing
            idle.append(socket.create_connection(("127.0.0.1", server.port), timeout=10))
        time.sleep(0.3)
        threads = threading.active_count() - before
        assert threads <= server_module.MAX_CONNECTIONS + 1, f"{threads} threads for {len(idle)} idle clients"
    finally:
        for sock in idle:
            sock.close()
    # the idle clients time out, and the server answers again
    deadline = time.monotonic() + 15
    while http(server.url + "/health")[0] != 200:
        assert time.monotonic() < deadline, "the server did not recover from idle clients"
        time.sleep(0.2)


def test_many_concurrent_scrapes_all_succeed(serve, metrics):
    server = serve()
    metrics.record_trade("entry")
    results = []

    def scrape():
        results.append(http(server.url + "/metrics", timeout=20)[0])

    threads = [threading.Thread(target=scrape) for _ in range(100)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert results.count(200) + results.count(503) == 100 and results.count(200) >= 64, results


class _Broken:
    def __init__(self) -> None:
        self.broken = True

    def collect(self):
        if self.broken:
            raise RuntimeError("a foreign collector failed")
        return []


def test_health_is_unhealthy_while_metrics_cannot_render(serve, registry):
    server = serve()
    assert http(server.url + "/health")[0] == 200
    broken = _Broken()
    registry.register(broken)
    status, body = http(server.url + "/metrics")
    assert status == 500 and "a foreign collector failed" in json.loads(body)["error"]
    status, body = http(server.url + "/health")
    assert status == 503
    assert json.loads(body)["status"] == "unhealthy" and "cannot render" in json.loads(body)["error"]
    broken.broken = False  # fixed: the next /health checks again at once
    status, body = http(server.url + "/health")
    assert status == 200 and json.loads(body)["status"] == "ok"


def test_health_renders_by_itself_when_nobody_scrapes(serve, registry, monkeypatch):
    monkeypatch.setattr(server_module, "HEALTH_RENDER_EVERY", 0.0)
    server = serve()
    assert http(server.url + "/health")[0] == 200
    registry.register(_Broken())  # no /metrics request: /health finds out itself
    assert http(server.url + "/health")[0] == 503


def test_a_silent_connection_is_closed_after_the_header_timeout(serve, monkeypatch):
    monkeypatch.setattr(server_module._QuietHandler, "header_timeout", 0.3)  # IO_TIMEOUT stays 10 s
    server = serve()
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        assert sock.recv(100) == b""
    assert time.monotonic() - started < 5
    # a request that arrives at once is served as usual, with the longer timeout for its response
    assert http(server.url + "/health")[0] == 200
