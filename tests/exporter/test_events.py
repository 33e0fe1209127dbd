"""The events sidecar: every event type, malformed lines, and following a file or a stream."""
from __future__ import annotations

import json
import logging
import os
import time

import pytest

from exporter.events import (EVENT_TYPES, MAX_LINE, TOO_LONG, EventApplier, FileTailer, LineSplitter, StreamReader,
                             parse_event)

from .conftest import samples, value, wait_for

# One example per type: the same lines docs/exporter.md shows.
EXAMPLES = [
    {"type": "init", "env": "test", "universe": "top20", "strategy": "topn_arb"},
    {"type": "trade", "trade_type": "entry"},
    {"type": "pnl", "delta_usd": -12.5},
    {"type": "equity", "equity_usd": 10000},
    {"type": "round_trip", "won": True},
    {"type": "win_rate", "wins": 3, "losses": 2},
    {"type": "loop_latency", "seconds": 0.0021},
    {"type": "guard", "guard_type": "symbol"},
    {"type": "alert", "severity": "P1", "source": "rate_limiter"},
    {"type": "exit", "reason": "stop_loss"},
    {"type": "positions", "count": 3},
    {"type": "risk", "sharpe": 1.8, "calmar": 3.1, "var95_usd": 250.0, "cvar95_usd": 340.0},
    {"type": "memory_usage", "bytes": 157286400},
    {"type": "cpu_usage", "percent": 12.5},
    {"type": "fx_quote", "source": "okx", "rate": 1.0002, "timestamp": 1700000000.5},
    {"type": "fx_source_status", "source": "okx", "connected": True},
    {"type": "fx_outlier", "source": "bybit"},
    {"type": "fx_median", "rate": 1.0001},
    {"type": "fx_valid_sources", "count": 3},
    {"type": "fx_fallback", "active": False},
    {"type": "http_request", "method": "GET", "path": "/orders", "status": 200, "seconds": 0.012},
    {"type": "websocket_connections", "count": 12},
    {"type": "rate_limit", "limited": True},
    {"type": "order", "side": "buy", "status": "filled", "exchange": "binance"},
    {"type": "open_positions", "symbol": "BTCUSDT", "count": 1},
    {"type": "realized_pnl", "symbol": "BTCUSDT", "usd": -12.5},
    {"type": "order_latency", "exchange": "binance", "seconds": 0.042},
    {"type": "exchange_status", "exchange": "okx", "connected": False},
    {"type": "market_data", "feed": "binance:BTCUSDT:book", "timestamp": 1700000000.5},
    {"type": "clock_skew", "reference": "ntp", "seconds": -0.012},
    {"type": "trading_state", "state": "reducing"},
    {"type": "kill_switch", "active": False},
    {"type": "rate_limit_usage", "exchange": "binance", "used": 900, "limit": 1200},
    {"type": "rate_limit_ban", "exchange": "binance", "code": 429},
    {"type": "position", "symbol": "BTCUSDT", "notional_usd": -25000, "limit_usd": 50000},
    {"type": "balance", "asset": "USDT", "bot_usd": 10000, "exchange_usd": 9990},
]


def events(registry) -> dict[str, float]:
    return {dict(k)["result"]: v for k, v in samples(registry, "exporter_events_total").items()}


def test_the_examples_cover_every_event_type():
    assert sorted(e["type"] for e in EXAMPLES) == sorted(EVENT_TYPES)


def test_every_example_applies(metrics, registry):
    applier = EventApplier(metrics)
    for lineno, event in enumerate(EXAMPLES, 1):
        assert applier.apply_line(json.dumps(event).encode(), lineno, "test"), event
    assert events(registry) == {"applied": float(len(EXAMPLES)), "malformed": 0.0}
    assert value(registry, "trading_pnl_usd", env="test") == -12.5
    assert value(registry, "trading_equity_usd", env="test") == 10000.0
    assert value(registry, "trading_win_rate_ratio", env="test") == 0.6
    assert value(registry, "trading_var95_usd", env="test") == 250.0
    assert value(registry, "fx_source_last_message_timestamp_seconds", source="okx") == 1700000000.5
    assert value(registry, "http_requests_total", path="/orders") == 1.0
    assert value(registry, "api_rate_limiter_requests_total", status="limited") == 1.0
    assert value(registry, "api_open_positions", symbol="BTCUSDT") == 1.0
    assert value(registry, "api_realized_pnl_usd", symbol="BTCUSDT") == -12.5


def test_init_event_rebinds_the_bot_labels(metrics, registry):
    EventApplier(metrics).apply_line(b'{"type": "init", "env": "live", "universe": "custom", "strategy": "x"}',
                                     1, "t")
    metrics.record_trade("entry")
    assert value(registry, "trading_trades_total", env="live", universe="custom", trade_type="entry") == 1.0
    assert metrics.registry is registry


