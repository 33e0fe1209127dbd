"""Hostile input, property-based: no call raises into the caller and /metrics always renders.

Hypothesis draws sequences of public calls with hostile arguments (NaN, inf, 10**400,
complex numbers, bools, lone surrogates, bytes, containers, Decimals, objects whose
every dunder raises, str and float subclasses...) mixed with good ones, and runs each
sequence from several threads at once against one BotMetrics served over real HTTP on
127.0.0.1. After every example: 0 exceptions reached a caller, GET /metrics answers
200 with an exposition `promtool check metrics` accepts, and /health answers 200.
The same holds for sidecar lines (JSON with hostile values, and raw bytes).
Bounded: a few hundred examples, no deadline per example, well under a minute.
"""
from __future__ import annotations

import decimal
import enum
import fractions
import json
import math
import os
import shutil
import subprocess
import threading
import urllib.request

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest

from exporter.events import EVENT_TYPES, EventApplier
from exporter.metrics import BotMetrics
from exporter.ops import CALLS as OPS_CALLS
from exporter.server import MetricsServer

from .conftest import BOT, samples
from .test_fast_exposition import parsed

PROMTOOL = shutil.which("promtool") or ("/usr/bin/promtool" if os.path.exists("/usr/bin/promtool") else None)
THREADS = 4
FIGURES = {"examples": 0, "calls": 0, "exceptions": 0, "renders": 0, "lines": 0}


class Hostile:
    """Every operation the exporter might try raises."""

    def _boom(self, *args, **kwargs):
        raise RuntimeError("hostile")

    __float__ = __int__ = __index__ = __hash__ = __eq__ = __lt__ = __le__ = __gt__ = __ge__ = _boom
    __sub__ = __add__ = __mul__ = __truediv__ = __str__ = __bool__ = __format__ = _boom

    def __repr__(self):  # hypothesis prints examples; show() with a failing repr is tested on its own
        return "Hostile()"


class LyingStr(str):
    """A str subclass whose str() is not its value and whose repr() fails."""

    def __str__(self):
        return "\ud800"

    def __hash__(self):
        return id(self)  # not the hash of its value: dict lookups miss


class WeirdFloat(float):
    def __float__(self):
        return math.nan


class Side(enum.StrEnum):
    BUY = "buy"
    ENTRY = "entry"


ODD = [Hostile(), LyingStr("okx"), LyingStr("entry"), WeirdFloat(1.0), Side.BUY, Side.ENTRY,
       10 ** 400, -(10 ** 400), 2 ** 1024, 1 + 1j, complex(math.nan, 0), 1e308, -1e308, 1.7e308, -1.7e308,
       1.7976931348623157e308, 9e307, 5e-324,
       decimal.Decimal("1e999999"), decimal.Decimal("NaN"), decimal.Decimal("sNaN"), fractions.Fraction(1, 3),
       "\ud800", "a\udfffb", "\x00", "\n\"\\", "okx\n", "", "x" * 200, b"okx", bytearray(b"1"), [], {}, (),
       {"okx"}, object(), math.nan, math.inf, -math.inf, True, False, None, 200, "200", "²", "0200", 99, 600]

GOOD_LABELS = ["entry", "exit", "symbol", "P1", "take_profit", "okx", "binance", "buy", "sell", "filled",
               "GET", "post", "/orders/{id}", "BTCUSDT", "rate_limiter"]

surrogates = st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1, max_size=3)
texts = st.one_of(st.sampled_from(GOOD_LABELS), st.text(max_size=40), surrogates,
                  st.builds(lambda a, b: a + b, st.sampled_from(GOOD_LABELS), surrogates))
numbers = st.one_of(st.floats(), st.integers(min_value=-(10 ** 420), max_value=10 ** 420),
                    st.integers(min_value=-5, max_value=1000), st.complex_numbers(),
                    st.decimals(), st.fractions(),
                    st.sampled_from([1e308, -1e308, 1.7e308, -1.7e308, 1.7976931348623157e308, 9e307]))  # sums overflow
odd = st.sampled_from(range(len(ODD))).map(ODD.__getitem__)  # by index: some of them cannot be hashed
values = st.one_of(numbers, texts, odd, st.booleans(), st.none(), st.binary(max_size=8))

