"""rules/slo.rules.yml: the recording and alerting rules of the spec's `slos:` section.

Objectives are recorded as sloth records them (slo:sli_error:ratio_rate<window> with sloth_id,
sloth_service, sloth_slo and sloth_window; slo:objective:ratio, slo:error_budget:ratio, ...), so the
series compare with sloth's; each window pair is one alert rule (its sloth_window label is the long
window), which also needs `min_events` events in the long window (a quiet hour does not page). Money
budgets record the remaining budget and, per window, the seconds until it is gone at that window's pace.
The promtool tests come from stackgen.alerts.burn.
"""
from __future__ import annotations

from stackgen import conventions as n
from stackgen.alerts import engine
from stackgen.alerts.humanize import humanize_duration
from stackgen.alerts.rules import Rule
from stackgen.model.slos import (BASE_WINDOW, Budget, Objective, Window, events_name, exhaustion_name,  # noqa: F401
                                 ratio_name, seconds, selector, slo_labels, windows)
from stackgen.model.stack import Stack

DOMAIN = "slo"
def _record(name: str, expr: str, labels: dict[str, str], path: tuple, carried: tuple[str, ...] = ()) -> Rule:
    return Rule(record=name, expr=expr, labels=tuple(sorted(labels.items())), spec_path=path,
                output_labels=tuple(sorted(set(labels) | set(carried))))


def objective_records(o: Objective) -> list[Rule]:
    path = o.origin.path + ("sli",)
    labels = slo_labels(o)
    rules = []
    for w in windows(o):
        at = {**labels, n.SLO_WINDOW_LABEL: w}
        rules.append(_record(ratio_name(w), f"({o.query('error', w)}) / ({o.query('total', w)} > 0)", at, path))
        rules.append(_record(events_name(w), o.query("total", w), at, path))
    base = selector(ratio_name(BASE_WINDOW), o)
    b = repr(o.budget)
    meta = o.origin.path + ("objective",)
    rules += [
        # sloth's: the period's ratio is the mean of the base window's ratio over the period.
        _record(ratio_name(o.period), f"sum_over_time({base}[{o.period}]) / count_over_time({base}[{o.period}])",
                {**labels, n.SLO_WINDOW_LABEL: o.period}, path),
        _record(n.SLO_OBJECTIVE, f"vector({o.objective / 100!r})", labels, meta),
        _record(n.SLO_ERROR_BUDGET, f"vector({b})", labels, meta),
        _record(n.SLO_TIME_PERIOD, f"vector({seconds(o.period) / 86400!r})", labels, meta),
        _record(n.SLO_CURRENT_BURN, f"sum without ({n.SLO_WINDOW_LABEL}) ({base}) / {b}", labels, meta),
        _record(n.SLO_PERIOD_BURN, f"sum without ({n.SLO_WINDOW_LABEL}) ({selector(ratio_name(o.period), o)}) / {b}",
                labels, meta),
        _record(n.SLO_BUDGET_REMAINING, f"1 - {selector(n.SLO_PERIOD_BURN, o)}", labels, meta),
    ]
    return rules


def burn_condition(o: Objective, window: str, burn: float) -> str:
    return f"{selector(ratio_name(window), o)} / {o.budget!r} > {burn!r}"


def objective_alert(stack: Stack, o: Objective, w: Window, index: int) -> Rule:
    ignoring = f"and ignoring ({n.SLO_WINDOW_LABEL})"
    expr = (f"{burn_condition(o, w.long, w.burn)} {ignoring} {burn_condition(o, w.short, w.burn)} "
            f"{ignoring} {selector(events_name(w.long), o)} * {seconds(w.long)} >= {o.min_events}")
    lasts = humanize_duration(seconds(o.period) / w.burn)
    annotations = {
        "summary": f"SLO {o.name} burns its error budget {{{{ $value | printf \"%.1f\" }}}}x too fast",
        "description": (f"{o.description}: over the last {w.long} (and still over the last {w.short}) the SLO "
                        f"{o.name} ({o.objective:g} % over {o.period}) burned its error budget "
                        f"{{{{ $value | printf \"%.1f\" }}}}x faster than it lasts the {o.period}; the {w.severity} "
                        f"fires from {w.burn:g}x, a pace at which the whole budget is gone in {lasts}."),
        "runbook_url": engine.runbook_url(stack, o.alert),
    }
    return Rule(expr=expr, alert=o.alert, labels=_pair_labels(w),
                annotations=tuple(sorted(annotations.items())), spec_path=o.origin.path + ("windows", index))


