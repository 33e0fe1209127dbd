"""All rule files of the stack, built once per Stack and checked against the catalog."""
from __future__ import annotations

import re

from stackgen import promql
from stackgen.alerts import api, fx, platform, topn
from stackgen.alerts.model import Rule, RuleFile
from stackgen.model.stack import Stack

DOMAINS = (topn, fx, api, platform)
# Three renderers read the rule files of the same Stack: build them once per Stack, keep only the last.
_last: tuple[Stack, tuple[RuleFile, ...]] | None = None


def rule_files(stack: Stack) -> tuple[RuleFile, ...]:
    """The rule files, each expression checked: it parses and names only catalog metrics and labels."""
    global _last
    if _last is not None and _last[0] is stack:
        return _last[1]
    files = tuple(domain.build(stack) for domain in DOMAINS)
    index = promql.catalog_index(stack).with_recorded(recorded_series(files))
    for rule_file in files:
        for group in rule_file.groups:
            for rule in group.rules:
                found = promql.problems(rule.expr, index) or _promises_broken(rule, index)
                if found:
                    what = f"alert {rule.alert}" if rule.alert else f"recording rule {rule.record}"
                    path = rule.spec_path or ("metrics",)
                    raise stack.error(path, f"{what}: {found[0]} (expression: {rule.expr})")
    _last = (stack, files)
    return files


_PRINTED_LABEL = re.compile(r"\$labels\.(\w+)")


def _promises_broken(rule: Rule, index: promql.SeriesIndex) -> list[str]:
    """Labels a rule promises (declared on a record, printed by an alert) that its result lacks."""
    carried = (promql.output_labels(rule.expr, index) or frozenset()) | {k for k, _ in rule.labels}
    if rule.record:
        promised = set(rule.output_labels)
    else:
        promised = {m for _, text in rule.annotations for m in _PRINTED_LABEL.findall(text)}
    missing = sorted(promised - carried)
    if not missing:
        return []
    return [f"its result does not carry label {missing[0]!r} (it carries: {', '.join(sorted(carried)) or 'none'})"]


def recorded_series(files: tuple[RuleFile, ...]) -> dict[str, tuple[str, ...]]:
    recorded: dict[str, set[str]] = {}
    for rule_file in files:
        for rule in rule_file.records:
            recorded.setdefault(rule.record, set()).update(rule.output_labels)
    return {name: tuple(sorted(labels)) for name, labels in recorded.items()}
