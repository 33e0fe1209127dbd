"""Basics around the trading alerts: target down, target absent, and the Watchdog."""
from __future__ import annotations

from stackgen import conventions as n
from stackgen.alerts import testdata as td
from stackgen.alerts.common import alert_rule, expected
from stackgen.alerts.model import AlertCase, Group, RuleFile, selector
from stackgen.model.stack import Stack


def scrape_job_names(stack: Stack) -> list[str]:
    names = [job.name for job in stack.scrape.jobs]
    if stack.scrape.self_monitoring:
        names = ["prometheus", "alertmanager"] + names
    return names


def build(stack: Stack) -> RuleFile:
    rules, cases = [], []
    t = stack.alerts.target_down
    if t:
        down = alert_rule(
            stack, n.ALERT_TARGET_DOWN, "up == 0", t.for_, t.severity,
            summary="{{ $labels.job }} target {{ $labels.instance }} is down",
            description="Prometheus cannot scrape {{ $labels.instance }} of job {{ $labels.job }}: the process "
                        "is down, or its /metrics port is unreachable from Prometheus.",
            spec_path=("alerts", "target_down"))
        rules.append(down)
        jobs = scrape_job_names(stack)
        # One rule for all jobs: absent() of each job yields that job's label, so the alert says which.
        absent = alert_rule(
            stack, n.ALERT_TARGET_ABSENT, " or ".join(f'absent(up{{job="{job}"}})' for job in jobs),
            t.for_, t.severity,
            summary="No target of job {{ $labels.job }} exists",
            description="Prometheus has no target at all for job {{ $labels.job }}: it was removed from "
                        "the scrape config, or its service discovery finds nothing.",
            spec_path=("alerts", "target_down"))
        rules.append(absent)
        silent, pending, firing, samples = td.timing(t.for_)
        case = AlertCase("targets: a down target fires TargetDown; a job without any target fires TargetAbsent")
        missing = jobs[-1]
        for job in jobs:
            if job != missing:
                case.series.append((selector("up", {"job": job, "instance": f"{job}:1"}),
                                    td.constant(1.0, samples)))
        down_labels = {"job": jobs[0], "instance": "down-host:9100"}
        case.series.append((selector("up", down_labels), td.constant(0.0, samples)))
        if silent:
            case.silent(silent, n.ALERT_TARGET_DOWN)
            case.silent(silent, n.ALERT_TARGET_ABSENT)
            case.pending(pending, n.ALERT_TARGET_DOWN, [{**down_labels, "severity": t.severity}])
            case.pending(pending, n.ALERT_TARGET_ABSENT, [{"job": missing, "severity": t.severity}])
        case.fires(firing, n.ALERT_TARGET_DOWN, expected(down, down_labels, ""))
        case.fires(firing, n.ALERT_TARGET_ABSENT, expected(absent, {"job": missing}, ""))
        cases.append(case)
    if stack.alerts.watchdog:
        watchdog = alert_rule(
            stack, n.ALERT_WATCHDOG, "vector(1)", "", "none",
            summary="Alerting pipeline heartbeat",
            description="Always firing. If the dead man's switch stops receiving it, Prometheus, the rules or "
                        "Alertmanager are broken, and no other alert can reach you.",
            spec_path=("alerts", "watchdog"))
        rules.append(watchdog)
        case = AlertCase("watchdog: always firing, from the first evaluation on")
        case.fires("0s", n.ALERT_WATCHDOG, expected(watchdog, {}, ""))
        case.fires("1h", n.ALERT_WATCHDOG, expected(watchdog, {}, ""))
        cases.append(case)
    groups = (Group("platform.alerts", tuple(rules)),) if rules else ()
    return RuleFile("platform", groups, tuple(cases))
