"""docs/exporter.md stays true: the example bot runs, the event examples apply, the tables are complete."""
from __future__ import annotations

import asyncio
import json
import os
import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

import exporter
from exporter.events import EVENT_TYPES, EventApplier
from exporter.scenarios import SCENARIOS

from .conftest import ROOT, free_port, http, samples, value, wait_for

DOC = (ROOT / "docs" / "exporter.md").read_text()


def block(after_heading: str, lang: str) -> str:
    section = DOC.split(after_heading, 1)[1]
    return re.search(rf"```{lang}\n(.*?)```", section, re.S).group(1)


@pytest.fixture
def bot_file(tmp_path):
    path = tmp_path / "bot.py"
    path.write_text(block("## Example bot", "python"))
    return path


@pytest.mark.tools
def test_example_bot_runs_and_serves_its_metrics(bot_file):
    port = free_port()
    env = {**os.environ, "BOT_METRICS_PORT": str(port), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, str(bot_file)], cwd=bot_file.parent, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        def ready():
            if proc.poll() is not None:
                raise AssertionError(proc.stdout.read().decode())
            status, body = http(f"http://127.0.0.1:{port}/metrics")
            return status == 200 and b'fx_source_rate{source="okx"}' in body and body
        body = wait_for(ready, what="the example bot's /metrics").decode()
        assert 'trading_trades_total{env="paper",strategy="topn_arb",trade_type="entry",universe="top20"}' in body
        assert json.loads(http(f"http://127.0.0.1:{port}/health")[1])["status"] == "ok"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()


def test_example_bot_api_is_measured_by_route_template(bot_file, registry):
    bot = runpy.run_path(str(bot_file), run_name="bot")  # not __main__: defines app and the loop only
    exporter.init_metrics("paper", "top20", "topn_arb", registry=registry)
    try:
        async def get(path):
            async def receive():
                return {"type": "http.request"}

            async def send(message):
                pass
            await bot["app"]({"type": "http", "method": "GET", "path": path}, receive, send)

        for path in ("/positions", "/orders", "/wp-admin"):
            asyncio.run(get(path))
        assert value(registry, "http_requests_total", path="/positions", status="200") == 1.0
        assert value(registry, "http_requests_total", path="other", status="404") == 1.0
    finally:
        exporter.default_metrics().close()


def test_every_event_example_in_the_docs_applies(metrics, registry):
    lines = block("One example per type:", "json").strip().splitlines()
    assert sorted(json.loads(line)["type"] for line in lines) == sorted(EVENT_TYPES)
    applier = EventApplier(metrics)
    for lineno, line in enumerate(lines, 1):
        assert applier.apply_line(line.encode(), lineno, "docs"), line
    malformed = samples(registry, "exporter_events_total")
    assert sum(v for k, v in malformed.items() if dict(k)["result"] == "malformed") == 0


def test_scenario_examples_are_real_and_the_runbook_names_every_scenario():
    table = DOC.split("Each scenario pushes one alert family", 1)[1].split("\n\n", 2)[1]
    examples = re.findall(r"^\| `(\w+)` \|", table, re.M)
    assert examples and set(examples) <= set(SCENARIOS)
    # The full list is generated: each alert's "Try it" in the runbook, from the family entries.
    runbook = (Path(__file__).resolve().parents[2] / "docs" / "runbook.md").read_text(encoding="utf-8")
    tried = re.findall(r"^- `(\w+)`: ", runbook.split("**Try it**", 1)[1], re.M)
    assert sorted(tried) == sorted(SCENARIOS)


def test_api_table_lists_every_public_function():
    table = DOC.split("## The in-process API", 1)[1].split("### Contract", 1)[0]
    documented = set(re.findall(r"^\| `(\w+)\(", table, re.M))
    public = {name for name in exporter.__all__ if callable(getattr(exporter, name))
              and name[0].islower() and name not in ("load_catalog", "default_metrics")}
    assert public <= documented, public - documented
