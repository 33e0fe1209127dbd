"""The ASGI middleware, driven with tiny hand-written ASGI apps (no web framework needed)."""
from __future__ import annotations

import asyncio
import enum
import re

import pytest

from exporter.asgi import MetricsMiddleware

from .conftest import samples, value


class Match(enum.Enum):  # the shape of starlette.routing.Match
    NONE = 0
    PARTIAL = 1
    FULL = 2


class Route:
    """Starlette-like route: matches(scope) -> (Match, child scope), path_format."""

    def __init__(self, path_format: str) -> None:
        self.path = self.path_format = path_format
        self._regex = re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path_format) + "$")

    def matches(self, scope):
        path = scope["path"][len(scope.get("root_path", "")):]
        return (Match.FULL, {"endpoint": self}) if self._regex.match(path) else (Match.NONE, {})


class Mount:
    def __init__(self, path: str, routes) -> None:
        self.path, self.routes = path, routes
        self.path_format = path + "/{path}"

    def matches(self, scope):
        if scope["path"].startswith(self.path + "/"):
            return Match.FULL, {"root_path": scope.get("root_path", "") + self.path}
        return Match.NONE, {}


def router_app(routes, status=200, raise_error=False, fastapi_style=False):
    """An ASGI app that routes like Starlette (sets scope["router"]) or FastAPI (scope["route"])."""
    class App:
        pass

    app = App()
    app.routes = routes

    async def asgi(scope, receive, send):
        scope["router"] = app
        for route in routes:
            match, child = route.matches(scope)
            if match is Match.FULL:
                scope.update(child)
                if fastapi_style:
                    scope["route"] = route
                scope["path"] = "/mutated-by-the-router"  # templates must not depend on this
                break
        if raise_error:
            raise RuntimeError("boom")
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    app.__call__ = asgi
    return asgi


def call(app, path, method="GET", kind="http"):
    sent = []

    async def receive():
        return {"type": "http.request", "body": b""}

    async def send(message):
        sent.append(message)

    scope = {"type": kind, "method": method, "path": path, "root_path": "", "headers": []}
    asyncio.run(app(scope, receive, send))
    return sent


def requests(registry):
    return {(dict(k)["method"], dict(k)["path"], dict(k)["status"]): v
            for k, v in samples(registry, "http_requests_total").items()}


ROUTES = [Route("/orders"), Route("/orders/{order_id}"), Mount("/admin", [Route("/users/{user_id}")])]


def test_starlette_style_routes_give_the_template_not_the_url(metrics, registry):
    app = MetricsMiddleware(router_app(ROUTES), metrics)
    call(app, "/orders/123")
    call(app, "/orders/456", method="DELETE")
    call(app, "/orders")
    call(app, "/admin/users/7")
    assert requests(registry) == {("GET", "/orders/{order_id}", "200"): 1.0,
                                  ("DELETE", "/orders/{order_id}", "200"): 1.0,
                                  ("GET", "/orders", "200"): 1.0,
                                  ("GET", "/admin/users/{user_id}", "200"): 1.0}
    assert value(registry, "http_request_duration_seconds_count", method="GET", path="/orders/{order_id}") == 1.0


def test_fastapi_style_scope_route(metrics, registry):
    app = MetricsMiddleware(router_app([Route("/items/{item_id}")], status=404, fastapi_style=True), metrics)
    call(app, "/items/9")
    assert requests(registry) == {("GET", "/items/{item_id}", "404"): 1.0}


def test_scope_route_inside_a_mount_gets_the_mount_prefix(metrics, registry):
    inner = Route("/users/{user_id}")

    async def mounted(scope, receive, send):
        scope["root_path"] = scope.get("root_path", "") + "/admin"  # what a Mount does
        scope["route"] = inner
        await send({"type": "http.response.start", "status": 200, "headers": []})

    call(MetricsMiddleware(mounted, metrics), "/admin/users/7")
    assert requests(registry) == {("GET", "/admin/users/{user_id}", "200"): 1.0}


def test_unmatched_route_is_other(metrics, registry):
    app = MetricsMiddleware(router_app(ROUTES, status=404), metrics)
    call(app, "/wp-login.php")
    call(app, "/random/1")
    assert requests(registry) == {("GET", "other", "404"): 2.0}


def test_plain_asgi_app_without_routes_is_other(metrics, registry):
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    call(MetricsMiddleware(app, metrics), "/anything/42")
    assert requests(registry) == {("GET", "other", "204"): 1.0}


def test_path_for_overrides(metrics, registry):
    app = MetricsMiddleware(router_app(ROUTES), metrics, path_for=lambda scope: "/custom")
    call(app, "/orders/1")
    app = MetricsMiddleware(router_app(ROUTES), metrics, path_for=lambda scope: 1 / 0)
    call(app, "/orders/1")
    assert requests(registry) == {("GET", "/custom", "200"): 1.0, ("GET", "other", "200"): 1.0}


def test_exception_counts_as_500_and_still_raises(metrics, registry):
    app = MetricsMiddleware(router_app(ROUTES, raise_error=True), metrics)
    with pytest.raises(RuntimeError, match="boom"):
        call(app, "/orders/1")
    assert requests(registry) == {("GET", "/orders/{order_id}", "500"): 1.0}


def test_metrics_endpoint_and_lifespan_are_not_measured(metrics, registry):
    app = MetricsMiddleware(router_app(ROUTES), metrics)
    call(app, "/metrics")

    async def lifespan_app(scope, receive, send):
        assert scope["type"] == "lifespan"

    call(MetricsMiddleware(lifespan_app, metrics), "/", kind="lifespan")
    assert requests(registry) == {}


def test_websockets_are_tracked_when_asked(metrics, registry):
    seen = []

    async def ws_app(scope, receive, send):
        seen.append(value(registry, "http_websocket_connections"))

    call(MetricsMiddleware(ws_app, metrics, track_websockets=True), "/ws", kind="websocket")
    assert seen == [1.0]
    assert value(registry, "http_websocket_connections") == 0.0


@pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
def test_with_real_starlette_when_installed(metrics, registry):
    starlette = pytest.importorskip("starlette", reason="starlette is not installed (make setup installs it)")
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Mount
    from starlette.routing import Route as StarletteRoute
    from starlette.testclient import TestClient

    async def order(request):
        return PlainTextResponse("ok")

    async def broken(request):
        raise RuntimeError("boom")

    app = Starlette(routes=[StarletteRoute("/orders/{order_id}", order),
                            StarletteRoute("/broken", broken),
                            Mount("/admin", routes=[StarletteRoute("/users/{user_id}", order)])])
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    client = TestClient(app, raise_server_exceptions=False)
    client.get("/orders/5")
    client.get("/orders/6")
    client.get("/admin/users/7")
    client.get("/nope")
    client.get("/broken")
    client.get("/metrics")  # not measured
    assert requests(registry) == {("GET", "/orders/{order_id}", "200"): 2.0,
                                  ("GET", "/admin/users/{user_id}", "200"): 1.0,
                                  ("GET", "other", "404"): 1.0,
                                  ("GET", "/broken", "500"): 1.0}
    assert starlette
