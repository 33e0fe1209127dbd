"""The error-budget dashboard of the spec's `slos:` section: a row per objective and per money budget.

It is a Dashboard of the model like the spec's own, so it is checked, rendered, provisioned and
shipped to Kubernetes by the same code; alerts of the section link to its panels.
"""
from __future__ import annotations

from stackgen import conventions as n
from stackgen.model.dashboards import Dashboard, Legend, Panel, Query, Row, Step
from stackgen.model.slos import Budget, Objective, Slos, exhaustion_name, ratio_name, seconds, selector, windows

_LEGEND = Legend(mode="table", placement="right", calcs=("lastNotNull", "max"))


def _budget_left(expr: str, what: str) -> Panel:
    return Panel(title="Budget left", type="stat", width=6, unit="percentunit", decimals=1,
                 description=f"What is left of {what}. Red: it is spent.",
                 queries=(Query(expr),), thresholds=(Step("red", None), Step("yellow", 0.0), Step("green", 0.25)))


def _objective_row(o: Objective) -> Row:
    burns = tuple(Query(f"{selector(ratio_name(w), o)} / {o.budget!r}", legend=w) for w in windows(o))
    base = windows(o)[0]
    events = (Query(selector(n.SLO_EVENTS_RATE.format(window=base), o), legend="all events/s"),
              Query(f"{selector(ratio_name(base), o)} * {selector(n.SLO_EVENTS_RATE.format(window=base), o)}",
                    legend="error events/s"))
    pairs = ", ".join(f"{w.severity} {w.burn:g}x over {w.long} and {w.short}" for w in o.windows)
    return Row(f"SLO {o.name}: {o.objective:g} % over {o.period}", 8, (
        _budget_left(selector(n.SLO_BUDGET_REMAINING, o), f"the {o.period} error budget of {o.name} "
                     f"({o.description})"),
        Panel(title="Burn rate per window", type="timeseries", width=12, unit="none", legend=_LEGEND,
              description=f"How many times faster than sustainable each window spends the budget (1 lasts the "
                          f"{o.period} exactly). The alerts: {pairs}.", queries=burns,
              thresholds=(Step("green", None), Step("red", 1.0))),
        Panel(title="Events", type="timeseries", width=6, unit="reqps", legend=Legend(),
              description=f"Events per second over {base}: all of them, and the ones that count against the "
                          "objective.", queries=events)))


def _budget_row(b: Budget) -> Row:
    shown = sorted({x for w in b.windows for x in (w.long, w.short)}, key=seconds)
    selector = f'{{{n.BUDGET_LABEL}="{b.name}"}}'
    pairs = ", ".join(f"{w.severity} when both {w.long} and {w.short} say under {w.within}" for w in b.windows)
    return Row(f"Budget {b.name}: {b.signal} to {b.limit:g}", 8, (
        _budget_left(f"{n.BUDGET_REMAINING}{selector}", f"the budget {b.name} ({b.signal} down to {b.limit:g})"
                     if b.falling else f"the budget {b.name} ({b.signal} up to {b.limit:g})"),
        Panel(title="Time to the limit per window", type="timeseries", width=12, unit="s", legend=_LEGEND,
              description=f"At each window's pace, how long until {b.signal} reaches {b.limit:g} (+Inf, no "
                          f"line: not being spent). The alerts: {pairs}.",
              queries=tuple(Query(f"{exhaustion_name(w)}{selector}", legend=w) for w in shown)),
        Panel(title="Budget left over time", type="timeseries", width=6, unit="percentunit", legend=Legend(),
              description=f"What is left of the budget, per bot; 0 % is {b.signal} at {b.limit:g}.",
              queries=(Query(f"{n.BUDGET_REMAINING}{selector}"),))))


def slo_dashboard(slos: Slos) -> Dashboard:
    rows = tuple(_objective_row(o) for o in slos.objectives) + tuple(_budget_row(b) for b in slos.budgets)
    return Dashboard(uid=n.SLO_DASHBOARD_UID, title="Error budgets", folder=slos.folder,
                     description="The SLOs and money budgets of the spec's slos: section: budget left, burn rate "
                                 "per window, events.",
                     tags=("slo",), time="6h", refresh="30s", variables=(), rows=rows)
