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


# Generated files are read by containers (Prometheus and Alertmanager as uid 65534, Grafana as 472)
# through bind mounts: every generated file is 0644 and every folder holding one 0755, set explicitly
# whatever the umask or the checkout left (the writer rewrites only changed files, so it also fixes
# the modes of unchanged ones). None of them holds a secret (see docs/stack.md, "File modes").
FILE_MODE = 0o644
DIR_MODE = 0o755


def write(files: dict[str, str], root: Path, owned_dirs: tuple[str, ...]) -> Changes:
    """Write every changed file by temp file + rename, then remove generated files no longer rendered;
    then give every generated file and folder its mode."""
    changes = compare(files, root, owned_dirs)
    for rel in changes.added + changes.changed:
        _atomic_write(root / rel, files[rel].encode("utf-8"))
    for rel in changes.removed:
        (root / rel).unlink()
    set_modes(files, root, owned_dirs)
    return changes


def set_modes(files: dict[str, str], root: Path, owned_dirs: tuple[str, ...]) -> None:
    """FILE_MODE on each generated file, DIR_MODE on each folder between root and it (root itself
    excluded) and on the owned folders; only where they differ."""
    folders = {root / d for d in owned_dirs if (root / d).is_dir()}
    for rel in files:
        path = root / rel
        _chmod(path, FILE_MODE)
        folders.update(p for p in path.parents if p != root and root in p.parents)
    for folder in folders:
        _chmod(folder, DIR_MODE)


def _chmod(path: Path, mode: int) -> None:
    if (path.stat().st_mode & 0o7777) != mode:
        os.chmod(path, mode)


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
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
