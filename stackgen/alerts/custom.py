"""Alerts and recording rules of the user's own (spec `alerts.<CamelCase>` and `recording_rules:`).

Threshold alerts get generated tests like the built-ins (a calm and a breaching series, silent
before `for`, pending, firing with exact labels and annotations); free-form alerts and
recording rules carry the promtool cases the user wrote, checked to have a silent and a
firing case (or a promql_expr_test) before anything is written.
"""
from __future__ import annotations

from stackgen import promql
from stackgen.alerts import engine, links
from stackgen.alerts import testdata as td
from stackgen.alerts.rules import AlertCase, Group, Rule, RuleFile, selector
from stackgen.model.alerts import CustomAlert
from stackgen.model.series import catalog_index
from stackgen.model.stack import Stack

DOMAIN = "custom"


def rules(stack: Stack) -> tuple[list[Rule], list[Rule]]:
    base = catalog_index(stack)
    records = []
    for r in stack.alerts.records:
        try:
            carried = sorted((promql.output_labels(r.expr, base) or frozenset()) - base.implicit)
        except (ValueError, RuntimeError):
            carried = []     # the expression check reports it, with its line
        records.append(Rule(record=r.record, expr=r.expr, labels=r.labels, spec_path=r.origin.path + ("expr",),
                            output_labels=tuple(carried)))
    alerts = []
    for a in stack.alerts.custom:
        where = a.origin.path
        if a.threshold_alert:
            metric = stack.catalog.get(a.metric)
            if metric is not None and metric.type != "gauge":
                raise stack.error(where + ("metric",), f"a threshold alert reads a gauge; {a.metric} is a "
                                  f"{metric.type} (write a free-form alert with rate() or histogram_quantile())")
            agg = ("max" if a.op == ">" else "min")
            series = f"{agg} by ({', '.join(a.by)}) ({a.metric})" if a.by else a.metric
            expr = f"{series} {a.op} {a.threshold!r}"
            path = where + ("above" if a.op == ">" else "below",)
        else:
            expr, path = a.expr, where + ("expr",)
        annotations = {"summary": a.summary, "description": a.description,
                       "runbook_url": engine.runbook_url(stack, a.name)}
        alerts.append(Rule(expr=expr, alert=a.name, for_=a.for_, labels=(("severity", a.severity),),
                           annotations=tuple(sorted(annotations.items())), spec_path=path))
    return records, alerts


def rule_file(stack: Stack, records: list[Rule], alerts: list[Rule], built: list[RuleFile],
              index: promql.SeriesIndex) -> RuleFile:
    groups = []
    if records:
        groups.append(Group(f"{DOMAIN}.recording", tuple(records)))
    if alerts:
        groups.append(Group(f"{DOMAIN}.alerts", tuple(alerts)))
    by_name = {r.alert: r for r in alerts}
    cases = []
    for a in stack.alerts.custom:
        rule = by_name[a.name]
        try:
            cases += [_threshold_case(stack, a, rule, index)] if a.threshold_alert else _user_cases(a.tests, rule)
        except (ValueError, KeyError) as exc:
            raise stack.error(a.origin.path + ("tests",), f"alert {a.name}: {exc}") from None
    for r in stack.alerts.records:
        cases += _user_cases(r.tests, None)
    # The tests load the built-in files whose recorded series the user's rules read.
    text = " ".join(r.expr for r in records + alerts)
    also = tuple((f.domain, tuple(g.name for g in f.groups)) for f in built
                 if any(r.record in text for r in f.records))
    return RuleFile(DOMAIN, tuple(groups), tuple(cases), test_also=also)


def _threshold_case(stack: Stack, a: CustomAlert, rule: Rule, index: promql.SeriesIndex) -> AlertCase:
    metric = stack.catalog.get(a.metric)
    if metric is not None:
        base = {label.name: (label.values[0] if label.values else "a") for label in metric.labels}
    else:
        # A recorded series: fed directly (the rule that records it finds no input here, so it writes nothing).
        base = {label: "a" for label in sorted(index.series[a.metric] - index.implicit)}
    t = a.threshold
    if t > 0:      # stay on the threshold's side of zero (a ratio stays a ratio)
        high, low = t * 2, t / 2
    else:
        high, low = t + max(abs(t), 1.0), t - max(abs(t), 1.0)
    breach, calm = (high, low) if a.op == ">" else (low, high)
    silent, pending, firing, samples = td.timing(a.for_)
    case = AlertCase(f"{a.name}: {'above' if a.op == '>' else 'below'} {a.threshold:g} fires; "
                     "the other side stays silent")
    bad = {**base, "job": "app", "instance": "breach:9100"}
    good = {**base, "job": "app", "instance": "calm:9100"}
    for label in a.by:       # the two series in different groups, so the calm one is really apart
        bad[label], good[label] = "breach", "calm"
    case.series.append((selector(a.metric, bad), td.constant(breach, samples)))
    case.series.append((selector(a.metric, good), td.constant(calm, samples)))
    carried = promql.output_labels(rule.expr, index) or frozenset()
    labels = {k: v for k, v in bad.items() if k in carried}
    if silent:
        case.silent(silent, a.name)
        case.pending(pending, a.name, [{**labels, **dict(rule.labels)}])
    case.fires(firing, a.name, engine.expected(rule, labels, breach))
    return case


def _user_cases(tests, rule: Rule | None) -> list[AlertCase]:
    cases = []
    for i, test in enumerate(tests):
        name = test.get("name") or (f"{rule.alert}: case {i + 1}" if rule else f"recording rule: case {i + 1}")
        case = AlertCase(name, interval=str(test.get("interval", "")))
        case.series = [(s["series"], str(s["values"])) for s in test["input_series"]]
        for check in test.get("alert_rule_test", []):
            found = []
            for exp in check["exp_alerts"]:
                labels = {k: str(v) for k, v in (exp.get("exp_labels") or {}).items()
                          if k not in dict(rule.labels)}
                got = engine.expected(rule, labels, float(exp["value"]) if "value" in exp else None)
                if "exp_annotations" in exp:
                    # The generated `dashboard` link stays expected unless the user's test names it.
                    kept = {k: v for k, v in got.annotations.items() if k == links.ANNOTATION}
                    got.annotations.clear()
                    got.annotations.update({**kept, **{k: str(v) for k, v in exp["exp_annotations"].items()}})
                found.append(got)
            case.alert_checks.append((str(check["eval_time"]), rule.alert, found))
        for check in test.get("promql_expr_test", []):
            case.expr_checks.append((str(check["eval_time"]), check["expr"],
                                     [(s.get("labels", ""), float(s["value"])) for s in check.get("exp_samples", [])]))
        cases.append(case)
    return cases
