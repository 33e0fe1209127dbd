"""Write the rendered tree atomically, remove stale generated files, or report drift (--check)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Changes:
    added: tuple[str, ...]
    changed: tuple[str, ...]
    removed: tuple[str, ...]

    @property
    def empty(self) -> bool:
        return not (self.added or self.changed or self.removed)

    def lines(self) -> list[str]:
        return ([f"  added:   {p}" for p in self.added] + [f"  changed: {p}" for p in self.changed]
                + [f"  removed: {p}" for p in self.removed])


def compare(files: dict[str, str], root: Path, owned_dirs: tuple[str, ...]) -> Changes:
    added, changed = [], []
    for rel, text in sorted(files.items()):
        path = root / rel
        if not path.exists():
            added.append(rel)
        elif path.read_bytes() != text.encode("utf-8"):
            changed.append(rel)
    removed = [rel for rel in _owned_files(root, owned_dirs) if rel not in files]
    return Changes(tuple(added), tuple(changed), tuple(sorted(removed)))


def write(files: dict[str, str], root: Path, owned_dirs: tuple[str, ...]) -> Changes:
    """Write every changed file by temp file + rename, then remove generated files no longer rendered."""
    changes = compare(files, root, owned_dirs)
    for rel in changes.added + changes.changed:
        _atomic_write(root / rel, files[rel].encode("utf-8"))
    for rel in changes.removed:
        (root / rel).unlink()
    return changes


def _owned_files(root: Path, owned_dirs: tuple[str, ...]) -> list[str]:
    found = []
    for folder in owned_dirs:
        base = root / folder
        if base.is_dir():
            found.extend(p.relative_to(root).as_posix() for p in base.rglob("*") if p.is_file())
    return found


def _atomic_write(path: Path, data: bytes) -> None:
    import tempfile   # only when writing: `--check` never needs it
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
