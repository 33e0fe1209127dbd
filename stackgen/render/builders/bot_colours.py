"""Per-bot colours: a panel whose thresholds cite an alert family (`from: alerts.drawdown.warning`)
that bots or envs override colours each bot's series at that bot's own number.

Grafana holds one set of thresholds per panel, plus field overrides. So the panel's queries are split
into the family's scopes (the same label matchers that keep its rule copies apart, alerts/engine.py's
scopes()): one copy of each query per scope, and an override per copy (`byFrameRefID`) with the steps
that scope's values give. A series falls in exactly one scope, so nothing is drawn twice.
"""
from __future__ import annotations

from dataclasses import replace

from stackgen import promql
from stackgen.alerts import engine
from stackgen.alerts import families as fam
from stackgen.model.dashboards import Panel, Step
from stackgen.model.stack import Stack
from stackgen.spec.fields import parse_duration

MAX_QUERIES = 26          # refIds A..Z: a panel that would need more keeps the family's own colours


def refid(index: int) -> str:
    return chr(ord("A") + index)


def scopes(stack: Stack, panel: Panel) -> list[tuple[str, list, tuple[Step, ...]]]:
    """(scope name, matchers, steps) for each scope of the one cited family whose overrides move a
    cited number, the family's own values first; [] when no override changes the panel's colours."""
    cited = {s.ref[0] for s in panel.thresholds if s.ref}
    moving = []
    for key in sorted(cited):
        config = stack.alerts.family(key)
        fields = {s.ref[1] for s in panel.thresholds if s.ref and s.ref[0] == key}
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
    return [(name, matchers, _steps(panel.thresholds, family, values)) for name, values, matchers in found]


def _steps(steps: tuple[Step, ...], family: fam.Family, values: dict) -> tuple[Step, ...]:
    """The panel's steps with the cited numbers of `family` taken from `values`; a literal step a cited
    one moved past goes (as when the model reads the spec: the threshold wins)."""
    out: list[Step] = []
    for step in steps:
        value = step.value
        if step.ref and step.ref[0] == family.key:
            raw = values[step.ref[1]]
            spec = family.field_spec(step.ref[1])
            value = parse_duration(raw) if spec is not None and spec.type == "duration" else float(raw)
            step = replace(step, value=value)
        if value is not None and len(out) > 1 and value <= out[-1].value:
            if step.ref and not out[-1].ref:
                out.pop()
            else:
                continue
        out.append(step)
    return tuple(out)


def split(panel: Panel, found: list[tuple[str, list, tuple[Step, ...]]]) -> Panel:
    """The panel with each query repeated per scope (its matchers added), the family's own scope first
    and its own steps as the panel's defaults. A copy without a legend is named after its scope ("other
    bots" for the family's own)."""
    queries = []
    for name, matchers, _ in found:
        for query in panel.queries:
            expr = query.expr
            for label, op, value in matchers:
                expr = promql.add_matcher(expr, label, value, op, narrow=True)
            queries.append(replace(query, expr=expr, legend=query.legend or name or "other bots"))
    return replace(panel, queries=tuple(queries), thresholds=found[0][2])


def overrides(panel: Panel, found: list[tuple[str, list, tuple[Step, ...]]], thresholds) -> list[dict]:
    """Grafana field overrides: each scope's copies of the queries (by refId) coloured at its own steps.
    `thresholds` renders steps as the panel's defaults are rendered."""
    count = len(panel.queries)
    return [{"matcher": {"id": "byFrameRefID", "options": refid(s * count + i)},
             "properties": [{"id": "thresholds", "value": thresholds(steps)}]}
            for s, (_, _, steps) in enumerate(found) if s for i in range(count)]