# -- money budgets --------------------------------------------------------------------------------
def remaining_expr(b: Budget) -> str:
    """How far the signal is from its limit (positive while budget is left)."""
    return f"{b.signal} + {-b.limit!r}" if b.falling else f"{b.limit!r} - {b.signal}"


def budget_records(b: Budget) -> list[Rule]:
    labels = {n.BUDGET_LABEL: b.name}
    path = b.origin.path + ("signal",)
    pace = f"clamp_min(-deriv({b.signal}[{{w}}]), 0)" if b.falling else f"clamp_min(deriv({b.signal}[{{w}}]), 0)"
    rules = [_record(n.BUDGET_REMAINING, f"({remaining_expr(b)}) / {abs(b.limit)!r}", labels, path, b.labels)]
    for w in sorted({x for win in b.windows for x in (win.long, win.short)}, key=seconds):
        # Seconds until the limit at this window's pace, while budget is left (+Inf while not being spent).
        rules.append(_record(exhaustion_name(w), f"({remaining_expr(b)} > 0) / {pace.format(w=w)}",
                             labels, path, b.labels))
    return rules


def budget_alert(stack: Stack, b: Budget, w: Window, index: int) -> Rule:
    def projected(window: str) -> str:
        return f'{exhaustion_name(window)}{{{n.BUDGET_LABEL}="{b.name}"}} < {seconds(w.within)}'
    who = " ".join(f"{label}={{{{ $labels.{label} }}}}" for label in ("job", "instance") + b.labels)
    limit = f"{b.limit:g}"
    annotations = {
        "summary": f"Budget {b.name}: at this pace the limit is gone in {{{{ $value | humanizeDuration }}}}",
        "description": (f"{who}: at the pace of the last {w.long} (still so over the last {w.short}) "
                        f"{b.signal} reaches its limit of {limit} in {{{{ $value | humanizeDuration }}}}; "
                        f"the {w.severity} fires when that is under {w.within}."),
        "runbook_url": engine.runbook_url(stack, b.alert),
    }
    return Rule(expr=f"{projected(w.long)} and {projected(w.short)}", alert=b.alert,
                labels=_pair_labels(w),
                annotations=tuple(sorted(annotations.items())), spec_path=b.origin.path + ("windows", index))


def _pair_labels(w: Window) -> tuple[tuple[str, str], ...]:
    """The pair's alert labels; its long window tells two pairs of one severity apart."""
    return ((n.SLO_SEVERITY_LABEL, w.severity), (n.SLO_WINDOW_LABEL, w.long), ("severity", w.label))


def rules(stack: Stack) -> tuple[list[Rule], list[Rule]]:
    """(recording rules, alerting rules) of every objective and budget."""
    slos = stack.slos
    records, alerts = [], []
    for o in slos.objectives:
        records += objective_records(o)
        alerts += [objective_alert(stack, o, w, i) for i, w in enumerate(o.windows)]
    for b in slos.budgets:
        records += budget_records(b)
        alerts += [budget_alert(stack, b, w, i) for i, w in enumerate(b.windows)]
    return records, alerts


# -- docs/runbook.md ---------------------------------------------------------------------------------
_OBJECTIVE_STEPS = (
    "Open the error-budget dashboard: which window burns, how many events, how much budget is left.",
    "Find what changed when the burn started (a deploy, an exchange incident, a config change) and roll back "
    "or fail over if you can.",
    "A ticket is a slow burn: plan the fix this week; a page spends the budget within hours: act now.",
)
_BUDGET_STEPS = (
    "Open the error-budget dashboard: the projected time per window and the budget left.",
    "Decide now whether to cut size or stop new entries: the threshold alert comes only at the limit.",
    "Check the bot's recent trades and guard triggers for the cause of the losses.",
)


def guide(stack: Stack) -> dict[str, tuple[str, tuple[str, ...]]]:
    out: dict[str, tuple[str, tuple[str, ...]]] = {}
    if stack.slos is None:
        return out
    for o in stack.slos.objectives:
        meaning = (f"The SLO {o.name} ({o.description}; {o.objective:g} % over {o.period}) burns its error budget "
                   f"faster than it lasts: both windows of a pair burn faster than the pair's rate, with at least "
                   f"{o.min_events} events in the long window. " + " ".join(o.runbook.split()))
        out[o.alert] = (meaning.strip(), _OBJECTIVE_STEPS)
    for b in stack.slos.budgets:
        meaning = (f"The money budget {b.name}: at the pace of both windows of a pair, {b.signal} reaches its "
                   f"limit of {b.limit:g} sooner than the pair allows. " + " ".join(b.runbook.split()))
        out[b.alert] = (meaning.strip(), _BUDGET_STEPS)
    return out
