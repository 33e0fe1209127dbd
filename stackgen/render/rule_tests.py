"""rules/tests/<domain>.test.yml: promtool unit tests generated from the same thresholds as the rules.

Cases that need another evaluation interval (the SLO window pairs: a fifth of the short window)
go to rules/tests/<domain>-<interval>.test.yml."""
from __future__ import annotations

from stackgen import conventions as n
from stackgen.alerts import testdata as td
from stackgen.alerts.rules import AlertCase, RuleFile
from stackgen.alerts.rulesets import rule_files
from stackgen.model.stack import Stack
from stackgen.render.output import to_yaml


def render(stack: Stack) -> dict[str, str]:
    files = {}
    for rule_file in rule_files(stack):
        by_evaluation: dict[str, list] = {}
        for case in rule_file.cases:
            by_evaluation.setdefault(case.evaluation or td.STEP_TEXT, []).append(case)
        for evaluation, cases in by_evaluation.items():
            name = rule_file.domain if evaluation == td.STEP_TEXT else f"{rule_file.domain}-{evaluation}"
            files[f"{n.RULE_TESTS_DIR}/{name}.test.yml"] = _document(stack, rule_file, cases, evaluation)
    return files


def _document(stack: Stack, rule_file: RuleFile, cases: list[AlertCase], evaluation: str) -> str:
    """One test file: the cases that run at one evaluation interval."""
    tests = []
    for case in cases:
        test: dict = {
            "name": case.name,
            "interval": case.interval or td.STEP_TEXT,
            "input_series": [{"series": s, "values": v} for s, v in case.series],
        }
        if case.alert_checks:
            test["alert_rule_test"] = [
                {"eval_time": when, "alertname": alert,
                 "exp_alerts": [{"exp_labels": e.labels, "exp_annotations": e.annotations} for e in firing]}
                for when, alert, firing in case.alert_checks]
        if case.expr_checks:
            test["promql_expr_test"] = [
                {"eval_time": when, "expr": expr,
                 "exp_samples": [{"labels": labels, "value": value} for labels, value in samples]}
                for when, expr, samples in case.expr_checks]
        tests.append(test)
    also = rule_file.test_also
    groups = [name for _, names in also for name in names] + [group.name for group in rule_file.groups]
    document = {
        "rule_files": [f"../{domain}.rules.yml" for domain, _ in also] + [f"../{rule_file.domain}.rules.yml"],
        "evaluation_interval": evaluation,
        # Without it promtool evaluates groups in no fixed order, and an alert could read a
        # recorded series one evaluation late (a flaky test): recording groups first.
        "group_eval_order": ([g for g in groups if g.endswith(".recording")]
                             + [g for g in groups if not g.endswith(".recording")]),
        "tests": tests,
    }
    return to_yaml(document, stack.source)
