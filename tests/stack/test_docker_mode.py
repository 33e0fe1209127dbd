"""Docker mode's preparation, which needs no engine: what `up` writes into run/docker/, with which
modes and owners, whatever the umask, and what each container user can then read.

Starting containers is tested against a real engine only (tests/stack/test_docker_stack.py). Here the
container users' reads are done for real: a child process running as the image's uid:gid opens every
file through a descriptor of the mounted folder, which is what a bind mount gives the container (the
folders above the mount point are never traversed)."""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import bcrypt
import pytest
import yaml

from stackgen import conventions as n
from stackgen.load import load_stack
from stackctl import docker_mode, files
from stackctl.settings import Settings, StackError
from tests.conftest import ROOT

SYSTEM_PYTHON = shutil.which("python3", path="/usr/bin:/bin") or sys.executable
# Run as the container user: open every file below the folder given as a descriptor.
READER = """
import json, os, sys
fd, readable, errors = int(sys.argv[1]), [], []
try:
    for top, dirs, names, topfd in os.fwalk(".", dir_fd=fd, onerror=lambda e: errors.append(str(e))):
        for name in names:
            try:
                os.close(os.open(name, os.O_RDONLY, dir_fd=topfd))
                readable.append(os.path.normpath(os.path.join(top, name)))
            except OSError as e:
                errors.append(f"{os.path.join(top, name)}: {e}")
except OSError as e:        # the mounted folder itself
    errors.append(str(e))
print(json.dumps({"readable": sorted(readable), "errors": errors}))
"""


def read_as(folder: Path, uid: int, gid: int) -> dict:
    """What uid:gid (no supplementary groups) can read below the mounted folder."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        proc = subprocess.run([SYSTEM_PYTHON, "-c", READER, str(fd)], pass_fds=(fd,), user=uid, group=gid,
                              extra_groups=[], capture_output=True, text=True, timeout=60, cwd="/")
    finally:
        os.close(fd)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def all_files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def computed_readable(folder: Path, uid: int, gid: int) -> bool:
    """The same question answered from st_mode/st_uid/st_gid alone."""
    return all(files.can_read(p, uid, gid) for p in [folder, *folder.rglob("*")])


@pytest.fixture
def settings(tmp_path):
    return Settings.from_environment(ROOT, dotenv=False, environ={"GF_SECURITY_ADMIN_PASSWORD": "s3cret-enough",
                                                                 "PROM_WEB_PASSWORD": "prom-pass-1",
                                                                 "AM_WEB_PASSWORD": "am-pass-2"},
                                     run_dir=tmp_path / "run", secrets_dir=tmp_path / "secrets", wait_seconds=1)


def _stack(settings, lines, root):
    # prepare() only writes files; it never talks to the engine, so no client is needed.
    return docker_mode.DockerStack(settings, load_stack(ROOT / "spec.yaml"), None, out=lines.append, root=root)


def _secret(tmp_path):
    secrets = tmp_path / "secrets"
    secrets.mkdir(mode=0o700)
    (secrets / "slack_webhook_url").write_text("https://hooks.example/T0\n")
    (secrets / "slack_webhook_url").chmod(0o600)


@pytest.mark.parametrize("root", [True, False], ids=["as-root", "as-a-user"])
def test_prepare_fills_secrets_into_run_docker_for_the_container_user(settings, tmp_path, root):
    _secret(tmp_path)
    stale = settings.docker_dir / "secrets" / "old_secret"
    stale.parent.mkdir(parents=True)
    stale.write_text("x")
    lines: list[str] = []
    _stack(settings, lines, root).prepare()
    config = settings.docker_dir / "alertmanager" / "alertmanager.yml"
    text = config.read_text()
    assert "api_url_file: /etc/alertmanager/secrets/slack_webhook_url" in text       # the container path
    assert "telegram_configs" not in text and "${" not in text
    copied = settings.docker_dir / "secrets" / "slack_webhook_url"
    assert copied.read_text() == "https://hooks.example/T0\n"
    assert not stale.exists()
    assert stat.S_IMODE(settings.run_dir.stat().st_mode) == 0o700
    for secret in (config, copied):
        st = secret.stat()
        if root:       # only the container's uid (and root) can read them
            assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o600, 65534, 65534)
            assert stat.S_IMODE(secret.parent.stat().st_mode) == 0o700 and secret.parent.stat().st_uid == 65534
        else:          # cannot chown: readable files, behind run/'s 0700
            assert stat.S_IMODE(st.st_mode) == 0o644 and stat.S_IMODE(secret.parent.stat().st_mode) == 0o755
    # Prometheus' config and rules: the generated files, installed for the container.
    prometheus = settings.docker_dir / "prometheus"
    assert (prometheus / "config" / "prometheus.yml").read_text() == (ROOT / n.PROMETHEUS_CONFIG).read_text()
    assert sorted(p.name for p in (prometheus / "rules").iterdir()) == \
        sorted(p.name for p in (ROOT / n.RULES_DIR).glob("*.rules.yml"))
    assert any("receiver telegram-oncall: telegram integration left out" in line for line in lines)
    assert any("receiver email-ops: email integration left out" in line for line in lines)


UMASK_077 = """
import os, subprocess, sys
from pathlib import Path
os.umask(0o077)
repo, tree, root = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3] == "root"
sys.path.insert(0, str(repo))
from stackgen.load import load_stack
from stackctl import docker_mode
from stackctl.settings import Settings
subprocess.run([sys.executable, str(repo / "generate.py"), "--out", str(tree)], check=True, stdout=subprocess.DEVNULL)
settings = Settings.from_environment(tree, dotenv=False, run_dir=tree / "run", secrets_dir=tree / "secrets",
                                     environ={"PROM_WEB_PASSWORD": "p" * 20, "AM_WEB_PASSWORD": "a" * 20})
