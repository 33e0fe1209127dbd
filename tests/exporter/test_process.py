"""python -m exporter as a real process on 127.0.0.1: promtool, /health, signals, port taken, sources."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from .conftest import ROOT, SCENARIO_HEADERS, http, read_log, wait_for

pytestmark = pytest.mark.tools

PROMTOOL = shutil.which("promtool") or ("/usr/bin/promtool" if os.path.exists("/usr/bin/promtool") else None)


def metric_value(text: str, line_prefix: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(line_prefix):
            return float(line.rsplit(" ", 1)[1])
    return None


@pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed (expected at /usr/bin/promtool)")
def test_promtool_check_metrics_is_clean_on_the_demo(start_exporter):
    exporter = start_exporter("--source", "demo", "--seed", "1", "--tick", "0.2")
    wait_for(lambda: b"api_orders_total" in exporter.get("/metrics")[1], what="demo data")
    status, body = exporter.get("/metrics")
    assert status == 200
    result = subprocess.run([PROMTOOL, "check", "metrics"], input=body, capture_output=True, timeout=30)
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
    assert result.stdout.decode().strip() == "" and result.stderr.decode().strip() == ""


def test_health_json(start_exporter):
    exporter = start_exporter("--source", "demo", "--seed", "1")
    health = wait_for(lambda: (h := exporter.health())["last_event_age_seconds"] is not None and h,
                      what="a first demo tick")
    assert health["status"] == "ok"
    assert 0 <= health["last_event_age_seconds"] < 30
    assert health["uptime_seconds"] >= 0
    assert health["source"] == "demo"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_means_clean_exit_zero(start_exporter, sig):
    exporter = start_exporter("--source", "demo")
    assert exporter.stop(sig) == 0
    assert "received; shutting down" in read_log(exporter.proc)
    assert "Traceback" not in read_log(exporter.proc)


def test_port_taken_gives_one_clear_line_and_nonzero_exit(start_exporter):
    first = start_exporter("--source", "demo")
    result = subprocess.run([sys.executable, "-m", "exporter", "--bind", "127.0.0.1", "--port", str(first.port)],
                            cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"exporter: port {first.port} is already in use on 127.0.0.1 (another exporter, or node_exporter, "
        f"which also defaults to 9100?); choose another port")
    assert "Traceback" not in result.stderr


def test_bad_arguments_exit_2_with_a_message():
    result = subprocess.run([sys.executable, "-m", "exporter", "--source", "kafka"], cwd=ROOT,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "--source: expected demo, events:PATH or -" in result.stderr
    result = subprocess.run([sys.executable, "-m", "exporter", "--scenario", "meteor"], cwd=ROOT,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "unknown scenario 'meteor'" in result.stderr


def test_scenarios_from_the_command_line_and_over_http(start_exporter):
    exporter = start_exporter("--source", "demo", "--seed", "2", "--tick", "0.1", "--scenario", "api_errors,loss")
    assert exporter.health()["scenarios"] == ["api_errors", "loss"]
    status, body = exporter.get("/scenario")
    assert json.loads(body)["active"] == ["api_errors", "loss"]
    status, body = http(exporter.url + "/scenario?name=drawdown&on=1", method="POST", headers=SCENARIO_HEADERS)
    assert status == 200 and "drawdown" in json.loads(body)["active"]

    # The thresholds the running demo reads (catalog.json), never numbers pinned here.
    from importlib import resources
    limits = json.loads(resources.files("exporter").joinpath("catalog.json").read_text("utf-8"))["alerts"]

    def drawdown():
        text = exporter.get("/metrics")[1].decode()
        return metric_value(text, "trading_drawdown_ratio{") > limits["drawdown"]["critical"]
    wait_for(drawdown, timeout=20, what="drawdown over the critical level after POST /scenario")
    wait_for(lambda: metric_value(exporter.get("/metrics")[1].decode(), "trading_daily_pnl_usd{")
             < limits["daily_loss"]["limit_usd"], timeout=20, what="daily PnL below the loss limit (--scenario loss)")


def test_stdin_source(start_exporter):
    exporter = start_exporter("--source", "-", stdin=subprocess.PIPE)
    exporter.proc.stdin.write(b'{"type": "init", "env": "live", "universe": "top50", "strategy": "s1"}\n'
                              b'{"type": "trade", "trade_type": "entry"}\n'
                              b'not json\n')
    exporter.proc.stdin.flush()

    def applied():
        text = exporter.get("/metrics")[1].decode()
        return (metric_value(text, 'exporter_events_total{result="applied"}') == 2.0
                and metric_value(text, 'exporter_events_total{result="malformed"}') == 1.0 and text)
    text = wait_for(applied, what="stdin events")
    assert 'trading_trades_total{env="live",strategy="s1",trade_type="entry",universe="top50"} 1.0' in text
    exporter.proc.stdin.close()  # EOF: keeps serving the last values
    time.sleep(0.3)
    assert exporter.get("/health")[0] == 200
    assert exporter.stop() == 0
    assert "<stdin>:3: malformed event skipped: not JSON" in read_log(exporter.proc)


def test_sigterm_while_stdin_is_still_open_exits_zero(start_exporter):
    """A reader thread blocked on stdin must not turn a clean shutdown into a crash at exit."""
    exporter = start_exporter("--source", "-", stdin=subprocess.PIPE)
    exporter.proc.stdin.write(b'{"type": "trade", "trade_type": "entry"}\n')
    exporter.proc.stdin.flush()
    wait_for(lambda: b'result="applied"} 1.0' in exporter.get("/metrics")[1], what="the event")
    assert exporter.stop() == 0
    log = read_log(exporter.proc)
    assert "Fatal Python error" not in log and "Traceback" not in log
    exporter.proc.stdin.close()


def test_events_file_source(start_exporter, tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text('{"type": "pnl", "delta_usd": -12.5}\n')
    exporter = start_exporter("--source", f"events:{path}", "--poll", "0.05")
    wait_for(lambda: metric_value(exporter.get("/metrics")[1].decode(), "trading_pnl_usd{") == -12.5,
             what="the event applied")
    with open(path, "a") as f:
        f.write('{"type": "pnl", "delta_usd": 2.5}\n')
    wait_for(lambda: metric_value(exporter.get("/metrics")[1].decode(), "trading_pnl_usd{") == -10.0,
             what="the appended event")
    assert exporter.health()["source"] == "events"


def test_scenario_exists_only_in_demo_mode_and_refuses_cross_origin_posts(start_exporter, tmp_path):
    demo = start_exporter("--source", "demo", "--seed", "3")
    url = demo.url + "/scenario?name=drawdown&on=1"
    assert http(url, method="POST", headers={"Content-Type": "text/plain"}, data=b"x")[0] == 403
    assert http(url, method="POST", headers={"Origin": "http://evil.example", **SCENARIO_HEADERS})[0] == 403
    assert http(url, method="POST", headers={"Content-Type": "text/plain", **SCENARIO_HEADERS}, data=b"x")[0] == 415
    assert demo.health()["scenarios"] == []
    assert http(url, method="POST", headers=SCENARIO_HEADERS)[0] == 200
    assert demo.health()["scenarios"] == ["drawdown"]
    events = start_exporter("--source", f"events:{tmp_path / 'none.jsonl'}")
    assert http(events.url + "/scenario?name=drawdown&on=1", method="POST", headers=SCENARIO_HEADERS)[0] == 404
    assert events.get("/scenario")[0] == 404
