"""stackctl's parts, offline and fast: .env, secrets, settings, PID tracking, port checks, the CLI."""
from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from stackgen.load import load_stack
from stackctl import amconfig, envfile, processes
from stackctl.native import NativeStack
from stackctl.settings import Settings, StackError, read_env_file
from tests.conftest import ROOT
from tests.stack import procfs

AM_CONFIG = """\
global:
  resolve_timeout: 5m
route:
  receiver: oncall
receivers:
  - name: oncall
    telegram_configs:
      - chat_id: -100
        bot_token: ${TELEGRAM_BOT_TOKEN}
    webhook_configs:
      - url: http://127.0.0.1:5001/alerts
  - name: chat
    slack_configs:
      - channel: '#x'
        api_url_file: /etc/alertmanager/secrets/slack_webhook_url
"""


# -- .env ------------------------------------------------------------------------
def test_env_file_is_created_private_with_a_random_password(tmp_path):
    first, created = envfile.ensure(tmp_path / ".env")
    assert created
    assert stat.S_IMODE((tmp_path / ".env").stat().st_mode) == 0o600
    assert len(first) >= 20 and first != "admin"
    assert f"GF_SECURITY_ADMIN_PASSWORD={first}\n" in (tmp_path / ".env").read_text()
    assert envfile.ensure(tmp_path / ".env") == (first, [])          # kept on the next run
    assert envfile.ensure(tmp_path / "other.env")[0] != first         # random each machine


def test_env_file_without_password_gets_one_and_keeps_its_settings(tmp_path):
    (tmp_path / ".env").write_text("PROM_PORT=19090")
    password, created = envfile.ensure(tmp_path / ".env")
    assert created
    values = read_env_file(tmp_path / ".env")
    assert (tmp_path / ".env").read_text().startswith(f"PROM_PORT=19090\nGF_SECURITY_ADMIN_PASSWORD={password}\n")
    assert set(values) == {"PROM_PORT", *envfile.GENERATED}
    assert len({values[name] for name in envfile.GENERATED}) == 3        # three different random passwords


def test_env_file_gets_the_web_passwords_and_keeps_the_grafana_one(tmp_path):
    (tmp_path / ".env").write_text("GF_SECURITY_ADMIN_PASSWORD=kept-as-it-is\n")
    assert envfile.ensure(tmp_path / ".env") == ("kept-as-it-is", ["PROM_WEB_PASSWORD", "AM_WEB_PASSWORD"])
    values = read_env_file(tmp_path / ".env")
    assert len(values["PROM_WEB_PASSWORD"]) >= 20 and len(values["AM_WEB_PASSWORD"]) >= 20
    assert envfile.ensure(tmp_path / ".env") == ("kept-as-it-is", [])