docker_mode.DockerStack(settings, load_stack(repo / "spec.yaml"), None, out=lambda _: None, root=root).prepare()
"""


@pytest.mark.parametrize("root", [True, False], ids=["as-root", "as-a-user"])
def test_under_umask_077_every_container_user_reads_what_it_mounts_and_no_one_else_the_secrets(tmp_path, root):
    tree = tmp_path / "tree"
    # A checkout made under umask 077 (files 0600, folders 0700); generate.py rewrites no file of it.
    assert subprocess.run([sys.executable, str(ROOT / "generate.py"), "--out", str(tree)],
                          capture_output=True).returncode == 0
    for path in [tree, *tree.rglob("*")]:
        path.chmod(0o700 if path.is_dir() else 0o600)
    _secret(tree)
    proc = subprocess.run([sys.executable, "-c", UMASK_077, str(ROOT), str(tree), "root" if root else "user"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    run = tree / "run" / "docker"
    mounts = {   # container user -> the host folders compose mounts for it (docker-compose.yml)
        "prometheus": [run / "prometheus" / "config", run / "prometheus" / "rules", run / "prometheus" / "secrets"],
        "alertmanager": [run / "alertmanager", run / "secrets"],
        "grafana": [tree / n.GRAFANA_PROVISIONING_DIR, tree / n.DASHBOARDS_DIR],
    }
    for service, folders in mounts.items():
        uid, gid = docker_mode.CONTAINER_USERS[service]
        for folder in folders:
            expected = all_files(folder)
            assert expected, folder
            got = read_as(folder, uid, gid)
            assert got == {"readable": expected, "errors": []}, f"{service} (uid {uid}) in {folder}"
            assert computed_readable(folder, uid, gid), f"{service} (uid {uid}) in {folder}"
    # Another local user (uid 1000) reads no secret: not the filled-in config, not the copies.
    for folder in (run / "prometheus", run / "alertmanager", run / "secrets"):
        if root:
            assert not computed_readable(folder, 1000, 1000)
            assert read_as(folder, 1000, 1000)["readable"] == []
        assert stat.S_IMODE((tree / "run").stat().st_mode) == 0o700      # and cannot enter run/ at all
        assert not files.can_read(tree / "run", 1000, 1000)
    # Generated files: exactly 0644 in 0755 folders, whatever the umask and the checkout left.
    for rel in (n.PROMETHEUS_CONFIG, n.GRAFANA_DATASOURCES, n.RULES_DIR):
        path = tree / rel
        assert stat.S_IMODE(path.stat().st_mode) == (0o755 if path.is_dir() else 0o644), rel


def test_a_folder_grafana_cannot_read_is_reported_in_one_line(tmp_path):
    tree = tmp_path / "tree"
    assert subprocess.run([sys.executable, str(ROOT / "generate.py"), "--out", str(tree)],
                          capture_output=True).returncode == 0
    docker_mode.check_readable(tree)
    hidden = tree / n.DASHBOARDS_DIR
    hidden.chmod(0o700)
    with pytest.raises(StackError) as error:
        docker_mode.check_readable(tree)
    message = str(error.value)
    assert message.startswith(f"grafana (uid 472) cannot read {hidden} (mode 700): run `make generate`")
    assert "\n" not in message


def _source_stage_script(dockerfile: str) -> str:
    """The shell of the source stage's RUN, continuation lines joined as Docker joins them."""
    stage = dockerfile[dockerfile.index(" AS source"):dockerfile.index("\nFROM ${PYTHON_IMAGE}\n")]
    run = stage[stage.index("\nRUN ") + 5:]
    return " ".join(line.rstrip().removesuffix("\\") for line in run.splitlines() if line.strip())


