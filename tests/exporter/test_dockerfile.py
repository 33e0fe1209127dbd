"""exporter/Dockerfile, checked by reading it (no Docker engine needed) and by running its copy step."""
from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from .conftest import ROOT

DOCKERFILE = ROOT / "exporter" / "Dockerfile"


@pytest.fixture(scope="module")
def text() -> str:
    return DOCKERFILE.read_text()


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", text)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_slim_python_311_base_pinned(text):
    base = dict(instructions(text))["ARG"]
    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.11\.\d+-slim-bookworm", base)


def test_runtime_dependency_pinned_like_pyproject(text):
    pin = re.search(r'"prometheus-client==([\d.]+)"', (ROOT / "pyproject.toml").read_text()).group(1)
    assert f"pip install --no-cache-dir prometheus-client=={pin}" in text


def test_non_root_healthcheck_expose_and_default_command(text):
    steps = instructions(text)
    final = steps[max(i for i, (word, _) in enumerate(steps) if word == "FROM"):]
    words = dict(final)
    assert words["USER"] == "10001:10001"
    assert words["EXPOSE"] == "9100"
    assert "urllib.request" in words["HEALTHCHECK"] and "/health" in words["HEALTHCHECK"]
    assert "curl" not in words["HEALTHCHECK"]
    assert words["ENTRYPOINT"] == '["python", "-m", "exporter"]'
    assert words["CMD"] == '["--source", "demo"]'
    assert words["WORKDIR"] == "/app"


@pytest.mark.skipif(shutil.which("sh") is None, reason="no /bin/sh")
@pytest.mark.parametrize("layout", ["exporter-context", "repo-root-context"])
def test_source_stage_finds_the_package_in_either_build_context(text, tmp_path, layout):
    """Run the first stage's RUN script on a copy of each context layout (paths moved under tmp)."""
    script = next(args for word, args in instructions(text) if word == "RUN" and "/context" in args)
    context = tmp_path / "context"
    package = context / "exporter" if layout == "repo-root-context" else context
    shutil.copytree(ROOT / "exporter", package, ignore=shutil.ignore_patterns("__pycache__"))
    if layout == "repo-root-context":
        (context / "generate.py").write_text("# the repository root holds other files too\n")
    out = tmp_path / "out"
    script = script.replace("/context", str(context)).replace("/out", str(out))
    subprocess.run(["sh", "-c", script], check=True, timeout=30)
    copied = sorted(p.name for p in (out / "exporter").iterdir())
    assert "catalog.json" in copied and "__main__.py" in copied and "metrics.py" in copied
    assert "Dockerfile" not in copied and "generate.py" not in copied


def test_source_stage_fails_clearly_without_the_package(text, tmp_path):
    script = next(args for word, args in instructions(text) if word == "RUN" and "/context" in args)
    (tmp_path / "context").mkdir()
    script = script.replace("/context", str(tmp_path / "context")).replace("/out", str(tmp_path / "out"))
    result = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert "catalog.json not found in the build context" in result.stderr
