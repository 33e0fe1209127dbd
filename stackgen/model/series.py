"""The series a stack's Prometheus will have: the catalog's metrics with their labels, for the PromQL checks."""
from __future__ import annotations

from stackgen import conventions as names
from stackgen.model.stack import Stack
from stackgen.promql import SeriesIndex


def catalog_index(stack: Stack) -> SeriesIndex:
    series: dict[str, frozenset[str]] = {}
    for metric in stack.catalog.metrics:
        labels = frozenset(metric.label_names)
        for name in metric.series_names:
            series[name] = labels | ({"le"} if name.endswith("_bucket") and metric.type == "histogram" else set())
    for name, labels in names.WELL_KNOWN_SERIES.items():
        series.setdefault(name, frozenset(labels))
    for profile in stack.profiles:      # a bot's own heartbeat (the fleet overview reads its age)
        if profile.heartbeat is not None:
            series.setdefault(profile.heartbeat.metric, frozenset())
    implicit = frozenset(names.TARGET_LABELS) | frozenset(stack.scrape.target_label_names)
    rw = stack.remote_write
    if rw is not None and rw.hosts:
        implicit |= {rw.host_label}     # the agents' external label: on every series in the shared store
    return SeriesIndex(series, implicit)
