"""ASGI middleware: http_requests_total and http_request_duration_seconds for any ASGI app.

    from exporter.asgi import MetricsMiddleware
    app = MetricsMiddleware(app)             # or app.add_middleware(MetricsMiddleware)

The route label is the route *template* (/orders/{order_id}), never the raw
URL, so cardinality stays low: FastAPI's effective route (with the prefixes of
include_router) or scope["route"] when present, else a match against the
Starlette router's routes, else a fixed "other". Pure ASGI: nothing from
Starlette or FastAPI is imported.
"""
from __future__ import annotations

import time
from typing import Callable

OTHER = "other"


class MetricsMiddleware:
    def __init__(self, app, metrics=None, *, path_for: Callable[[dict], str | None] | None = None,
                 other: str = OTHER, skip_paths=("/metrics", "/health"), track_websockets: bool = False) -> None:
        """
        app: the ASGI app to wrap. metrics: a BotMetrics (default: the one behind exporter.init_metrics).
        path_for(scope): your own route-template function; None or "" means `other`.
        skip_paths: raw paths not measured (the scrape endpoint itself).
        track_websockets: set http_websocket_connections from the WebSockets this app has open
        (leave off if the bot calls set_websocket_connections itself).
        """
        self.app = app
        self._metrics = metrics
        self._path_for = path_for
        self._other = other
        self._skip = frozenset(skip_paths)
        # "/metrics/" (where a mounted metrics app redirects "/metrics") and everything under it too
        self._skip_under = tuple(path.rstrip("/") + "/" for path in skip_paths)
        self._track_websockets = track_websockets
        self._websockets = 0

    @property
    def metrics(self):
        if self._metrics is None:
            from exporter.api import default_metrics  # late: importing exporter.asgi stays light
            self._metrics = default_metrics()
        return self._metrics

    async def __call__(self, scope, receive, send) -> None:
        kind = scope.get("type")
        if kind == "websocket" and self._track_websockets:
            return await self._websocket(scope, receive, send)
        if kind != "http" or self._skipped(scope.get("path")):
            return await self.app(scope, receive, send)

        original = dict(scope)  # routers update the scope in place; match templates against the original
        status = 500            # what the client gets if the app raises before answering

        async def send_and_watch(message) -> None:
            nonlocal status
            if message.get("type") == "http.response.start":
                status = message.get("status", 500)
            await send(message)

        start = time.perf_counter()
        try:
            await self.app(scope, receive, send_and_watch)
        finally:
            seconds = time.perf_counter() - start
            self.metrics.observe_http_request(scope.get("method", "GET"), self.route_template(scope, original),
                                              status, seconds)

    def _skipped(self, path) -> bool:
        return path in self._skip or (isinstance(path, str) and path.startswith(self._skip_under))

    async def _websocket(self, scope, receive, send) -> None:
        self._websockets += 1
        self.metrics.set_websocket_connections(self._websockets)
        try:
            await self.app(scope, receive, send)
        finally:
            self._websockets -= 1
            self.metrics.set_websocket_connections(self._websockets)

    def route_template(self, scope: dict, original: dict | None = None) -> str:
        """The template of the route that served `scope`, or `other`."""
        if self._path_for is not None:
            try:
                return self._path_for(scope) or self._other
            except Exception:
                return self._other
        # FastAPI >= 0.16x keeps an included router's routes as they were declared (scope["route"]
        # is "/orders/{id}" for both include_router(r, prefix="/spot") and prefix="/futures");
        # the template with the prefixes is in its effective route context.
        fastapi = scope.get("fastapi")
        if isinstance(fastapi, dict):
            value = getattr(fastapi.get("effective_route_context"), "path_format", None)
            if isinstance(value, str) and value:
                return _mount_prefix(scope, original) + value
        route = scope.get("route")  # FastAPI's APIRoute, and Starlette's Route in recent versions
        for attr in ("path_format", "path"):
            value = getattr(route, attr, None)
            if isinstance(value, str) and value:
                return _mount_prefix(scope, original) + value
        for holder in (scope.get("router"), scope.get("app"), self.app):
            routes = getattr(holder, "routes", None)
            if routes:
                return _match(routes, original if original is not None else scope, "") or self._other
        return self._other


def _mount_prefix(scope: dict, original: dict | None) -> str:
    """The path of the Mounts the request went through: routing extends root_path by each one."""
    before = (original or {}).get("root_path", "")
    after = scope.get("root_path", "")
    return after[len(before):] if original is not None and after.startswith(before) else ""


def _match(routes, scope: dict, prefix: str) -> str | None:
    """Starlette-style matching: route.matches(scope) -> (Match, child_scope); Mounts nest."""
    for route in routes:
        try:
            match, child = route.matches(scope)
        except Exception:
            continue
        if getattr(match, "name", match) not in ("FULL", 2):
            continue
        nested = getattr(route, "routes", None)
        if nested:
            found = _match(nested, {**scope, **child}, prefix + getattr(route, "path", ""))
            if found:
                return found
        template = getattr(route, "path_format", None) or getattr(route, "path", None)
        return prefix + template if isinstance(template, str) else None
    return None
