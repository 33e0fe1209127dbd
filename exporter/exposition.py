"""A fast /metrics for the exporter's own metrics: series text prepared once, only values formatted per scrape.

prometheus_client's generate_latest builds a Metric and a Sample object per
series on every scrape, then escapes, sorts and formats every label set again:
about 18 µs per series, all under the bot's GIL. The exporter's label sets are
known once a child exists, so each series' text (`name{labels} `) is built once,
the first time the series is seen, and a scrape only reads each value and
formats it, or reuses the series' last line when its value has not changed
(a histogram's when its count and sum have not). The values live in the
exporter's own store (store.py); prometheus_client stays the registry, and the
collectors that are not the exporter's own (process/platform/GC, the last-event
gauge, an application's own metrics) are rendered by prometheus_client itself,
in the same response. The result parses to the same samples as generate_latest
on the same state (tests/exporter/test_fast_exposition.py).

The renderer never holds the bot's GIL for long (issue 14): it works in slices
of at most SLICE seconds and hands the GIL over between slices (hand_over()), so a
trading loop waits at most about one slice for a scrape, however many series.
Each slice is encoded to bytes on its own (no megabyte-sized join at the end), and
the render iterates each metric's children without building a tuple per series
(fewer allocations, so fewer garbage collections triggered inside a scrape).
"""
from __future__ import annotations

import time
from typing import Iterable

from prometheus_client import generate_latest as text_latest
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_latest
from prometheus_client.utils import floatToGoString

from exporter.store import Family

SLICE = 0.0005     # seconds of rendering between two GIL hand-overs
CHECK_EVERY = 16   # series rendered between two looks at the clock
HAND_OVER = 0.0005  # seconds the renderer sleeps to hand the GIL over (longer than a thread's wake-up on a busy VM)


def hand_over() -> None:
    """Give the GIL to a thread that waits for it (the trading loop), if any.

    time.sleep(0) is not enough: it releases the GIL and takes it back within
    microseconds, usually before a waiting thread has even woken, and that thread
    then waits another full switch interval (5 ms by default). A sleep a little
    longer than a thread's wake-up (tens of µs on bare metal, hundreds on a busy
    VM) lets the waiting thread take the GIL; the renderer gets it back when the
    interpreter next switches threads (within sys.getswitchinterval()). Costs
    HAND_OVER of wall time when no other thread waits (20 slices at 10,000 series:
    10 ms per scrape)."""
    time.sleep(HAND_OVER)


