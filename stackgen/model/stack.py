"""The whole validated spec, and the one function that loads it."""
from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from stackgen import conventions as names
from stackgen.errors import Gather, SpecError, listed
from stackgen.alerts import families as fam   # the families' declarations (data; see pyproject's contracts)
from stackgen.model.alerts import Alerts, read_alerts
from stackgen.model import generated
from stackgen.model.catalog import MetricCatalog, read_catalog, with_signals
from stackgen.model.dashboards import (Dashboard, Grafana, read_dashboards, read_grafana, with_fleet_variables,
                                       with_host_variable)
from stackgen.model.routing import Routing, read_routing
from stackgen.model.profiles import Bot, BotHeartbeat, Profile, read_bot_heartbeat, read_profiles, read_utc_offset
from stackgen.model.scale import (AlertmanagerHA, Kubernetes, RemoteWrite, read_alertmanager_ha,
                                  read_kubernetes, read_remote_write)
from stackgen.model.scrape import Global, Scrape, read_global, read_job, read_scrape
from stackgen.model.slo_dashboard import slo_dashboard
from stackgen.model.slos import Slos, read_slos
from stackgen.spec import defaults
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
    catalog: MetricCatalog
    api: Api
    alerts: Alerts
    routing: Routing
    # Line of every spec path, so checks made after loading can still say where.
    lines: dict = field(default_factory=dict, compare=False, hash=False, repr=False)
    # What later stages build from this Stack once (the rule files, the panel index, the dashboards), kept
    # with it rather than in module globals: see once().
    built: dict = field(default_factory=dict, init=False, compare=False, hash=False, repr=False)
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
    slos: Slos | None = None                # objectives and money budgets (`slos:`), None when absent
    # The spec with every default filled in, and the paths holding a default (generate.py --effective).
    effective: dict = field(default_factory=dict, compare=False, hash=False, repr=False)
    defaulted: frozenset = field(default=frozenset(), compare=False, hash=False, repr=False)

    def bot(self, job: str) -> Bot | None:
        return next((b for b in self.bots if b.name == job), None)

    def error(self, path: tuple, message: str) -> SpecError:
        return Field(None, path, self.lines, self.source).error(message)

    def once(self, key: str, build):
        """build(self), computed on the first call for this Stack and kept with it (a Stack is frozen)."""
        if key not in self.built:
            self.built[key] = build(self)
        return self.built[key]


# Every other section has defaults (stackgen/spec/defaults.py): `version` and `bots:` make a spec.
TOP_LEVEL = ("version",)
DEFAULTED = ("global", "scrape", "api", "alerts", "alertmanager", "grafana", "dashboards")
# `metrics:` adds to (or refines) the signals of stackgen/data/signals.yaml; without it the catalog is the signals.
OPTIONAL = DEFAULTED + ("metrics", "bots", "profiles", "recording_rules", "slos")
SCALE_OUT = ("kubernetes", "remote_write", "alertmanager_ha")


def _placeholder_notes(glob, grafana: Grafana) -> list[str]:
    """What every notification links to while the example's URLs are left in the spec."""
    links = (("global.runbook_url", glob.runbook_url, "the runbook link of every notification leads to the "
              "example's repository, not yours", "where docs/runbook.md is published"),
             ("grafana.external_url", grafana.external_url, "the dashboard link of every notification opens "
              "only on the machine that runs Grafana", "Grafana's URL as the on-call person reaches it"))
    return [f"{path} is still the placeholder {url}: {what}; set it to {fix}"
            for path, url, what, fix in links if url.startswith(names.PLACEHOLDER_URLS)]


# Which alert names a stack's bots feed: what the coverage report says (stackgen.load passes it in;
# it needs the rules, a layer above this one).
FedAlerts = Callable[[Stack], set[str]]


def load_spec(path: Path, fed: FedAlerts, display_name: str | None = None) -> Stack:
    """Load, then validate the spec; raises SpecError naming file, line and field.
    (stackgen.load.load_stack is this with the coverage report as `fed`.)"""
    name = display_name or path.name
    value, lines = load_yaml(path, name)
    return read_stack(Field(value, (), lines, name), fed)


