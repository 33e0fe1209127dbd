"""The whole validated spec, and the one function that loads it."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from stackgen import conventions as names
from stackgen.errors import SpecError
from stackgen.model.alerts import Alerts, read_alerts
from stackgen.model.catalog import Catalog, read_catalog
from stackgen.model.dashboards import Dashboard, Grafana, read_dashboards, read_grafana
from stackgen.model.routing import Routing, read_routing
from stackgen.model.scale import (AlertmanagerHA, Kubernetes, RemoteWrite, read_alertmanager_ha,
                                  read_kubernetes, read_remote_write)
from stackgen.model.scrape import Global, Scrape, read_global, read_scrape
from stackgen.spec.fields import Field
from stackgen.spec.loader import load_yaml


@dataclass(frozen=True)
class Api:
    path_label: str


@dataclass(frozen=True)
class Stack:
    source: str           # the spec's file name, for messages and headers
    glob: Global
    scrape: Scrape
    catalog: Catalog
    api: Api
    alerts: Alerts
    routing: Routing
    # Line of every spec path, so checks made after loading can still say where.
    lines: dict = field(default_factory=dict, compare=False, hash=False, repr=False)
    grafana: Grafana | None = None
    dashboards: tuple[Dashboard, ...] = ()
    # Scale-out (docs/scale-out.md): each None when its section is absent or disabled.
    kubernetes: Kubernetes | None = None
    remote_write: RemoteWrite | None = None
    alertmanager_ha: AlertmanagerHA | None = None
    # Things the user should know that are not errors (e.g. a panel citing a family that is off).
    notes: tuple[str, ...] = field(default=(), compare=False)

    def error(self, path: tuple, message: str) -> SpecError:
        return Field(None, path, self.lines, self.source).error(message)


TOP_LEVEL = ("version", "global", "scrape", "metrics", "api", "alerts", "alertmanager", "grafana", "dashboards")
SCALE_OUT = ("kubernetes", "remote_write", "alertmanager_ha")
OPTIONAL_TOP_LEVEL = ("recording_rules",)


def load_stack(path: Path, display_name: str | None = None) -> Stack:
    """Load, then validate the spec; raises SpecError naming file, line and field."""
    name = display_name or path.name
    value, lines = load_yaml(path, name)
    return read_stack(Field(value, (), lines, name))


def read_stack(root: Field) -> Stack:
    if not isinstance(root.value, dict):
        raise root.error("the spec must be a mapping with version, global, scrape, metrics, alerts, ...")
    if "version" not in root.value:
        raise root.error(f"missing required key 'version' (expected version: {names.SPEC_VERSION})")
    version = root.child("version", root.value["version"])
    if version.value != names.SPEC_VERSION:
        raise version.error(f"unsupported spec version {version.value!r} (expected {names.SPEC_VERSION!r})")
    f = root.mapping(required=TOP_LEVEL, optional=OPTIONAL_TOP_LEVEL + SCALE_OUT)
    glob = read_global(f["global"])
    catalog = read_catalog(f["metrics"])
    api = _read_api(f["api"], catalog)
    alerts = read_alerts(f["alerts"], f.get("recording_rules"))
    grafana = read_grafana(f["grafana"])
    notes: list[str] = []
    dashboards = read_dashboards(f["dashboards"], grafana, api.path_label, f["grafana"], alerts, catalog, notes)
    scrape = read_scrape(f["scrape"], glob)
    job_names = tuple(job.name for job in scrape.jobs)
    reserved = ("project", "cluster", "environment", *names.TARGET_LABELS, *scrape.target_label_names)
    return Stack(source=root._file, glob=glob, scrape=scrape, catalog=catalog,
                 api=api, alerts=alerts, routing=read_routing(f["alertmanager"]),
                 lines=root._lines, grafana=grafana, dashboards=dashboards, notes=tuple(notes),
                 kubernetes=read_kubernetes(f["kubernetes"], job_names) if "kubernetes" in f else None,
                 remote_write=read_remote_write(f["remote_write"], job_names, reserved)
                 if "remote_write" in f else None,
                 alertmanager_ha=read_alertmanager_ha(f["alertmanager_ha"]) if "alertmanager_ha" in f else None)


def _read_api(field: Field, catalog: Catalog) -> Api:
    f = field.mapping(required=("path_label",))
    label = f["path_label"].name("label name")
    for metric_name in (names.HTTP_REQUESTS, names.HTTP_DURATION):
        metric = catalog.get(metric_name)
        if metric is not None and label not in metric.label_names:
            raise f["path_label"].error(
                f"label {label!r} is not a label of {metric_name} in the catalog "
                f"(it has: {', '.join(metric.label_names) or 'none'})")
    return Api(label)
