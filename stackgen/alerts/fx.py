"""FX multi-source alerts: stale source, too few valid sources, source deviating from the median."""
from __future__ import annotations

from stackgen import conventions as n
from stackgen.alerts import testdata as td
from stackgen.alerts.common import alert_rule, assemble, expected
from stackgen.alerts.humanize import humanize, humanize_duration, printf
from stackgen.alerts.model import AlertCase, Rule, RuleFile, selector
from stackgen.model.stack import Stack

_TARGET = {"job": "fx-aggregator", "instance": "fx-1:9100"}
# A bot that imports the exporter but runs no FX aggregator still exposes fx_valid_sources 0
# (an unlabelled gauge cannot be hidden): only targets that report FX sources can page.
_HAS_FX_SOURCES = f" and on (job, instance) count by (job, instance) ({n.FX_SOURCE_CONNECTED})"


def build(stack: Stack) -> RuleFile:
    records = [
        Rule(record=n.FX_SOURCE_AGE, expr=f"time() - {n.FX_LAST_MESSAGE}", output_labels=("source",)),
        Rule(record=n.FX_SOURCE_DEVIATION, output_labels=("source",), expr=(
            f"10000 * abs({n.FX_SOURCE_RATE} - on (job, instance) group_left () {n.FX_MEDIAN})"
            f" / on (job, instance) group_left () {n.FX_MEDIAN}")),
    ]
    return assemble(stack, "fx", records, (_stale, _sources, _deviation))


def _stale(stack: Stack):
    s = stack.alerts.fx_stale
    if not s:
        return None
    rule = alert_rule(
        stack, n.ALERT_FX_STALE, f"{n.FX_SOURCE_AGE} > {s.max_age_seconds:g}", s.for_, s.severity,
        summary="FX source {{ $labels.source }} is stale ({{ $value | humanizeDuration }})",
        description=f"The last message from FX source {{{{ $labels.source }}}} on {{{{ $labels.instance }}}} "
                    f"is {{{{ $value | humanizeDuration }}}} old, older than {s.max_age}; the median runs on "
                    "fewer sources.",
        spec_path=("alerts", "fx_stale"))
    # The stale source's timestamp never advances, so its age equals the evaluation time:
    # the condition holds from the first step past max_age.
    active = (int(s.max_age_seconds) // td.STEP + 1) * td.STEP
    silent, pending, firing, samples = td.timing(s.for_, earliest=active)
    case = AlertCase("fx stale: a source whose last message is old fires; a fresh source stays silent")
    case.series.append((selector(n.FX_LAST_MESSAGE, {**_TARGET, "source": "okx"}),
                        td.growing(float(td.STEP), samples)))
    case.series.append((selector(n.FX_LAST_MESSAGE, {**_TARGET, "source": "bybit"}), td.constant(0.0, samples)))
    labels = {**_TARGET, "source": "bybit"}
    if silent:
        case.silent(silent, n.ALERT_FX_STALE)
        case.pending(pending, n.ALERT_FX_STALE, [{**labels, "severity": s.severity}])
    case.fires(firing, n.ALERT_FX_STALE, expected(rule, labels, humanize_duration(td.seconds(firing))))
    return [rule], case


def _sources(stack: Stack):
    s = stack.alerts.fx_sources
    if not s:
        return None
    rules = []
    for severity, below in (("warning", s.warning_below), ("critical", s.critical_below)):
        rules.append(alert_rule(
            stack, n.ALERT_FX_SOURCES, f"{n.FX_VALID_SOURCES} < {below}{_HAS_FX_SOURCES}", s.for_, severity,
            summary="Only {{ $value | humanize }} valid FX sources on {{ $labels.instance }}",
            description=f"The FX median on {{{{ $labels.instance }}}} is fed by {{{{ $value | humanize }}}} valid "
                        f"sources, fewer than {below}"
                        + ("; prepare the HTTP fallback." if severity == "warning"
                           else "; USD conversion has no live source."),
            spec_path=("alerts", "fx_sources", f"{severity}_below")))
    warning_rule, critical_rule = rules
    silent, pending, firing, samples = td.timing(s.for_)
    healthy, low, none = s.warning_below, s.critical_below, s.critical_below - 1
    case = AlertCase("fx sources: enough stays silent; few fires warning; too few fires warning and critical; "
                     "a target without FX sources stays silent")
    for instance, count in (("fx-ok:9100", healthy), ("fx-low:9100", low), ("fx-none:9100", none),
                            ("no-fx:9100", 0)):
        case.series.append((selector(n.FX_VALID_SOURCES, {"job": "fx-aggregator", "instance": instance}),
                            td.constant(float(count), samples)))
        if instance != "no-fx:9100":
            case.series.append((selector(n.FX_SOURCE_CONNECTED, {"job": "fx-aggregator", "instance": instance,
                                                                 "source": "okx"}), td.constant(0.0, samples)))

    def target(instance):
        return {"job": "fx-aggregator", "instance": instance}
    if silent:
        case.silent(silent, n.ALERT_FX_SOURCES)
        case.pending(pending, n.ALERT_FX_SOURCES, [
            {**target("fx-low:9100"), "severity": "warning"}, {**target("fx-none:9100"), "severity": "warning"},
            {**target("fx-none:9100"), "severity": "critical"}])
    case.fires(firing, n.ALERT_FX_SOURCES,
               expected(warning_rule, target("fx-low:9100"), humanize(low)),
               expected(warning_rule, target("fx-none:9100"), humanize(none)),
               expected(critical_rule, target("fx-none:9100"), humanize(none)))
    return rules, case


def _deviation(stack: Stack):
    d = stack.alerts.fx_deviation
    if not d:
        return None
    rule = alert_rule(
        stack, n.ALERT_FX_DEVIATION, f"{n.FX_SOURCE_DEVIATION} > {d.max_bps!r}", d.for_, d.severity,
        summary='FX source {{ $labels.source }} is {{ $value | printf "%.1f" }} bps off the median',
        description=f'The quote of FX source {{{{ $labels.source }}}} on {{{{ $labels.instance }}}} deviates '
                    f'{{{{ $value | printf "%.1f" }}}} basis points from the median, more than {d.max_bps:g} bps; '
                    "its quotes may be rejected as outliers.",
        spec_path=("alerts", "fx_deviation"))
    silent, pending, firing, samples = td.timing(d.for_)
    median = 1.0
    off_bps, near_bps = d.max_bps * 2, d.max_bps / 2
    case = AlertCase("fx deviation: a source far from the median fires; a close one stays silent")
    case.series.append((selector(n.FX_MEDIAN, _TARGET), td.constant(median, samples)))
    case.series.append((selector(n.FX_SOURCE_RATE, {**_TARGET, "source": "bybit"}),
                        td.constant(median + off_bps / 10000, samples)))
    case.series.append((selector(n.FX_SOURCE_RATE, {**_TARGET, "source": "okx"}),
                        td.constant(median - near_bps / 10000, samples)))
    labels = {**_TARGET, "source": "bybit"}
    if silent:
        case.silent(silent, n.ALERT_FX_DEVIATION)
        case.pending(pending, n.ALERT_FX_DEVIATION, [{**labels, "severity": d.severity}])
    measured = 10000 * abs((median + off_bps / 10000) - median) / median
    case.fires(firing, n.ALERT_FX_DEVIATION, expected(rule, labels, printf("%.1f", measured)))
    return [rule], case