# Every public hot-path call with its arity (set_risk_metrics and the fx timestamp also by keyword).
CALLS = {
    "record_pnl": 1, "set_equity": 1, "record_trade": 1, "record_round_trip": 1, "record_win_rate": 2,
    "record_loop_latency": 1, "record_guard_trigger": 1, "record_alert": 2, "record_exit_reason": 1,
    "set_active_positions": 1, "set_risk_metrics": 4, "record_fx_quote": 3, "set_fx_source_connected": 2,
    "record_fx_outlier": 1, "set_fx_median": 1, "set_fx_valid_sources": 1, "set_fx_fallback": 1,
    "observe_http_request": 4, "set_websocket_connections": 1, "record_rate_limit": 1, "record_order": 3,
    "set_open_positions": 2, "record_memory_usage": 1, "record_cpu_usage": 1,
    **{row.name: len(row.params) for row in OPS_CALLS},
}
OPS = {row.name: row.params for row in OPS_CALLS}   # their calls also by name, and with too many arguments


@st.composite
def call(draw):
    name = draw(st.sampled_from(sorted(CALLS)))
    args = [draw(values) for _ in range(CALLS[name])]
    keywords = {}
    if name == "set_risk_metrics" and draw(st.booleans()):
        keywords = dict(zip(("sharpe", "calmar", "var95_usd", "cvar95_usd"), args, strict=True))
        args = []
    if name == "record_fx_quote" and draw(st.booleans()):
        keywords, args = {"timestamp": args[2]}, args[:2]
    if name in OPS:
        given = draw(st.integers(0, len(args)))      # the first ones by position, the rest by name
        keywords = dict(zip(OPS[name][given:], args[given:], strict=True))
        args = args[:given] + draw(st.lists(values, max_size=1))   # an extra positional argument now and then
        if draw(st.integers(0, 9)) == 0:
            keywords[draw(st.sampled_from([*OPS[name], "bogus"]))] = draw(values)   # repeated or unknown
    return name, args, keywords


@pytest.fixture(scope="module")
def served():
    registry = CollectorRegistry()
    metrics = BotMetrics(registry, process_collectors=False, max_label_values=50)
    metrics.init_metrics(*BOT)
    server = MetricsServer(lambda: metrics.registry, metrics, port=0, addr="127.0.0.1").start()
    yield metrics, registry, server
    server.stop()
    print(f"\nhostile-input figures: {FIGURES}")


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _assert_renders(server, registry) -> None:
    status, body = _get(server.url + "/metrics")
    assert status == 200, body[:300]
    # the fast exposition /metrics serves says what prometheus_client's own rendering says
    assert parsed(body.decode()) == parsed(generate_latest(registry).decode())
    # no sum or derived value has left the float range (two record_pnl(1e308), a _sum fed 1.7e308 twice)
    families, exposed = parsed(body.decode())
    assert [s for s in exposed if s[2] == "NaN" or (s[2] is not None and not math.isfinite(s[2]))] == []
    if PROMTOOL:
        check = subprocess.run([PROMTOOL, "check", "metrics"], input=body, capture_output=True, timeout=30)
        assert check.returncode == 0, (check.stdout + check.stderr).decode(errors="replace")[:500]
    status, body = _get(server.url + "/health")
    assert status == 200 and json.loads(body)["status"] == "ok", body
    FIGURES["renders"] += 1


