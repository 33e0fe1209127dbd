"""The exporter's own metric storage: a plain float per series, exposed through prometheus_client's Collector API.

prometheus_client's children cost three Python calls and a lock of their own per
update (Counter.inc -> _raise_if_not_observable, MutexValue.inc, `with lock`), and
a histogram observation takes two locks (bucket, sum) after a Python loop over the
bounds. Here a series is a slotted object holding a float (a histogram: its bucket
counts and sum), built from its catalog entry (MetricSpec) with no per-type code in
the callers, and updated with one lock acquire/release.

Exact under threads: every read-modify-write (inc, observe, and the compound
updates of BotMetrics: PnL, equity/peak/drawdown, the win tally) happens under the
one re-entrant lock of the BotMetrics that owns the family, so no increment is ever
lost. A gauge's set() is a single attribute store, atomic as it is, so it takes no
lock (no gauge is both set() and inc()-ed by the exporter's calls).

Finite: an inc() or observe() whose sum would leave the float range (two inc(1e308))
changes nothing and raises Refused(not_finite), which the calling one-liner counts
as a dropped update. A counter refuses a negative amount (negative_delta).

Exposed two ways: Family.collect() yields prometheus_client Metric objects (so the
family is a Collector: registry.register, generate_latest, get_sample_value work
unchanged), and exposition.py reads `children` and `value` (or `counts`/`sum`)
directly for the fast /metrics.
"""
from __future__ import annotations

import math
from bisect import bisect_left

from prometheus_client.metrics_core import Metric
from prometheus_client.utils import floatToGoString

from exporter import names
from exporter.catalog import MetricSpec
from exporter.checks import Refused


def _refused(family: str, amount: object, total: float) -> Refused:
    if total - total != 0:
        return Refused(names.NOT_FINITE, f"{family}: adding {amount!r} would leave the float range")
    return Refused(names.NEGATIVE_DELTA, f"{family}: a counter cannot go down ({amount!r})")


class CounterChild:
    __slots__ = ("value", "_lock", "_family")

    def __init__(self, family: Family) -> None:
        self.value = 0.0
        self._lock, self._family = family.lock, family

    def inc(self, amount: float = 1.0) -> None:
        lock = self._lock
        lock.acquire()
        try:
            value = self.value
            total = value + amount
            if total - total == 0 and total >= value:
                self.value = total
                return
        finally:
            lock.release()
        raise _refused(self._family.name, amount, total)


class GaugeChild:
    __slots__ = ("value", "_lock", "_family")

    def __init__(self, family: Family) -> None:
        self.value = 0.0
        self._lock, self._family = family.lock, family

    def set(self, value: float) -> None:
        """A finite float or int (the caller checked); `* 1.0` makes an int a float (an int beyond the
        float range raises OverflowError here, before anything is stored)."""
        self.value = value * 1.0

    def inc(self, amount: float = 1.0) -> None:
        lock = self._lock
        lock.acquire()
        try:
            total = self.value + amount
            if total - total == 0:
                self.value = total
                return
        finally:
            lock.release()
        raise _refused(self._family.name, amount, total)


class HistogramChild:
    __slots__ = ("counts", "sum", "_bounds", "_lock", "_family")

    def __init__(self, family: Family) -> None:
        self._bounds, self._lock, self._family = family.bounds, family.lock, family
        self.counts = [0] * len(family.bounds)  # per bucket, not cumulative
        self.sum = 0.0

    def observe(self, amount: float) -> None:
        index = bisect_left(self._bounds, amount)  # the first bucket with amount <= bound (`le`)
        lock = self._lock
        lock.acquire()
        try:
            total = self.sum + amount
            if total - total == 0:
                self.sum = total
                self.counts[index] += 1
                return
        finally:
            lock.release()
        raise _refused(self._family.name + "_sum", amount, total)


CHILDREN = {"counter": CounterChild, "gauge": GaugeChild, "histogram": HistogramChild}


class Family:
    """One catalog metric: its series by label values (a tuple of str), and a Collector for prometheus_client."""

    def __init__(self, spec: MetricSpec, lock) -> None:
        self.kind = spec.type
        self.name = spec.name  # as exposed (a counter's ends in _total)
        self.base = spec.name[: -len("_total")] if spec.type == "counter" else spec.name
        self.help = spec.help
        self.labelnames = spec.label_names
        bounds = tuple(spec.buckets)
        self.bounds = bounds if bounds and bounds[-1] == math.inf else (*bounds, math.inf)
        self.lock = lock
        self._child = CHILDREN[spec.type]
        self.children: dict[tuple[str, ...], object] = {}
        self._only = None if self.labelnames else self.labels()

    def labels(self, *values: str):
        """The series of these label values (checked plain strings), created at 0 the first time."""
        if len(values) != len(self.labelnames):
            raise ValueError(f"{self.name} takes {len(self.labelnames)} label values, not {len(values)}")
        child = self.children.get(values)
        if child is None:
            child = self.children.setdefault(values, self._child(self))
        return child

    def remove(self, *values: str) -> None:
        self.children.pop(values, None)

    def clear(self) -> None:
        """Forget every series of a labelled family (an unlabelled one keeps its only series)."""
        if self.labelnames:
            self.children = {}

    # an unlabelled family is updated as its only series
    def inc(self, amount: float = 1.0) -> None:
        self._only.inc(amount)

    def set(self, value: float) -> None:
        self._only.set(value)

    def observe(self, amount: float) -> None:
        self._only.observe(amount)

    # -- prometheus_client's Collector interface ------------------------------------------

    def describe(self) -> list[Metric]:
        return [Metric(self.base, self.help, self.kind)]

    def collect(self) -> list[Metric]:
        metric = Metric(self.base, self.help, self.kind)
        names_ = self.labelnames
        for values, child in list(self.children.items()):
            labels = dict(zip(names_, values, strict=True))
            if self.kind == "histogram":
                counts, total_sum = child.counts[:], child.sum
                total = 0.0
                for bound, count in zip(self.bounds, counts, strict=True):
                    total += count
                    metric.add_sample(self.name + "_bucket", {**labels, "le": floatToGoString(bound)}, total)
                metric.add_sample(self.name + "_count", labels, total)
                metric.add_sample(self.name + "_sum", labels, total_sum)
            else:
                metric.add_sample(self.name, labels, child.value)
        return [metric]
