"""The HTTP side: /metrics, /health (and extra routes such as the demo's /scenario) on one port.

A small threaded WSGI server from the standard library. /metrics negotiates
like prometheus_client (its choose_encoder and gzip_accepted); the exporter's
own metrics come from the fast exposition, gzip-compressed at GZIP_LEVEL and
written in pieces with the GIL handed over between them, and what the fast path
does not take (`name[]` filters, other OpenMetrics versions, HEAD, a foreign
registry) is answered by prometheus_client's own WSGI app.

Made not to stall the bot's trading loop (issue 14; docs/exporter.md, "Scrapes
and the trading loop"): the accept loop sleeps until a connection comes (no
periodic wake-ups), and request threads are reused from one scrape to the next.

Hardened against slow, many and hostile clients (issue 12):
- listen backlog LISTEN_BACKLOG (the standard library's default is 5);
- a connection must deliver its request line and headers within HEADER_TIMEOUT
  seconds per read; after that every socket read and write times out after
  IO_TIMEOUT seconds (idle, slow or half-sent requests free their thread);
- at most MAX_CONNECTIONS requests are handled at once; a connection that finds
  no free slot within SLOT_WAIT seconds gets a 503 and is closed;
- /health is unhealthy (503) when /metrics cannot render;
- a request that changes state (any method but GET/HEAD on an extra route such
  as /scenario) is executed only with its whole body read, only with the header
  STATE_CHANGE_HEADER, never with a foreign Origin and never with a content type
  an HTML form or a "simple" cross-origin request can send.
"""
from __future__ import annotations

import errno
import json
import logging
import os
import queue
import selectors
import socket
import socketserver
import sys
import threading
import time
import zlib
from typing import Callable, Iterator
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import generate_latest, make_wsgi_app
from prometheus_client.exposition import choose_encoder, gzip_accepted

from exporter.checks import show
from exporter.exposition import hand_over

log = logging.getLogger("exporter")

LISTEN_BACKLOG = 128
IO_TIMEOUT = 10.0          # seconds per socket read/write
HEADER_TIMEOUT = 2.0       # seconds per read until the request line and headers are in (idle clients)
MAX_CONNECTIONS = 64       # requests handled at once
WORKER_IDLE = 60.0         # seconds an idle request thread waits for the next connection before it ends
SLOT_WAIT = 0.1            # how long a new connection may wait for a free slot before a 503
MAX_BODY = 64 * 1024       # bytes of a request body (state-changing routes only)
HEALTH_RENDER_EVERY = 5.0  # /health renders /metrics itself when no render was seen this recently
# /metrics compression (issue 14): level 1 costs a tenth of gzip's default 9 in CPU (1.7 vs 17 ms for a
# megabyte of exposition) for about 24% more bytes; the body is compressed slice by slice.
GZIP_LEVEL = 1
WRITE_PIECE = 256 * 1024   # bytes written to the socket between two GIL hand-overs
STATE_CHANGE_HEADER = "X-Tradingmon-Scenario"   # its value must be "1"
# What an HTML form (or a cross-origin request without a CORS preflight) can send.
SIMPLE_CONTENT_TYPES = ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data")

# handler(environ) -> (HTTP status code, JSON-serialisable body)
Route = Callable[[dict], tuple[int, object]]
_REASONS = {200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
            408: "Request Timeout", 411: "Length Required", 413: "Content Too Large",
            415: "Unsupported Media Type", 500: "Internal Server Error", 503: "Service Unavailable"}


class PortInUseError(OSError):
    """The port is taken; the message says which and what to do."""


