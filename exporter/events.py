"""The events sidecar: JSON Lines from a bot in any language, applied through the same calls.

One JSON object per line, with `type` and the Python API's argument names:

    {"type": "trade", "trade_type": "entry"}
    {"type": "pnl", "delta_usd": -12.5}

A line that is not JSON, not an object, of an unknown type, or with a missing,
unknown or wrongly typed field is malformed: counted in
exporter_events_total{result="malformed"}, logged with its line number, and
skipped. So is a well-formed event whose value the exporter refuses (it is also
counted in exporter_dropped_updates_total{reason}). Nothing stops the reader.
"""
from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass
from typing import BinaryIO, Callable

from exporter.ops import CALLS

log = logging.getLogger("exporter.events")

# Field kinds: what JSON value a field takes.
NUMBER, STRING, FLAG, STATUS = "a number", "a string", "true or false", "a status code"
OPTIONAL = "?"  # suffix: the field may be absent or null


@dataclass(frozen=True)
class EventType:
    call: str                           # the BotMetrics method it feeds
    fields: tuple[tuple[str, str], ...]  # (name, kind[+OPTIONAL]) in call order


EVENT_TYPES: dict[str, EventType] = {
    "init": EventType("init_metrics", (("env", STRING), ("universe", STRING), ("strategy", STRING))),
    "pnl": EventType("record_pnl", (("delta_usd", NUMBER),)),
    "equity": EventType("set_equity", (("equity_usd", NUMBER),)),
    "trade": EventType("record_trade", (("trade_type", STRING),)),
    "round_trip": EventType("record_round_trip", (("won", FLAG + OPTIONAL),)),
    "win_rate": EventType("record_win_rate", (("wins", NUMBER), ("losses", NUMBER))),
    "loop_latency": EventType("record_loop_latency", (("seconds", NUMBER),)),
    "guard": EventType("record_guard_trigger", (("guard_type", STRING),)),
    "alert": EventType("record_alert", (("severity", STRING), ("source", STRING))),
    "exit": EventType("record_exit_reason", (("reason", STRING),)),
    "positions": EventType("set_active_positions", (("count", NUMBER),)),
    "risk": EventType("set_risk_metrics", (("sharpe", NUMBER + OPTIONAL), ("calmar", NUMBER + OPTIONAL),
                                           ("var95_usd", NUMBER + OPTIONAL), ("cvar95_usd", NUMBER + OPTIONAL))),
    "memory_usage": EventType("record_memory_usage", (("bytes", NUMBER),)),
    "cpu_usage": EventType("record_cpu_usage", (("percent", NUMBER),)),
    "fx_quote": EventType("record_fx_quote", (("source", STRING), ("rate", NUMBER),
                                              ("timestamp", NUMBER + OPTIONAL))),
    "fx_source_status": EventType("set_fx_source_connected", (("source", STRING), ("connected", FLAG))),
    "fx_outlier": EventType("record_fx_outlier", (("source", STRING),)),
    "fx_median": EventType("set_fx_median", (("rate", NUMBER),)),
    "fx_valid_sources": EventType("set_fx_valid_sources", (("count", NUMBER),)),
    "fx_fallback": EventType("set_fx_fallback", (("active", FLAG),)),
    "http_request": EventType("observe_http_request", (("method", STRING), ("path", STRING),
                                                       ("status", STATUS), ("seconds", NUMBER))),
    "websocket_connections": EventType("set_websocket_connections", (("count", NUMBER),)),
    "rate_limit": EventType("record_rate_limit", (("limited", FLAG),)),
    "order": EventType("record_order", (("side", STRING), ("status", STRING), ("exchange", STRING))),
    "open_positions": EventType("set_open_positions", (("symbol", STRING), ("count", NUMBER))),
    "realized_pnl": EventType("set_realized_pnl", (("symbol", STRING), ("usd", NUMBER))),
}

# The trading-operations calls' events, from their rows (exporter/ops.py): labels are strings (a status
# code may be a number), values numbers or flags.
for _call in CALLS:
    EVENT_TYPES[_call.event] = EventType(_call.name, tuple(
        [(label, STATUS if label == "code" else STRING) for label in _call.labels]
        + [(f.argument, (STRING if f.op == "onehot" else FLAG if f.op == "flag" else NUMBER)
            + (OPTIONAL if f.optional else "")) for f in _call.feeds if f.argument]))

MAX_LOGGED_MALFORMED = 100  # then every 1000th, so a broken writer cannot flood the log
MAX_LINE = 1 << 20          # bytes; a longer line is skipped (counted as malformed), never buffered whole


class _TooLong(bytes):
    """The marker a LineSplitter hands on in place of a line longer than MAX_LINE."""


TOO_LONG = _TooLong(b"")


