"""/metrics without stalling the bot (issue 14): the render works in slices with a real GIL hand-over
between them, the body is compressed and written in pieces, and an idle server never wakes up.

What these tests check is the structure (slices, hand-overs, pieces, headers, bytes); how long a trading
loop waits is measured by `make bench` (bench/exporter_bench.py --only stalls), never asserted here.
"""
from __future__ import annotations

import gzip
import http.client
import json
import os
import sys
import threading
import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_latest

from exporter import exposition as exposition_module
from exporter import names
from exporter import server as server_module
from exporter.metrics import BotMetrics
from exporter.server import MetricsServer

from .conftest import BOT
from .test_fast_exposition import parsed

# What Prometheus 2.42 sends (captured from a real one; bench/exporter_bench.py reads the same file).
PROMETHEUS_HEADERS = json.loads((Path(__file__).parent.parent / "fixtures" / "prometheus_scrape_headers.json")
                                .read_text())


def large(series: int = 3000) -> tuple[BotMetrics, CollectorRegistry]:
    registry = CollectorRegistry()
    m = BotMetrics(registry, process_collectors=False, max_label_values=series)
    m.init_metrics(*BOT)
    for i in range(series // 2):
        m.set_open_positions(f"SYM{i}", i + 0.5)
        m.observe_http_request("GET", f"/r{i % 50}", 200, 0.01 * (i % 7))
        m.record_fx_quote(f'src"{i % 30}\\', 1.0 + i)  # label values that need escaping
    return m, registry


def get(url: str, headers: dict) -> tuple[http.client.HTTPResponse, bytes]:
    host, port = url.split("//")[1].split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.request("GET", "/metrics", headers=headers)
        response = connection.getresponse()
        return response, response.read()
    finally:
        connection.close()


def test_render_in_slices_with_a_hand_over_between_each(monkeypatch):
    m, registry = large()
    monkeypatch.setattr(exposition_module, "SLICE", 0.0)  # a slice every CHECK_EVERY series
    calls = []
    real = exposition_module.hand_over
    monkeypatch.setattr(exposition_module, "hand_over", lambda: (calls.append(1), real()))
    pieces = m.exposition_pieces()
    series = sum(len(f.samples) for f in registry.collect())
    assert len(pieces) > 3
    # one hand-over before the fast part, then one after each slice (a slice is a piece; the last two
    # pieces are the rest and the other collectors' part): never one per series
    assert len(calls) == len(pieces) - 1
    assert len(calls) < series / 4
    body = b"".join(pieces)
    assert parsed(body.decode()) == parsed(generate_latest(registry).decode())
    assert body == m.exposition()  # exposition() is the same pieces, joined
    om = b"".join(m.exposition_pieces(openmetrics=True)).decode()
    assert om.endswith("# EOF\n") and om.count("# EOF") == 1
    assert parsed(om, True) == parsed(openmetrics_latest(registry).decode(), True)


def test_the_default_slice_still_hands_over_on_a_large_registry(monkeypatch):
    m, _ = large(4000)
    calls = []
    real = exposition_module.hand_over
    monkeypatch.setattr(exposition_module, "hand_over", lambda: (calls.append(1), real()))
    m.exposition()
    # however fast this machine is, the render starts with a hand-over (the request's parsing ends there)
    assert calls
    assert m._exposition.longest_stretch > 0


def test_a_series_added_or_removed_while_rendering_never_breaks_the_render(monkeypatch):
    m, registry = large(600)
    monkeypatch.setattr(exposition_module, "SLICE", 0.0)
    real = exposition_module.hand_over
    added = []

    def churn():  # between two slices, as the bot's thread would: a new series, and one removed
        added.append(len(added))
        m.set_open_positions(f"NEW{len(added)}", 1.0)
        real()

    monkeypatch.setattr(exposition_module, "hand_over", churn)
    gauge = m._metrics[names.OPEN_POSITIONS]
    gauge.remove(*next(iter(gauge.children)))
    text = m.exposition().decode()
    assert parsed(text)  # parses; every series it lists has its own labels
    monkeypatch.setattr(exposition_module, "hand_over", real)
    assert parsed(m.exposition().decode()) == parsed(generate_latest(registry).decode())


@pytest.fixture
def served():
    servers = []

    def start(m):
        server = MetricsServer(lambda: m.registry, m, port=0, addr="127.0.0.1").start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def test_a_prometheus_scrape_gets_gzip_level_1_with_a_content_length(served):
    m, registry = large()
    server = served(m)
    response, body = get(server.url, PROMETHEUS_HEADERS)
    assert response.status == 200
    assert response.headers["Content-Encoding"] == "gzip"
    assert response.headers["Content-Type"].startswith("application/openmetrics-text; version=1.0.0")
    assert int(response.headers["Content-Length"]) == len(body)
    assert body[:2] == b"\x1f\x8b" and body[8] == 4  # gzip's XFL byte: 4 = the fastest compression
    assert server_module.GZIP_LEVEL == 1
    text = gzip.decompress(body).decode()
    assert parsed(text, True) == parsed(openmetrics_latest(registry).decode(), True)


def test_a_large_plain_body_is_written_in_pieces_and_arrives_whole(served, monkeypatch):
    m, registry = large()
    monkeypatch.setattr(server_module, "WRITE_PIECE", 4096)
    writes = []
    real = server_module.hand_over
    monkeypatch.setattr(server_module, "hand_over", lambda: (writes.append(1), real()))
    server = served(m)
    response, body = get(server.url, {})
    assert response.status == 200 and "Content-Encoding" not in response.headers
    assert int(response.headers["Content-Length"]) == len(body) > 10 * 4096
    assert len(writes) >= 10  # a hand-over between two 4 KB writes
    assert parsed(body.decode()) == parsed(generate_latest(registry).decode())
    # gzip over the same pieces: the same bytes once decompressed
    response, zipped = get(server.url, {"Accept-Encoding": "gzip"})
    assert int(response.headers["Content-Length"]) == len(zipped)
    assert parsed(gzip.decompress(zipped).decode()) == parsed(generate_latest(registry).decode())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc for the thread's context switches")
def test_an_idle_server_never_wakes_up(served, metrics):
    server = served(metrics)
    thread = server._thread
    status = f"/proc/self/task/{thread.native_id}/status"

    def switches() -> int:
        with open(status) as f:
            return sum(int(line.split()[1]) for line in f if "ctxt_switches" in line)

    get(server.url, {})  # it serves; then it sleeps until the next connection
    time.sleep(0.1)
    before = switches()
    time.sleep(0.6)  # socketserver's loop would have woken 3 times (every 0.2 s) and taken the GIL
    assert switches() == before


def test_stop_wakes_the_server_and_closes_what_it_opened(metrics):
    fds = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None
    for _ in range(3):
        server = MetricsServer(lambda: metrics.registry, metrics, port=0, addr="127.0.0.1").start()
        get(server.url, {})
        done = threading.Event()
        threading.Thread(target=lambda s=server, d=done: (s.stop(), d.set()), daemon=True).start()
        assert done.wait(10), "stop() did not return"
        assert not server.running
    if fds is not None:
        assert len(os.listdir("/proc/self/fd")) <= fds  # sockets and the wake-up pipe are closed


def test_reused_lines_follow_every_change_between_renders():
    """A series' last line is reused only while its value (a histogram's count and sum) is unchanged."""
    m, registry = large(400)
    gauge = m._metrics[names.OPEN_POSITIONS]
    symbol = next(iter(gauge.children))
    for step, value in enumerate([1.0, 1.0, float("nan"), 2e6, float("inf"), -3.5, 0.0, 7.0]):
        gauge.labels(*symbol).set(value)
        m.record_trade("entry")                                    # a counter moves
        m.observe_http_request("GET", "/r1", 200, 0.0)             # a histogram: count moves, sum does not
        if step % 2:
            m.observe_http_request("GET", "/r2", 200, 12.5)        # count and sum move
        m.set_open_positions(f"LATE{step}", step)                  # a series that appears between renders
        assert parsed(m.exposition().decode()) == parsed(generate_latest(registry).decode())
        assert parsed(m.exposition(openmetrics=True).decode(), True) == \
            parsed(openmetrics_latest(registry).decode(), True)


def request_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "exporter-http-request"]


def wait_for(condition, seconds: float = 10.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def test_one_request_thread_serves_scrape_after_scrape(served, metrics, monkeypatch):
    monkeypatch.setattr(server_module, "WORKER_IDLE", 0.3)
    before = len(request_threads())
    server = served(metrics)
    httpd = server._httpd
    for _ in range(5):
        response, body = get(server.url, PROMETHEUS_HEADERS)
        assert response.status == 200 and gzip.decompress(body).endswith(b"# EOF\n")
        assert wait_for(lambda: httpd._idle_workers == 1)  # back waiting for the next connection
    assert httpd._workers == 1 and len(request_threads()) - before == 1
    # an idle thread ends after WORKER_IDLE; the next scrape starts a new one
    assert wait_for(lambda: httpd._workers == 0)
    assert get(server.url, {})[0].status == 200
    assert wait_for(lambda: httpd._idle_workers == 1) and httpd._workers == 1
