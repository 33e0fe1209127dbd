"""The committed dashboards and Grafana provisioning are exactly what the spec renders."""
from __future__ import annotations

import json

from stackgen import conventions as names
from stackgen.pipeline import render_spec
from tests.conftest import ROOT

MINE = (names.DASHBOARDS_DIR + "/", "stack/grafana/")


def test_committed_dashboards_and_provisioning_equal_a_fresh_render(rendered):
    files = {path: text for path, text in rendered[1].items() if path.startswith(MINE)}
    assert len(files) >= 7
    differ = [path for path, text in sorted(files.items())
              if not (ROOT / path).is_file() or (ROOT / path).read_text(encoding="utf-8") != text]
    assert not differ, f"regenerate with `python generate.py`: {differ}"
    on_disk = {p.relative_to(ROOT).as_posix() for folder in (names.DASHBOARDS_DIR, names.GRAFANA_PROVISIONING_DIR)
               for p in (ROOT / folder).rglob("*") if p.is_file()}
    stale = sorted(on_disk - set(files))
    assert not stale, f"files the generator no longer renders: {stale}"


def test_rendering_is_deterministic(rendered):
    _, again = render_spec(ROOT / names.SPEC_FILE)
    assert {p: t for p, t in again.items() if p.startswith(MINE)} == \
           {p: t for p, t in rendered[1].items() if p.startswith(MINE)}


def test_dashboard_json_is_sorted_indented_and_ends_with_a_newline(rendered):
    for path, text in rendered[1].items():
        if path.startswith(names.DASHBOARDS_DIR + "/"):
            assert text == json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n", path
