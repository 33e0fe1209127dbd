"""BotMetrics: every catalog metric on one registry, and the calls that feed them.

Built from the generated catalog (names, types, help, labels, buckets); the
calls live in three mixins by domain (topn.py, fx.py, httpapi.py). A call
never raises: what it cannot apply is counted in exporter_dropped_updates_total
and logged once per kind (drops.py).
"""
from __future__ import annotations

import logging
import sys
import threading
import time
import weakref

from prometheus_client import (REGISTRY, CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector,
                               disable_created_metrics)
from prometheus_client.core import GaugeMetricFamily

from exporter import names
from exporter.catalog import ExporterCatalog, CatalogError, MetricSpec, load_catalog
from exporter.checks import Flag, Num, Refused, open_value, show
from exporter.drops import DropTracker
from exporter.exposition import FastExposition
from exporter.fx import FxMetrics
from exporter.store import Family
from exporter.httpapi import HttpMetrics
from exporter.ops import FEEDS as OPS_FEEDS
from exporter.ops import OpsMetrics
from exporter.topn import TopNMetrics

log = logging.getLogger("exporter")

DEFAULT_MAX_LABEL_VALUES = 1000
_OURS: weakref.WeakSet = weakref.WeakSet()  # every collector a BotMetrics registered (vs the app's own)


FEEDS = {**names.FEEDS, **OPS_FEEDS}     # every metric a call feeds: the hand-written calls, then ops.py's rows


