"""GitHub Actions workflow commands, so spec errors and failing checks show on the pull request.

Only when the environment says GITHUB_ACTIONS=true; everywhere else nothing extra is printed.
Escaping follows GitHub's workflow-command rules: in the message, % CR LF become %25 %0D %0A;
in properties (file, line, title) also : and , become %3A and %2C.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TextIO


def enabled(environ=None) -> bool:
    return (environ if environ is not None else os.environ).get("GITHUB_ACTIONS") == "true"


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def workspace_path(file: str | os.PathLike, environ=None) -> str:
    """The file as GitHub wants it: relative to the checkout (GITHUB_WORKSPACE, else the cwd) when inside."""
    env = environ if environ is not None else os.environ
    path = Path(file)
    if not path.is_absolute():
        return path.as_posix()
    base = Path(env.get("GITHUB_WORKSPACE") or os.getcwd()).resolve()
    try:
        return path.resolve().relative_to(base).as_posix()
    except ValueError:
        return path.as_posix()


def error_command(message: str, *, file: str | None = None, line: int | None = None,
                  title: str | None = None) -> str:
    props = []
    if file:
        props.append(f"file={escape_property(workspace_path(file))}")
    if file and line:
        props.append(f"line={int(line)}")
    if title:
        props.append(f"title={escape_property(title)}")
    return f"::error {','.join(props)}::{escape_data(message)}" if props else f"::error::{escape_data(message)}"


def emit_error(message: str, *, file: str | None = None, line: int | None = None,
               title: str | None = None, stream: TextIO | None = None) -> None:
    """Print one ::error annotation when running in GitHub Actions; a no-op elsewhere."""
    if enabled():
        print(error_command(message, file=file, line=line, title=title), file=stream or sys.stdout)


def emit_spec_error(exc) -> None:
    """The annotation of a SpecError: the spec file and line, the field path as the title."""
    message = f"{exc.path}: {exc.message}" if exc.path else exc.message
    emit_error(message, file=exc.file, line=exc.line, title=f"spec error: {exc.path}" if exc.path else "spec error")
