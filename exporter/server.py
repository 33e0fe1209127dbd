"""The HTTP side: /metrics, /health (and extra routes such as the demo's /scenario) on one port.

A small threaded WSGI server from the standard library; /metrics is
prometheus_client's own WSGI app, so content negotiation (OpenMetrics),
gzip and `name[]` filtering behave exactly as in prometheus_client.
"""
from __future__ import annotations

import errno
import json
import logging
import socket
import socketserver
import threading
import time
from typing import Callable
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app

log = logging.getLogger("exporter")

# handler(environ) -> (HTTP status code, JSON-serialisable body)
Route = Callable[[dict], tuple[int, object]]
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
            503: "Service Unavailable"}


class PortInUseError(OSError):
    """The port is taken; the message says which and what to do."""


class _Server(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True  # a restarted exporter must not wait for TIME_WAIT sockets

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, which can hang on machines without DNS.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]
        self.setup_environ()


class _Server6(_Server):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
        log.debug("http %s - " + format, self.client_address[0], *args)


class MetricsServer:
    """Serves a registry's /metrics and the exporter's /health from a daemon thread."""

    def __init__(self, registry: Callable[[], object], metrics, *, port: int = 9100, addr: str = "0.0.0.0",
                 routes: dict[str, Route] | None = None, health_extra: Callable[[], dict] | None = None,
                 clock=time.time) -> None:
        self._registry = registry  # a callable: the registry can move (init_metrics with another one)
        self._metrics = metrics
        self.requested_port, self.requested_addr = port, addr
        self._routes = dict(routes or {})
        self._health_extra = health_extra
        self._clock = clock
        self._started = clock()
        self._httpd: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------

    def start(self) -> "MetricsServer":
        """Bind the port (PortInUseError if taken) and serve from a daemon thread."""
        server_class = _Server6 if ":" in self.requested_addr else _Server
        try:
            self._httpd = make_server(self.requested_addr, self.requested_port, self._app,
                                      server_class=server_class, handler_class=_QuietHandler)
        except OSError as exc:
            where = f"{self.requested_addr}:{self.requested_port}"
            if exc.errno == errno.EADDRINUSE:
                raise PortInUseError(exc.errno, f"port {self.requested_port} is already in use on "
                                     f"{self.requested_addr} (another exporter, or node_exporter, which "
                                     f"also defaults to 9100?); choose another port") from None
            raise OSError(exc.errno, f"cannot listen on {where}: {exc.strerror or exc}") from None
        self._started = self._clock()
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="exporter-http", daemon=True)
        self._thread.start()
        log.info("serving /metrics and /health on %s", self.url)
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._httpd is not None

    @property
    def port(self) -> int:
        """The bound port (useful with port=0)."""
        return self._httpd.server_address[1] if self._httpd else self.requested_port

    @property
    def url(self) -> str:
        host = self.requested_addr
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    def add_route(self, path: str, handler: Route) -> None:
        self._routes[path] = handler

    # -- requests ---------------------------------------------------------------------

    def health(self) -> dict:
        now = self._clock()
        last = self._metrics.last_event_time if self._metrics is not None else None
        body = {"status": "ok",
                "uptime_seconds": round(now - self._started, 3),
                "last_event_age_seconds": None if last is None else round(max(now - last, 0.0), 3)}
        if self._health_extra is not None:
            body.update(self._health_extra())
        return body

    def _app(self, environ: dict, start_response):
        path = environ.get("PATH_INFO") or "/"
        if path in ("/metrics", "/metrics/"):
            registry = self._registry()
            if registry is None:
                return _json(start_response, 503, {"error": "metrics not initialised: call init_metrics() first"})
            return make_wsgi_app(registry)(environ, start_response)
        if path == "/health":
            return _json(start_response, 200, self.health())
        handler = self._routes.get(path)
        if handler is not None:
            status, body = handler(environ)
            return _json(start_response, status, body)
        if path == "/":
            text = "trading-bot exporter: /metrics, /health" + "".join(f", {p}" for p in sorted(self._routes))
            start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
            return [text.encode() + b"\n"]
        return _json(start_response, 404, {"error": f"no such endpoint: {path}"})


def _json(start_response, status: int, body: object):
    data = json.dumps(body, sort_keys=True).encode("utf-8") + b"\n"
    start_response(f"{status} {_REASONS.get(status, 'Error')}",
                   [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]