class _Server(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True  # a restarted exporter must not wait for TIME_WAIT sockets
    request_queue_size = LISTEN_BACKLOG
    max_connections = MAX_CONNECTIONS
    slot_wait = SLOT_WAIT

    def __init__(self, *args, **kwargs) -> None:
        self._slots = threading.Semaphore(self.max_connections)
        self.refused = 0  # connections answered 503 because every slot was busy
        self._stopping = False
        self._stopped = threading.Event()
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()  # connections for the idle request threads
        self._workers_lock = threading.Lock()
        self._idle_workers = 0
        self._workers = 0
        super().__init__(*args, **kwargs)
        self._wake_r, self._wake_w = os.pipe()  # after the bind: a failed one leaves nothing open

    def serve_forever(self, poll_interval: float | None = None) -> None:
        """Accept connections until shutdown(). Unlike socketserver's loop, which wakes every
        poll_interval to look for a shutdown request (and takes the bot's GIL each time, a stall
        for a busy trading loop), this one sleeps until a connection comes or shutdown() wakes it."""
        self._stopped.clear()
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(self, selectors.EVENT_READ)
                selector.register(self._wake_r, selectors.EVENT_READ)
                while not self._stopping:
                    ready = selector.select(poll_interval)
                    if self._stopping:
                        break
                    for key, _ in ready:
                        if key.fileobj is self:
                            self._handle_request_noblock()
                        else:
                            os.read(self._wake_r, 64)  # a stale wake-up: drained, or it would spin
        finally:
            self._stopping = False
            self._stopped.set()

    def shutdown(self) -> None:
        """Stop serve_forever() (running in another thread) and wait until it has returned."""
        self._stopping = True
        os.write(self._wake_w, b"x")
        self._stopped.wait()

    def server_close(self) -> None:
        super().server_close()
        with self._workers_lock:
            for _ in range(self._workers):
                self._jobs.put(None)  # each request thread ends after its current request
        for fd in (getattr(self, "_wake_r", None), getattr(self, "_wake_w", None)):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._wake_r = self._wake_w = None

    def process_request(self, request, client_address) -> None:
        # A thread per request, but never more than max_connections of them.
        if not self._slots.acquire(timeout=self.slot_wait):
            self.refused += 1
            _refuse_busy(request)
            self.shutdown_request(request)
            return
        try:
            self._dispatch(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def _dispatch(self, request, client_address) -> None:
        """Give the connection to an idle request thread, or start one. Threads are reused from one
        scrape to the next: starting a thread per request passes the GIL back and forth between the
        accepting thread and the new one (Thread.start() waits for it to run) while the bot waits."""
        with self._workers_lock:
            if self._idle_workers:
                self._idle_workers -= 1
                self._jobs.put((request, client_address))
                return
            self._workers += 1
        try:
            threading.Thread(target=self._work, args=(request, client_address), name="exporter-http-request",
                             daemon=True).start()
        except BaseException:
            with self._workers_lock:
                self._workers -= 1
            raise

    def _work(self, request, client_address) -> None:
        job = (request, client_address)
        while job is not None:
            self.process_request_thread(*job)  # releases the slot
            with self._workers_lock:
                self._idle_workers += 1
            job = self._next_job()
        with self._workers_lock:
            self._workers -= 1

    def _next_job(self):
        while True:
            try:
                return self._jobs.get(timeout=WORKER_IDLE)
            except queue.Empty:
                with self._workers_lock:
                    # a connection handed to "an idle thread" is in the queue before the lock is let go
                    if self._jobs.empty():
                        self._idle_workers -= 1
                        return None

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request, client_address) -> None:
        # Timeouts and clients that hang up are routine; socketserver would print a traceback.
        log.debug("http %s: %s", client_address[0] if client_address else "?", sys.exc_info()[1])

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, which can hang on machines without DNS.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]
        self.setup_environ()


class _Server6(_Server):
    address_family = socket.AF_INET6


def _refuse_busy(request) -> None:
    body = b'{"error": "too many connections; retry"}\n'
    try:
        request.settimeout(1.0)
        request.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                        b"Retry-After: 1\r\nConnection: close\r\nContent-Length: " + str(len(body)).encode()
                        + b"\r\n\r\n" + body)
    except OSError:
        pass


class _EofWatch:
    """The request stream, noting when a readline() hit the end of the input.

    http.client ends the header block at EOF as if a blank line had come, so a client
    that hangs up halfway through its headers would still get its request dispatched.
    """

    def __init__(self, stream) -> None:
        self._stream = stream
        self.eof = False

    def readline(self, *args):
        line = self._stream.readline(*args)
        if not line:
            self.eof = True
        return line

    def __getattr__(self, name):
        return getattr(self._stream, name)


