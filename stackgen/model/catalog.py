"""The metric catalog: every metric the rules and dashboards read, and the exporter exposes."""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import cached_property

from stackgen.signals import Label, Metric, registry
from stackgen.spec.fields import Field

_DOMAIN = re.compile(r"^[a-z][a-z0-9_]*$")
METRIC_TYPES = ("counter", "gauge", "histogram")
# unit -> the suffix the metric name must carry (Prometheus naming: base units).
UNIT_SUFFIXES = {"seconds": "_seconds", "bytes": "_bytes", "ratio": "_ratio", "usd": "_usd"}
# Labels Prometheus or the histogram/summary format own; a catalog metric may not declare them.
RESERVED_LABELS = ("job", "instance", "le", "quantile", "alertname", "severity_level")


@dataclass(frozen=True)
class MetricCatalog:
    metrics: tuple[Metric, ...]
    label_sets: tuple[tuple[str, tuple[str, ...]], ...]

    def get(self, name: str) -> Metric | None:
        return self._by_name.get(name)

    @cached_property
    def _by_name(self) -> dict[str, Metric]:
        return {m.name: m for m in self.metrics}

    def in_domain(self, domain: str) -> tuple[Metric, ...]:
        return tuple(m for m in self.metrics if m.domain == domain)

    def label_set(self, name: str) -> tuple[str, ...]:
        return dict(self.label_sets)[name]


def with_signals(spec_catalog: MetricCatalog | None, path_label: str) -> MetricCatalog:
    """The spec's catalog plus every signal of stackgen/data/signals.yaml it does not declare itself.

    A spec metric named like a signal must keep the signal's type (it may refine help, labels, buckets).
    """
    reg = registry()
    declared = {m.name: m for m in spec_catalog.metrics} if spec_catalog else {}
    metrics = []
    for metric in declared.values():
        signal = reg.by_name(metric.name)
        metrics.append(replace(metric, key=signal.key) if signal else metric)
    metrics += [signal.with_path_label(path_label) for signal in reg.signals if signal.name not in declared]
    label_sets = dict(reg.label_sets)
    if spec_catalog:
        label_sets.update(dict(spec_catalog.label_sets))
    return MetricCatalog(tuple(metrics), tuple(sorted(label_sets.items())))


def read_catalog(field: Field) -> MetricCatalog:
    if not isinstance(field.value, dict):
        raise field.error("expected a mapping of label_sets and domains of metrics")
    entries = field.mapping(optional=tuple(field.value))
    label_sets: dict[str, tuple[str, ...]] = {}
    if "label_sets" in entries:
        sets_field = entries["label_sets"]
        for key, value in sets_field.mapping(optional=tuple(sets_field.value or {})).items():
            sets_field.child(key, key).name("label set name")
            names = tuple(item.name("label name") for item in value.items(min_items=1))
            for i, label in enumerate(names):
                if label in RESERVED_LABELS:
                    raise value.child(i, label).error(f"label {label!r} is reserved")
            label_sets[key] = names
    metrics: list[Metric] = []
    seen: dict[str, str] = {}
    for domain, items in entries.items():
        if domain == "label_sets":
            continue
        if not _DOMAIN.match(str(domain)):
            raise items.error("a domain of metrics is named in lowercase letters, digits and '_'")
        for item in items.items(min_items=1):
            metric = _read_metric(item, domain, label_sets)
            if metric.name in seen:
                raise item.child("name", metric.name).error(
                    f"metric {metric.name!r} is declared twice (also in metrics.{seen[metric.name]})")
            seen[metric.name] = domain
            _check_signal_type(item, metric)
            metrics.append(metric)
    if not metrics:
        raise field.error("the catalog declares no metric")
    return MetricCatalog(tuple(metrics), tuple(sorted(label_sets.items())))


def _check_signal_type(item: Field, metric: Metric) -> None:
    signal = registry().by_name(metric.name)
    if signal is not None and signal.type != metric.type:
        raise item.child("type", metric.type).error(
            f"{metric.name!r} is the signal {signal.key!r}, a {signal.type} (stackgen/data/signals.yaml); "
            f"got {metric.type}")


def _read_metric(item: Field, domain: str, label_sets: dict[str, tuple[str, ...]]) -> Metric:
    f = item.mapping(required=("name", "type", "help"), optional=("labels", "unit", "buckets"))
    name = f["name"].name("metric name")
    mtype = f["type"].one_of(METRIC_TYPES)
    help_text = f["help"].string()
    unit = f["unit"].one_of(tuple(UNIT_SUFFIXES)) if "unit" in f else ""
    if mtype == "counter" and not name.endswith("_total"):
        raise f["name"].error(f"counter {name!r} must end in _total")
    if mtype != "counter" and name.endswith("_total"):
        raise f["name"].error(f"only counters may end in _total; {name!r} is a {mtype} "
                              "(rate() on it would be wrong)")
    if unit:
        stem = name[: -len("_total")] if mtype == "counter" else name
        if not stem.endswith(UNIT_SUFFIXES[unit]):
            raise f["name"].error(f"a metric in {unit} must be named ..{UNIT_SUFFIXES[unit]}"
                                  f"{'_total' if mtype == 'counter' else ''} (got {name!r})")
    labels: list[Label] = []
    if "labels" in f:
        for entry in f["labels"].items():
            labels.extend(_read_labels(entry, label_sets))
    names = [label.name for label in labels]
    for label_name in names:
        if names.count(label_name) > 1:
            raise f["labels"].error(f"label {label_name!r} appears twice")
    buckets: tuple[float, ...] = ()
    if mtype == "histogram":
        if "buckets" not in f:
            raise item.error(f"histogram {name!r} needs buckets")
        bucket_fields = f["buckets"].items(min_items=1)
        buckets = tuple(b.number(low=0, low_open=True) for b in bucket_fields)
        for i in range(1, len(buckets)):
            if buckets[i] <= buckets[i - 1]:
                raise bucket_fields[i].error(f"buckets must increase strictly (got {buckets[i]:g} "
                                             f"after {buckets[i - 1]:g})")
    elif "buckets" in f:
        raise f["buckets"].error(f"only histograms have buckets; {name!r} is a {mtype}")
    return Metric(name=name, type=mtype, help=help_text, domain=domain, labels=tuple(labels),
                  unit=unit, buckets=buckets)


def _read_labels(entry: Field, label_sets: dict[str, tuple[str, ...]]) -> list[Label]:
    if isinstance(entry.value, str):
        if entry.value in label_sets:
            return [Label(n) for n in label_sets[entry.value]]
        name = entry.name("label name")
        if name in RESERVED_LABELS or name.startswith("__"):
            raise entry.error(f"label {name!r} is reserved")
        return [Label(name)]
    f = entry.mapping(required=("name", "values"))
    name = f["name"].name("label name")
    if name in RESERVED_LABELS or name.startswith("__"):
        raise f["name"].error(f"label {name!r} is reserved")
    values = tuple(v.string() for v in f["values"].items(min_items=1))
    return [Label(name, values)]
