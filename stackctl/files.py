"""Writing the run folder's files: atomically, with the mode (and owner) decided before the content
lands, whatever the umask. The modes, and why (docs/stack.md, "File modes"):

- run/ is 0700: only this user (and root) can enter it; it holds filled-in secrets.
- What a container reads through a bind mount needs no access to run/ itself (the mount point
  is entered inside the container), only to the mounted folder and its files:
  - no secret (the generated files Grafana mounts): folders 0755, files 0644;
  - secret-bearing (run/docker/prometheus/ with the web passwords, Alertmanager's filled-in
    config and web passwords, its *_file secrets): when stackctl runs as
    root, owned by the container's uid:gid (65534 for Alertmanager) with folders 0700 and files
    0600, so only that uid and root read them; as a non-root user (who cannot chown), folders
    0755 and files 0644, kept from other local users by run/'s 0700.
- The last good copies (run/docker/last-good/) are never mounted: 0700 / 0600.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from stackctl.settings import StackError

FILE_MODE = 0o644
DIR_MODE = 0o755
PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700


@dataclass(frozen=True)
class Access:
    """Mode and owner of a folder a container reads, and of its files."""
    file_mode: int = FILE_MODE
    dir_mode: int = DIR_MODE
    owner: tuple[int, int] | None = None        # (uid, gid) to chown to; None: leave as created

    @classmethod
    def public(cls) -> Access:
        return cls()

    @classmethod
    def private(cls) -> Access:
        return cls(PRIVATE_FILE_MODE, PRIVATE_DIR_MODE)

    @classmethod
    def secret_for(cls, uid: int, gid: int, root: bool | None = None) -> Access:
        """Secret-bearing files a container user reads: its own 0600 files when we can chown
        (root), else 0644 inside the 0700 run folder."""
        if (os.geteuid() == 0) if root is None else root:
            return cls(PRIVATE_FILE_MODE, PRIVATE_DIR_MODE, (uid, gid))
        return cls()


def write(path: Path, text: str, mode: int = FILE_MODE, owner: tuple[int, int] | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        if owner is not None:
            os.fchown(fd, *owner)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError) and not exc.filename:    # name the file (a full disk: which one)
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise


def make_dir(path: Path, mode: int = DIR_MODE, owner: tuple[int, int] | None = None) -> Path:
    """A folder with exactly this mode (and owner), whatever the umask."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, mode)
    if owner is not None:
        os.chown(path, *owner)
    return path


def private_dir(path: Path) -> Path:
    """A folder only this user can enter (the run folder holds filled-in secrets)."""
    return make_dir(path, PRIVATE_DIR_MODE)


def read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def read_tree(folder: Path) -> dict[str, str]:
    """{relative path: text} of the files under a folder (hidden temp files excluded)."""
    if not folder.is_dir():
        return {}
    return {p.relative_to(folder).as_posix(): p.read_text(encoding="utf-8")
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.name.startswith(".")}


def install_tree(folder: Path, files: dict[str, str], access: Access) -> None:
    """Make `folder` hold exactly `files` (atomic per file; files not listed are removed), with
    `access`'s modes and owner on the folder, its subfolders and every file."""
    make_dir(folder, access.dir_mode, access.owner)
    for rel, text in sorted(files.items()):
        target = folder / rel
        for parent in reversed(target.relative_to(folder).parents[:-1]):
            make_dir(folder / parent, access.dir_mode, access.owner)
        write(target, text, access.file_mode, access.owner)
    for rel in read_tree(folder):
        if rel not in files:
            (folder / rel).unlink()


def can_read(path: Path, uid: int, gid: int, groups: tuple[int, ...] = ()) -> bool:
    """Whether a non-root process with this uid/gid could read the file (or list and enter the
    folder), from st_mode/st_uid/st_gid alone (ACLs aside)."""
    st = path.stat()
    if st.st_uid == uid:
        bits = (st.st_mode >> 6) & 7
    elif st.st_gid == gid or st.st_gid in groups:
        bits = (st.st_mode >> 3) & 7
    else:
        bits = st.st_mode & 7
    needed = 5 if path.is_dir() else 4          # r-x to list and enter a folder, r-- to read a file
    return bits & needed == needed


def check_run_dir(run_dir: Path) -> None:
    """run/ and the folders in it must be this user's: one line when not (e.g. created as root by a
    `docker compose up` run by hand, which creates missing bind-mount folders as root)."""
    if os.geteuid() == 0:
        return
    docker = run_dir / "docker"
    candidates = [run_dir, run_dir / "pids", run_dir / "logs", docker,
                  *(docker / d for d in ("prometheus", "alertmanager", "secrets", "last-good"))]
    for path in candidates:
        if path.exists() and not os.access(path, os.W_OK | os.X_OK):
            raise StackError(run_dir_problem(path, run_dir))


def run_dir_problem(path: Path, run_dir: Path) -> str:
    try:
        owner = f"owned by uid {path.stat().st_uid}"
    except OSError:
        owner = "not accessible"
    return (f"{path} is {owner} and not writable by you (uid {os.geteuid()}); a `docker compose up` or `sudo make "
            f"up` run by hand creates it as root. Fix: sudo chown -R $(id -u):$(id -g) {run_dir.resolve()} "
            f"(or sudo rm -rf {run_dir.resolve()}), then make up")