class _QuietHandler(WSGIRequestHandler):
    timeout = IO_TIMEOUT  # StreamRequestHandler puts it on the socket: every read and write
    header_timeout = HEADER_TIMEOUT

    def setup(self) -> None:
        super().setup()
        self.rfile = _EofWatch(self.rfile)
        # A scraper sends its request at once; a connection silent this long frees its slot.
        self.connection.settimeout(min(self.header_timeout, self.timeout))

    def get_environ(self) -> dict:
        self.connection.settimeout(self.timeout)  # headers are in: body and response get IO_TIMEOUT
        environ = super().get_environ()
        environ["exporter.headers_complete"] = not self.rfile.eof
        if self.headers.get("content-type") is None:
            environ["CONTENT_TYPE"] = ""  # wsgiref would say text/plain: a request without a body is fine
        return environ

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
        self._render_error: str | None = None
        self._render_checked = -HEALTH_RENDER_EVERY
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
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="exporter-http", daemon=True)
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

    def health(self) -> tuple[int, dict]:
        """(HTTP status, body): 200 "ok", or 503 "unhealthy" when /metrics cannot render."""
        now = self._clock()
        last = self._metrics.last_event_time if self._metrics is not None else None
        error = self.render_error()
        body = {"status": "ok" if error is None else "unhealthy",
                "uptime_seconds": round(now - self._started, 3),
                "last_event_age_seconds": None if last is None else round(max(now - last, 0.0), 3)}
        if error is not None:
            body["error"] = error
        if self._health_extra is not None:
            body.update(self._health_extra())
        return (200 if error is None else 503), body

    def render_error(self) -> str | None:
        """Why /metrics cannot render now, or None. Renders itself at most every HEALTH_RENDER_EVERY
        seconds while healthy (a /metrics render in between counts); checks again at once after a failure."""
        if self._registry() is None:
            return "metrics not initialised: call init_metrics() first"
        now = time.monotonic()
        if self._render_error is None and now - self._render_checked < HEALTH_RENDER_EVERY:
            return None
        try:
            registry = self._registry()
            if self._metrics is not None and getattr(self._metrics, "registry", None) is registry:
                self._metrics.exposition()  # what /metrics serves
            else:
                generate_latest(registry)
        except Exception as exc:
            self._rendered(f"/metrics cannot render: {type(exc).__name__}: {show(exc)}")
        else:
            self._rendered(None)
        return self._render_error

    def _fast_metrics(self, registry, environ: dict, start_response):
        """/metrics through the exporter's fast exposition, or None to let prometheus_client answer
        (another registry, a method other than GET, `name[]` filters, an OpenMetrics version other than 1.0)."""
        metrics = self._metrics
        if (metrics is None or getattr(metrics, "registry", None) is not registry
                or environ.get("REQUEST_METHOD") != "GET" or "name[]" in environ.get("QUERY_STRING", "")):
            return None
        encoder, content_type = choose_encoder(environ.get("HTTP_ACCEPT", ""))
        openmetrics = content_type.startswith("application/openmetrics-text")
        if openmetrics and "version=1.0.0" not in content_type:
            return None
        pieces = metrics.exposition_pieces(openmetrics, encoder)
        if pieces is None:
            return None
        headers = [("Content-Type", content_type)]
        if gzip_accepted(environ.get("HTTP_ACCEPT_ENCODING", "")):
            pieces = _gzip(pieces)
            headers.append(("Content-Encoding", "gzip"))
        headers.append(("Content-Length", str(sum(map(len, pieces)))))
        start_response("200 OK", headers)
        return _written(pieces)

    def _rendered(self, error: str | None) -> None:
        if error is not None and error != self._render_error:
            log.error("%s", error)
        self._render_error, self._render_checked = error, time.monotonic()

    def _app(self, environ: dict, start_response):
        path = environ.get("PATH_INFO") or "/"
        if not environ.get("exporter.headers_complete", True):
            return _json(start_response, 400, {"error": "incomplete request headers; nothing done"})
        if path in ("/metrics", "/metrics/"):
            registry = self._registry()
            if registry is None:
                return _json(start_response, 503, {"error": "metrics not initialised: call init_metrics() first"})
            try:  # prometheus_client renders before it calls start_response
                result = self._fast_metrics(registry, environ, start_response)
                if result is None:
                    result = make_wsgi_app(registry)(environ, start_response)
            except Exception as exc:
                self._rendered(f"/metrics cannot render: {type(exc).__name__}: {show(exc)}")
                return _json(start_response, 500, {"error": self._render_error})
            if environ.get("REQUEST_METHOD") == "GET":
                self._rendered(None)
            return result
        if path == "/health":
            return _json(start_response, *self.health())
        handler = self._routes.get(path)
        if handler is not None:
            if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
                refusal = _refuse_state_change(environ)
                if refusal is not None:
                    log.warning("refused %s %s: %s", environ.get("REQUEST_METHOD"), path, refusal[1]["error"])
                    return _json(start_response, *refusal)
            status, body = handler(environ)
            return _json(start_response, status, body)
        if path == "/":
            text = "trading-bot exporter: /metrics, /health" + "".join(f", {p}" for p in sorted(self._routes))
            start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
            return [text.encode() + b"\n"]
        return _json(start_response, 404, {"error": f"no such endpoint: {path}"})