def _run_threaded(work: list) -> list[BaseException]:
    """Run the callables split over THREADS threads started together; the exceptions they raised."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(THREADS)

    def worker(part):
        barrier.wait()
        for fn in part:
            try:
                fn()
            except BaseException as exc:  # noqa: B036 - anything reaching the caller is the failure
                errors.append(exc)

    threads = [threading.Thread(target=worker, args=(work[i::THREADS],)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a call hung"
    return errors


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(calls=st.lists(call(), min_size=1, max_size=24))
def test_hostile_calls_from_threads_never_raise_and_never_break_metrics(served, calls):
    metrics, registry, server = served
    work = []
    for name, args, keywords in calls:
        method = getattr(metrics, name)
        work.append(lambda m=method, a=args, k=keywords: _expect_bool(m(*a, **k)))
    errors = _run_threaded(work)
    FIGURES["examples"] += 1
    FIGURES["calls"] += len(work)
    FIGURES["exceptions"] += len(errors)
    assert errors == [], f"{len(errors)} calls raised into the caller: {errors[:3]!r}"
    _assert_renders(server, registry)


def _expect_bool(result) -> None:
    assert result is True or result is False, f"a call returned {result!r}"


json_values = st.one_of(st.floats(), st.integers(min_value=-(10 ** 500), max_value=10 ** 500), st.booleans(),
                        st.none(), texts, st.lists(st.integers(), max_size=2), st.sampled_from(GOOD_LABELS))


@st.composite
def event_line(draw):
    kind = draw(st.sampled_from(sorted(EVENT_TYPES)))
    if kind == "init":  # re-binding the bot labels is legal; keep the registry's label sets small
        kind = "trade"
    event = {"type": kind}
    for field, _ in EVENT_TYPES[kind].fields:
        if draw(st.integers(0, 9)):
            event[field] = draw(json_values)
    # allow_nan: NaN/Infinity tokens; ensure_ascii: lone surrogates travel as \\ud800 escapes
    line = json.dumps(event, allow_nan=True).encode()
    return draw(st.one_of(st.just(line), st.binary(max_size=64),
                          st.just(line.replace(b"1", b"1" * 5000)), st.just(b"[" * 100000)))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(lines=st.lists(event_line(), min_size=1, max_size=16))
def test_hostile_sidecar_lines_never_stop_the_reader_and_never_break_metrics(served, lines):
    metrics, registry, server = served
    applier = EventApplier(metrics)
    before = sum(samples(registry, "exporter_events_total").values())
    for number, line in enumerate(lines, 1):
        applier.apply_line(line, number, "hostile.jsonl")  # raising here fails the test
    FIGURES["lines"] += len(lines)
    blank = sum(1 for line in lines if not line.strip())
    assert applier.applied + applier.malformed == len(lines) - blank
    assert sum(samples(registry, "exporter_events_total").values()) - before == len(lines) - blank
    _assert_renders(server, registry)


# -- the HTTP endpoints: raw requests, hostile or cut off --------------------------------------------

header_names = st.sampled_from(["Origin", "Content-Type", "Content-Length", "X-Tradingmon-Scenario",
                                "Transfer-Encoding", "Sec-Fetch-Site", "Host", "Accept", "Accept-Encoding"])
header_values = st.one_of(st.sampled_from(["1", "0", "http://evil.example", "null", "text/plain",
                                           "application/json", "application/x-www-form-urlencoded", "chunked",
                                           "cross-site", "same-origin", "gzip", "-1", "99999999999", "5",
                                           "application/openmetrics-text; version=1.0.0"]),
                          st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=20))


@st.composite
def raw_request(draw):
    method = draw(st.sampled_from(["GET", "POST", "DELETE", "PUT", "OPTIONS", "HEAD", "BREW", ""]))
    path = draw(st.sampled_from(["/scenario?name=drawdown&on=1", "/scenario", "/metrics", "/metrics/",
                                 "/health", "/", "/x" * 50, "/scenario?name=../../etc&on=2"]))
    headers = draw(st.lists(st.tuples(header_names, header_values), max_size=6))
    body = draw(st.binary(max_size=40))
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers)
    data = head.encode("latin-1") + b"\r\n" + body
    cut = draw(st.integers(min_value=1, max_value=len(data)))  # the client may hang up anywhere
    return data[:cut], headers, data[:cut] == data


def _scenario_may_change(request: bytes, headers: list, complete: bool) -> bool:
    """Whether the server is allowed to switch a scenario on for this request."""
    values = {}
    for name, value in headers:
        values.setdefault(name.lower(), value.strip())  # the first header of a name counts (wsgiref)
    return (request.startswith(b"POST /scenario?name=drawdown&on=1 ") and complete
            and values.get("x-tradingmon-scenario") == "1" and "origin" not in values
            and values.get("content-type", "").split(";")[0].strip().lower() not in
            ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(requests=st.lists(raw_request(), min_size=1, max_size=5))
def test_hostile_http_requests_never_break_the_server_nor_change_state_unasked(served, requests):
    import socket

    from exporter.cli import scenario_route
    from exporter.scenarios import ScenarioSet

    metrics, registry, server = served
    scenarios = ScenarioSet()
    server.add_route("/scenario", scenario_route(scenarios))
    for data, headers, complete in requests:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
            try:
                while sock.recv(65536):
                    pass
            except OSError:
                pass  # a reset is an answer too
        if scenarios.active:
            assert _scenario_may_change(data, headers, complete), data
            scenarios.clear()
        FIGURES["http_requests"] = FIGURES.get("http_requests", 0) + 1
    _assert_renders(server, registry)
