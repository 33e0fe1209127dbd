"""A server binary of one's own, for a backtest or a preview: a temporary folder, a free port on
127.0.0.1, its output in a log there; stopped by its own pid, never by name, and its folder removed."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from stackctl import health


def tail(path: Path, lines: int = 15) -> str:
    """The last lines of a log, for an error message."""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


class LocalServer:
    def __init__(self, name: str, argv, ready_path: str, error: type[Exception], timeout: float = 20.0) -> None:
        """argv(folder, port) -> the command line; ready when GET ready_path answers 2xx. A server that
        exits or never answers raises error(message with its last log lines)."""
        self.name = name
        self.dir = Path(tempfile.mkdtemp(prefix=f"{name}-"))
        self.port = health.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = self.dir / f"{name}.log"
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(argv(self.dir, self.port), stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        answered = health.wait_until(lambda: not self.alive() or health.request(f"{self.url}{ready_path}").ok,
                                     timeout=timeout)
        if not answered or not self.alive():
            tail = self.tail()
            self.close()
            raise error(f"{name} did not start:\n{tail}")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def tail(self, lines: int = 15) -> str:
        return tail(self.log, lines)

    def close(self) -> None:
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