def _escape_value(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(text: str, openmetrics: bool) -> str:
    text = text.replace("\\", "\\\\").replace("\n", "\\n")
    return text.replace('"', '\\"') if openmetrics else text


def _format(value: float) -> str:
    """The value as prometheus_client writes it (Go's float format): repr() below 1e6, which is what
    the render loop writes inline; floatToGoString for the rest (1.7e+09, +Inf, NaN)."""
    if value - value == 0 and value < 1e6:
        return repr(value)
    return floatToGoString(value)


def _labels(names: Iterable[str], values: Iterable[str], extra: tuple[tuple[str, str], ...] = ()) -> str:
    pairs = sorted([*zip(names, values, strict=True), *extra])
    if not pairs:
        return ""
    return "{" + ",".join(f'{name}="{_escape_value(value)}"' for name, value in pairs) + "}"


class _Family:
    """One of the exporter's metrics (a store.Family): its headers, and the prepared text of each series seen so far."""

    def __init__(self, metric: Family) -> None:
        self.metric = metric
        self.kind = metric.kind
        self.sample = metric.name
        doc = metric.help
        self.text_header = f"# HELP {metric.name} {_escape_help(doc, False)}\n# TYPE {metric.name} {self.kind}\n"
        self.om_header = f"# HELP {metric.base} {_escape_help(doc, True)}\n# TYPE {metric.base} {self.kind}\n"
        # child -> [prefix (counter/gauge) or (bucket prefixes, count, sum), last value or count, last sum, text]
        self.prepared: dict = {}

    def children(self) -> list:
        return list(self.metric.children.values())  # a C-level copy: safe while other threads add series

    def labelvalues(self) -> dict:
        """{id(child): its label values} for the children seen for the first time in a render: built
        once per render that meets a new child (a lookup per child would be quadratic)."""
        return {id(child): values for values, child in list(self.metric.children.items())}

    def prepare(self, labelvalues: tuple, child):
        names = self.metric.labelnames
        if self.kind != "histogram":
            prefix = f"{self.sample}{_labels(names, labelvalues)} "
        else:
            prefix = ([f"{self.sample}_bucket{_labels(names, labelvalues, (('le', floatToGoString(b)),))} "
                       for b in self.metric.bounds],
                      f"{self.sample}_count{_labels(names, labelvalues)} ",
                      f"{self.sample}_sum{_labels(names, labelvalues)} ")
        if len(self.prepared) > 4 * len(self.metric.children) + 64:
            self.prepared = {}  # children removed (clear/remove): forget their text
        entry = [prefix, None, None, ""]  # the prefix(es); the value(s) last rendered and their text
        self.prepared[child] = entry
        return entry


class FastExposition:
    """Renders a registry: the given prometheus_client metrics the fast way, every other collector as usual."""

    def __init__(self, registry, metrics: Iterable) -> None:
        self._registry = registry
        self._families = [_Family(m) for m in metrics if isinstance(m, Family)]
        self._fast = frozenset(id(f.metric) for f in self._families)
        self.longest_stretch = 0.0  # seconds: the longest run of the last render between two GIL releases

    def render(self, openmetrics: bool = False, encoder=None) -> bytes:
        """The exposition (text format, or OpenMetrics 1.0); `encoder` renders the other collectors
        (prometheus_client's generate_latest of the negotiated format by default)."""
        return b"".join(self.render_pieces(openmetrics, encoder))

    def render_pieces(self, openmetrics: bool = False, encoder=None) -> list[bytes]:
        """render() as a list of byte strings (one per slice, in order): what the server writes,
        without joining a megabyte-sized body first."""
        # Other collectors first: the exporter's housekeeping (the daily PnL roll-over) runs in there.
        encoder = encoder or (openmetrics_latest if openmetrics else text_latest)
        others = encoder(_Others(self._registry, self._fast))
        if openmetrics:
            others = others[: -len(b"# EOF\n")] if others.endswith(b"# EOF\n") else others
        pieces: list[bytes] = []
        out: list[str] = []
        append = out.append
        clock = time.perf_counter
        longest = 0.0
        hand_over()  # whatever ran before (the request's parsing, the other collectors) ends its stretch here
        stretch_start = clock()
        done = 0
        for family in self._families:
            append(family.om_header if openmetrics else family.text_header)
            prepared = family.prepared
            histogram = family.kind == "histogram"
            new = None
            for child in family.children():
                entry = prepared.get(child)
                if entry is None:
                    if new is None:
                        new = family.labelvalues()
                    labelvalues = new.get(id(child))
                    if labelvalues is None:
                        continue  # removed meanwhile
                    entry = family.prepare(labelvalues, child)
                if not histogram:
                    value = child.value
                    if value != entry[1]:  # changed since the last render (NaN always is): new text
                        prefix = entry[0]
                        if value < 1e6 and value - value == 0:
                            entry[3] = f"{prefix}{value!r}\n"
                        else:
                            entry[3] = f"{prefix}{floatToGoString(value)}\n"
                        entry[1] = value
                    append(entry[3])
                else:
                    counts = child.counts[:]  # one C-level copy: the count and the buckets agree
                    total = float(sum(counts))
                    total_sum = child.sum
                    if total != entry[1] or total_sum != entry[2]:  # an observation since the last render
                        buckets, count_prefix, sum_prefix = entry[0]
                        lines = []
                        running = 0.0
                        for bucket_prefix, count in zip(buckets, counts, strict=True):
                            running += count
                            lines.append(f"{bucket_prefix}{running!r}\n" if running < 1e6
                                         else f"{bucket_prefix}{_format(running)}\n")
                        lines.append(f"{count_prefix}{_format(total)}\n{sum_prefix}{_format(total_sum)}\n")
                        entry[1], entry[2], entry[3] = total, total_sum, "".join(lines)
                    append(entry[3])
                done += 1
                if done % CHECK_EVERY == 0 and clock() - stretch_start >= SLICE:
                    pieces.append("".join(out).encode("utf-8"))
                    out.clear()
                    longest = max(longest, clock() - stretch_start)
                    hand_over()  # let the trading loop run between slices
                    stretch_start = clock()
        pieces.append("".join(out).encode("utf-8"))
        pieces.append(others + b"# EOF\n" if openmetrics else others)
        self.longest_stretch = max(longest, clock() - stretch_start)
        return pieces


class _Others:
    """The registry's collectors except the fast-rendered metrics (prometheus_client renders these)."""

    def __init__(self, registry, skip: frozenset) -> None:
        self._registry, self._skip = registry, skip

    def collect(self):
        with self._registry._lock:
            collectors = list(self._registry._collector_to_names)
        for collector in collectors:
            if id(collector) not in self._skip:
                yield from collector.collect()
