"""The rules and promtool cases an alert domain produces (rule groups, RuleFile).

Not the spec's `alerts:` settings: those are stackgen/model/alerts.py.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Rule:
    expr: str
    record: str = ""                 # a recording rule, or...
    alert: str = ""                  # ...an alerting rule
    for_: str = ""
    labels: tuple[tuple[str, str], ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()
    spec_path: tuple = ()            # where in the spec this rule comes from (for errors)
    output_labels: tuple[str, ...] = ()   # labels a recorded series carries besides job/instance


@dataclass(frozen=True)
class Group:
    name: str
    rules: tuple[Rule, ...]


@dataclass(frozen=True)
class Expected:
    """One alert instance promtool must see firing: its exact labels and annotations."""
    labels: dict[str, str]
    annotations: dict[str, str]


@dataclass
class AlertCase:
    """One promtool test: input series, then checks at chosen times."""
    name: str
    series: list[tuple[str, str]] = field(default_factory=list)        # (series selector, values)
    interval: str = ""                                                  # "" : the test step (1m)
    evaluation: str = ""       # promtool's evaluation_interval ("": the step); other values get their own file
    alert_checks: list[tuple[str, str, list[Expected]]] = field(default_factory=list)  # (time, alert, firing)
    expr_checks: list[tuple[str, str, list[tuple[str, float]]]] = field(default_factory=list)  # (time, expr, samples)

    def silent(self, at: str, alert: str) -> None:
        self.alert_checks.append((at, alert, []))

    def fires(self, at: str, alert: str, *expected: Expected) -> None:
        self.alert_checks.append((at, alert, list(expected)))

    def pending(self, at: str, alert: str, label_sets: list[dict[str, str]]) -> None:
        """Assert the alert is pending (condition true, `for` not yet elapsed) for exactly these labels.

        `at` is "" where the test timing cannot prove the condition holds yet: then nothing is asserted.
        """
        if not at:
            return
        samples = [(_selector("ALERTS", {"alertname": alert, "alertstate": "pending", **labels}), 1.0)
                   for labels in label_sets]
        self.expr_checks.append((at, f'ALERTS{{alertname="{alert}",alertstate="pending"}}', samples))


@dataclass(frozen=True)
class RuleFile:
    domain: str
    groups: tuple[Group, ...]
    cases: tuple[AlertCase, ...]
    # Other rule files the tests load too (for the series they record), with their group names.
    test_also: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def alerts(self) -> tuple[Rule, ...]:
        return tuple(r for g in self.groups for r in g.rules if r.alert)

    @property
    def records(self) -> tuple[Rule, ...]:
        return tuple(r for g in self.groups for r in g.rules if r.record)


def rule_document(rule: Rule) -> dict:
    """The rule as a Prometheus rule file (and a PrometheusRule) holds it."""
    doc: dict = {"record": rule.record} if rule.record else {"alert": rule.alert}
    doc["expr"] = rule.expr
    if rule.for_:
        doc["for"] = rule.for_
    if rule.labels:
        doc["labels"] = dict(rule.labels)
    if rule.annotations:
        doc["annotations"] = dict(rule.annotations)
    return doc


def _selector(name: str, labels: dict[str, str]) -> str:
    # Each value a PromQL string (promtool's series notation reads them so): a quote or a control
    # character in a label value (an override's env, say) escaped, plain values as they are.
    inner = ",".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in sorted(labels.items()))
    return f"{name}{{{inner}}}"


def selector(name: str, labels: dict[str, str]) -> str:
    return _selector(name, labels)
