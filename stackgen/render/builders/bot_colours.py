"""Per-bot colours: a panel whose thresholds cite an alert family (`from: alerts.drawdown.warning`)
that bots or envs override colours each bot's series at that bot's own number.

Grafana holds one set of thresholds per panel, plus field overrides. So the panel's queries are split
into the family's scopes (the same label matchers that keep its rule copies apart, alerts/engine.py's
scopes()): one copy of each query per scope, and an override per copy (`byFrameRefID`) with the steps
that scope's values give. A series falls in exactly one scope, so nothing is drawn twice.
"""
from __future__ import annotations

import re
from dataclasses import replace

from stackgen import promql
from stackgen.alerts import engine
from stackgen.alerts import families as fam
from stackgen.model.dashboards import Panel, Step
from stackgen.model.stack import Stack
from stackgen.render.panels import ref_id
from stackgen.spec.fields import parse_duration

MAX_QUERIES = 26          # refIds A..Z: a panel that would need more keeps the family's own colours
# Panels whose frames Grafana keeps apart, so a byFrameRefID override reaches them. A table or bar chart
# merges its queries into one frame first (and a copy per scope would only add empty columns).
SPLIT_TYPES = ("stat", "gauge", "bargauge", "timeseries")


def scopes(stack: Stack, panel: Panel) -> list[tuple[str, list, tuple[Step, ...]]]:
    """(scope name, matchers, steps) for each scope of the one cited family whose overrides move a
    cited number, the family's own values first; [] when no override changes the panel's colours."""
    declared = panel.declared_steps or panel.thresholds
    if panel.type not in SPLIT_TYPES:
        return []
    cited = {s.ref[0] for s in declared if s.ref}
    moving = []
    for key in sorted(cited):
        config = stack.alerts.family(key)
        fields = {s.ref[1] for s in declared if s.ref and s.ref[0] == key}
        if config is not None and any(dict(o.values)[f] != config[f] for o in config.overrides for f in fields):
            moving.append(config)
    # Two moving families would need a scope per combination: rare, and the description names every number.
    if len(moving) != 1:
        return []
    config = moving[0]
    found = engine.scopes(config)
    if len(found) * len(panel.queries) > MAX_QUERIES:
        return []
    family = fam.families()[config.key]
    return [(name, matchers, _steps(declared, family, values)) for name, values, matchers in found]


def _steps(declared: tuple[Step, ...], family: fam.Family, values: dict) -> tuple[Step, ...]:
    """The declared steps with the cited numbers of `family` taken from `values`, kept increasing as the
    model keeps them (model/dashboards.py, _thresholds): a cited threshold displaces every step at or
    above it before it; a literal step at or below the one before goes."""
    out: list[Step] = []
    for step in declared:
        if step.ref and step.ref[0] == family.key:
            raw = values[step.ref[1]]
            spec = family.field_spec(step.ref[1])
            step = replace(step, value=parse_duration(raw) if spec is not None and spec.type == "duration"
                           else float(raw))
        if step.value is not None and len(out) > 1 and step.value <= out[-1].value:
            if not step.ref:
                continue
            while len(out) > 1 and step.value <= out[-1].value:
                out.pop()
        out.append(step)
    return tuple(out)


def split(panel: Panel, found: list[tuple[str, list, tuple[Step, ...]]], index: promql.SeriesIndex) -> Panel:
    """The panel with each query repeated per scope (its matchers added), the family's own scope first
    and its own steps as the panel's defaults. Where a copy's series names would not show the scope's
    labels (a fleet-wide max, a legend of other labels), the name says the scope: `min (env=live)`,
    `exchange={{exchange}} (other bots)`; the family's own scope is "other bots"."""
    scope_labels = {label for _, matchers, _ in found for label, _, _ in matchers}
    queries = []
    for name, matchers, _ in found:
        for query in panel.queries:
            expr = query.expr
            for label, op, value in matchers:
                expr = promql.add_matcher(expr, label, value, op, narrow=True)
            queries.append(replace(query, expr=expr, legend=_legend(query.legend, query.expr, index,
                                                                     scope_labels, name or "other bots")))
    return replace(panel, queries=tuple(queries), thresholds=found[0][2])


def _legend(legend: str, expr: str, index: promql.SeriesIndex, scope_labels: set[str], tag: str) -> str:
    if legend:
        shown = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", legend))
        base = legend
    else:   # Grafana names a series by its labels
        try:
            shown = set(promql.output_labels(expr, index) or ())
        except ValueError:
            shown = set()
        base = ", ".join(f"{label}={{{{{label}}}}}" for label in sorted(shown))
    if scope_labels <= shown:
        return legend
    return f"{base} ({tag})" if base else tag


def coloured(stack: Stack, panel: Panel, index) -> tuple[Panel, list]:
    """The panel to render and its scopes: split per scope where overrides move its colours; as it is
    (no scopes) where they don't, or where a matcher cannot be proven onto every selector.
    `index()` gives the series index the legends are worked out with (built only when needed)."""
    found = scopes(stack, panel)
    if not found:
        return panel, []
    try:
        shown = split(panel, found, index())
    except ValueError:
        return panel, []
    return shown, found


def overrides(panel: Panel, found: list[tuple[str, list, tuple[Step, ...]]], thresholds) -> list[dict]:
    """Grafana field overrides: each scope's copies of the queries (by refId) coloured at its own steps.
    `thresholds` renders steps as the panel's defaults are rendered."""
    count = len(panel.queries)
    return [{"matcher": {"id": "byFrameRefID", "options": ref_id(s * count + i)},
             "properties": [{"id": "thresholds", "value": thresholds(steps)}]}
            for s, (_, _, steps) in enumerate(found) if s for i in range(count)]
