"""The fast exposition parses to exactly the samples prometheus_client's generate_latest gives on the same state."""
from __future__ import annotations

import gzip
import math
import os
import shutil
import subprocess
import urllib.request

import pytest
from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_latest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text

from exporter.demo import DemoBot
from exporter.metrics import BotMetrics
from exporter.scenarios import ScenarioSet
from exporter.server import MetricsServer

from .conftest import BOT

PROMTOOL = shutil.which("promtool") or ("/usr/bin/promtool" if os.path.exists("/usr/bin/promtool") else None)


VOLATILE = ("process_", "python_gc_")


def parsed(text: str, openmetrics: bool = False) -> tuple[dict, list]:
    """({family: (type, help)}, sorted samples as (name, labels, value)) with NaN made comparable."""
    families, out = {}, []
    for family in (parse_openmetrics if openmetrics else parse_text)(text):
        families[family.name] = (family.type, family.documentation)
        for sample in family.samples:
            value = "NaN" if math.isnan(sample.value) else sample.value
            if sample.name.startswith(VOLATILE):
                value = None  # the process's own CPU, memory and GC move between two renders
            out.append((sample.name, tuple(sorted(sample.labels.items())), value))
    return families, sorted(out, key=repr)


def assert_equivalent(metrics: BotMetrics, registry) -> str:
    fast = metrics.exposition().decode()
    assert parsed(fast) == parsed(generate_latest(registry).decode())
    fast_om = metrics.exposition(openmetrics=True).decode()
    assert fast_om.endswith("# EOF\n") and fast_om.count("# EOF") == 1
    assert parsed(fast_om, True) == parsed(openmetrics_latest(registry).decode(), True)
    if PROMTOOL:
        check = subprocess.run([PROMTOOL, "check", "metrics"], input=fast.encode(), capture_output=True, timeout=30)
        assert check.returncode == 0, (check.stdout + check.stderr).decode()
    return fast


def busy(metrics: BotMetrics, routes: int = 40) -> None:
    """A demo minute, odd values, label values that need escaping, many routes."""
    bot = DemoBot(metrics, seed=5, scenarios=ScenarioSet())
    for _ in range(120):
        bot.tick(0.5)
    metrics.record_fx_quote('we"ird\\src\nx', 1.5, timestamp=1.7e9)
    metrics.record_pnl(1e300)
    metrics.record_pnl(1e300)
    metrics.set_equity(-5.0)
    metrics.set_risk_metrics(sharpe=-1e-300, calmar=123456789.125, var95_usd=2e6, cvar95_usd=0.0)
    for i in range(routes):
        metrics.observe_http_request("GET", f"/r/{i}/{{id}}", 200 + i % 3, 0.001 * i)
    metrics.record_loop_latency(0.0)
    metrics.record_loop_latency(1e9)


def test_equivalent_on_a_fresh_exporter(metrics, registry):
    assert_equivalent(metrics, registry)


def test_equivalent_on_a_busy_exporter_with_foreign_collectors():
    registry = CollectorRegistry()
    app_own = Counter("app_jobs", "The app's own counter.", ["kind"], registry=registry)
    app_own.labels("x").inc(3)
    m = BotMetrics(registry)  # with the process, platform and GC collectors
    m.init_metrics(*BOT)
    busy(m)
    text = assert_equivalent(m, registry)
    assert "process_cpu_seconds_total" in text and 'app_jobs_total{kind="x"} 3.0' in text
    # values the Go float format writes in exponent form come out the same, byte for byte
    assert "trading_calmar{" in text and "} 1.23456789125e+08\n" in text


def test_equivalent_after_reset_rebind_and_series_removed(metrics, registry):
    busy(metrics)
    metrics.exposition()                      # prepared text for every series
    metrics.init_metrics("other", "top5", "s2")  # TopN series move to new labels
    assert_equivalent(metrics, registry)
    metrics.reset_metrics()
    busy(metrics, routes=5)
    assert_equivalent(metrics, registry)


@pytest.mark.parametrize("series", [1000, 10000])
def test_equivalent_at_scale(series):
    registry = CollectorRegistry()
    m = BotMetrics(registry, process_collectors=False, max_label_values=series)
    m.init_metrics(*BOT)
    for i in range(series // 2):
        m.set_open_positions(f"SYM{i}", i)
        m.record_fx_outlier(f"src{i}") if i % 2 else m.record_order("buy", "filled", f"ex{i % 7}")
    assert_equivalent(m, registry)


def test_served_over_http_in_every_format(metrics, registry):
    busy(metrics, routes=3)
    server = MetricsServer(lambda: metrics.registry, metrics, port=0, addr="127.0.0.1").start()
    try:
        def get(headers):
            request = urllib.request.Request(server.url + "/metrics", headers=headers)
            with urllib.request.urlopen(request, timeout=10) as response:
                body = response.read()
                if response.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                return response.headers["Content-Type"], body.decode()

        content_type, text = get({})
        assert content_type.startswith("text/plain") and parsed(text) == parsed(generate_latest(registry).decode())
        content_type, text = get({"Accept": "application/openmetrics-text; version=1.0.0", "Accept-Encoding": "gzip"})
        assert content_type.startswith("application/openmetrics-text")
        assert parsed(text, True) == parsed(openmetrics_latest(registry).decode(), True)
        # prometheus_client still answers what the fast path does not take (name[] filters)
        with urllib.request.urlopen(server.url + "/metrics?name[]=trading_trades_total", timeout=10) as response:
            filtered = response.read().decode()
        assert "trading_trades_total" in filtered and "trading_pnl_usd" not in filtered
    finally:
        server.stop()