def read_stack(root: Field, fed: FedAlerts) -> Stack:
    if not isinstance(root.value, dict):
        raise root.error("the spec must be a mapping with version, global, scrape, metrics, alerts, ...")
    if "version" not in root.value:
        raise root.error(f"missing required key 'version' (expected version: {names.SPEC_VERSION})")
    version = root.child("version", root.value["version"])
    if version.value != names.SPEC_VERSION:
        raise version.error(f"unsupported spec version {version.value!r} (expected {names.SPEC_VERSION!r})")
    root.mapping(required=TOP_LEVEL, optional=OPTIONAL + SCALE_OUT)
    filled = defaults.fill_static(root.value)
    profiles = read_profiles(root.child("profiles", filled.value.get("profiles")))
    _fill_from_bots(filled, profiles, root, fed)
    _fill_bot_overrides(filled)
    stack = _read(root.with_value(filled.value), profiles)
    return replace(stack, notes=tuple(filled.notes) + stack.notes, effective=filled.value,
                   defaulted=frozenset(filled.defaulted))


def _fill_bot_overrides(filled: defaults.Filled) -> None:
    """A bot's own `alerts:` changes some fields of a family for that bot; the others it inherits from
    `alerts:`. Written out (marked default) so --effective shows every value each bot fires at."""
    bots, alerts = filled.value.get("bots"), filled.value.get("alerts")
    if not (isinstance(bots, list) and isinstance(alerts, dict)):
        return
    for i, bot in enumerate(bots):
        own = bot.get("alerts") if isinstance(bot, dict) else None
        if not isinstance(own, dict):
            continue
        for key, fields in own.items():
            inherited = alerts.get(key)
            if isinstance(fields, dict) and isinstance(inherited, dict):
                for name, value in inherited.items():
                    if name not in fields and name != "overrides":
                        filled.put(("bots", i, "alerts", key, name), copy.deepcopy(value))


# The bots' live/paper target label (the fleet overview's selector). Namespaced: a target label a bot's
# own series also carry would be renamed to exported_<name> by Prometheus, and the bot's names are its own.
MODE_LABEL = "trading_mode"


def _enabled_bots(filled: defaults.Filled, profiles: dict[str, Profile]) -> list[tuple[str, Profile]]:
    """(job, profile) of every enabled bot the reader will accept. Each gets its heartbeat settings and
    its `mode` target label (live or paper: the fleet overview's selector), by default the global
    environment."""
    bots = filled.value.get("bots")
    environment = filled.value["global"].get("environment") if isinstance(filled.value["global"], dict) else None
    out = []
    for i, bot in enumerate(bots if isinstance(bots, list) else []):
        if not (isinstance(bot, dict) and bot.get("enabled", True) is not False and isinstance(bot.get("name"), str)
                and bot.get("profile") in profiles and isinstance(bot.get("profile"), str)):
            continue
        out.append((bot["name"], profiles[bot["profile"]]))
        heartbeat = bot.get("heartbeat", {})
        if isinstance(heartbeat, dict):      # its dead man's switch, at BotHeartbeat's defaults
            if "heartbeat" not in bot:
                filled.put(("bots", i, "heartbeat"), {})
            for key, default in (("max_age", BotHeartbeat.max_age), ("for", BotHeartbeat.for_),
                                 ("severity", BotHeartbeat.severity)):
                if key not in heartbeat:
                    filled.put(("bots", i, "heartbeat", key), default)
        if isinstance(environment, str) and isinstance(bot.get("labels", {}), dict) \
                and MODE_LABEL not in bot.get("labels", {}):
            if "labels" not in bot:
                filled.put(("bots", i, "labels"), {})
            filled.put(("bots", i, "labels", MODE_LABEL), environment)
    return out