class BotMetrics(TopNMetrics, FxMetrics, HttpMetrics, OpsMetrics):
    """The catalog's metrics on one registry.

    >>> m = BotMetrics(CollectorRegistry())
    >>> m.init_metrics("paper", "top20", "topn_arb")
    >>> m.record_trade("entry")
    True

    Every call returns True when applied and False when dropped; ignoring the
    result is fine. Without a registry the object is unbound: calls are dropped
    (and counted once a registry is bound) until init_metrics() binds one.
    """

    def __init__(self, registry: CollectorRegistry | None = None, catalog: ExporterCatalog | None = None, *,
                 clock=time.time, max_label_values: int = DEFAULT_MAX_LABEL_VALUES,
                 process_collectors: bool = True) -> None:
        self._catalog = catalog if catalog is not None else load_catalog()
        self._check_catalog()
        self._clock = clock
        self._max_label_values = max_label_values
        self._process_collectors = process_collectors
        # Every read-modify-write of a stored value (store.py) and the compound state (equity/peak/drawdown,
        # win tally, daily roll-over) happens under this one lock: exact totals under threads. Re-entrant,
        # so a compound update may call a series' inc() while holding it.
        self._lock = threading.RLock()
        self._admin = threading.RLock()  # init_metrics / reset_metrics / close
        self._drops = DropTracker()
        self._registry: CollectorRegistry | None = None
        self._collectors: list = []
        self._foreign: tuple[str, ...] = ()
        self._exposition: FastExposition | None = None
        self._metrics: dict = {}
        self._bot: tuple[str, ...] | None = None
        # Updates only set _fresh (one attribute store); the time is taken when /metrics or
        # /health is read: a clock read per update costs up to a fifth of the update itself
        # on VMs without a fast clock. So the last-event time is late by at most one read.
        self._fresh = False
        self._last_event: float | None = None
        self._unbind()
        if registry is not None:
            with self._admin:
                self._build(registry)

    # -- lifecycle ------------------------------------------------------------------

    def init_metrics(self, env: str, universe: str, strategy: str,
                     registry: CollectorRegistry | None = None) -> None:
        """Bind the bot labels (and the registry); idempotent.

        Same arguments again: nothing happens. Other env/universe/strategy: the
        TopN series are re-bound to the new labels (the old series are removed and
        the PnL/equity/win-rate state starts afresh, as for a new bot). Another
        registry: every metric moves to it. registry=None keeps the registry in use,
        or takes prometheus_client's default REGISTRY on the first call.
        Raises ValueError for an empty or non-string label value: that is a
        start-up mistake, better loud than a bot with no series.
        """
        bot = tuple(_label_arg(value, name)
                    for value, name in zip((env, universe, strategy), self._catalog.bot_labels, strict=True))
        with self._admin:
            target = registry if registry is not None else (self._registry or REGISTRY)
            if target is self._registry and bot == self._bot:
                return
            if target is not self._registry:
                self._teardown()
                self._build(target)
            elif self._bot is not None:
                for name, (_, labels) in FEEDS.items():
                    if names.BOT in labels:
                        self._metrics[name].clear()
                self._unbind_ops()
            self._bot = bot
            self._bind_topn(bot)

    def reset_metrics(self) -> None:
        """Back to the state right after init_metrics(): every value 0, per-source/route series gone."""
        with self._admin:
            registry, bot = self._registry, self._bot
            self._teardown()
            self._drops.forget_logged()
            self._last_event, self._fresh = None, False
            if registry is not None:
                self._build(registry)
                if bot is not None:
                    self._bot = bot
                    self._bind_topn(bot)

    def close(self) -> None:
        """Remove every metric of this object from its registry."""
        with self._admin:
            self._teardown()

    def _build(self, registry: CollectorRegistry) -> None:
        # Caller holds self._admin. The catalog has no *_created series; prometheus_client would
        # add one per counter and histogram (process-wide switch: documented in docs/exporter.md).
        disable_created_metrics()
        collectors = [_Housekeeping(self)]
        metrics = {}
        # Catalog metrics the application already registered itself (its own http_requests_total, say):
        # the catalog declares them so rules and dashboards know them; the exporter leaves them to the
        # app instead of failing with "Duplicated timeseries". Its calls feeding them are not exposed.
        existing = getattr(registry, "_names_to_collectors", {})
        foreign = tuple(spec.name for spec in self._catalog.metrics
                        if spec.name in existing and existing[spec.name] not in _OURS)
        for spec in self._catalog.metrics:
            metrics[spec.name] = _make(spec, self)
            if spec.name not in foreign:
                collectors.append(metrics[spec.name])
        for collector in collectors:
            _OURS.add(collector)
        registered = []
        try:
            for collector in collectors:
                registry.register(collector)
                registered.append(collector)
        except ValueError as exc:
            for collector in registered:
                registry.unregister(collector)
            raise ValueError(f"cannot register the exporter's metrics: {exc} (is another BotMetrics "
                             f"already using this registry?)") from None
        for name in foreign:
            log.warning("%s is already registered by the application: the exporter serves the application's "
                        "series and does not register its own (calls feeding %s are not exposed)", name, name)
        self._foreign = foreign
        self._exposition = FastExposition(registry, [metrics[n] for n in metrics if n not in foreign])
        if self._process_collectors and registry is not REGISTRY:
            # A bot serving its own registry still wants memory and CPU panels.
            for factory in (ProcessCollector, PlatformCollector, GCCollector):
                try:
                    registered.append(factory(registry=registry))
                except ValueError:
                    pass  # already there
        self._registry, self._collectors, self._metrics = registry, registered, metrics
        dropped = metrics[names.DROPPED]
        self._drops.bind(dropped, self._catalog.metric(names.DROPPED).label("reason").values)
        events = metrics[names.EVENTS]
        self._events = {result: events.labels(result) for result in names.EVENT_RESULTS}
        self._bind_fx()
        self._bind_http()

    def _teardown(self) -> None:
        if self._registry is not None:
            for collector in self._collectors:
                try:
                    self._registry.unregister(collector)
                except KeyError:
                    pass
        self._registry, self._collectors, self._metrics, self._bot = None, [], {}, None
        self._foreign = ()
        self._exposition = None
        self._unbind()

    def _unbind(self) -> None:
        self._drops.unbind()
        self._events = {}
        self._unbind_topn()
        self._unbind_fx()
        self._unbind_http()
        self._unbind_ops()

    def _check_catalog(self) -> None:
        """Fail at start-up, naming the metric, when the catalog and this code disagree."""
        bot = self._catalog.bot_labels
        for name, (type_, labels) in FEEDS.items():
            expanded = []
            for label in labels:
                expanded.extend(bot if label == names.BOT else
                                [self._catalog.path_label] if label == names.PATH else [label])
            self._catalog.require(name, type_, tuple(expanded))
        events = self._catalog.metric(names.EVENTS).label("result").values
        if set(names.EVENT_RESULTS) - set(events):
            raise CatalogError(f"catalog: {names.EVENTS} `result` values must include applied and malformed")
        for spec in self._catalog.metrics:
            if spec.name not in FEEDS:
                log.warning("catalog metric %s is exposed but no exporter call feeds it", spec.name)

    # -- reading ----------------------------------------------------------------------

    @property
    def foreign_metrics(self) -> tuple[str, ...]:
        """Catalog metrics the application had registered itself, so the exporter did not."""
        return self._foreign

    @property
    def catalog(self) -> ExporterCatalog:
        return self._catalog

    @property
    def registry(self) -> CollectorRegistry | None:
        return self._registry

    @property
    def bot_labels(self) -> tuple[str, ...] | None:
        """(env, universe, strategy) once init_metrics() ran, else None."""
        return self._bot

    @property
    def last_event_time(self) -> float | None:
        """When the last applied update was seen (at the latest read after it); None before the first."""
        if self._fresh:
            self._fresh = False
            self._last_event = self._clock()
        return self._last_event

    def get_metrics_text(self) -> str:
        """The registry in the Prometheus text format (what /metrics serves); "" while unbound."""
        exposition = self._exposition
        return exposition.render().decode("utf-8") if exposition is not None else ""

    def exposition(self, openmetrics: bool = False, encoder=None) -> bytes | None:
        """The registry's exposition, the exporter's metrics rendered the fast way (exposition.py);
        None while unbound. Parses to the same samples as prometheus_client's generate_latest."""
        exposition = self._exposition
        return exposition.render(openmetrics, encoder) if exposition is not None else None

    def exposition_pieces(self, openmetrics: bool = False, encoder=None) -> list[bytes] | None:
        """exposition() as the list of byte strings that make it up, in order (what /metrics writes,
        with the GIL handed over between them); None while unbound."""
        exposition = self._exposition
        return exposition.render_pieces(openmetrics, encoder) if exposition is not None else None

    # -- the events sidecar ---------------------------------------------------------------

    def count_event(self, applied: bool) -> None:
        """Count one sidecar event in exporter_events_total{result=applied|malformed}."""
        child = self._events.get("applied" if applied else "malformed")
        if child is not None:
            child.inc()

    # -- shared helpers of the mixins -----------------------------------------------

    def _slow(self, call: str, retry=None, *args):
        """The failure path of a call: retry(*args) with Num/Flag arguments converted, or count the drop.

        Without `retry` the fast path failed on a child that is not bound: before
        init_metrics() that is expected; afterwards it is a bug, reported as bad_type.
        A Refused from a conversion or a check is counted with its reason.
        """
        failure = sys.exc_info()[1]
        if retry is None and isinstance(failure, Refused):  # a series refused it (a sum beyond the float range)
            return self._drops.drop(failure.reason, call, failure.why, "store")
        try:
            if retry is None:
                raise LookupError("no child")
            return retry(*[a.convert() if isinstance(a, (Num, Flag)) else a for a in args])
        except Refused as refused:
            return self._drops.drop(refused.reason, call, refused.why)
        except Exception as exc:
            if self._bot is None or self._registry is None:
                return self._drops.drop(names.UNKNOWN_LABEL_VALUE, call,
                                        "called before init_metrics(env, universe, strategy)", "before_init")
            error = failure if retry is None and failure is not None else exc
            return self._drops.drop(names.BAD_TYPE, call, f"unexpected {type(error).__name__}: {show(error)}",
                                    "error")

    def _overflow(self, call: str, value: str, what: str) -> bool:
        """Refuse an update whose sum would leave the float range: the metric keeps its last finite value."""
        return self._drops.drop(names.NOT_FINITE, call, f"{value} would take {what} beyond the float range",
                                "overflow")

    def _remember(self, cache: dict, metric: str, what: str) -> None:
        """Refuse a new open-label value once `cache` holds max_label_values of them (cardinality guard)."""
        if len(cache) >= self._max_label_values:
            raise Refused(names.UNKNOWN_LABEL_VALUE,
                          f"{metric} already has {self._max_label_values} distinct {what} values; "
                          f"label values must come from a small set (route templates, not URLs)")


