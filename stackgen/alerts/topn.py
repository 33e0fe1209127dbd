"""TopN trading alerts: drawdown, win rate, daily loss, loop latency."""
from __future__ import annotations

from stackgen import conventions as n
from stackgen.alerts import testdata as td
from stackgen.alerts.common import alert_rule, assemble, expected, percent
from stackgen.alerts.humanize import humanize_duration, humanize_percentage, printf
from stackgen.alerts.model import AlertCase, Rule, RuleFile, selector
from stackgen.model.stack import Stack

BOT_LABELS = ("job", "instance", "env", "universe", "strategy")
QUANTILES = ("0.5", "0.9", "0.99")
_BY = ", ".join(BOT_LABELS)
_WHO = "{{ $labels.strategy }} ({{ $labels.env }}/{{ $labels.universe }}) on {{ $labels.instance }}"


def _bot(strategy: str, instance: str = "bot-1:9100") -> dict[str, str]:
    return {"job": "topn-bot", "instance": instance, "env": "paper", "universe": "top20", "strategy": strategy}


def build(stack: Stack) -> RuleFile:
    records = [Rule(record=n.LOOP_LATENCY_QUANTILE, labels=(("quantile", q),),
                    output_labels=("env", "universe", "strategy", "quantile"),
                    expr=f"histogram_quantile({q}, sum by ({_BY}, le) "
                         f"(rate({n.LOOP_LATENCY}_bucket[5m])))") for q in QUANTILES]
    return assemble(stack, "topn", records, (_drawdown, _win_rate, _daily_loss, _loop_latency))


def _drawdown(stack: Stack):
    a = stack.alerts
    d = a.drawdown
    if not d:
        return None
    rules = []
    for severity, level in (("warning", d.warning), ("critical", d.critical)):
        rules.append(alert_rule(
            stack, n.ALERT_DRAWDOWN, f"{n.DRAWDOWN} > {level!r}", d.for_, severity,
            summary="Drawdown of {{ $labels.strategy }} is {{ $value | humanizePercentage }}",
            description=f"{_WHO} is {{{{ $value | humanizePercentage }}}} below its equity peak, above "
                        f"the {severity} level of {percent(level)}.",
            spec_path=("alerts", "drawdown", severity)))
    warning_rule, critical_rule = rules
    silent, pending, firing, samples = td.timing(d.for_)
    calm, mid, deep = d.warning / 2, (d.warning + d.critical) / 2, min(1.0, d.critical * 1.5)
    case = AlertCase("drawdown: calm stays silent; warning level fires warning; critical level fires both")
    for strategy, value in (("calm", calm), ("mid", mid), ("deep", deep)):
        case.series.append((selector(n.DRAWDOWN, _bot(strategy)), td.constant(value, samples)))
    if silent:
        case.silent(silent, n.ALERT_DRAWDOWN)
        case.pending(pending, n.ALERT_DRAWDOWN, [
            {**_bot("mid"), "severity": "warning"}, {**_bot("deep"), "severity": "warning"},
            {**_bot("deep"), "severity": "critical"}])
    case.fires(firing, n.ALERT_DRAWDOWN,
               expected(warning_rule, _bot("mid"), humanize_percentage(mid)),
               expected(warning_rule, _bot("deep"), humanize_percentage(deep)),
               expected(critical_rule, _bot("deep"), humanize_percentage(deep)))
    return rules, case