def _gzip(pieces: list[bytes]) -> list[bytes]:
    """The pieces as one gzip stream, compressed WRITE_PIECE bytes at a time. zlib releases the GIL
    while it compresses (about 0.4 ms per piece at level 1), so the trading loop runs meanwhile."""
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)  # 31: a gzip header and trailer
    out = [compressor.compress(group) for group in _grouped(pieces)]
    out.append(compressor.flush())
    return [chunk for chunk in out if chunk]


def _grouped(pieces: list[bytes]) -> Iterator[bytes]:
    """The pieces joined into byte strings of about WRITE_PIECE bytes (a piece is never split)."""
    batch: list[bytes] = []
    size = 0
    for piece in pieces:
        batch.append(piece)
        size += len(piece)
        if size >= WRITE_PIECE:
            yield b"".join(batch)
            batch, size = [], 0
    if batch:
        yield b"".join(batch)


def _written(pieces: list[bytes]) -> Iterator[bytes]:
    """The response body for wsgiref to write: about WRITE_PIECE bytes at a time, the GIL handed over
    between two writes."""
    for i, group in enumerate(_grouped(pieces)):
        if i:
            hand_over()
        yield group


def _refuse_state_change(environ: dict) -> tuple[int, dict] | None:
    """Why a state-changing request must not run (status, body), or None; reads its whole body.

    Browsers send any page's cross-origin "simple" requests (a form POST, fetch() with text/plain)
    without asking first; a custom header forces a CORS preflight, which this server never grants.
    """
    origin = environ.get("HTTP_ORIGIN")
    own = f"http://{environ.get('HTTP_HOST', '')}"
    if origin is not None and origin != own:
        return 403, {"error": f"cross-origin request refused (Origin {origin[:100]!r} is not {own!r})"}
    if environ.get("HTTP_SEC_FETCH_SITE", "same-origin") not in ("same-origin", "none"):
        return 403, {"error": "cross-site request refused (Sec-Fetch-Site)"}
    if environ.get("HTTP_" + STATE_CHANGE_HEADER.upper().replace("-", "_")) != "1":
        return 403, {"error": f"state changes need the header '{STATE_CHANGE_HEADER}: 1'"}
    content_type = (environ.get("CONTENT_TYPE") or "").split(";")[0].strip().lower()
    if content_type in SIMPLE_CONTENT_TYPES:
        return 415, {"error": f"content type {content_type} refused: send no body, or application/json"}
    if environ.get("HTTP_TRANSFER_ENCODING"):
        return 411, {"error": "chunked bodies are not accepted; send Content-Length"}
    # The whole body before anything runs: a request cut off mid-body is never executed.
    length_text = environ.get("CONTENT_LENGTH") or "0"
    if not (length_text.isascii() and length_text.isdigit()):
        return 400, {"error": "bad Content-Length"}
    length = int(length_text)
    if length > MAX_BODY:
        return 413, {"error": f"body over {MAX_BODY} bytes"}
    stream, received = environ["wsgi.input"], 0
    try:
        while received < length:
            chunk = stream.read(min(length - received, 65536))
            if not chunk:
                return 400, {"error": f"incomplete body ({received} of {length} bytes); nothing changed"}
            received += len(chunk)
    except OSError:  # the socket timed out (IO_TIMEOUT) or the client went away
        return 408, {"error": f"body not received ({received} of {length} bytes); nothing changed"}
    return None


def _json(start_response, status: int, body: object):
    data = json.dumps(body, sort_keys=True).encode("utf-8") + b"\n"
    start_response(f"{status} {_REASONS.get(status, 'Error')}",
                   [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]