def test_the_exporter_image_gives_its_sources_explicit_modes(tmp_path):
    """The image's sources come from the build context with the checkout's modes (0600 under umask
    077). The source stage's own script, run here on such a context under umask 077, leaves files the
    image's USER 10001 can read; the runtime stage copies them owned by root (not writable by it)."""
    text = (ROOT / "exporter" / "Dockerfile").read_text()
    context = tmp_path / "context"
    shutil.copytree(ROOT / "exporter", context, ignore=shutil.ignore_patterns("__pycache__", "Dockerfile*"))
    for path in [context, *context.rglob("*")]:
        path.chmod(0o700 if path.is_dir() else 0o600)
    script = _source_stage_script(text).replace("/context", str(context)).replace("/out", str(tmp_path / "out"))
    proc = subprocess.run(["sh", "-c", f"umask 077; {script}"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    package = tmp_path / "out" / "exporter"
    uid, gid = docker_mode.CONTAINER_USERS["exporter"]
    expected = all_files(package)
    assert "__init__.py" in expected and "catalog.json" in expected
    assert read_as(package, uid, gid) == {"readable": expected, "errors": []}
    assert {stat.S_IMODE(p.stat().st_mode) for p in package.iterdir()} == {0o644}
    assert "COPY --from=source --chown=root:root /out/exporter /app/exporter" in text
    assert f"USER {uid}:{gid}" in text


@pytest.mark.parametrize("root", [True, False], ids=["as-root", "as-a-user"])
def test_prepare_writes_the_web_configs_and_password_files_the_containers_mount(settings, root):
    _stack(settings, [], root).prepare()
    prom, am = settings.docker_dir / "prometheus" / "secrets", settings.docker_dir / "alertmanager"
    for folder, secret in ((prom, "prom-pass-1"), (am, "am-pass-2")):
        web = folder / "web.yml"
        hashed = yaml.safe_load(web.read_text())["basic_auth_users"]["admin"]
        assert bcrypt.checkpw(secret.encode(), hashed.encode()) and secret not in web.read_text()
    assert (prom / "prometheus_password").read_text() == "prom-pass-1"
    assert (prom / "alertmanager_password").read_text() == "am-pass-2"
    assert (am / "alertmanager_password").read_text() == "am-pass-2"
    for path in (*prom.iterdir(), am / "alertmanager_password"):
        st = path.stat()
        if root:       # the containers run as nobody: theirs alone
            assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o600, 65534, 65534), path
        else:          # cannot chown: readable by nobody through the mount, behind run/'s 0700
            assert stat.S_IMODE(st.st_mode) == 0o644, path
    # The hash is kept while the password matches, so a second `up` leaves the file alone.
    before = (prom / "web.yml").read_text()
    _stack(settings, [], root).prepare()
    assert (prom / "web.yml").read_text() == before
    # A new password in .env: a new hash, and the last good copy keeps the files the service accepted.
    settings.environ["PROM_WEB_PASSWORD"] = "prom-pass-3"
    stack = _stack(settings, [], root)
    stack.mounted("prometheus").keep_as_good()
    stack.prepare()
    hashed = yaml.safe_load((prom / "web.yml").read_text())["basic_auth_users"]["admin"]
    assert bcrypt.checkpw(b"prom-pass-3", hashed.encode())
    assert (prom / "prometheus_password").read_text() == "prom-pass-3"
    good = settings.docker_dir / "last-good" / "prometheus" / "secrets" / "prometheus_password"
    assert good.read_text() == "prom-pass-1"
