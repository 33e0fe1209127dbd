"""Bot profiles: how one bot's own exposition maps onto the signals, and the bots that use them.

A profile is data (stackgen/data/profiles/<name>.yaml, or an entry of the spec's `profiles:`):

    name: d77-topn
    title: D77-1 TopN arbitrage PAPER runner
    source: where its metric names come from
    heartbeat: {metric: arb_topn_loop_latency_seconds_count, kind: counter}   # optional
    identity: true   # every signal the exporter feeds, under its own name (this project's exporter)
    fold:            # per-exchange metric names -> one name with a label (scrape time)
      - {pattern: 'cross_fx_multi_source_([a-z0-9]+)_(rate|age)', name: 'cross_fx_multi_source_$2',
         label: source, value: '$1'}
    map:             # one entry per signal the bot feeds
      - {signal: pnl, from: arb_topn_pnl_total}                    # rename (scrape time)
      - {signal: http_requests, from: http_requests_total, labels: {handler: path}}   # label rename
      - {signal: win_rate, from: arb_topn_win_rate, scale: 0.01}   # recording rule: percent -> ratio
      - {signal: fx_last_message, from: cross_fx_multi_source_age, age: true}   # age -> timestamp
      - {signal: loop_latency, from: arb_topn_loop_latency_seconds, summary: true}  # Summary quantiles
    notes: [what the bot has that maps to no signal, and why]
    folders: [{name: fx, title: D80 FX Monitoring}]   # Grafana folders of its dashboards
    dashboards: [...]   # its system's dashboards, as a spec's `dashboards:` entries (folder: the first one)
    alerts: {...}       # its system's own alerts, as a spec's `alerts:` entries (CamelCase keys)

A spec whose bots use a profile gets the profile's dashboards and alerts by default
(stackgen/spec/defaults.py); the spec's own `dashboards:` and `alerts:` add or replace.

Every mapping becomes a recording rule that reads the bot's native series (stackgen/render/
profile_rules.py): renames, label renames, folds and value transforms alike, so the bot's own series
stay in Prometheus under their own names and labels, and its existing dashboards, runbooks and rules
keep working beside ours. (Relabeling cannot copy a series, only rename it.) The one scrape-time
rewrite left is a label *copy* onto a metric that already has its signal's name (a recorded copy
under the same name would count it twice).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

from stackgen import conventions as names
from stackgen import units
from stackgen.signals import Derived, registry
from stackgen.spec.fields import Field, parse_duration
from stackgen.spec.loader import parse_yaml

PROFILES_DIR = ("data", "profiles")
HEARTBEAT_KINDS = ("timestamp", "age", "counter")
_TRANSFORMS = ("scale", "age", "summary")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_METRIC = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_GROUP_REF = re.compile(r"\$\{?\d+\}?")


@dataclass(frozen=True)
class Fold:
    pattern: str     # a regex over the metric name (anchored, as Prometheus anchors it)
    name: str        # the folded name ($1, $2 refer to the pattern's groups)
    label: str
    value: str


@dataclass(frozen=True)
class Mapping:
    signal: str                      # signal key
    source: str                      # the bot's metric (after folds)
    labels: tuple[tuple[str, str], ...] = ()   # (bot label, signal label) renames
    scale: float | None = None
    age: bool = False
    summary: bool = False
    exclude: tuple[tuple[str, str], ...] = ()   # (bot label, regex): series left out of the signal

    @property
    def transform(self) -> str:
        if self.scale is not None:
            return "scale"
        if self.age:
            return "age"
        if self.summary:
            return "summary"
        return "rename"

    @property
    def target(self) -> str:
        return registry()[self.signal].name


@dataclass(frozen=True)
class Heartbeat:
    metric: str
    kind: str


@dataclass(frozen=True)
class Profile:
    name: str
    title: str
    source: str
    maps: tuple[Mapping, ...]
    folds: tuple[Fold, ...] = ()
    heartbeat: Heartbeat | None = None
    notes: tuple[str, ...] = ()
    builtin: bool = True
    # Spec values (plain YAML data) a spec using this profile gets by default; not compared or hashed.
    folders: tuple = field(default=(), compare=False)
    dashboards: tuple = field(default=(), compare=False)
    alerts: dict | None = field(default=None, compare=False)

    @property
    def signals(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(m.signal for m in self.maps))

    @property
    def derived(self) -> tuple[Derived, ...]:
        """The derived signals (signals.yaml `derived:`) recorded for this profile's bots: every input fed
        (mapped, or derived before), the signal itself not mapped."""
        have, out = set(self.signals), []
        for entry in registry().derived:
            if entry.key not in have and set(entry.inputs) <= have:
                out.append(entry)
                have.add(entry.key)
        return tuple(out)

    def provided_series(self) -> frozenset[str]:
        """Signal-named series a bot of this profile has in Prometheus (scraped or recorded)."""
        out: set[str] = {name for entry in self.derived for name in registry()[entry.key].series_names}
        for m in self.maps:
            signal = registry()[m.signal]
            if m.transform == "summary":
                out |= {f"{signal.name}_sum", f"{signal.name}_count", names.QUANTILE_SERIES[m.signal]}
            else:
                out |= set(signal.series_names)
        if self.heartbeat is not None:
            out.add(self.heartbeat.metric)
        return frozenset(out)


@dataclass(frozen=True)
class BotHeartbeat:
    max_age: str = "2m"
    for_: str = "1m"
    severity: str = "critical"


@dataclass(frozen=True)
class Bot:
    name: str               # also its scrape job name
    profile: Profile
    heartbeat: BotHeartbeat
    utc_offset: int = 0     # seconds east of UTC: where the bot's day (daily PnL) starts


_OFFSET = re.compile(r"^(?:UTC)?([+-])(\d{2}):(\d{2})$|^UTC$")


def read_utc_offset(field: Field) -> int:
    """A bot's `utc_offset: "+09:00"` (a fixed offset: PromQL has no time-zone database) in seconds."""
    text = field.string()
    found = _OFFSET.match(text)
    if found is None or (found[1] and (int(found[2]) > 14 or int(found[3]) > 59)):
        raise field.error(f"{text!r} is not a UTC offset like \"+09:00\" or \"-05:30\" (a fixed offset: "
                          "pick the one in force, PromQL has no time zones)")
    if not found[1]:
        return 0
    return (1 if found[1] == "+" else -1) * (int(found[2]) * 3600 + int(found[3]) * 60)