@pytest.mark.parametrize("line, why", [
    (b"{not json", "not JSON"),
    (b"[1, 2]", "not a JSON object (got list)"),
    (b'{"delta_usd": 1}', "unknown type None"),
    (b'{"type": "teleport"}', "unknown type 'teleport'"),
    (b'{"type": "pnl"}', "pnl: missing field 'delta_usd' (a number)"),
    (b'{"type": "pnl", "delta_usd": "12"}', "pnl: field 'delta_usd' must be a number (got \"12\")"),
    (b'{"type": "pnl", "delta_usd": true}', "must be a number (got true)"),
    (b'{"type": "pnl", "delta_usd": 1, "note": "x"}', "pnl: unknown field 'note'"),
    (b'{"type": "round_trip", "won": "yes"}', "field 'won' must be true or false"),
    (b'{"type": "trade", "trade_type": "hold"}', "record_trade refused the value"),
    (b'{"type": "pnl", "delta_usd": NaN}', "record_pnl refused the value"),
    (b'{"type": "init", "env": "", "universe": "a", "strategy": "b"}', "init_metrics: env is empty"),
    (b"\xff\xfe garbage", "not JSON"),
])
def test_malformed_lines_are_counted_logged_with_line_number_and_skipped(metrics, registry, caplog, line, why):
    applier = EventApplier(metrics)
    with caplog.at_level(logging.WARNING, logger="exporter.events"):
        assert applier.apply_line(b'{"type": "trade", "trade_type": "entry"}', 1, "events.jsonl")
        assert applier.apply_line(line, 2, "events.jsonl") is False
        assert applier.apply_line(b'{"type": "trade", "trade_type": "exit"}', 3, "events.jsonl")
    assert events(registry) == {"applied": 2.0, "malformed": 1.0}
    assert "events.jsonl:2: malformed event skipped: " in caplog.text
    assert why in caplog.text


def test_blank_lines_are_ignored(metrics, registry):
    assert EventApplier(metrics).apply_line(b"  \n", 1, "t")
    assert events(registry) == {"applied": 0.0, "malformed": 0.0}


def test_parse_event_returns_the_call_and_arguments():
    spec, args = parse_event('{"type": "fx_quote", "source": "okx", "rate": 1.0}')
    assert spec.call == "record_fx_quote" and args == ["okx", 1.0, None]


# -- following a file ---------------------------------------------------------------------

def _line(event: dict) -> bytes:
    return json.dumps(event).encode() + b"\n"


def entries(registry) -> float:
    return value(registry, "trading_trades_total", trade_type="entry") or 0.0


@pytest.fixture
def tail(metrics, tmp_path):
    started = []

    def start(path):
        tailer = FileTailer(str(path), EventApplier(metrics).apply_line, poll=0.02).start()
        started.append(tailer)
        return tailer

    yield start
    for tailer in started:
        tailer.stop()


ENTRY = {"type": "trade", "trade_type": "entry"}


