"""The ASGI middleware inside a real FastAPI app (0.165, Starlette 1.x): templates, /metrics, the app's own metrics."""
from __future__ import annotations

import os
import shutil
import subprocess
import warnings

import fastapi
import pytest
from fastapi import APIRouter, FastAPI
from prometheus_client import Counter, make_asgi_app

from exporter.asgi import MetricsMiddleware
from exporter.metrics import BotMetrics

from .conftest import BOT, samples

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's TestClient warns about httpx versions
    from starlette.testclient import TestClient

PROMTOOL = shutil.which("promtool") or ("/usr/bin/promtool" if os.path.exists("/usr/bin/promtool") else None)


def requests_by_path(registry) -> dict[str, float]:
    out: dict[str, float] = {}
    for labels, count in samples(registry, "http_requests_total").items():
        path = dict(labels)["path"]
        out[path] = out.get(path, 0.0) + count
    return out


def orders_router(tag: str) -> APIRouter:
    router = APIRouter()

    @router.get("/orders/{order_id}")
    def get_order(order_id: int):
        return {tag: order_id}

    return router


def make_app(metrics, registry) -> FastAPI:
    app = FastAPI()
    app.include_router(orders_router("spot"), prefix="/spot")
    app.include_router(orders_router("futures"), prefix="/futures")
    outer, inner = APIRouter(), APIRouter()

    @inner.get("/fills/{fill_id}")
    def fill(fill_id: str):
        return {"fill": fill_id}

    outer.include_router(inner, prefix="/v2")
    app.include_router(outer, prefix="/api")

    @app.get("/positions")
    def positions():
        return []

    app.mount("/metrics", make_asgi_app(registry))
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app


def test_fastapi_version_under_test():
    assert tuple(int(x) for x in fastapi.__version__.split(".")[:2]) >= (0, 165)


def test_include_router_prefixes_stay_in_the_template(metrics, registry):
    client = TestClient(make_app(metrics, registry))
    assert client.get("/spot/orders/1").json() == {"spot": 1}
    assert client.get("/spot/orders/2").status_code == 200
    assert client.get("/futures/orders/3").json() == {"futures": 3}
    assert client.get("/api/v2/fills/abc").status_code == 200
    assert client.get("/positions").status_code == 200
    assert client.get("/nope/12345").status_code == 404
    assert requests_by_path(registry) == {
        "/spot/orders/{order_id}": 2.0, "/futures/orders/{order_id}": 1.0, "/api/v2/fills/{fill_id}": 1.0,
        "/positions": 1.0, "other": 1.0}


def test_the_mounted_metrics_app_and_its_redirect_are_not_traffic(metrics, registry):
    client = TestClient(make_app(metrics, registry))
    first = client.get("/metrics", follow_redirects=False)
    assert first.status_code == 307 and first.headers["location"].endswith("/metrics/")
    assert client.get("/metrics").status_code == 200  # follows the redirect
    assert client.get("/metrics/").status_code == 200
    assert requests_by_path(registry) == {}


def test_the_apps_own_metric_declared_in_the_catalog_is_not_registered_twice(registry, caplog):
    # The app instruments itself first (as prometheus-fastapi-instrumentator would), with the
    # catalog's name and labels; then the exporter starts on the same registry.
    own = Counter("http_requests", "The app's own request counter.", ["method", "path", "status"],
                  registry=registry)
    m = BotMetrics(registry, process_collectors=False)
    m.init_metrics(*BOT)  # no "Duplicated timeseries"
    assert m.foreign_metrics == ("http_requests_total",)
    assert "http_requests_total is already registered by the application" in caplog.text
    app = FastAPI()

    @app.get("/orders/{order_id}")
    def order(order_id: int):
        own.labels("GET", "/orders/{order_id}", "200").inc()
        return {}

    app.mount("/metrics", make_asgi_app(registry))
    client = TestClient(app)
    client.get("/orders/1")
    m.record_trade("entry")
    text = client.get("/metrics/").text
    assert text.count("# TYPE http_requests_total counter") == 1
    assert 'http_requests_total{method="GET",path="/orders/{order_id}",status="200"} 1.0' in text
    assert "trading_trades_total" in text and "http_request_duration_seconds" in text
    if PROMTOOL:
        check = subprocess.run([PROMTOOL, "check", "metrics"], input=text.encode(), capture_output=True, timeout=30)
        assert check.returncode == 0, check.stdout + check.stderr


def test_a_second_exporter_on_the_same_registry_is_still_an_error(metrics, registry):
    with pytest.raises(ValueError, match="another BotMetrics"):
        BotMetrics(registry, process_collectors=False)
