"""The layer contracts of `make lint` (import-linter, [tool.importlinter] in pyproject.toml) hold,
and catch a new upward import or cycle: each case injects one import into a copy of the packages."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from stackgen.pipeline import RENDERER_NAMES
from tests.conftest import ROOT

PACKAGES = ("stackgen", "stackctl", "exporter")
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _lint(root: Path) -> subprocess.CompletedProcess:
    # PYTHONPATH first: the copy's packages, not the installed (editable) ones, are analysed.
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", "--no-logo"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=120)


def test_the_code_keeps_every_layer_contract():
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_the_renderers_kept_apart_are_the_pipelines_renderers():
    """The renderers-apart contract names every renderer the pipeline runs, and nothing else."""
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    apart = next(c for c in contracts["contracts"] if c["id"] == "renderers-apart")
    assert sorted(name.strip() for name in apart["layers"][0].split("|")) == sorted(RENDERER_NAMES)


@pytest.fixture(scope="module")
def copy(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("layers")
    for package in PACKAGES:
        shutil.copytree(ROOT / package, root / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    return root


@pytest.mark.parametrize("module, injected, expected", [
    # the model reaching up into the renderers
    ("stackgen/model/catalog.py", "from stackgen.render import output", "stackgen.model is not allowed to import "
                                                                         "stackgen.render"),
    # the spec reader reaching up into the model
    ("stackgen/spec/fields.py", "from stackgen.model import stack", "stackgen.spec is not allowed to import "
                                                                     "stackgen.model"),
    # a cycle inside one package (settings is imported by cli)
    ("stackctl/settings.py", "from stackctl import cli", "No cycles are allowed in stackctl"),
    # the exporter importing the generator
    ("exporter/names.py", "from stackgen import conventions", "exporter is not allowed to import stackgen"),
    # a renderer calling another instead of the shared builder (build, then render)
    ("stackgen/render/kubernetes.py", "from stackgen.render import dashboards",
     "stackgen.render.kubernetes is not allowed to import stackgen.render.dashboards"),
])
def test_a_new_upward_import_or_cycle_breaks_lint(copy, module, injected, expected):
    path = copy / module
    original = path.read_text(encoding="utf-8")
    try:
        path.write_text(original + f"\n{injected}  # injected by the test\n", encoding="utf-8")
        result = _lint(copy)
    finally:
        path.write_text(original, encoding="utf-8")
    assert result.returncode != 0, result.stdout
    assert expected in result.stdout, result.stdout
