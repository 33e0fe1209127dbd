"""The whole validated spec, and the one function that loads it."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from stackgen import conventions as names
from stackgen.errors import SpecError
from stackgen.model.alerts import Alerts, read_alerts
from stackgen.model.catalog import Catalog, read_catalog, with_signals
from stackgen.model.dashboards import Dashboard, Grafana, read_dashboards, read_grafana, with_host_variable
from stackgen.model.routing import Routing, read_routing
from stackgen.model.profiles import Bot, Profile, read_bot_heartbeat, read_profiles
from stackgen.model.scale import (AlertmanagerHA, Kubernetes, RemoteWrite, read_alertmanager_ha,
                                  read_kubernetes, read_remote_write)
from stackgen.model.scrape import Global, Scrape, read_global, read_job, read_scrape
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
    bots: tuple[Bot, ...] = ()
    profiles: tuple[Profile, ...] = ()      # every profile a bot uses, in order of first use

    def bot(self, job: str) -> Bot | None:
        return next((b for b in self.bots if b.name == job), None)

    def error(self, path: tuple, message: str) -> SpecError:
        return Field(None, path, self.lines, self.source).error(message)


TOP_LEVEL = ("version", "global", "scrape", "api", "alerts", "alertmanager", "grafana", "dashboards")
# `metrics:` adds to (or refines) the signals of stackgen/data/signals.yaml; without it the catalog is the signals.
OPTIONAL = ("metrics", "bots", "profiles", "recording_rules")
SCALE_OUT = ("kubernetes", "remote_write", "alertmanager_ha")


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
    f = root.mapping(required=TOP_LEVEL, optional=OPTIONAL + SCALE_OUT)
    glob = read_global(f["global"])
    path_label = f["api"].mapping(required=("path_label",))["path_label"].name("label name")
    catalog = with_signals(read_catalog(f["metrics"]) if "metrics" in f else None, path_label)
    api = _read_api(f["api"], catalog)
    alerts = read_alerts(f["alerts"], f.get("recording_rules"), _bot_alerts(f.get("bots")))
    grafana = read_grafana(f["grafana"])
    notes: list[str] = []
    dashboards = read_dashboards(f["dashboards"], grafana, api.path_label, f["grafana"], alerts, catalog, notes)
    scrape = read_scrape(f["scrape"], glob)
    profiles = read_profiles(f["profiles"] if "profiles" in f else root.child("profiles", None))
    scrape, bots = _read_bots(f.get("bots"), glob, scrape, profiles)
    if not scrape.jobs:
        raise f["scrape"].error("nothing to scrape: declare a job under scrape.jobs or a bot under bots")
    used = tuple(dict.fromkeys(bot.profile for bot in bots))
    job_names = tuple(job.name for job in scrape.jobs)
    reserved = ("project", "cluster", "environment", *names.TARGET_LABELS, *scrape.target_label_names)
    remote_write = read_remote_write(f["remote_write"], job_names, reserved) if "remote_write" in f else None
    if remote_write is not None and remote_write.hosts:
        dashboards = with_host_variable(dashboards, remote_write.host_label)
    return Stack(source=root._file, glob=glob, scrape=scrape, catalog=catalog,
                 api=api, alerts=alerts, routing=read_routing(f["alertmanager"]),
                 lines=root._lines, grafana=grafana, dashboards=dashboards, notes=tuple(notes),
                 bots=bots, profiles=used,
                 kubernetes=read_kubernetes(f["kubernetes"], job_names) if "kubernetes" in f else None,
                 remote_write=remote_write,
                 alertmanager_ha=read_alertmanager_ha(f["alertmanager_ha"]) if "alertmanager_ha" in f else None)


def _bot_alerts(field: Field | None) -> tuple[tuple[str, Field], ...]:
    """(bot name, its `alerts:`) for each bot entry that changes a family's fields (read with the alerts)."""
    if field is None or not isinstance(field.value, list):
        return ()
    return tuple((str(entry["name"]), field.child(i, entry).child("alerts", entry["alerts"]))
                 for i, entry in enumerate(field.value)
                 if isinstance(entry, dict) and "alerts" in entry and isinstance(entry.get("name"), str))


def _read_bots(field: Field | None, glob: Global, scrape: Scrape,
               profiles: dict[str, Profile]) -> tuple[Scrape, tuple[Bot, ...]]:
    """`bots:` entries: scrape jobs whose metrics a profile maps onto the signals."""
    if field is None:
        return scrape, ()
    taken = {"prometheus", "alertmanager"} | {job.name for job in scrape.jobs}
    jobs, bots = list(scrape.jobs), []
    for item in field.items(min_items=1):
        job, enabled = read_job(item, glob, taken, extra=("profile", "heartbeat", "alerts"))
        entries = item.value
        if "profile" not in entries:
            raise item.error("missing required key 'profile' (a built-in profile or one of `profiles:`)")
        pf = item.child("profile", entries["profile"])
        name = pf.string()
        if name not in profiles:
            raise pf.error(f"unknown profile {name!r} (known: {', '.join(sorted(profiles))})")
        heartbeat = read_bot_heartbeat(item.child("heartbeat", entries.get("heartbeat") or {}))
        if enabled:
            jobs.append(replace(job, profile=name))
            bots.append(Bot(job.name, profiles[name], heartbeat))
    return Scrape(scrape.self_monitoring, tuple(jobs)), tuple(bots)


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
