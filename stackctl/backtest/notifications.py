"""Episodes -> the notifications Alertmanager would have sent, from the generated alertmanager.yml.

Follows Alertmanager's own rules: an alert takes the first matching child route (and the next
ones while `continue` is set), inheriting group_by and the timers; a new group notifies after
group_wait, then at each group_interval tick when its firing set changed (new or resolved alerts,
with send_resolved) or when repeat_interval has passed since its last notification. At each tick
an alert an inhibition rule silences (its source firing then, with the `equal` labels alike) is
left out, and a route inside one of its mute time intervals (a maintenance window) sends nothing.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from stackctl.backtest.episodes import Episode
from stackgen.spec.fields import parse_duration

_MATCHER = re.compile(r'^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"(.*)"\s*$')
_TIMERS = ("group_wait", "group_interval", "repeat_interval")


@dataclass(frozen=True)
class Policy:
    receiver: str
    group_by: tuple[str, ...]
    group_wait: float
    group_interval: float
    repeat_interval: float
    mute: tuple[str, ...] = ()          # names of time intervals in which this route sends nothing


def _matches(matchers: list[str], labels: dict[str, str]) -> bool:
    for text in matchers:
        m = _MATCHER.match(text)
        if not m:
            raise ValueError(f"unsupported matcher {text!r}")
        key, op, value = m.groups()
        got = labels.get(key, "")
        ok = {"=": got == value, "!=": got != value,
              "=~": re.fullmatch(value, got) is not None, "!~": re.fullmatch(value, got) is None}[op]
        if not ok:
            return False
    return True


def policies(route: dict, labels: dict[str, str], inherited: dict | None = None) -> list[Policy]:
    """The receivers (with their grouping and timers) an alert with these labels reaches."""
    settings = dict(inherited or {})
    settings.update({k: route[k] for k in ("receiver", "group_by", *_TIMERS) if k in route})
    settings["mute"] = tuple(route.get("mute_time_intervals") or ())      # not inherited, as in Alertmanager
    found: list[Policy] = []
    for child in route.get("routes") or []:
        if _matches(child.get("matchers") or [], labels):
            found.extend(policies(child, labels, settings))
            if not child.get("continue"):
                break
    if found:
        return found
    return [Policy(settings["receiver"], tuple(settings.get("group_by") or ()),
                   *(parse_duration(settings[k]) for k in _TIMERS), settings["mute"])]


@dataclass(frozen=True)
class Silencers:
    """The config's inhibition rules and time intervals, asked at a given time."""
    inhibit_rules: tuple[dict, ...]
    intervals: dict[str, list[dict]]
    episodes: tuple[Episode, ...]

    def inhibited(self, e: Episode, t: float) -> bool:
        labels = dict(e.labels)
        for rule in self.inhibit_rules:
            if not _matches(rule.get("target_matchers") or [], labels):
                continue
            for source in self.episodes:
                other = dict(source.labels)
                if (source is not e and source.active(t) and _matches(rule.get("source_matchers") or [], other)
                        and all(other.get(k, "") == labels.get(k, "") for k in rule.get("equal") or ())):
                    return True
        return False

    def muted(self, policy: Policy, t: float) -> bool:
        return any(_inside(spec, t) for name in policy.mute for spec in self.intervals.get(name, []))


def _inside(spec: dict, t: float) -> bool:
    """One entry of a time interval: weekdays and times of day in its location."""
    when = datetime.fromtimestamp(t, ZoneInfo(spec.get("location") or "UTC"))
    if spec.get("weekdays") and when.strftime("%A").lower() not in spec["weekdays"]:
        return False
    minute = when.hour * 60 + when.minute
    spans = [(int(s["start_time"][:2]) * 60 + int(s["start_time"][3:]), int(s["end_time"][:2]) * 60 +
              int(s["end_time"][3:])) for s in spec.get("times") or []]
    return not spans or any(start <= minute < end for start, end in spans)


def _simulate(policy: Policy, episodes: list[Episode], quiet: Silencers) -> list[tuple[float, frozenset[Episode]]]:
    """(time, the episodes it names) of every notification of one group."""
    sent = []
    pending = sorted(episodes, key=lambda e: e.start)
    i = 0
    while i < len(pending):
        flush = pending[i].start + policy.group_wait     # the group is (re)created by its next alert
        last_set: frozenset[Episode] = frozenset()
        last_sent = None
        while True:
            while i < len(pending) and pending[i].start <= flush:
                i += 1
            active = [e for e in pending[:i] if e.active(flush)]
            firing = frozenset(e for e in active if not quiet.inhibited(e, flush))
            changed = firing != last_set or (firing and flush - last_sent >= policy.repeat_interval)
            if changed and not quiet.muted(policy, flush):
                sent.append((flush, firing | (last_set - firing)))
                last_set, last_sent = firing, flush
            if not active and not last_set:
                break               # everything resolved and notified: Alertmanager drops the group
            flush += policy.group_interval
    return sent


def notifications(config: dict, episodes: list[Episode]) -> list[tuple[float, str, frozenset[Episode]]]:
    """(time, receiver, episodes named) of every notification of an Alertmanager config, over every
    receiver and group."""
    quiet = Silencers(tuple(config.get("inhibit_rules") or ()),
                      {i["name"]: i["time_intervals"] for i in config.get("time_intervals") or []}, tuple(episodes))
    groups: dict[tuple, list[Episode]] = {}
    for episode in episodes:
        labels = dict(episode.labels)
        for policy in policies(config["route"], labels):
            key = (policy, tuple(labels.get(k, "") for k in policy.group_by))
            groups.setdefault(key, []).append(episode)
    out = []
    for (policy, _), members in groups.items():
        out.extend((t, policy.receiver, named) for t, named in _simulate(policy, members, quiet))
    return sorted(out, key=lambda n: (n[0], n[1]))
