"""Annotation and label helpers shared by the domain modules."""
from __future__ import annotations

import re

from stackgen.alerts.model import AlertCase, Expected, Group, Rule, RuleFile
from stackgen.model.stack import Stack


def runbook(stack: Stack, alert: str) -> str:
    return f"{stack.glob.runbook_url}#{alert.lower()}"


def alert_rule(stack: Stack, name: str, expr: str, for_: str, severity: str, summary: str,
               description: str, spec_path: tuple, **extra_labels: str) -> Rule:
    labels = {"severity": severity, **extra_labels}
    annotations = {"summary": summary, "description": description, "runbook_url": runbook(stack, name)}
    return Rule(expr=expr, alert=name, for_=for_, labels=tuple(sorted(labels.items())),
                annotations=tuple(sorted(annotations.items())), spec_path=spec_path)


_LABEL = re.compile(r"\{\{ \$labels\.(\w+) \}\}")
_VALUE = re.compile(r"\{\{ \$value[^}]*\}\}")


def expected(rule: Rule, labels: dict[str, str], value_text: str) -> Expected:
    """The alert instance Prometheus must produce for a series with these labels and value.

    Label templates are filled from the labels; the value template with `value_text`, which the
    caller formats with the Python twin of the template function (see humanize.py).
    """
    annotations = {}
    for key, text in rule.annotations:
        text = _LABEL.sub(lambda m: labels[m.group(1)], text)
        text = _VALUE.sub(lambda m: value_text, text)
        if "{{" in text:
            raise ValueError(f"{rule.alert}: unrendered template in {key}: {text}")
        annotations[key] = text
    return Expected({**labels, **dict(rule.labels)}, annotations)


def percent(value: float) -> str:
    """A threshold ratio as operators read it (0.05 -> 5%)."""
    return f"{value * 100:g}%"


def assemble(stack: Stack, domain: str, records: list[Rule], parts) -> RuleFile:
    """A domain's rule file: its recording rules, then every enabled alert part's rules and test.

    Each part returns None when its alert is off, else (rules, test case)."""
    alerts: list[Rule] = []
    cases: list[AlertCase] = []
    for part in parts:
        built = part(stack)
        if built:
            alerts.extend(built[0])
            cases.append(built[1])
    groups = [Group(f"{domain}.recording", tuple(records))] if records else []
    if alerts:
        groups.append(Group(f"{domain}.alerts", tuple(alerts)))
    return RuleFile(domain, tuple(groups), tuple(cases))
