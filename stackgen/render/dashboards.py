"""dashboards/<folder>/<uid>.json: one Grafana 12 dashboard per spec dashboard, built (and checked
against the metric catalog) in stackgen/render/builders/dashboards.py."""
from __future__ import annotations

from stackgen.model.stack import Stack
from stackgen.render.builders.dashboards import dashboards
from stackgen.render.output import to_json


def render(stack: Stack) -> dict[str, str]:
    return {path: to_json(board) for path, board in dashboards(stack).items()}