def test_a_loose_env_file_is_tightened_with_a_warning(tmp_path, capsys):
    path = tmp_path / ".env"
    path.write_text("GF_SECURITY_ADMIN_PASSWORD=abcdefgh12345\n")
    path.chmod(0o644)
    envfile.ensure(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert f"warning: {path} was mode 644 (readable by other users) and holds passwords: made it 600" in \
        capsys.readouterr().err
    assert not envfile.tighten(path)                                        # already private: silent


def test_the_default_admin_password_is_refused(tmp_path):
    (tmp_path / ".env").write_text("GF_SECURITY_ADMIN_PASSWORD=admin\n")
    with pytest.raises(StackError, match="GF_SECURITY_ADMIN_PASSWORD is 'admin'"):
        envfile.ensure(tmp_path / ".env")


# -- settings ----------------------------------------------------------------------
def test_ports_come_from_the_environment_then_env_file_then_defaults(tmp_path):
    (tmp_path / ".env").write_text("PROM_PORT=19090\nAM_PORT=19093\n")
    s = Settings.from_environment(tmp_path, environ={"AM_PORT": "29093"})
    assert s.ports == {"prometheus": 19090, "alertmanager": 29093, "exporter": 9100, "grafana": 3000}


def test_a_bad_port_names_the_variable(tmp_path):
    with pytest.raises(StackError, match="EXPORTER_PORT='91OO' is not a TCP port"):
        Settings.from_environment(tmp_path, environ={"EXPORTER_PORT": "91OO"})


# -- Alertmanager's running config --------------------------------------------------
def _config(text, **kwargs):
    out, dropped = amconfig.running_config(text, **kwargs)
    return yaml.safe_load(out), [d.line() for d in dropped]


def test_a_missing_secret_drops_only_that_integration_with_one_clear_line(tmp_path):
    config, lines = _config(AM_CONFIG, environ={}, secrets_dir=tmp_path, native=True)
    oncall, chat = config["receivers"]
    assert "telegram_configs" not in oncall and oncall["webhook_configs"]      # the webhook stays
    assert chat == {"name": "chat"}
    assert lines[0].startswith("alertmanager: receiver oncall: telegram integration left out: "
                               "TELEGRAM_BOT_TOKEN is not set")
    assert lines[1] == (f"alertmanager: receiver chat: slack integration left out: the secret file "
                        f"{tmp_path / 'slack_webhook_url'} does not exist "
                        "(api_url_file: /etc/alertmanager/secrets/slack_webhook_url)")


def test_secrets_are_filled_from_the_environment_or_a_file(tmp_path):
    (tmp_path / "slack_webhook_url").write_text("https://hooks.example/T0")
    (tmp_path / "token").write_text("123:abc#def\n")
    config, lines = _config(AM_CONFIG, environ={"TELEGRAM_BOT_TOKEN_FILE": str(tmp_path / "token")},
                            secrets_dir=tmp_path, native=True)
    assert lines == []
    assert config["receivers"][0]["telegram_configs"][0]["bot_token"] == "123:abc#def"
    # natively, the container path points at the local secrets folder
    assert config["receivers"][1]["slack_configs"][0]["api_url_file"] == str(tmp_path / "slack_webhook_url")


def test_with_docker_the_secret_file_keeps_its_container_path(tmp_path):
    (tmp_path / "slack_webhook_url").write_text("https://hooks.example/T0")
    config, _ = _config(AM_CONFIG, environ={"TELEGRAM_BOT_TOKEN": "t"}, secrets_dir=tmp_path, native=False)
    assert config["receivers"][1]["slack_configs"][0]["api_url_file"] == \
        "/etc/alertmanager/secrets/slack_webhook_url"


def test_strict_secrets_refuses_to_start(tmp_path):
    expected = r"(?s)STRICT_SECRETS=1: refusing.*receiver oncall \(telegram\): TELEGRAM_BOT_TOKEN is not set"
    with pytest.raises(StackError, match=expected):
        amconfig.running_config(AM_CONFIG, environ={}, secrets_dir=tmp_path, native=True, strict=True)


def test_the_generated_config_runs_without_any_secret(tmp_path):
    from stackgen.render import alertmanager_config
    stack = load_stack(ROOT / "spec.yaml")
    text, dropped = amconfig.running_config(alertmanager_config.render_native(stack), environ={},
                                            secrets_dir=tmp_path, native=True)
    assert "${" not in text.split("\n", 1)[1]
    assert {d.receiver for d in dropped} == {r.name for r in stack.routing.receivers
                                             if r.telegram or r.slack or r.email}
    if shutil.which("amtool"):
        (tmp_path / "am.yml").write_text(text)
        proc = subprocess.run(["amtool", "check-config", str(tmp_path / "am.yml")], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr


# -- PID tracking --------------------------------------------------------------------
def test_down_stops_the_process_group_and_never_a_recycled_pid(tmp_path):
    # A shell that starts a child of its own: stopping the group stops both.
    record = processes.start("worker", ["sh", "-c", "sleep 60 & wait"], pids_dir=tmp_path / "pids",
                             log_path=tmp_path / "worker.log")
    time.sleep(0.2)
    assert processes.alive(record)
    assert processes.read(tmp_path / "pids", "worker") == record
    # The same pid with another start time is another program: left alone.
    impostor = processes.Record("worker", record.pid, "1", record.argv, record.log)
    assert not processes.alive(impostor)
    assert processes.stop(impostor) == "not running"
    assert processes.alive(record)
    assert len(procfs.group_members(record.pid)) == 2
    assert processes.stop(record, timeout=5) == "stopped"
    assert not processes.alive(record)
    assert procfs.group_members(record.pid) == []


def test_a_process_that_ignores_sigterm_is_killed(tmp_path):
    record = processes.start("stubborn", ["sh", "-c", "trap '' TERM; while :; do sleep 0.1; done"],
                             pids_dir=tmp_path, log_path=tmp_path / "stubborn.log")
    time.sleep(0.2)
    assert processes.stop(record, timeout=0.5).startswith("killed")
    assert not processes.alive(record)


# -- ports and the CLI ----------------------------------------------------------------
def test_a_taken_port_fails_with_the_port_and_the_variable_to_change(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        settings = Settings.from_environment(ROOT, dotenv=False, environ={"EXPORTER_PORT": str(port)}, run_dir=tmp_path)
        native = NativeStack(settings, load_stack(ROOT / "spec.yaml"), out=lambda line: None)
        with pytest.raises(StackError) as error:
            native._check_ports(["exporter"])
    message = str(error.value)
    assert f"port {port} (exporter) is already taken on 127.0.0.1" in message
    assert f"EXPORTER_PORT={port + 1} make up" in message


def _cli(tmp_path, *args, env=None):
    environ = {k: v for k, v in os.environ.items() if not k.endswith("_PORT")}
    environ.update({"STACK_MODE": "native", "STACK_RUN_DIR": str(tmp_path / "run"),
                    "STACK_SPEC": str(ROOT / "spec.yaml"), "PYTHONPATH": str(ROOT)}, **(env or {}))
    return subprocess.run([sys.executable, "-m", "stackctl", "--root", str(tmp_path), *args], cwd=ROOT,
                          env=environ, capture_output=True, text=True, timeout=60)


def test_cli_up_on_a_taken_port_says_so_and_starts_nothing(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        proc = _cli(tmp_path, "up", env={"EXPORTER_PORT": str(port)})
    assert proc.returncode == 1
    assert f"error: port {port} (exporter) is already taken" in proc.stderr
    # The holder (this test process) is named from /proc.
    comm = Path(f"/proc/{os.getpid()}/comm").read_text().strip()
    assert f"on 127.0.0.1 by {comm} (pid {os.getpid()}" in proc.stderr
    assert f"EXPORTER_PORT={port + 1}" in proc.stderr
    assert "wrote random passwords into" in proc.stdout and stat.S_IMODE((tmp_path / ".env").stat().st_mode) == 0o600
    assert not list((tmp_path / "run" / "pids").glob("*.json")) if (tmp_path / "run" / "pids").exists() else True


def test_cli_status_and_down_when_nothing_runs(tmp_path):
    status = _cli(tmp_path, "status")
    assert status.returncode == 0, status.stdout + status.stderr     # stopped is a state, not a failure
    assert "the native stack is not running" in status.stdout
    down = _cli(tmp_path, "down")
    assert down.returncode == 0
    assert "nothing to stop" in down.stdout


# -- Grafana, natively, where a local install exists ------------------------------------------------
def test_a_local_grafana_runs_with_local_paths_urls_and_the_password_from_env(tmp_path, monkeypatch):
    home = tmp_path / "grafana"
    (home / "bin").mkdir(parents=True)
    (home / "conf").mkdir()
    (home / "conf" / "defaults.ini").write_text("")
    binary = home / "bin" / "grafana"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    monkeypatch.setenv("PATH", f"{home / 'bin'}:{os.environ['PATH']}")
    settings = Settings.from_environment(ROOT, dotenv=False, run_dir=tmp_path / "run",
                                         environ={"GF_SECURITY_ADMIN_PASSWORD": "from-dot-env",
                                                  "PROM_WEB_PASSWORD": "prom-web", "AM_WEB_PASSWORD": "am-web"})
    native = NativeStack(settings, load_stack(ROOT / "spec.yaml"), out=lambda line: None)
    argv, env = native.commands()["grafana"]
    assert argv == [str(binary), "server", "--homepath", str(home)]
    assert env["GF_SECURITY_ADMIN_PASSWORD"] == "from-dot-env"
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert env["GF_SERVER_HTTP_ADDR"] == "127.0.0.1" and env["GF_SERVER_HTTP_PORT"] == str(settings.ports["grafana"])
    assert env["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"].startswith(str(ROOT / "dashboards") + "/")
    native.write_grafana_provisioning()
    provisioning = Path(env["GF_PATHS_PROVISIONING"])
    datasources = (provisioning / "datasources" / "datasources.yml").read_text()
    assert f"url: http://127.0.0.1:{settings.ports['prometheus']}\n" in datasources
    assert f"url: http://127.0.0.1:{settings.ports['alertmanager']}\n" in datasources
    # The datasources log in with the web passwords: Grafana expands the variables from its environment.
    assert env["PROM_WEB_PASSWORD"] == "prom-web" and env["AM_WEB_PASSWORD"] == "am-web"
    sources = {d["type"]: d for d in yaml.safe_load(datasources)["datasources"]}
    assert sources["prometheus"]["basicAuth"] is True and sources["prometheus"]["basicAuthUser"] == "admin"
    assert sources["prometheus"]["secureJsonData"] == {"basicAuthPassword": "${PROM_WEB_PASSWORD}"}
    assert sources["alertmanager"]["secureJsonData"] == {"basicAuthPassword": "${AM_WEB_PASSWORD}"}
    assert "prom-web" not in datasources and "am-web" not in datasources
    providers = yaml.safe_load((provisioning / "dashboards" / "dashboards.yml").read_text())["providers"]
    assert {p["options"]["path"] for p in providers} == {str(ROOT / "dashboards" / p["name"]) for p in providers}
    # Without a password there is no Grafana: never its default admin/admin.
    bare = NativeStack(Settings.from_environment(ROOT, dotenv=False, environ={}, run_dir=tmp_path / "run"),
                       load_stack(ROOT / "spec.yaml"))
    assert "grafana" not in bare.commands()


# -- a run/ folder someone else owns ------------------------------------------------------------
NOBODY = 65534


def _cli_as_nobody(tmp_path, *args):
    """The CLI as an unprivileged user (uid 65534), with the system Python (the venv lives under /root)."""
    python = shutil.which("python3", path="/usr/bin:/bin")
    if os.geteuid() != 0 or python is None:
        pytest.skip("needs root to run the CLI as another user")
    environ = {"PATH": "/usr/bin:/bin", "STACK_MODE": "native", "STACK_RUN_DIR": str(tmp_path / "run"),
               "STACK_SPEC": str(ROOT / "spec.yaml"), "HOME": str(tmp_path),
               # The project, then this interpreter's packages (the venv's python may sit under /root).
               "PYTHONPATH": os.pathsep.join([str(ROOT), *(p for p in sys.path if p.endswith("site-packages"))])}
    probe = subprocess.run([python, "-c", "import stackgen.load, stackctl.cli"], env=environ, cwd=tmp_path,
                           user=NOBODY, group=NOBODY, extra_groups=[], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"the system Python cannot import the project as uid {NOBODY}: {probe.stderr.strip()[-200:]}")
    return subprocess.run([python, "-m", "stackctl", "--root", str(tmp_path), *args], cwd=tmp_path, env=environ,
                          user=NOBODY, group=NOBODY, extra_groups=[], capture_output=True, text=True, timeout=60)


@pytest.fixture
def nobody_home():
    """A folder uid 65534 owns and can reach (pytest's tmp_path is inside a 0700 folder of root)."""
    top = Path(tempfile.mkdtemp(prefix="stackctl-nobody-"))
    top.chmod(0o755)
    home = top / "home"
    home.mkdir()
    os.chown(home, NOBODY, NOBODY)
    try:
        yield home
    finally:
        shutil.rmtree(top)


def test_a_root_owned_run_folder_is_reported_in_one_line(nobody_home):
    (nobody_home / "run" / "docker" / "alertmanager").mkdir(parents=True)     # as `docker compose up` leaves it
    proc = _cli_as_nobody(nobody_home, "up")
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr == (f"error: {nobody_home / 'run'} is owned by uid 0 and not writable by you (uid 65534); "
                           "a `docker compose up` or `sudo make up` run by hand creates it as root. Fix: sudo chown -R "
                           f"$(id -u):$(id -g) {nobody_home / 'run'} (or sudo rm -rf {nobody_home / 'run'}), "
                           "then make up\n")


def test_a_permission_error_deeper_in_run_is_one_line_too(nobody_home):
    run = nobody_home / "run"
    run.mkdir()
    os.chown(run, NOBODY, NOBODY)
    (run / "prometheus").mkdir()                  # root's, inside a run/ that is ours
    proc = _cli_as_nobody(nobody_home, "up")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1
    assert proc.stderr.startswith(f"error: {run / 'prometheus'} is owned by uid 0 and not writable by you")


def test_no_room_to_write_is_one_line_not_a_traceback(tmp_path):
    if not shutil.which("prlimit"):
        pytest.skip("needs prlimit (util-linux)")
    # Writes past RLIMIT_FSIZE fail with EFBIG, as they fail with ENOSPC on a full disk.
    (tmp_path / ".env").write_text("".join(f"{name}=pw-{i}-abcdefghijklmnop\n"
                                           for i, name in enumerate(envfile.GENERATED)))
    (tmp_path / ".env").chmod(0o600)
    environ = {k: v for k, v in os.environ.items() if not k.endswith("_PORT")}
    environ.update({"STACK_MODE": "native", "STACK_RUN_DIR": str(tmp_path / "run"),
                    "STACK_SPEC": str(ROOT / "spec.yaml"), "PYTHONPATH": str(ROOT)})
    for name in ("PROM_PORT", "AM_PORT", "EXPORTER_PORT", "GRAFANA_PORT"):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            environ[name] = str(probe.getsockname()[1])
    proc = subprocess.run(["prlimit", "--fsize=64", sys.executable, "-m", "stackctl", "--root", str(tmp_path), "up"],
                          cwd=ROOT, env=environ, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: no room to write ("), proc.stderr
    assert "File too large. Free some space (df -h " in lines[0]


# -- who can get in, cold start ----------------------------------------------------------------------
def test_native_prometheus_and_alertmanager_run_behind_basic_auth_on_localhost(tmp_path):
    settings = Settings.from_environment(ROOT, dotenv=False, run_dir=tmp_path / "run",
                                         environ={"PROM_WEB_PASSWORD": "p" * 20, "AM_WEB_PASSWORD": "a" * 20})
    commands = NativeStack(settings, load_stack(ROOT / "spec.yaml"), out=lambda line: None).commands()
    run = settings.run_dir.resolve()
    for service in ("prometheus", "alertmanager"):
        argv = commands[service][0]
        assert f"--web.config.file={run / service / 'web.yml'}" in argv
        assert f"--web.listen-address=127.0.0.1:{settings.ports[service]}" in argv
    assert "--web.enable-lifecycle" in commands["prometheus"][0]


def test_resend_delay_is_below_the_evaluation_interval():
    from stackctl.native import duration_ms, resend_delay
    assert duration_ms("1h30m") == 5_400_000 and duration_ms("500ms") == 500
    assert resend_delay("15s") == "7500ms" and resend_delay("1s") == "500ms"
    assert duration_ms(resend_delay("2m")) < duration_ms("2m")


def test_the_shipped_spec_delivers_the_first_watchdog_within_30s_of_up():
    """Worst case: the first evaluation comes before Prometheus has discovered Alertmanager (its
    discovery syncs after 5 s), so the Watchdog reaches Alertmanager one evaluation later (the resend
    delay is below the interval); then the Watchdog route's group_wait."""
    from stackctl.native import duration_ms, resend_delay
    stack = load_stack(ROOT / "spec.yaml")
    config = yaml.safe_load((ROOT / "stack" / "alertmanager" / "alertmanager.yml").read_text())
    route = next(r for r in config["route"]["routes"] if r.get("matchers") == ['alertname="Watchdog"'])
    evaluation = duration_ms(stack.glob.evaluation_interval)
    assert duration_ms(resend_delay(stack.glob.evaluation_interval)) < evaluation
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["prometheus"]["command"]
    assert f"--rules.alert.resend-delay={resend_delay(stack.glob.evaluation_interval)}" in compose
    worst = 5_000 + evaluation + duration_ms(route.get("group_wait", config["route"]["group_wait"]))
    assert worst <= 30_000, f"first Watchdog up to {worst / 1000:g}s after start"


# -- the exporter beside the stack -------------------------------------------------------------------
@pytest.mark.parametrize("target, source, runs", [("bot:9100", "", False), ("exporter:9100", "", True),
                                                  ("exporter:9100", "off", False)])
def test_the_exporter_runs_natively_only_when_the_spec_scrapes_it(tmp_path, target, source, runs):
    from tests.generator.hostile import FIXTURE
    spec = tmp_path / "spec.yaml"
    spec.write_text(FIXTURE.read_text().replace('"bot:9100"', f'"{target}"', 1))
    environ = {"EXPORTER_SOURCE": source} if source else {}
    settings = Settings.from_environment(tmp_path, dotenv=False, run_dir=tmp_path / "run", environ=environ)
    commands = NativeStack(settings, load_stack(spec), out=lambda line: None).commands()
    assert ("exporter" in commands) is runs
