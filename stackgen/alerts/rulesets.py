"""All rule files of the stack, built once per Stack and checked against the catalog.

Built-in families (families.yaml) become one rule file per domain (topn, fx, api,
platform); the user's own alerts and recording rules become rules/custom.rules.yml.
"""
from __future__ import annotations

import re

from stackgen import promql
from stackgen.alerts import burn, custom, engine, slo
from stackgen.alerts import families as fam
from stackgen.alerts import links
from stackgen.alerts.rules import AlertCase, Group, Rule, RuleFile
from stackgen.model.series import catalog_index
from stackgen.model.stack import Stack

DOMAINS = ("topn", "fx", "api", "platform")


def rule_files(stack: Stack) -> tuple[RuleFile, ...]:
    """The rule files, each expression checked: it parses and names only catalog metrics and labels.
    Built once per Stack (three renderers read them)."""
    return stack.once("rule_files", _build)


def _build(stack: Stack) -> tuple[RuleFile, ...]:
    catalog = fam.catalog()
    enabled = [(catalog.families[c.key], dict(c.values)) for c in stack.alerts.families]
    configs = {c.key: c for c in stack.alerts.families}
    texts = [rule["expr"] for family, _ in enabled for rule in family.rules]
    used = engine.used_records(texts)
    custom_text = " ".join(a.expr for a in stack.alerts.custom) + " ".join(r.expr for r in stack.alerts.records)
    records: dict[str, list[Rule]] = {}
    for key, spec in catalog.records.items():
        rules = engine.record_rules(stack, spec)
        if key in used or any(r.record in custom_text for r in rules):
            records.setdefault(spec.domain, []).extend(rules)
    # One entry per family and scope: its own values, then each override's (per-bot, env, strategy).
    alerts: dict[str, list[tuple[fam.Family, dict, list[Rule], tuple]]] = {}
    for family, _ in enabled:
        config = configs[family.key]
        for name, values, matchers in engine.scopes(config):
            rules = engine.scoped(engine.family_rules(stack, family, values), matchers)
            alerts.setdefault(family.domain, []).append((family, values, rules, (name, config)))
    user_records, user_alerts = custom.rules(stack)
    slo_records, slo_alerts = slo.rules(stack) if stack.slos is not None else ([], [])
    recorded = [r for rules in records.values() for r in rules] + user_records + slo_records
    # Every alert links to the panel showing its signal (its `dashboard` annotation), before its tests.
    exprs = links.recorded_exprs(recorded)
    alerts = {domain: [(family, values, [links.link(stack, r, exprs) for r in rules], scope)
                       for family, values, rules, scope in built] for domain, built in alerts.items()}
    user_alerts = [links.link(stack, r, exprs) for r in user_alerts]
    slo_alerts = [links.link(stack, r, exprs) for r in slo_alerts]
    index = catalog_index(stack).with_recorded(recorded_series(recorded))
    check(stack, recorded + [r for built in alerts.values() for _, _, rules, _ in built for r in rules]
          + user_alerts + slo_alerts, index)
    files = []
    for domain in DOMAINS + tuple(d for d in list(records) + list(alerts) if d not in DOMAINS):
        groups, cases = [], []
        if records.get(domain):
            groups.append(Group(f"{domain}.recording", tuple(records[domain])))
        built = alerts.get(domain, [])
        if built:
            groups.append(Group(f"{domain}.alerts", tuple(r for _, _, rules, _ in built for r in rules)))
            cases = [engine.family_case(stack, family, values, rules, index, scope)
                     for family, values, rules, scope in built]
        if groups:
            files.append(RuleFile(domain, tuple(groups), tuple(cases)))
    if user_records or user_alerts:
        files.append(custom.rule_file(stack, user_records, user_alerts, files, index))
    if slo_records:
        groups = (Group(f"{slo.DOMAIN}.recording", tuple(slo_records)),
                  Group(f"{slo.DOMAIN}.alerts", tuple(slo_alerts)))
        try:
            cases = burn.cases(stack, slo_alerts)
        except ValueError as exc:
            raise stack.error(("slos",), str(exc)) from None
        files.append(RuleFile(slo.DOMAIN, groups, tuple(cases)))
    return tuple(files)


def check(stack: Stack, rules: list[Rule], index: promql.SeriesIndex) -> None:
    for rule in rules:
        found = promql.problems(rule.expr, index) or _promises_broken(rule, index)
        if found:
            what = f"alert {rule.alert}" if rule.alert else f"recording rule {rule.record}"
            path = rule.spec_path or ("metrics",)
            raise stack.error(path, f"{what}: {found[0]} (expression: {rule.expr})")


_PRINTED_LABEL = re.compile(r"\$labels\.(\w+)")
_OPTIONAL = re.compile(r"\{\{ with \$labels\.\w+ \}\}.*?\{\{ end \}\}")


def _promises_broken(rule: Rule, index: promql.SeriesIndex) -> list[str]:
    """Labels a rule promises (declared on a record, printed by an alert) that its result lacks."""
    carried = (promql.output_labels(rule.expr, index) or frozenset()) | {k for k, _ in rule.labels}
    if rule.record:
        promised = set(rule.output_labels)
    else:
        # `{{ with $labels.x }}...{{ end }}` prints nothing without x: no promise.
        promised = {m for _, text in rule.annotations for m in _PRINTED_LABEL.findall(_OPTIONAL.sub("", text))}
    missing = sorted(promised - carried)
    if not missing:
        return []
    return [f"its result does not carry label {missing[0]!r} (it carries: {', '.join(sorted(carried)) or 'none'})"]


def recorded_series(rules: list[Rule]) -> dict[str, tuple[str, ...]]:
    recorded: dict[str, set[str]] = {}
    for rule in rules:
        recorded.setdefault(rule.record, set()).update(rule.output_labels)
    return {name: tuple(sorted(labels)) for name, labels in recorded.items()}


__all__ = ["rule_files", "recorded_series", "AlertCase"]
