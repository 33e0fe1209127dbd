"""Docker mode's reload at parity with native mode, with the real Prometheus and promtool/amtool (no
engine needed): the configs a container reads live in a mounted folder; a config Prometheus rejects
is replaced there by the last good one, so a restart (what `restart: unless-stopped` does after a
crash or a reboot) runs the last good files instead of crash-looping on the rejected ones."""
from __future__ import annotations

import pytest

from stackctl import files, health, processes
from stackctl.mounted import Mounted, apply
from stackctl.native import print_targets, reload_service
from stackctl.settings import Settings
from tests.conftest import ROOT, need_tools

GOOD_RULE = """groups:
  - name: {name}
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
"""
BROKEN_RULE = """groups:
  - name: broken
    rules:
      - alert: Broken
        expr: sum(up
"""


def _config(folder, port: int) -> str:
    return (f"global: {{scrape_interval: 1s, evaluation_interval: 1s}}\n"
            f"rule_files: ['{folder}/rules/*.rules.yml']\n"
            f"scrape_configs:\n  - job_name: self\n    static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n")


@pytest.fixture
def prometheus(tmp_path):
    """A real Prometheus reading its config and rules from a mounted folder, as the container does."""
    need_tools("prometheus", "promtool")
    port = health.free_port()
    folder = tmp_path / "run" / "docker" / "prometheus"
    mounted = Mounted("prometheus", folder, tmp_path / "run" / "docker" / "last-good" / "prometheus",
                      files.Access.public(), "config/prometheus.yml",
                      mounts=((str(folder / "rules"), "rules"),))
    good = {"config/prometheus.yml": _config(folder, port), "rules/a.rules.yml": GOOD_RULE.format(name="good")}
    mounted.install(good)
    settings = Settings.from_environment(ROOT, dotenv=False, environ={"PROM_PORT": str(port)}, run_dir=tmp_path)
    argv = ["prometheus", f"--config.file={folder / 'config' / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
            "--web.enable-lifecycle"]
    started = []

    def start():
        record = processes.start("prometheus", argv, pids_dir=tmp_path / "pids", log_path=tmp_path / "prom.log")
        started.append(record)
        ok = health.wait_until(lambda: health.request(settings.url("prometheus", "/-/ready"), timeout=1).ok
                               or not processes.alive(record), 60)
        return ok and processes.alive(record)

    assert start(), processes.tail(tmp_path / "prom.log")
    mounted.keep_as_good()                      # what `make up` does once the containers are healthy
    try:
        yield settings, mounted, good, start, started
    finally:
        for record in started:
            processes.stop(record)


def _groups(settings) -> list[str]:
    data = health.get_json(settings.url("prometheus", "/api/v1/rules")) or {}
    return [g["name"] for g in data.get("data", {}).get("groups", [])]


def test_a_rejected_reload_puts_the_last_good_files_back_and_a_restart_runs_them(prometheus, tmp_path):
    settings, mounted, good, start, started = prometheus
    lines: list[str] = []
    broken = dict(good, **{"rules/a.rules.yml": BROKEN_RULE, "rules/b.rules.yml": GOOD_RULE.format(name="new")})
    # No promtool on a Docker-only host: the new files are installed and Prometheus judges them.
    accepted = apply(mounted, broken, out=lines.append, validate=False,
                     reload=lambda: reload_service(settings, "prometheus", lines.append))
    assert not accepted
    text = "\n".join(lines)
    assert "prometheus: config REJECTED (HTTP 500), still running the previous one" in text
    assert f"prometheus: put the last good files back into {mounted.folder}" in text
    assert mounted.current() == good                         # b.rules.yml removed, a.rules.yml restored
    assert _groups(settings) == ["good"]
    # The container restarts (crash, reboot, `docker compose restart`): it starts on the good files.
    processes.stop(started[-1])
    assert start(), processes.tail(tmp_path / "prom.log")
    assert _groups(settings) == ["good"]


def test_promtool_rejects_a_broken_config_before_it_is_installed(prometheus):
    settings, mounted, good, _, _ = prometheus
    before = {p: p.stat().st_mtime_ns for p in mounted.folder.rglob("*") if p.is_file()}
    lines: list[str] = []
    reloads = []
    accepted = apply(mounted, dict(good, **{"rules/a.rules.yml": BROKEN_RULE}), out=lines.append,
                     reload=lambda: reloads.append(1) or True)
    assert not accepted and reloads == []
    assert lines[0].startswith("prometheus: new config REJECTED by promtool, not installed; still running the "
                               "previous one:")
    assert "unclosed left parenthesis" in "\n".join(lines)
    assert {p: p.stat().st_mtime_ns for p in mounted.folder.rglob("*") if p.is_file()} == before


def test_an_accepted_reload_becomes_the_last_good_copy_and_status_prints_the_targets(prometheus):
    settings, mounted, good, _, _ = prometheus
    lines: list[str] = []
    new = dict(good, **{"rules/a.rules.yml": GOOD_RULE.format(name="renamed")})
    assert apply(mounted, new, out=lines.append, reload=lambda: reload_service(settings, "prometheus", lines.append))
    assert lines == ["prometheus: reloaded"]
    assert files.read_tree(mounted.last_good) == new and mounted.current() == new
    assert _groups(settings) == ["renamed"]
    # `make status` (both modes) prints the target summary.
    assert health.wait_until(lambda: health.targets(settings.url("prometheus"))
                             and all(t["health"] == "up" for t in health.targets(settings.url("prometheus"))), 30)
    printed: list[str] = []
    assert print_targets(settings, printed.append)
    assert printed == ["prometheus targets: 1/1 up"]


def test_amtool_rejects_a_broken_alertmanager_config_before_it_is_installed(tmp_path):
    need_tools("amtool")
    mounted = Mounted("alertmanager", tmp_path / "alertmanager", tmp_path / "last-good",
                      files.Access.secret_for(65534, 65534, root=False), "alertmanager.yml")
    good = {"alertmanager.yml": "route: {receiver: x}\nreceivers: [{name: x}]\n"}
    assert apply(mounted, good, out=lambda line: None, reload=lambda: True)
    lines: list[str] = []
    assert not apply(mounted, {"alertmanager.yml": "route: {receiver: missing}\nreceivers: [{name: x}]\n"},
                     out=lines.append, reload=lambda: True)
    assert lines[0].startswith("alertmanager: new config REJECTED by amtool, not installed")
    assert 'undefined receiver "missing"' in lines[0]
    assert mounted.current() == good == files.read_tree(mounted.last_good)