def _win_rate(stack: Stack):
    a = stack.alerts
    w = a.win_rate
    if not w:
        return None
    window_steps = td.seconds(w.window) // td.STEP
    # Enough round trips per step that the guard is met well inside one window.
    per_step = -(-2 * w.min_round_trips // max(1, window_steps)) + 1
    rule = alert_rule(
        stack, n.ALERT_WIN_RATE,
        f"{n.WIN_RATE} < {w.below!r} and on ({_BY}) increase({n.ROUND_TRIPS}[{w.window}]) >= {w.min_round_trips}",
        w.for_, w.severity,
        summary="Win rate of {{ $labels.strategy }} is {{ $value | humanizePercentage }}",
        description=f"{_WHO} wins only {{{{ $value | humanizePercentage }}}} of its round trips, below "
                    f"{percent(w.below)}, with at least {w.min_round_trips} round trips in the last {w.window}.",
        spec_path=("alerts", "win_rate"))
    guard_met = (-(-w.min_round_trips // per_step) + 1) * td.STEP
    silent, pending, firing, samples = td.timing(w.for_, earliest=guard_met - 2 * td.STEP, latest=guard_met)
    losing, quiet, winning = w.below * 0.5, w.below * 0.5, min(1.0, w.below + (1 - w.below) / 2)
    case = AlertCase("win rate: low with enough round trips fires; low but quiet, or winning, stays silent")
    for strategy, rate, trips in (("losing", losing, td.growing(per_step, samples)),
                                  ("quiet", quiet, td.constant(5, samples)),
                                  ("winning", winning, td.growing(per_step, samples))):
        case.series.append((selector(n.WIN_RATE, _bot(strategy)), td.constant(rate, samples)))
        case.series.append((selector(n.ROUND_TRIPS, _bot(strategy)), trips))
    if silent:
        case.silent(silent, n.ALERT_WIN_RATE)
        case.pending(pending, n.ALERT_WIN_RATE, [{**_bot("losing"), "severity": w.severity}])
    case.fires(firing, n.ALERT_WIN_RATE, expected(rule, _bot("losing"), humanize_percentage(losing)))
    return [rule], case


def _daily_loss(stack: Stack):
    a = stack.alerts
    d = a.daily_loss
    if not d:
        return None
    rule = alert_rule(
        stack, n.ALERT_DAILY_LOSS, f"{n.DAILY_PNL} < {d.limit_usd!r}", d.for_, d.severity,
        summary='Daily loss limit hit by {{ $labels.strategy }}: {{ $value | printf "%.2f" }} USD',
        description=f'{_WHO} has lost {{{{ $value | printf "%.2f" }}}} USD since 00:00 UTC, beyond the daily '
                    f"limit of {d.limit_usd:g} USD.",
        spec_path=("alerts", "daily_loss"))
    silent, pending, firing, samples = td.timing(d.for_)
    losing, fine = d.limit_usd * 1.5, d.limit_usd * 0.5
    case = AlertCase("daily loss: beyond the limit fires; a smaller loss stays silent")
    case.series.append((selector(n.DAILY_PNL, _bot("losing")), td.constant(losing, samples)))
    case.series.append((selector(n.DAILY_PNL, _bot("fine")), td.constant(fine, samples)))
    if silent:
        case.silent(silent, n.ALERT_DAILY_LOSS)
        case.pending(pending, n.ALERT_DAILY_LOSS, [{**_bot("losing"), "severity": d.severity}])
    case.fires(firing, n.ALERT_DAILY_LOSS, expected(rule, _bot("losing"), printf("%.2f", losing)))
    return [rule], case


def _loop_latency(stack: Stack):
    a = stack.alerts
    lat = a.loop_latency
    metric = stack.catalog.get(n.LOOP_LATENCY)
    if not lat or metric is None or metric.type != "histogram":
        return None   # a missing metric is reported by the expression check, naming the alert
    threshold = lat.p99_seconds
    rule = alert_rule(
        stack, n.ALERT_LOOP_LATENCY, f'{n.LOOP_LATENCY_QUANTILE}{{quantile="0.99"}} > {threshold!r}',
        lat.for_, lat.severity,
        summary="Loop latency p99 of {{ $labels.strategy }} is {{ $value | humanizeDuration }}",
        description=f"{_WHO} takes {{{{ $value | humanizeDuration }}}} per trading-loop iteration at the "
                    f"99th percentile, over the budget of {humanize_duration(threshold)}.",
        spec_path=("alerts", "loop_latency"))
    # rate() needs two samples, so the condition holds from the second step on.
    silent, pending, firing, samples = td.timing(lat.for_, earliest=td.STEP)
    slow_lo, slow_hi = td.bucket_above(metric.buckets, threshold)
    fast_lo, fast_hi = td.bucket_below(metric.buckets, threshold)
    case = AlertCase("loop latency: p99 over budget fires; p99 within budget stays silent")
    case.series += td.histogram_series(n.LOOP_LATENCY, _bot("slow"), metric.buckets, slow_hi, 60, samples)
    case.series += td.histogram_series(n.LOOP_LATENCY, _bot("fast"), metric.buckets, fast_hi, 60, samples)
    labels = {**_bot("slow"), "quantile": "0.99"}
    if silent:
        case.silent(silent, n.ALERT_LOOP_LATENCY)
        case.pending(pending, n.ALERT_LOOP_LATENCY, [{**labels, "severity": lat.severity}])
    p99 = td.quantile_in_bucket(0.99, slow_lo, slow_hi)
    case.fires(firing, n.ALERT_LOOP_LATENCY, expected(rule, labels, humanize_duration(p99)))
    # The recording rule itself: p50 of the fast bot lies inside its bucket.
    p50 = td.quantile_in_bucket(0.5, fast_lo, fast_hi)
    case.expr_checks.append((firing, f'{n.LOOP_LATENCY_QUANTILE}{{strategy="fast",quantile="0.5"}}',
                             [(selector(n.LOOP_LATENCY_QUANTILE, {**_bot("fast"), "quantile": "0.5"}), p50)]))
    return [rule], case