class LineSplitter:
    """Splits a byte stream into lines in linear time and bounded memory.

    Each byte is scanned once; an unfinished line is kept as a list of pieces (joined
    once, when its newline comes), so a long line costs no repeated copying. A line
    longer than max_line is not kept at all: its bytes are discarded as they arrive
    until the next newline, and TOO_LONG stands for it.
    """

    def __init__(self, max_line: int = MAX_LINE) -> None:
        self.max_line = max_line
        self._pieces: list[bytes] = []
        self._size = 0
        self._skipping = False

    def feed(self, chunk: bytes) -> list[bytes]:
        lines = []
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            if end < 0:
                break
            lines.append(self._line(chunk[start:end]))
            start = end + 1
        rest = chunk[start:]
        if rest and not self._skipping:
            if self._size + len(rest) > self.max_line:
                self._pieces, self._size, self._skipping = [], 0, True
            else:
                self._pieces.append(rest)
                self._size += len(rest)
        return lines

    def _line(self, tail: bytes) -> bytes:
        if self._skipping or self._size + len(tail) > self.max_line:
            line = TOO_LONG
        else:
            line = b"".join(self._pieces) + tail if self._pieces else tail
        self._pieces, self._size, self._skipping = [], 0, False
        return line

    def finish(self) -> bytes | None:
        """The last line when the input ended without a newline (None if there is none)."""
        if not self._pieces and not self._skipping:
            return None
        return self._line(b"")

    @property
    def pending(self) -> int:
        """Bytes of the unfinished line held (at most max_line)."""
        return self._size


class Malformed(ValueError):
    pass


def parse_event(line: bytes | str) -> tuple[EventType, list]:
    """(event type, call arguments) for one line, or Malformed naming what is wrong."""
    try:
        event = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise Malformed(f"not JSON ({exc})") from None
    if not isinstance(event, dict):
        raise Malformed(f"not a JSON object (got {type(event).__name__})")
    kind = event.get("type")
    spec = EVENT_TYPES.get(kind) if isinstance(kind, str) else None
    if spec is None:
        raise Malformed(f"unknown type {kind!r} (known: {', '.join(EVENT_TYPES)})")
    known = {name for name, _ in spec.fields}
    unknown = sorted(k for k in event if k != "type" and k not in known)
    if unknown:
        raise Malformed(f"{kind}: unknown field {', '.join(map(repr, unknown))} "
                        f"(fields: {', '.join(sorted(known)) or 'none'})")
    args = []
    for name, field_kind in spec.fields:
        optional = field_kind.endswith(OPTIONAL)
        field_kind = field_kind.rstrip(OPTIONAL)
        value = event.get(name)
        if value is None:
            if not optional:
                raise Malformed(f"{kind}: missing field {name!r} ({field_kind})")
        elif not _is(value, field_kind):
            raise Malformed(f"{kind}: field {name!r} must be {field_kind} (got {json.dumps(value)})")
        args.append(value)
    return spec, args


def _is(value: object, kind: str) -> bool:
    if kind == NUMBER:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == STRING:
        return isinstance(value, str)
    if kind == FLAG:
        return isinstance(value, bool)
    if kind == STATUS:
        return (isinstance(value, int) and not isinstance(value, bool)) or isinstance(value, str)
    raise AssertionError(kind)


class EventApplier:
    """Parses lines and applies them to a BotMetrics, counting applied and malformed events."""

    def __init__(self, metrics) -> None:
        self._metrics = metrics
        self.applied = 0
        self.malformed = 0

    def apply_line(self, line: bytes | str, lineno: int, origin: str) -> bool:
        if line is TOO_LONG:
            return self._malformed(origin, lineno, f"line longer than {MAX_LINE} bytes (skipped unread)")
        if not line.strip():
            return True  # blank lines are not events
        try:
            spec, args = parse_event(line)
            if spec.call == "init_metrics":
                self._metrics.init_metrics(*args)  # keeps the registry in use
                ok = True
            else:
                ok = getattr(self._metrics, spec.call)(*args)
            if not ok:
                raise Malformed(f"{spec.call} refused the value (see exporter_dropped_updates_total)")
        except Malformed as exc:
            return self._malformed(origin, lineno, str(exc))
        except Exception as exc:  # a reader must survive anything a line can contain
            return self._malformed(origin, lineno, f"{type(exc).__name__}: {exc}")
        self.applied += 1
        self._metrics.count_event(True)
        return True

    def _malformed(self, origin: str, lineno: int, why: str) -> bool:
        self.malformed += 1
        self._metrics.count_event(False)
        if self.malformed <= MAX_LOGGED_MALFORMED or self.malformed % 1000 == 0:
            log.warning("%s:%d: malformed event skipped: %s", origin, lineno, why)
            if self.malformed == MAX_LOGGED_MALFORMED:
                log.warning("%s: %d malformed events so far; from now on only every 1000th is logged",
                            origin, self.malformed)
        return False


LineHandler = Callable[[bytes, int, str], object]


