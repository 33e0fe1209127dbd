"""The exporter's HTTP server under load (issue 12): 200 req/s of GET /metrics from 64 concurrent
clients at the demo's size (p50/p99, errors), then 1,000 idle connections (server threads, /health).

    .venv/bin/python bench/exporter_http_load.py
"""
import socket
import sys
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from prometheus_client import CollectorRegistry  # noqa: E402

from exporter.demo import DemoBot  # noqa: E402
from exporter.metrics import BotMetrics  # noqa: E402
from exporter.server import MAX_CONNECTIONS, MetricsServer  # noqa: E402

RATE, SECONDS, CLIENTS, IDLE = 200, 5, 64, 1000


def main() -> None:
    metrics = BotMetrics(CollectorRegistry())
    metrics.init_metrics("paper", "top20", "topn_arb")
    bot = DemoBot(metrics, seed=1)
    for i in range(120):
        bot.tick(0.5, 1_700_000_000.0 + i * 0.5)
    server = MetricsServer(lambda: metrics.registry, metrics, port=0, addr="127.0.0.1").start()
    url = server.url + "/metrics"
    latencies, errors = [], []
    start = time.monotonic()

    def client(k: int) -> None:
        i = k
        while start + i / RATE <= start + SECONDS:
            time.sleep(max(0.0, start + i / RATE - time.monotonic()))
            began = time.monotonic()
            try:
                with urllib.request.urlopen(url, timeout=10) as response:
                    response.read()
                latencies.append(time.monotonic() - began)
            except Exception as exc:  # counted, not raised: this is a load probe
                errors.append(type(exc).__name__)
            i += CLIENTS

    threads = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    latencies.sort()
    p50, p99 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99)]
    print(f"{len(latencies)} requests at {RATE}/s from {CLIENTS} clients: "
          f"p50 {p50 * 1e3:.1f} ms, p99 {p99 * 1e3:.1f} ms, "
          f"max {latencies[-1] * 1e3:.1f} ms, errors {len(errors)} {sorted(set(errors))[:3]}")

    before = threading.active_count()
    idle = []
    for _ in range(IDLE):  # slow clients: connect, send nothing
        try:
            idle.append(socket.create_connection(("127.0.0.1", server.port), timeout=5))
        except OSError:
            break
    time.sleep(1)
    held = threading.active_count() - before
    began = time.monotonic()
    try:
        with urllib.request.urlopen(server.url + "/health", timeout=60) as response:
            health = response.status
    except Exception as exc:
        health = type(exc).__name__
    waited = time.monotonic() - began
    for sock in idle:
        sock.close()
    print(f"{len(idle)} idle connections: {held} server threads (bound {MAX_CONNECTIONS}); "
          f"/health meanwhile: {health} after {waited:.2f} s")
    server.stop()


if __name__ == "__main__":
    main()