def _fill_from_bots(filled: defaults.Filled, profiles: dict[str, Profile], root: Field, fed: FedAlerts) -> None:
    """The defaults that follow from the bots: their profiles' dashboards (with Grafana's folders and
    home dashboard), and the alert families their profiles feed plus the profiles' own alerts."""
    value = filled.value
    bots = _enabled_bots(filled, profiles)
    used = list(dict.fromkeys(profile for _, profile in bots))      # in order of first use
    own, made_folders = [], []
    for p in used:
        if p.dashboards:
            own += [dict(d, folder=d.get("folder", p.folders[0]["name"])) for d in p.dashboards]
        elif (made := generated.for_profile(p)) is not None:
            own.append(made)
            made_folders.append({"name": made["folder"], "title": p.title})
    if bots:
        overview, folder = generated.fleet(bots)
        own.append(overview)
        made_folders.append(folder)
    given = value.get("dashboards")
    if "dashboards" not in value:
        filled.put(("dashboards",), copy.deepcopy(own))
    elif isinstance(given, list) and own:
        value["dashboards"] = defaults.merge_by(own, given, "uid")
        filled.defaulted.update(("dashboards", i) for i in range(len(value["dashboards"]) - len(given)))
    grafana, dashboards = value["grafana"], value["dashboards"]
    if isinstance(grafana, dict) and isinstance(dashboards, list):
        in_use = {d.get("folder") for d in dashboards if isinstance(d, dict)}
        folders = defaults.merge_by([f for p in used for f in p.folders if f["name"] in in_use]
                                    + [f for f in made_folders if f["name"] in in_use], [], "name")
        if "folders" not in grafana:
            # A folder no profile titles is titled by its name.
            named = {f["name"] for f in folders}
            folders += [{"name": n, "title": n} for n in dict.fromkeys(
                d.get("folder") for d in dashboards if isinstance(d, dict)) if isinstance(n, str) and n not in named]
            filled.put(("grafana", "folders"), folders)
        elif isinstance(grafana["folders"], list) and folders:
            given_folders = grafana["folders"]
            grafana["folders"] = defaults.merge_by(folders, given_folders, "name")
            added = len(grafana["folders"]) - len(given_folders)
            filled.defaulted.update(("grafana", "folders", i) for i in range(added))
        if "home_dashboard" not in grafana and dashboards and isinstance(dashboards[0], dict) \
                and "uid" in dashboards[0]:
            filled.put(("grafana", "home_dashboard"), dashboards[0]["uid"])
    if "alerts" not in value:
        filled.put(("alerts",), _fed_alerts(filled, profiles, root, used, fed) if used else {})


def _fed_alerts(filled: defaults.Filled, profiles: dict[str, Profile], root: Field, used: list[Profile],
                fed: FedAlerts) -> dict:
    """Every built-in family some bot's profile feeds, at its defaults, and the profiles' own alerts.

    Which families a profile feeds is what `fed` (the coverage report) says of a stack with all of them on."""
    own: dict = {}
    for profile in used:
        for key, entry in (profile.alerts or {}).items():
            own.setdefault(key, copy.deepcopy(entry))
    # Each family at its documented defaults (families.yaml), written out so --effective shows them.
    every = {key: True if family.switch else {f.name: f.default for f in family.fields if not f.required}
             for key, family in fam.families().items()}
    trial = dict(filled.value, alerts={**every, **own})
    stack = _read(root.with_value(trial), profiles)
    fed_names = fed(stack)
    chosen = {key: value for key, value in every.items()
              if key in defaults.ALWAYS_ON or fed_names & set(fam.families()[key].alert_names)}
    for key, entry in own.items():          # a profile's thresholds refine the family's defaults
        base = chosen.get(key)
        chosen[key] = {**base, **entry} if isinstance(base, dict) and isinstance(entry, dict) else entry
    return chosen