class StreamReader:
    """Reads events from a stream (stdin) until EOF, in a daemon thread.

    Streams with a file descriptor are read with os.read() and split into lines
    here: a daemon thread blocked inside a buffered reader (sys.stdin.buffer)
    holds that reader's lock, and Python aborts at exit ("could not acquire lock
    for <_io.BufferedReader name='<stdin>'>") when SIGTERM arrives mid-read.
    """

    def __init__(self, stream: BinaryIO, on_line: LineHandler, origin: str = "<stdin>") -> None:
        self._stream, self._on_line, self.origin = stream, on_line, origin
        self._thread = threading.Thread(target=self._run, name="exporter-stdin", daemon=True)
        self.finished = threading.Event()

    def start(self) -> "StreamReader":
        self._thread.start()
        return self

    def stop(self) -> None:
        pass  # a blocked read cannot be interrupted; the thread is a daemon and ends with the process

    def _lines(self):
        try:
            fd = self._stream.fileno()
        except (AttributeError, OSError, ValueError):
            splitter = LineSplitter()  # in-memory streams (tests)
            for chunk in iter(lambda: self._stream.read(1 << 16), b""):
                yield from splitter.feed(chunk)
            last = splitter.finish()
            if last is not None:
                yield last
            return
        splitter = LineSplitter()
        while True:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            yield from splitter.feed(chunk)
        last = splitter.finish()
        if last is not None:
            yield last  # a last line without its newline

    def _run(self) -> None:
        lineno = 0
        try:
            for raw in self._lines():
                lineno += 1
                self._on_line(raw, lineno, self.origin)
        except (OSError, ValueError) as exc:
            log.warning("%s: read failed after line %d: %s", self.origin, lineno, exc)
        finally:
            log.info("%s: end of input after %d lines; serving the last values until stopped", self.origin, lineno)
            self.finished.set()


class FileTailer:
    """Follows a JSON Lines file like `tail -F`, from its first line, in a daemon thread.

    Starting at the beginning replays the file, so cumulative values (PnL,
    counters) are rebuilt after an exporter restart. Rotation (the path now names
    another inode) finishes the old file and then reads the new one from its
    start; truncation (the file became shorter than what was read) starts over
    at line 1. A missing file is waited for. Checks run every `poll` seconds, so
    a file truncated and refilled beyond the old size within one poll is not seen
    as truncated.
    """

    def __init__(self, path: str, on_line: LineHandler, poll: float = 0.25) -> None:
        self.path, self._on_line, self._poll = path, on_line, poll
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="exporter-tail", daemon=True)
        self._file: BinaryIO | None = None
        self._inode: tuple[int, int] | None = None
        self._lineno = 0
        self._splitter = LineSplitter()
        self.reopened = 0    # rotations seen
        self.truncated = 0   # truncations seen

    def start(self) -> "FileTailer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        waiting_logged = False
        try:
            while not self._stop.is_set():
                if self._file is None and not self._open():
                    if not waiting_logged:
                        log.info("%s: waiting for the file to appear", self.path)
                        waiting_logged = True
                    self._stop.wait(self._poll)
                    continue
                waiting_logged = False
                if self._read_available():
                    continue  # more may be there already
                self._check_rotation()
                self._stop.wait(self._poll)
        except Exception:  # never let the reader die silently; the server keeps running
            log.exception("%s: tailer stopped by an unexpected error", self.path)
        finally:
            self._close()

    def _open(self) -> bool:
        try:
            handle = open(self.path, "rb")
        except FileNotFoundError:
            return False
        except OSError as exc:
            log.warning("%s: cannot open (%s); retrying", self.path, exc.strerror or exc)
            return False
        st = os.fstat(handle.fileno())
        self._file, self._inode = handle, (st.st_dev, st.st_ino)
        self._lineno, self._splitter = 0, LineSplitter()
        log.info("%s: reading events from line 1", self.path)
        return True

    def _close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _read_available(self) -> bool:
        chunk = self._file.read(1 << 16)
        if not chunk:
            return False
        for line in self._splitter.feed(chunk):  # an unfinished last line waits for its newline
            self._emit(line)
        return True

    def _emit(self, line: bytes) -> None:
        self._lineno += 1
        self._on_line(line, self._lineno, self.path)

    def _check_rotation(self) -> None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return  # mid-rotation: keep the old file until the new one appears
        if (st.st_dev, st.st_ino) != self._inode:
            while self._read_available():  # finish what was written to the old file
                pass
            last = self._splitter.finish()
            if last is not None:
                self._emit(last)  # the old file is complete: its last line too
            log.info("%s: rotated (new file); reading it from line 1", self.path)
            self.reopened += 1
            self._close()
            return
        if st.st_size < self._file.tell():
            log.info("%s: truncated; reading again from line 1", self.path)
            self.truncated += 1
            self._file.seek(0)
            self._lineno, self._splitter = 0, LineSplitter()
