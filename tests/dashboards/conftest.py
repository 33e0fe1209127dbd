"""Fixtures for the dashboard tests: the rendered dashboards and Grafana's published schemas."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from stackgen import conventions as names
from stackgen.pipeline import render_spec
from tests.conftest import ROOT

# Grafana's published JSON schemas, vendored unchanged (source, commit and license in its README.md).
SCHEMA_DIR = ROOT / "tests" / "schemas" / "grafana"


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
    assert (SCHEMA_DIR / "dashboard.jsonschema.json").is_file(), f"the vendored schemas are missing in {SCHEMA_DIR}"
    return SCHEMA_DIR


def panels_of(dashboard: dict) -> list[dict]:
    """Every panel, row headers included (collapsed rows would nest theirs)."""
    out = []
    for panel in dashboard["panels"]:
        out.append(panel)
        out.extend(panel.get("panels", []))
    return out
