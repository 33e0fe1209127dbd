"""Which alerts and panels each bot can feed, computed from the rendered expressions.

Every alert rule and panel query is parsed (PromQL) and the metrics it reads are followed
through the recording rules that produce them, down to scraped series. A bot feeds an alert or
panel when its profile provides every one of those series; otherwise the report names the
series it lacks. Nothing here knows how the alert families or dashboards are built.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from stackgen import promql
from stackgen.alerts import links
from stackgen.alerts.rulesets import rule_files
from stackgen.model.profiles import Bot
from stackgen.model.stack import Stack
from stackgen.render.builders import profile_rules
from stackgen.signals import registry

# Series every scraped target has, whatever it exposes.
ALWAYS = frozenset({"up", "scrape_duration_seconds", "scrape_samples_scraped", "ALERTS"})


@dataclass(frozen=True)
class Item:
    kind: str                   # "alert" or "panel"
    name: str                   # alert name, or "<dashboard title> / <panel title>"
    missing: tuple[str, ...]    # series the bot does not provide (empty: fed)

    @property
    def fed(self) -> bool:
        return not self.missing


@dataclass(frozen=True)
class BotCoverage:
    bot: Bot
    alerts: tuple[Item, ...]
    panels: tuple[Item, ...]

    def fed(self, kind: str) -> tuple[Item, ...]:
        return tuple(i for i in getattr(self, kind) if i.fed)

    def lines(self) -> list[str]:
        p = self.bot.profile
        out = [f"bot {self.bot.name} (profile {p.name}): alerts {len(self.fed('alerts'))}/{len(self.alerts)}, "
               f"panels {len(self.fed('panels'))}/{len(self.panels)}"]
        out.append("  alerts it gets: " + (", ".join(i.name for i in self.alerts if i.fed) or "none"))
        for item in self.alerts:
            if not item.fed:
                out.append(f"  alert {item.name}: not fed, needs {', '.join(item.missing)}")
        for item in self.panels:
            if not item.fed:
                out.append(f"  panel {item.name}: no data, needs {', '.join(item.missing)}")
        out.extend(f"  note: {note}" for note in p.notes)
        return out


def labels_used(expr: str) -> set[str]:
    """Labels an expression matches on or groups by."""
    selectors: list = []
    grouping: list = []
    promql._walk(promql.parse(expr), selectors, grouping, set(), [])
    return set(grouping) | {label for _, labels in selectors for label in labels}


def _label_gaps(resolver: "_Resolver", exprs: list[str], text: str, lost: dict[str, dict[str, str]]) -> set[str]:
    """The lost labels an alert or panel needs: a series it reads (through recording rules) lacks a
    label that one of its expressions matches or groups on, or its annotations print ($labels.x)."""
    if not lost:
        return set()
    series, visited = resolver.chain(exprs)
    used = set().union(*(labels_used(e) for e in visited)) | set(re.findall(r"\$labels\.(\w+)", text))
    return {why for name, labels in lost.items() if name in series for label, why in labels.items() if label in used}


def metrics_read(expr: str) -> set[str]:
    """Names of the series an expression selects."""
    selectors: list = []
    promql._walk(promql.parse(expr), selectors, [], set(), [])
    return {name for name, _ in selectors}


def _recorded(stack: Stack, bot: Bot) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for rule_file in rule_files(stack):
        for rule in rule_file.records:
            out.setdefault(rule.record, []).append(rule.expr)
    for rule in [mr.rule for mr in profile_rules.mapping_rules(stack, bot.profile)] + \
            profile_rules.derived_rules(stack, bot.profile):
        out.setdefault(rule.record, []).append(rule.expr)
    return out


def lost_labels(stack: Stack, bot: Bot) -> dict[str, dict[str, str]]:
    """Signal series -> {label: why} for the signal labels a profile's label renames take away (a
    rename written backwards: `labels: {source: exchange}` moves the signal's `source` to `exchange`)."""
    out: dict[str, dict[str, str]] = {}
    for m in bot.profile.maps:
        if profile_rules.in_place(bot.profile, m):
            continue            # a label copy at scrape time: the bot's label stays
        signal = registry()[m.signal]
        have = set(signal.with_path_label(stack.api.path_label).label_names)
        for old, new in m.labels:
            new = profile_rules.route_label(m, new, stack.api.path_label)
            if old in have and new != old and new not in have:
                for name in signal.series_names:
                    out.setdefault(name, {})[old] = (f"label {old!r} of {name} (profile {bot.profile.name} renames "
                                                     f"it to {new!r}: labels {{{old}: {new}}} written backwards?)")
    return out


def declared_series(stack: Stack) -> frozenset[str]:
    """Series of the spec's own `metrics:` that are no signal: the spec says some target exposes them."""
    return frozenset(name for m in stack.catalog.metrics if not m.key for name in m.series_names)


class _Resolver:
    def __init__(self, provided: frozenset[str], recorded: dict[str, list[str]]):
        self.provided, self.recorded, self._memo = provided, recorded, {}

    def chain(self, exprs: list[str]) -> tuple[set[str], list[str]]:
        """Every series the expressions read, through the recording rules, and every expression on the way."""
        seen: set[str] = set()
        todo, visited = list(exprs), []
        while todo:
            expr = todo.pop()
            visited.append(expr)
            for name in metrics_read(expr) - seen:
                seen.add(name)
                todo.extend(self.recorded.get(name, ()))
        return seen, visited

    def missing(self, name: str, seen: frozenset[str] = frozenset()) -> set[str]:
        """Scraped series this series needs and the bot lacks (empty: the bot feeds it)."""
        if name in self.provided or name in ALWAYS:
            return set()
        if name in self._memo:
            return self._memo[name]
        if name not in self.recorded or name in seen:
            return {name}
        best: set[str] | None = None
        for expr in self.recorded[name]:
            lack = set().union(*(self.missing(m, seen | {name}) for m in metrics_read(expr)))
            if best is None or len(lack) < len(best):
                best = lack
        self._memo[name] = best or set()
        return self._memo[name]

    def expr_missing(self, expr: str) -> tuple[str, ...]:
        return tuple(sorted(set().union(*(self.missing(m) for m in metrics_read(expr)))))


def bot_coverage(stack: Stack, bot: Bot) -> BotCoverage:
    lost = lost_labels(stack, bot)
    resolver = _Resolver(bot.profile.provided_series() | declared_series(stack), _recorded(stack, bot))
    alerts: dict[str, set[str]] = {}
    rules = [rule for rule_file in rule_files(stack) for rule in rule_file.alerts]
    for rule in rules + [profile_rules.deadman_rule(stack, bot)]:
        # What it prints ($labels.x); the dashboard link's variables are optional ({{ with }}).
        text = " ".join(value for key, value in rule.annotations if key != links.ANNOTATION)
        alerts.setdefault(rule.alert, set()).update(resolver.expr_missing(rule.expr),
                                                    _label_gaps(resolver, [rule.expr], text, lost))
    panels = []
    for dashboard in stack.dashboards:
        for panel in dashboard.panels:
            exprs = [q.expr for q in panel.queries]
            lack = set().union(*(resolver.expr_missing(e) for e in exprs), _label_gaps(resolver, exprs, "", lost))
            panels.append(Item("panel", f"{dashboard.title} / {panel.title}", tuple(sorted(lack))))
    return BotCoverage(bot, tuple(Item("alert", name, tuple(sorted(lack))) for name, lack in alerts.items()),
                       tuple(panels))


def report(stack: Stack) -> list[BotCoverage]:
    return [bot_coverage(stack, bot) for bot in stack.bots]
