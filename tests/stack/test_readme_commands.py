"""The README's commands work as a new user types them: `python generate.py` and `python -m stackctl`
outside the virtual environment run again under .venv; without one, a missing package is one line."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from stackgen import venv
from tests.conftest import ROOT

# The interpreter the venv was made from: what `python3` is on a fresh machine.
BASE_PYTHON = getattr(sys, "_base_executable", sys.executable)


def _run(*argv, env=None):
    return subprocess.run([*argv], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


@pytest.mark.skipif(not (venv.VENV / "bin" / "python").is_file(), reason="no .venv here (make setup makes it)")
@pytest.mark.parametrize("command", [["generate.py", "--help"], ["-m", "stackctl", "--help"]])
def test_readme_commands_run_under_the_venv_from_the_plain_interpreter(command):
    proc = _run(BASE_PYTHON, *command)
    assert proc.returncode == 0, proc.stderr
    assert "usage:" in proc.stdout


@pytest.mark.parametrize("command", [["generate.py", "--help"], ["-m", "stackctl", "--help"]])
def test_without_the_packages_it_is_one_line_naming_make_setup(command):
    # -S: no site-packages, as on a machine where nothing was installed; the opt-out keeps this interpreter.
    proc = _run(BASE_PYTHON, "-S", *command, env={venv.OPT_OUT: "1"})
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "make setup" in proc.stderr and "lacks" in proc.stderr
