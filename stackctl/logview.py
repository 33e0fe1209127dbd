"""`make logs`: the last lines of each service's log, masked, then (with --follow) every new line."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from stackctl.processes import tail
from stackctl.redact import Redactor


def show(paths: list[Path], lines: int, follow: bool, redactor: Redactor, out=print, poll: float = 0.5,
         stop=lambda: False) -> None:
    """The last `lines` of each log, masked; with `follow`, then every new line (like tail -F)."""
    offsets: dict[Path, int] = {}
    for path in paths:
        out(f"==> {path} <==")
        out(redactor.text(tail(path, lines)))
        offsets[path] = path.stat().st_size if path.exists() else 0
    while follow and not stop():
        for path in paths:
            try:
                size = path.stat().st_size
            except OSError:
                continue
            if size < offsets[path]:          # truncated or replaced: start again at its beginning
                offsets[path] = 0
            if size == offsets[path]:
                continue
            with open(path, "rb") as handle:
                handle.seek(offsets[path])
                chunk = handle.read(size - offsets[path])
            complete = chunk.rfind(b"\n") + 1   # only whole lines: a secret is never cut in two
            if not complete:
                continue
            offsets[path] += complete
            for raw in chunk[:complete].decode("utf-8", "replace").splitlines():
                out(f"{path.stem}: {redactor.text(raw)}")
        sys.stdout.flush()
        time.sleep(poll)
