"""The `dashboard` annotation of every alert: the URL of the Grafana panel that shows its signal.

One place adds it, for every alert the stack generates (the built-in families, the user's own alerts,
the bots' BotStopped rules): `link`. The panel is chosen from the model's dashboards
(stackgen.model.panel_index.alert_dashboard_link), never from rendered files, so rules and dashboards
do not need each other's output. An alert whose signal no panel shows gets no `dashboard` annotation.
The promtool tests derive their expected annotations from the rule, so they expect it too
(engine.expected renders its `{{ with $labels.x }}...{{ end }}` parts like Go's text/template).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from stackgen.alerts.rules import Rule
from stackgen.model.panel_index import alert_dashboard_link, expr_metrics
from stackgen.model.stack import Stack

ANNOTATION = "dashboard"


def recorded_exprs(records: Iterable[Rule]) -> dict[str, str]:
    """Recorded series -> what records them (several rules of one name joined with `or`)."""
    out: dict[str, list[str]] = {}
    for rule in records:
        out.setdefault(rule.record, []).append(f"({rule.expr})")
    return {name: " or ".join(exprs) for name, exprs in out.items()}


def link(stack: Stack, rule: Rule, recorded: dict[str, str], also_reads: Iterable[str] = ()) -> Rule:
    """The alert with its `dashboard` annotation, when some panel shows what its expression reads.

    recorded: recorded series -> their expression (so an alert on a recorded series links to the panel
    showing what it is recorded from); also_reads: further series the alert stands for (a bot's
    BotStopped reads the bot's own heartbeat, which panels show as the signal it maps to).
    """
    if not rule.alert or any(key == ANNOTATION for key, _ in rule.annotations):
        return rule
    try:
        # What it reads through recording rules, and the recorded series themselves (a panel may show those).
        metrics = expr_metrics(stack, rule.expr, recorded) | expr_metrics(stack, rule.expr) | frozenset(also_reads)
        url = alert_dashboard_link(stack, rule.alert, sorted(metrics))
    except (ValueError, RuntimeError):
        # An expression or a panel query that does not parse: the rules' and the dashboards' own checks
        # report it, with its spec line.
        return rule
    if url is None:
        return rule
    annotations = tuple(sorted((*rule.annotations, (ANNOTATION, url))))
    return dataclasses.replace(rule, annotations=annotations)
