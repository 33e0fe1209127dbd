"""`python generate.py` and `python -m stackctl`, as the README writes them, work outside the
virtual environment: they run again under the project's .venv (which `make setup` creates).
Standard library only: this runs before any dependency can be imported."""
from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
# Set to run with whatever interpreter started the command (your own environment with the packages).
OPT_OUT = "STACKGEN_NO_VENV"
SETUP_HINT = "run `make setup` first (it creates .venv with the pinned packages), or use the make targets"


def ensure() -> None:
    """Re-run this very command under .venv's python when it exists and is not the one running."""
    if os.environ.get(OPT_OUT) or Path(sys.prefix).resolve() == VENV.resolve():
        return
    python = VENV / "bin" / "python"
    try:
        if python.is_file() and os.access(python, os.X_OK):
            os.execv(str(python), [str(python), *sys.orig_argv[1:]])
    except OSError:
        pass            # not ours to run (another user, a venv under /root): carry on with this interpreter


def missing_package(exc: ModuleNotFoundError, command: str) -> str:
    """The one line a missing dependency prints instead of a traceback."""
    return f"error: {command} needs the package that provides {exc.name!r}, which this Python lacks: {SETUP_HINT}"
