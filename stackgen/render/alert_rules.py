"""rules/<domain>.rules.yml: recording and alerting rules, grouped by domain."""
from __future__ import annotations

from stackgen import conventions as n
from stackgen.alerts.rules import rule_document
from stackgen.alerts.rulesets import rule_files
from stackgen.model.stack import Stack
from stackgen.render.output import to_yaml


def render(stack: Stack) -> dict[str, str]:
    files = {}
    for rule_file in rule_files(stack):
        if not rule_file.groups:
            continue
        groups = [{"name": g.name, "rules": [rule_document(r) for r in g.rules]} for g in rule_file.groups]
        files[f"{n.RULES_DIR}/{rule_file.domain}.rules.yml"] = to_yaml({"groups": groups}, stack.source)
    return files