def _read(root: Field, profiles: dict[str, Profile]) -> Stack:
    """The stack from a spec whose defaults are filled in. Parts are read one after another so
    that one run names every missing required key (a part that needs a missing one is skipped)."""
    f = root.mapping(required=TOP_LEVEL + DEFAULTED, optional=OPTIONAL + SCALE_OUT)
    g = Gather()
    glob = g.run(read_global, f["global"])
    path_label = g.run(lambda: f["api"].mapping(required=("path_label",))["path_label"].name("label name"))
    catalog = g.run(lambda: with_signals(read_catalog(f["metrics"]) if "metrics" in f else None, path_label)) \
        if path_label else None
    api = g.run(_read_api, f["api"], catalog) if catalog else None
    alerts = g.run(read_alerts, f["alerts"], f.get("recording_rules"), _bot_alerts(f.get("bots")))
    grafana = g.run(read_grafana, f["grafana"])
    notes: list[str] = _placeholder_notes(glob, grafana) if glob and grafana else []
    dashboards = g.run(read_dashboards, f["dashboards"], grafana, path_label, f["grafana"], alerts, catalog,
                       notes) if grafana and alerts and api else None
    scrape = g.run(read_scrape, f["scrape"], glob) if glob else None
    scrape_bots = g.run(_read_bots, f.get("bots"), glob, scrape, profiles) if scrape else None
    routing = g.run(read_routing, f["alertmanager"])
    g.done()
    slos = None
    if "slos" in f:
        home = next((d.folder for d in dashboards if d.uid == grafana.home_dashboard), grafana.folders[0].name)
        slos = read_slos(f["slos"], catalog, alerts, glob.project, home, tuple(x.name for x in grafana.folders))
        if any(d.uid == names.SLO_DASHBOARD_UID for d in dashboards):
            raise f["slos"].error(f"dashboard uid {names.SLO_DASHBOARD_UID!r} is the error-budget dashboard's; "
                                  "give your dashboard another uid")
        dashboards += (slo_dashboard(slos),)
    dashboards = with_fleet_variables(dashboards)
    scrape, bots = scrape_bots
    if not scrape.jobs:
        raise f["scrape"].error("nothing to scrape: declare a job under scrape.jobs or a bot under bots")
    used = tuple(dict.fromkeys(bot.profile for bot in bots))
    job_names = tuple(job.name for job in scrape.jobs)
    reserved = ("project", "cluster", "environment", *names.TARGET_LABELS, *scrape.target_label_names)
    remote_write = read_remote_write(f["remote_write"], job_names, reserved) if "remote_write" in f else None
    if remote_write is not None and remote_write.hosts:
        dashboards = with_host_variable(dashboards, remote_write.host_label)
    kubernetes = read_kubernetes(f["kubernetes"], job_names, notes) if "kubernetes" in f else None
    return Stack(source=root._file, glob=glob, scrape=scrape, catalog=catalog,
                 api=api, alerts=alerts, routing=routing,
                 lines=root._lines, grafana=grafana, dashboards=dashboards, notes=tuple(notes),
                 bots=bots, profiles=used, slos=slos,
                 kubernetes=kubernetes,
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
    g = Gather()
    for item in field.items(min_items=1):
        read = g.run(read_job, item, glob, taken, ("profile", "heartbeat", "utc_offset", "alerts"))
        entries = item.value
        if "profile" not in entries:
            g.run(_raise, item.missing("profile", "a built-in profile or one of `profiles:`"))
        if read is None or "profile" not in entries:
            continue
        job, enabled = read
        pf = item.child("profile", entries["profile"])
        name = pf.string()
        if name not in profiles:
            raise pf.error(f"unknown profile {name!r} (known: {listed(sorted(profiles))})")
        heartbeat = read_bot_heartbeat(item.child("heartbeat", entries.get("heartbeat") or {}))
        if enabled:
            jobs.append(replace(job, profile=name))
            offset = read_utc_offset(item.child("utc_offset", entries["utc_offset"])) if "utc_offset" in entries else 0
            bots.append(Bot(job.name, profiles[name], heartbeat, offset))
    g.done()
    return Scrape(scrape.self_monitoring, tuple(jobs)), tuple(bots)


def _raise(error: SpecError):
    raise error


def _read_api(field: Field, catalog: MetricCatalog) -> Api:
    f = field.mapping(required=("path_label",))
    label = f["path_label"].name("label name")
    for metric_name in (names.HTTP_REQUESTS, names.HTTP_DURATION):
        metric = catalog.get(metric_name)
        if metric is not None and label not in metric.label_names:
            raise f["path_label"].error(
                f"label {label!r} is not a label of {metric_name} in the catalog "
                f"(it has: {', '.join(metric.label_names) or 'none'})")
    return Api(label)
