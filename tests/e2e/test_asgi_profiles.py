"""The FastAPI and Starlette profiles against what the real libraries expose.

A real FastAPI app (routers with prefixes, as the HYPERRSI integration guide builds it) instrumented
with the real prometheus-fastapi-instrumentator, and a real Starlette app with the real
starlette-exporter middleware, serve requests; their exposition is then served over HTTP to a real
Prometheus loaded with the generated config and rules: the route label, the grouped status and
the histograms arrive under the signals' names.
"""
from __future__ import annotations

import copy
import time

import pytest
import yaml

from tests.conftest import need_tools, run_generate
from tests.e2e.fakebots import FakeBot, Prometheus
from tests.generator.test_profiles import BASE

pytestmark = pytest.mark.tools


def fastapi_exposition() -> str:
    fastapi = pytest.importorskip("fastapi")
    instrumentator = pytest.importorskip("prometheus_fastapi_instrumentator")
    from fastapi.testclient import TestClient
    from prometheus_client import CollectorRegistry, generate_latest

    trading, position = fastapi.APIRouter(), fastapi.APIRouter()

    @trading.post("/execute_trade")
    def execute_trade():
        return {"ok": True}

    @trading.post("/fail")
    def fail():
        raise fastapi.HTTPException(status_code=503, detail="exchange down")

    @position.get("/{symbol}")
    def get_position(symbol: str):
        return {"symbol": symbol}

    app = fastapi.FastAPI()
    app.include_router(trading, prefix="/api/trading")
    app.include_router(position, prefix="/api/position")
    registry = CollectorRegistry()
    instrumentator.Instrumentator(registry=registry).instrument(app)
    with TestClient(app) as client:
        for _ in range(5):
            client.post("/api/trading/execute_trade")
            client.get("/api/position/BTC-USDT")
        client.post("/api/trading/fail")
    return generate_latest(registry).decode()


def starlette_exposition() -> str:
    exporter = pytest.importorskip("starlette_exporter")
    from prometheus_client import REGISTRY, generate_latest
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    async def orders(request):
        return PlainTextResponse("ok", status_code=500 if request.query_params.get("fail") else 200)

    app = Starlette(routes=[Route("/orders/{id}", orders)])
    app.add_middleware(exporter.PrometheusMiddleware, app_name="grid")
    with TestClient(app) as client:
        client.get("/orders/1")
        client.get("/orders/2?fail=1")
    return "\n".join(line for line in generate_latest(REGISTRY).decode().splitlines()
                     if "starlette_" in line) + "\n"


def test_instrumentator_and_starlette_exporter_expositions_arrive_as_signals(tmp_path):
    need_tools("prometheus")
    fa = FakeBot(lines=fastapi_exposition().splitlines())
    st = FakeBot(lines=starlette_exposition().splitlines())
    prometheus = None
    try:
        spec = copy.deepcopy(BASE)
        spec["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
        spec["bots"] = [{"name": "fa", "profile": "fastapi-instrumentator", "targets": [fa.target]},
                        {"name": "st", "profile": "starlette-exporter", "targets": [st.target]}]
        spec["alerts"] = {"api_errors": {"ratio": 0.05, "for": "5m"}}
        path = tmp_path / "spec.yaml"
        path.write_text(yaml.safe_dump(spec, sort_keys=False))
        proc = run_generate("--spec", str(path), "--out", str(tmp_path / "tree"))
        assert proc.returncode == 0, proc.stdout + proc.stderr
        prometheus = Prometheus(tmp_path / "tree", tmp_path)
        want = {
            # include_router(prefix=...) templates, the handler label copied into the route label (kept)
            'http_requests_total{job="fa",path="/api/position/{symbol}",status="2xx",'
            'handler="/api/position/{symbol}"}': 5.0,
            'http_requests_total{job="fa",path="/api/trading/fail",status=~"5.."}': 1.0,
            'http_request_duration_seconds_count{job="fa",path="/api/trading/execute_trade"}': 5.0,
            # starlette-exporter: its names and status_code renamed onto the signals
            'http_requests_total{job="st",path="/orders/{id}",status="500",status_code=""}': 1.0,
            'http_request_duration_seconds_count{job="st",path="/orders/{id}",status_code="200"}': 1.0,
        }
        deadline, failing = time.monotonic() + 30, dict(want)
        while failing and time.monotonic() < deadline:
            time.sleep(1)
            failing = {q: v for q, v in failing.items()
                       if [float(r["value"][1]) for r in prometheus.query(q)] != [v]}
        assert not failing, {q: prometheus.query(q) for q in failing}
        # The bots' own series stay beside the signals, under their own names and labels.
        native = "starlette_requests_total|starlette_request_duration_seconds_(bucket|sum|count)"
        assert {r["metric"]["__name__"] for r in prometheus.query(f'{{__name__=~"{native}",job="st"}}')} == {
            "starlette_requests_total", "starlette_request_duration_seconds_bucket",
            "starlette_request_duration_seconds_sum", "starlette_request_duration_seconds_count"}
        assert prometheus.query('starlette_requests_total{job="st",status_code="500"}')
        assert not prometheus.query('http_requests_total{job="fa",handler=""}')
    finally:
        if prometheus is not None:
            prometheus.stop()
        fa.stop()
        st.stop()
