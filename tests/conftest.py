"""Shared helpers: the repository root, the real spec, running generate.py as users do."""
from __future__ import annotations

import copy
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


def run_generate(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "generate.py"), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="session")
def spec_data() -> dict:
    """The repository's spec as plain data; tests copy it before editing."""
    return yaml.safe_load((ROOT / "spec.yaml").read_text())


@pytest.fixture
def edited_spec(tmp_path, spec_data):
    """Write an edited copy of the real spec: edited_spec(lambda d: ...) -> path."""
    def make(edit=None, name: str = "spec.yaml") -> Path:
        data = copy.deepcopy(spec_data)
        if edit:
            edit(data)
        path = tmp_path / name
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path
    return make


def need_tools(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (make tools installs Debian's prometheus "
                    "and prometheus-alertmanager)")
