"""Load exporter/catalog.json: the metric catalog generated from spec.yaml.

The catalog is the exporter's single source of truth for metric names, types,
help texts, label names, closed label value sets, histogram buckets and the
name of the HTTP route label. Nothing here knows about YAML or the generator.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

CATALOG_FILE = "catalog.json"
METRIC_TYPES = ("counter", "gauge", "histogram")


class CatalogError(ValueError):
    """catalog.json is missing, unreadable or not what the exporter needs."""


@dataclass(frozen=True)
class LabelSpec:
    name: str
    values: tuple[str, ...] = ()  # non-empty: a closed set, anything else is dropped

    @property
    def closed(self) -> bool:
        return bool(self.values)


@dataclass(frozen=True)
class MetricSpec:
    name: str  # as exposed; counters end in _total
    type: str
    help: str
    domain: str
    labels: tuple[LabelSpec, ...] = ()
    buckets: tuple[float, ...] = ()
    unit: str = ""

    @property
    def label_names(self) -> tuple[str, ...]:
        return tuple(label.name for label in self.labels)

    def label(self, name: str) -> LabelSpec:
        for label in self.labels:
            if label.name == name:
                return label
        raise CatalogError(f"catalog: metric {self.name} has no label {name!r} "
                           f"(labels: {', '.join(self.label_names) or 'none'})")


@dataclass(frozen=True)
class ExporterCatalog:
    metrics: tuple[MetricSpec, ...]
    label_sets: dict[str, tuple[str, ...]]
    path_label: str
    source: str = CATALOG_FILE

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {m.name: m for m in self.metrics})

    @property
    def bot_labels(self) -> tuple[str, ...]:
        """The labels every TopN series carries (env, universe, strategy)."""
        return self.label_sets.get("bot", ())

    def __contains__(self, name: str) -> bool:
        return name in self._by_name

    def metric(self, name: str) -> MetricSpec:
        try:
            return self._by_name[name]
        except KeyError:
            raise CatalogError(f"{self.source}: metric {name} is fed by the exporter but missing from the "
                               f"catalog; add it to spec.yaml `metrics:` and run `make generate`") from None

    def require(self, name: str, type_: str, labels: tuple[str, ...]) -> MetricSpec:
        """The metric `name`, checked to have the type and label names the exporter code feeds."""
        spec = self.metric(name)
        if spec.type != type_:
            raise CatalogError(f"{self.source}: metric {name} is a {spec.type} in the catalog, "
                               f"but the exporter feeds it as a {type_}")
        if spec.label_names != labels:
            raise CatalogError(f"{self.source}: metric {name} has labels [{', '.join(spec.label_names)}] "
                               f"in the catalog, but the exporter feeds [{', '.join(labels)}]")
        return spec


def load_catalog(path: str | Path | None = None) -> ExporterCatalog:
    """Read and validate the catalog; by default the catalog.json packaged next to this module."""
    if path is None:
        source = f"exporter/{CATALOG_FILE}"
        try:
            text = resources.files("exporter").joinpath(CATALOG_FILE).read_text(encoding="utf-8")
        except (OSError, ModuleNotFoundError) as exc:
            raise CatalogError(f"{source}: cannot read the packaged catalog ({exc}); "
                               f"run `make generate` to create it") from exc
    else:
        source = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise CatalogError(f"{source}: cannot read ({exc.strerror or exc})") from exc
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CatalogError(f"{source}:{exc.lineno}: not valid JSON ({exc.msg})") from exc
    return parse_catalog(document, source)


def parse_catalog(document: object, source: str = CATALOG_FILE) -> ExporterCatalog:
    """Validate a decoded catalog document; every error names the field that is wrong."""
    if not isinstance(document, dict):
        raise CatalogError(f"{source}: must be a JSON object (got {type(document).__name__})")
    path_label = document.get("path_label")
    if not isinstance(path_label, str) or not path_label:
        raise CatalogError(f"{source}: path_label: must be a non-empty string (got {path_label!r})")
    raw_sets = document.get("label_sets", {})
    if not isinstance(raw_sets, dict):
        raise CatalogError(f"{source}: label_sets: must be an object")
    label_sets = {}
    for name, labels in raw_sets.items():
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            raise CatalogError(f"{source}: label_sets.{name}: must be a list of label names")
        label_sets[name] = tuple(labels)
    raw_metrics = document.get("metrics")
    if not isinstance(raw_metrics, list) or not raw_metrics:
        raise CatalogError(f"{source}: metrics: must be a non-empty list")
    metrics, seen = [], set()
    for index, raw in enumerate(raw_metrics):
        spec = _parse_metric(raw, f"{source}: metrics[{index}]")
        if spec.name in seen:
            raise CatalogError(f"{source}: metrics[{index}].name: {spec.name} is listed twice")
        seen.add(spec.name)
        metrics.append(spec)
    return ExporterCatalog(tuple(metrics), label_sets, path_label, source)


def _parse_metric(raw: object, where: str) -> MetricSpec:
    if not isinstance(raw, dict):
        raise CatalogError(f"{where}: must be an object")
    name, type_, help_ = raw.get("name"), raw.get("type"), raw.get("help")
    if not isinstance(name, str) or not name:
        raise CatalogError(f"{where}.name: must be a non-empty string (got {name!r})")
    where = f"{where} ({name})"
    if type_ not in METRIC_TYPES:
        raise CatalogError(f"{where}.type: must be one of {', '.join(METRIC_TYPES)} (got {type_!r})")
    if type_ == "counter" and not name.endswith("_total"):
        raise CatalogError(f"{where}.name: a counter's name must end in _total")
    if not isinstance(help_, str) or not help_:
        raise CatalogError(f"{where}.help: must be a non-empty string")
    labels = []
    for i, label in enumerate(raw.get("labels", [])):
        if not isinstance(label, dict) or not isinstance(label.get("name"), str):
            raise CatalogError(f"{where}.labels[{i}]: must be an object with a name")
        values = label.get("values", [])
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise CatalogError(f"{where}.labels[{i}].values: must be a list of strings")
        labels.append(LabelSpec(label["name"], tuple(values)))
    buckets = raw.get("buckets", [])
    if type_ == "histogram":
        if (not isinstance(buckets, list) or not buckets
                or not all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in buckets)):
            raise CatalogError(f"{where}.buckets: a histogram needs a non-empty list of numbers")
        if list(buckets) != sorted(buckets):
            raise CatalogError(f"{where}.buckets: must be in increasing order (got {buckets})")
    elif buckets:
        raise CatalogError(f"{where}.buckets: only histograms have buckets")
    return MetricSpec(name=name, type=type_, help=help_, domain=str(raw.get("domain", "")),
                      labels=tuple(labels), buckets=tuple(float(b) for b in buckets),
                      unit=str(raw.get("unit", "")))