def test_tail_reads_from_the_start_and_follows_appends(tail, registry, tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_bytes(_line(ENTRY) * 2)
    tail(path)
    wait_for(lambda: entries(registry) == 2.0, what="the first two lines")
    with open(path, "ab") as f:
        f.write(_line(ENTRY))
        f.write(b'{"type": "trade", "trade_')  # half a line: waits for the rest
        f.flush()
        wait_for(lambda: entries(registry) == 3.0, what="the appended line")
        f.write(b'type": "entry"}\n')
    wait_for(lambda: entries(registry) == 4.0, what="the completed line")
    assert events(registry)["malformed"] == 0.0


def test_tail_waits_for_a_missing_file(tail, registry, tmp_path):
    path = tmp_path / "later.jsonl"
    tail(path)
    path.write_bytes(_line(ENTRY))
    wait_for(lambda: entries(registry) == 1.0, what="the file to appear")


def test_tail_survives_truncation(tail, registry, tmp_path, caplog):
    path = tmp_path / "events.jsonl"
    path.write_bytes(_line(ENTRY) * 3)
    tailer = tail(path)
    wait_for(lambda: entries(registry) == 3.0, what="three lines")
    with caplog.at_level(logging.WARNING, logger="exporter.events"):
        path.write_bytes(_line(ENTRY) + b"oops\n")  # shorter than before: truncated and rewritten
        wait_for(lambda: entries(registry) == 4.0 and events(registry)["malformed"] == 1.0, what="re-read")
    assert tailer.truncated == 1
    assert f"{path}:2: malformed event skipped" in caplog.text  # line numbers restart at 1


def test_tail_survives_rotation(tail, registry, tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_bytes(_line(ENTRY))
    tailer = tail(path)
    wait_for(lambda: entries(registry) == 1.0, what="the first line")
    with open(path, "ab") as old:
        os.rename(path, tmp_path / "events.jsonl.1")  # logrotate's "create" mode
        old.write(_line(ENTRY))  # the writer still appends to the old file for a moment
    path.write_bytes(_line(ENTRY) * 5)
    wait_for(lambda: entries(registry) == 7.0, what="old tail + new file")
    assert tailer.reopened == 1
    with open(path, "ab") as f:
        f.write(_line(ENTRY))
    wait_for(lambda: entries(registry) == 8.0, what="appends to the new file")


# -- a stream (stdin) -------------------------------------------------------------------------

def test_stream_reader_reads_until_eof(metrics, registry, caplog):
    read_fd, write_fd = os.pipe()
    with os.fdopen(read_fd, "rb") as stream, caplog.at_level(logging.WARNING, logger="exporter.events"):
        reader = StreamReader(stream, EventApplier(metrics).apply_line).start()
        with os.fdopen(write_fd, "wb") as pipe:
            pipe.write(_line(ENTRY) + b"garbage\n" + _line({"type": "pnl", "delta_usd": 2.5}))
        assert reader.finished.wait(10)
    assert entries(registry) == 1.0
    assert value(registry, "trading_pnl_usd", env="test") == 2.5
    assert events(registry) == {"applied": 2.0, "malformed": 1.0}
    assert "<stdin>:2: malformed event skipped: not JSON" in caplog.text


# -- issue 12: any line length in linear time and bounded memory ------------------------------------

@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 1000])
def test_line_splitter_agrees_with_split_for_any_chunking(size):
    data = b"a\n\nbb\nccc\n" + b"x" * 50 + b"\nlast"
    splitter = LineSplitter(max_line=60)
    lines = []
    for i in range(0, len(data), size):
        lines.extend(splitter.feed(data[i:i + size]))
    lines.append(splitter.finish())
    assert lines == data.split(b"\n")
    assert splitter.finish() is None


def test_line_splitter_drops_over_long_lines_and_holds_at_most_the_cap():
    splitter = LineSplitter(max_line=100)
    out = []
    for _ in range(50):  # 50 x 64 bytes without a newline
        out.extend(splitter.feed(b"y" * 64))
        assert splitter.pending <= 100
    out.extend(splitter.feed(b"tail\nok\n" + b"z" * 101 + b"\n" + b"w" * 100 + b"\n"))
    assert out == [TOO_LONG, b"ok", TOO_LONG, b"w" * 100]
    assert out[0] is TOO_LONG and out[2] is TOO_LONG


def test_a_40_mb_line_is_skipped_in_linear_time_and_later_events_apply(metrics, registry, caplog):
    """The reported case: a 40 MB line took 52 s (quadratic re-scans) and stalled every later event."""
    read_fd, write_fd = os.pipe()
    with os.fdopen(read_fd, "rb") as stream, caplog.at_level(logging.WARNING, logger="exporter.events"):
        reader = StreamReader(stream, EventApplier(metrics).apply_line).start()
        started = time.monotonic()
        with os.fdopen(write_fd, "wb") as pipe:
            pipe.write(b'{"type": "pnl", "delta_usd": "' + b"9" * (40 << 20) + b'"}\n' + _line(ENTRY))
        assert reader.finished.wait(60)
        elapsed = time.monotonic() - started
    assert entries(registry) == 1.0
    assert events(registry) == {"applied": 1.0, "malformed": 1.0}
    assert f"<stdin>:1: malformed event skipped: line longer than {MAX_LINE} bytes" in caplog.text
    print(f"\n40 MiB line skipped in {elapsed:.2f} s")
    assert elapsed < 20, f"{elapsed:.1f} s for a 40 MiB line"  # linear: ~0.1-1 s here; quadratic was 52 s


def test_an_endless_line_in_a_file_keeps_memory_bounded(metrics, registry, tail, tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"")
    tailer = tail(path)
    with open(path, "ab") as f:
        for _ in range(40):  # 2.5 MiB, no newline yet
            f.write(b"q" * (1 << 16))
            f.flush()
    wait_for(lambda: tailer._file is not None and tailer._file.tell() >= 40 << 16, what="the bytes read")
    assert tailer._splitter.pending <= MAX_LINE
    with open(path, "ab") as f:
        f.write(b"\n" + _line(ENTRY))
    wait_for(lambda: entries(registry) == 1.0, what="the event after the endless line")
    assert events(registry) == {"applied": 1.0, "malformed": 1.0}
