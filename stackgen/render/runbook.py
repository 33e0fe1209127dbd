"""docs/runbook.md: a section per alert (what it means, its rules, what to do)."""
from __future__ import annotations

from dataclasses import dataclass

import jinja2

from stackgen import conventions as n
from stackgen.alerts import engine, slo
from stackgen.alerts import families as fam
from stackgen.alerts.rules import Rule
from stackgen.alerts.rulesets import rule_files
from stackgen.model.stack import Stack
from stackgen.render.builders import profile_rules

@dataclass(frozen=True)
class Entry:
    name: str
    anchor: str
    meaning: str
    steps: tuple[str, ...]
    rules: tuple[dict, ...]
    demo: tuple[tuple[str, str], ...] = ()   # (scenario, what it does): the demo drives the alert


def _guide(stack: Stack) -> dict[str, tuple[str, tuple[str, ...]]]:
    """What each alert means and the operator's first steps: from the family declarations (rendered
    with the spec's values, so the text never states a number the spec no longer has) and from the
    `runbook` text of the user's own alerts."""
    guide = {}
    families = fam.families()
    for config in stack.alerts.families:
        family = families[config.key]
        ctx = engine.family_context(stack, family, dict(config.values))
        for alert, text in family.runbook.items():
            steps = tuple(fam.render(" ".join(step.split()), ctx) for step in text.get("steps", ()))
            guide[alert] = (fam.render(" ".join(text["meaning"].split()), ctx), steps)
    for alert in stack.alerts.custom:
        guide[alert.name] = (" ".join((alert.runbook or alert.description).split()), ())
    guide.update(slo.guide(stack))
    return guide


def render(stack: Stack) -> dict[str, str]:
    by_alert: dict[str, list[Rule]] = {}
    for rule_file in rule_files(stack):
        for rule in rule_file.alerts:
            by_alert.setdefault(rule.alert, []).append(rule)
    for bot in stack.bots:      # each bot's dead man's switch, from its profile
        by_alert.setdefault(profile_rules.ALERT_BOT_STOPPED, []).append(profile_rules.deadman_rule(stack, bot))
    guide = _guide(stack)
    demo: dict[str, list[tuple[str, str]]] = {}    # alert -> its family's demo scenarios
    for config in stack.alerts.families:
        family = fam.families()[config.key]
        for scenario in family.scenarios:
            demo.setdefault(family.alert, []).append((scenario.name, scenario.about))
    entries = []
    for name, rules in by_alert.items():
        meaning, steps = guide[name] if name in guide else profile_rules.GUIDE[name]
        entries.append(Entry(name, name.lower(), meaning, steps, tuple(
            {"severity": dict(r.labels)["severity"], "for_": r.for_, "expr": r.expr} for r in rules),
            tuple(demo.get(name, ()))))
    env = jinja2.Environment(loader=jinja2.PackageLoader("stackgen", "templates"),
                             keep_trailing_newline=True, trim_blocks=False, autoescape=False)
    text = env.get_template("runbook.md.j2").render(entries=entries, source=stack.source,
                                                    generated_by=n.GENERATED_BY)
    return {n.RUNBOOK: text.rstrip("\n") + "\n"}
