"""Refused updates: counted in exporter_dropped_updates_total{reason} and logged once per kind.

A metric call never raises into the caller's loop; what it cannot apply ends
here. Before init_metrics() there is no counter yet, so drops are held in a
plain tally and added to the counter as soon as it exists.
"""
from __future__ import annotations

import logging
import threading

from exporter import names

log = logging.getLogger("exporter")


class DropTracker:
    def __init__(self) -> None:
        self._children: dict[str, object] = {}
        self._pending: dict[str, int] = {}
        self._logged: set[tuple[str, str, str]] = set()
        self._lock = threading.Lock()

    def bind(self, counter, reasons: tuple[str, ...]) -> None:
        """Bind one child per reason (all shown at 0) and add the drops seen before binding."""
        missing = [r for r in names.DROP_REASONS if r not in reasons]
        if missing:
            raise ValueError(f"catalog: {names.DROPPED} `reason` values lack {', '.join(missing)}")
        children = {reason: counter.labels(reason) for reason in reasons}
        with self._lock:
            self._children = children
            pending, self._pending = self._pending, {}
        for reason, count in pending.items():
            children[reason].inc(count)

    def unbind(self) -> None:
        with self._lock:
            self._children = {}

    def drop(self, reason: str, call: str, detail: str, kind: str = "") -> bool:
        """Count one refused update; log the first of each (call, reason, kind). Returns False."""
        child = self._children.get(reason)
        if child is None:
            with self._lock:
                self._pending[reason] = self._pending.get(reason, 0) + 1
        else:
            child.inc()
        key = (call, reason, kind)
        if key not in self._logged:
            self._logged.add(key)
            log.warning('dropped %s: %s [counted in %s{reason="%s"}; further drops of this kind are '
                        "counted, not logged]", call, detail, names.DROPPED, reason)
        return False

    def forget_logged(self) -> None:
        """Log each kind again (after reset_metrics)."""
        self._logged = set()