def _label_arg(value: object, name: str) -> str:
    try:
        return open_value(value, name)
    except Refused as refused:
        raise ValueError(f"init_metrics: {refused.why}") from None


def _make(spec: MetricSpec, owner: BotMetrics):
    """One catalog metric, stored by the exporter (store.py) and collected by prometheus_client (not registered yet)."""
    if spec.name == names.LAST_EVENT:
        return _LastEvent(owner, spec)
    return Family(spec, owner._lock)


class _LastEvent:
    """exporter_last_event_timestamp_seconds, resolved at scrape time.

    Setting a Gauge on every call would cost a lock per update, and even reading
    the clock per update is costly on some VMs; an update only sets a flag, and
    the scrape that sees the flag stamps the time (see BotMetrics.last_event_time).
    """

    def __init__(self, owner: BotMetrics, spec: MetricSpec) -> None:
        self._owner, self._spec = owner, spec

    def describe(self):
        return [GaugeMetricFamily(self._spec.name, self._spec.help)]

    def collect(self):
        return [GaugeMetricFamily(self._spec.name, self._spec.help, value=self._owner.last_event_time or 0.0)]


class _Housekeeping:
    """Registered first and exposes nothing: rolls the daily PnL over at 00:00 UTC at scrape time,
    so a bot that trades nothing after midnight does not show yesterday's PnL as today's."""

    def __init__(self, owner: BotMetrics) -> None:
        self._owner = owner

    def describe(self):
        return []

    def collect(self):
        owner = self._owner
        with owner._lock:
            if owner._day_end and owner._daily is not None and owner._clock() >= owner._day_end:
                owner._roll_day(owner._clock())
        return []
