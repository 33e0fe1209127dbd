"""No secret value in the logs: the relay a native service runs under, and `make logs`.

Real processes: the relay (python -m stackctl.redact) runs real commands; nothing is simulated."""
from __future__ import annotations

import stat
import time
import urllib.parse

from stackgen.load import load_stack
from stackctl import processes, redact
from stackctl.native import NativeStack
from stackctl.settings import Settings
from tests.conftest import ROOT
from tests.stack import procfs

TOKEN = "123456789:AAEhBP0av28gT-zx_yz"


def test_every_form_of_a_secret_is_masked_and_short_values_are_not():
    r = redact.Redactor([TOKEN, "abc", "", "  padded-secret \n"])
    line = (f'msg="Notify failed" err="Post \\"https://api.telegram.org/bot{TOKEN}/sendMessage\\"" '
            f"q={urllib.parse.quote(TOKEN, safe='')} p=padded-secret abc")
    assert r.text(line) == ('msg="Notify failed" err="Post \\"https://api.telegram.org/bot***/sendMessage\\"" '
                            "q=*** p=*** abc")
    assert r.data(line.encode()) == r.text(line).encode()
    assert not redact.Redactor(["ab", None])


def test_the_values_come_from_env_the_spec_secrets_and_the_secrets_folder(tmp_path):
    (tmp_path / ".env").write_text("GF_SECURITY_ADMIN_PASSWORD=grafana-pass\nPROM_PORT=19090\n"
                                   "MY_WEBHOOK=https://hooks.example/abc\nBIND_ADDR=127.0.0.1\n")
    (tmp_path / "token").write_text(TOKEN + "\n")
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    (secrets_dir / "slack_webhook_url").write_text("https://hooks.slack.example/T0/B0\n")
    settings = Settings.from_environment(tmp_path, environ={"TELEGRAM_BOT_TOKEN_FILE": str(tmp_path / "token"),
                                                            "PROM_WEB_PASSWORD": "prom-pass"},
                                         spec=ROOT / "spec.yaml", secrets_dir=secrets_dir)
    values = redact.stack_secrets(settings, load_stack(ROOT / "spec.yaml"))
    assert values == sorted(["grafana-pass", "https://hooks.example/abc", TOKEN, "prom-pass",
                             "https://hooks.slack.example/T0/B0"])


def test_the_relay_masks_the_output_keeps_the_log_private_and_passes_the_exit_code(tmp_path):
    log = tmp_path / "logs" / "svc.log"
    log.parent.mkdir()
    log.write_text("from an earlier run\n")
    log.chmod(0o644)
    record = processes.start("svc", ["sh", "-c", f"echo 'POST https://api.telegram.org/bot{TOKEN}/x failed' >&2; "
                                                 "echo done; exit 3"],
                             pids_dir=tmp_path / "pids", log_path=log, redact=[TOKEN])
    deadline = time.monotonic() + 10
    while processes.exited(record) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes.exited(record) == 3
    text = log.read_text()
    assert TOKEN not in text and "POST https://api.telegram.org/bot***/x failed\ndone\n" in text
    assert text.startswith("from an earlier run\n")
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    # The values reach the relay through a pipe: its own part of the command line holds none.
    relay_argv = record.argv[:record.argv.index("--")]
    assert "--secrets-fd" in relay_argv and TOKEN not in " ".join(relay_argv)


def test_stop_ends_the_relay_and_the_service_together(tmp_path):
    record = processes.start("svc", ["sleep", "60"], pids_dir=tmp_path, log_path=tmp_path / "svc.log",
                             redact=[TOKEN])
    deadline = time.monotonic() + 10
    while len(procfs.group_members(record.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(procfs.group_members(record.pid)) == 2     # the relay and sleep, one process group
    assert processes.stop(record, timeout=5) == "stopped"
    assert procfs.group_members(record.pid) == []


def test_make_logs_masks_what_a_log_already_holds(tmp_path):
    settings = Settings.from_environment(ROOT, dotenv=False, run_dir=tmp_path / "run", secrets_dir=tmp_path / "none",
                                         environ={"AM_WEB_PASSWORD": "am-web-password", "TELEGRAM_BOT_TOKEN": TOKEN})
    settings.logs_dir.mkdir(parents=True)
    (settings.logs_dir / "alertmanager.log").write_text(f"bot{TOKEN}/sendMessage\nuser admin:am-web-password\n")
    lines: list[str] = []
    assert NativeStack(settings, load_stack(ROOT / "spec.yaml"), out=lines.append).logs(follow=False) == 0
    shown = "\n".join(lines)
    assert "bot***/sendMessage" in shown and "admin:***" in shown
    assert TOKEN not in shown and "am-web-password" not in shown
