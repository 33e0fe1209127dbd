"""Panel ids follow the panel's identity (dashboard uid + title), not its place: a row added at the top
leaves every other panel's id, so the alerts' viewPanel links and every rule file stay the same."""
from __future__ import annotations

import json

from stackgen import conventions as names
from stackgen.pipeline import render_spec
from tests.dashboards.conftest import panels_of
from tests.dashboards.fixture import FIXTURE_UID, fixture_spec

# A panel no alert would rather link to (a single figure of what only a table shows), so the rule files
# may only change if the ids of the panels below it moved.
NEW_ROW = {"title": "Added on top", "panels": [
    {"title": "Open positions", "type": "stat", "description": "Open positions, a row added above the others.",
     "queries": [{"expr": "sum(api_open_positions{<filters>})"}]}]}


def _render(edited_spec, on_top: bool):
    def edit(data):
        fixture_spec(data)
        if on_top:
            data["dashboards"][0]["rows"].insert(0, NEW_ROW)
    return render_spec(edited_spec(edit), "spec.yaml")[1]


def _ids(files: dict[str, str]) -> dict[str, int]:
    board = json.loads(files[f"{names.DASHBOARDS_DIR}/fixtures/{FIXTURE_UID}.json"])
    ids = {p["title"]: p["id"] for p in panels_of(board)}
    assert len(set(ids.values())) == len(ids), ids       # unique within the dashboard
    return ids


def test_a_row_added_on_top_leaves_every_other_panel_id_and_every_rule_file(edited_spec):
    before, after = _render(edited_spec, False), _render(edited_spec, True)
    old, new = _ids(before), _ids(after)
    assert set(new) - set(old) == {"Added on top", "Open positions"}
    assert {title: new[title] for title in old} == old
    rules = sorted(p for p in before if p.startswith(names.RULES_DIR + "/"))
    assert rules and rules == sorted(p for p in after if p.startswith(names.RULES_DIR + "/"))
    changed = [p for p in rules if before[p] != after[p]]
    assert not changed, changed
    assert any("viewPanel=" in before[p] for p in rules)      # the links this protects are there


def test_equal_titles_get_distinct_ids(edited_spec):
    def edit(data):
        fixture_spec(data)
        rows = data["dashboards"][0]["rows"]
        rows.append({"title": "Again", "panels": [dict(rows[0]["panels"][0])]})
    board = json.loads(render_spec(edited_spec(edit), "spec.yaml")[1][
        f"{names.DASHBOARDS_DIR}/fixtures/{FIXTURE_UID}.json"])
    ids = [p["id"] for p in panels_of(board)]
    assert len(ids) == len(set(ids))
