"""Episodes -> the notifications Alertmanager would have sent, from the generated alertmanager.yml.

Follows Alertmanager's own rules: an alert takes the first matching child route (and the next
ones while `continue` is set), inheriting group_by and the timers; a new group notifies after
group_wait, then at each group_interval tick when its firing set changed (new or resolved alerts,
with send_resolved) or when repeat_interval has passed since its last notification. Mute time
intervals (maintenance windows) are not applied: the count is what would page without them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from stackgen.backtest.episodes import Episode
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
    found: list[Policy] = []
    for child in route.get("routes") or []:
        if _matches(child.get("matchers") or [], labels):
            found.extend(policies(child, labels, settings))
            if not child.get("continue"):
                break
    if found:
        return found
    return [Policy(settings["receiver"], tuple(settings.get("group_by") or ()),
                   *(parse_duration(settings[k]) for k in _TIMERS))]


def _simulate(policy: Policy, episodes: list[Episode]) -> list[tuple[float, frozenset[Episode]]]:
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
            firing = frozenset(e for e in pending[:i] if e.active(flush))
            if firing != last_set or (firing and flush - last_sent >= policy.repeat_interval):
                sent.append((flush, firing | (last_set - firing)))
                last_set, last_sent = firing, flush
            if not firing:
                break               # everything resolved and notified: Alertmanager drops the group
            flush += policy.group_interval
    return sent


def notifications(route: dict, episodes: list[Episode]) -> list[tuple[float, str, frozenset[Episode]]]:
    """(time, receiver, episodes named) of every notification, over every receiver and group."""
    groups: dict[tuple, list[Episode]] = {}
    for episode in episodes:
        labels = dict(episode.labels)
        for policy in policies(route, labels):
            key = (policy, tuple(labels.get(k, "") for k in policy.group_by))
            groups.setdefault(key, []).append(episode)
    out = []
    for (policy, _), members in groups.items():
        out.extend((t, policy.receiver, named) for t, named in _simulate(policy, members))
    return sorted(out, key=lambda n: (n[0], n[1]))