def read_profile(field: Field, builtin: bool) -> Profile:
    f = field.mapping(required=("name",), optional=("title", "source", "identity", "map", "fold", "heartbeat",
                                                    "notes", "folders", "dashboards", "alerts"))
    identity = f["identity"].boolean() if "identity" in f else False
    if "map" not in f and not identity:
        raise field.error("missing required key 'map' (or identity: true for a bot exposing the signals' names)")
    name = f["name"].string(pattern=_SLUG, what="profile name (lowercase letters, digits, '-')")
    folds = []
    if "fold" in f:
        for item in f["fold"].items():
            g = item.mapping(required=("pattern", "name", "label", "value"))
            pattern = g["pattern"].string()
            try:
                re.compile(pattern)
            except re.error as exc:
                raise g["pattern"].error(f"not a regular expression: {exc}") from None
            name_template = g["name"].string()
            if not _METRIC.match(_GROUP_REF.sub("x", name_template)):
                raise g["name"].error(f"{name_template!r} does not give a metric name ($1, ${{2}} refer to the "
                                      "pattern's groups; the rest: letters, digits, '_', ':')")
            folds.append(Fold(pattern, name_template, g["label"].name("label name"), g["value"].string()))
    maps: list[Mapping] = []
    seen: dict[str, int] = {}
    if identity:
        maps.extend(Mapping(sig.key, sig.name) for sig in registry().signals if sig.exported)
        seen.update({m.signal: -1 for m in maps})
    for i, item in enumerate(f["map"].items(min_items=1) if "map" in f else ()):
        maps.append(_mapping(item))
        if maps[-1].signal in seen:
            raise item.child("signal", maps[-1].signal).error(
                f"signal {maps[-1].signal!r} is mapped twice (also "
                + (f"map[{seen[maps[-1].signal]}])" if seen[maps[-1].signal] >= 0 else "by identity: true)"))
        seen[maps[-1].signal] = i
    heartbeat = None
    if "heartbeat" in f:
        h = f["heartbeat"].mapping(required=("kind",), optional=("metric", "signal"))
        if ("metric" in h) == ("signal" in h):
            raise f["heartbeat"].error("give the heartbeat's metric (the bot's own name) or its signal, one of them")
        if "signal" in h:
            key = h["signal"].name("signal key")
            if registry().get(key) is None:
                raise h["signal"].error(f"unknown signal {key!r}")
            metric = registry()[key].name
        else:
            metric = h["metric"].name("metric name")
        heartbeat = Heartbeat(metric, h["kind"].one_of(HEARTBEAT_KINDS))
    notes = tuple(n.string() for n in f["notes"].items()) if "notes" in f else ()
    title = f["title"].string() if "title" in f else name
    folders = []
    for item in f["folders"].items() if "folders" in f else ():
        g = item.mapping(required=("name", "title"))
        folders.append({"name": g["name"].string(), "title": g["title"].string()})
    dashboards = tuple(d.value for d in f["dashboards"].items()) if "dashboards" in f else ()
    if dashboards and not folders:
        folders.append({"name": name, "title": title})
    alerts = f["alerts"].value if "alerts" in f else None
    if alerts is not None:
        f["alerts"].mapping(optional=tuple(alerts) if isinstance(alerts, dict) else ())
    return Profile(name=name, title=title,
                   source=f["source"].string() if "source" in f else "", maps=tuple(maps), folds=tuple(folds),
                   heartbeat=heartbeat, notes=notes, builtin=builtin, folders=tuple(folders), dashboards=dashboards,
                   alerts=alerts)


