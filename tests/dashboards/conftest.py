"""Fixtures for the dashboard tests: the rendered dashboards and Grafana's published schemas."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from stackgen import conventions as names
from stackgen.pipeline import render_spec
from tests.conftest import ROOT

# Beside the project root (../shared/schemas/grafana), unless GRAFANA_SCHEMA_DIR names another folder.
DEFAULT_SCHEMA_DIR = ROOT.parent / "shared" / "schemas" / "grafana"


@pytest.fixture(scope="session")
def rendered():
    """(stack, {path: text}) for the repository's spec."""
    return render_spec(ROOT / names.SPEC_FILE)


@pytest.fixture(scope="session")
def stack(rendered):
    return rendered[0]


@pytest.fixture(scope="session")
def dashboards(rendered) -> dict[str, dict]:
    """Every rendered dashboard, by its path."""
    files = rendered[1]
    found = {path: json.loads(text) for path, text in files.items() if path.startswith(names.DASHBOARDS_DIR + "/")}
    assert found, "no dashboard rendered"
    return found


@pytest.fixture(scope="session")
def schema_dir() -> Path:
    env = os.environ.get("GRAFANA_SCHEMA_DIR")
    candidates = [Path(env)] if env else []
    candidates.append(DEFAULT_SCHEMA_DIR)
    for folder in candidates:
        if (folder / "dashboard.jsonschema.json").is_file():
            return folder
    pytest.skip(f"Grafana's JSON schemas not found (looked in {', '.join(map(str, candidates))}); "
                "set GRAFANA_SCHEMA_DIR to the folder holding dashboard.jsonschema.json")


def panels_of(dashboard: dict) -> list[dict]:
    """Every panel, row headers included (collapsed rows would nest theirs)."""
    out = []
    for panel in dashboard["panels"]:
        out.append(panel)
        out.extend(panel.get("panels", []))
    return out