def _mapping(item: Field) -> Mapping:
    f = item.mapping(required=("signal", "from"), optional=("labels", "exclude") + _TRANSFORMS)
    key = f["signal"].name("signal key")
    signal = registry().get(key)
    if signal is None:
        known = ", ".join(s.key for s in registry().signals)
        raise f["signal"].error(f"unknown signal {key!r} (stackgen/data/signals.yaml has: {known})")
    source = f["from"].name("metric name")
    transforms = [t for t in _TRANSFORMS if t in f]
    if len(transforms) > 1:
        raise f[transforms[1]].error(f"a mapping takes one transform, got {' and '.join(transforms)}")
    labels: tuple[tuple[str, str], ...] = ()
    if "labels" in f:
        if transforms:
            raise f["labels"].error("label renames go with plain renames (scrape time), not with a "
                                    f"{transforms[0]} transform")
        lf = f["labels"]
        pairs = lf.mapping(optional=tuple(lf.value or {}))
        labels = tuple(sorted((lf.child(k, k).name("label name"), v.name("label name")) for k, v in pairs.items()))
    scale = f["scale"].number() if "scale" in f else None
    age = f["age"].boolean() if "age" in f else False
    summary = f["summary"].boolean() if "summary" in f else False
    if summary and key not in names.QUANTILE_SERIES:
        raise f["summary"].error(f"summary quantiles feed a latency histogram signal "
                                 f"({', '.join(names.QUANTILE_SERIES)}), not {key!r}")
    if (scale is not None or age) and signal.type == "histogram":
        raise f[transforms[0]].error(f"{key!r} is a histogram; only gauges and counters take {transforms[0]}")
    mixed = None if age else units.contradiction(source, signal, scale)
    if mixed:
        raise f["from"].error(mixed)
    exclude: tuple[tuple[str, str], ...] = ()
    if "exclude" in f:
        ef = f["exclude"]
        for label, value in ef.mapping(optional=tuple(ef.value or {})).items():
            try:
                re.compile(value.string())
            except re.error as exc:
                raise value.error(f"not a regular expression: {exc}") from None
            exclude += ((ef.child(label, label).name("label name"), value.string()),)
        if source == signal.name:
            raise ef.error(f"{source} already has the signal's name: its series are read as scraped (a recorded "
                           "copy would count them twice), so none can be left out")
    return Mapping(key, source, labels, scale, age, summary, exclude)


@lru_cache(maxsize=1)
def builtin_profiles() -> dict[str, Profile]:
    folder = resources.files("stackgen").joinpath(*PROFILES_DIR)
    out = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".yaml"):
            continue
        display = "stackgen/" + "/".join(PROFILES_DIR) + "/" + entry.name
        value, lines = parse_yaml(entry.read_text(encoding="utf-8"), display)
        profile = read_profile(Field(value, (), lines, display), builtin=True)
        out[profile.name] = profile
    return out


def read_profiles(field: Field) -> dict[str, Profile]:
    """Built-in profiles plus the spec's own (`profiles:`); a spec profile may not reuse a built-in name."""
    profiles = dict(builtin_profiles())
    for item in field.items() if field.value is not None else ():
        profile = read_profile(item, builtin=False)
        if profile.name in profiles:
            raise item.child("name", profile.name).error(
                f"profile {profile.name!r} is already defined"
                + (" (built in; give yours another name)" if profiles[profile.name].builtin else ""))
        profiles[profile.name] = profile
    return profiles


def read_bot_heartbeat(field: Field) -> BotHeartbeat:
    f = field.mapping(optional=("max_age", "for", "severity"))
    max_age = f["max_age"].duration(minimum=1) if "max_age" in f else "2m"
    return BotHeartbeat(max_age=max_age, for_=f["for"].duration() if "for" in f else "1m",
                        severity=f["severity"].one_of(("critical", "warning", "info")) if "severity" in f
                        else "critical")


def heartbeat_seconds(bot: Bot) -> float:
    return parse_duration(bot.heartbeat.max_age)
