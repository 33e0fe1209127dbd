"""The stack without Docker: Prometheus, Alertmanager, the exporter (and Grafana where installed)
as local processes on 127.0.0.1, with their configs, data, logs and PID files under run/.
"""
from __future__ import annotations

import base64
import os
import re
import shutil
import sys
import time
from pathlib import Path

from stackgen import conventions as n
from stackgen.model.stack import Stack
from stackgen.render import alertmanager_config, grafana_provisioning, prometheus_config
from stackgen.render.builders import prometheus as prometheus_yml   # the config as data
from stackctl import amconfig, files, health, holder, processes, redact, report, staged, webauth
from stackctl import logview
from stackctl.settings import EXPORTER_OFF, LOCALHOST, ROOT, SERVICES, START_ORDER, Settings, StackError, read_env_file

PROMETHEUS_BINARIES = ("prometheus",)
ALERTMANAGER_BINARIES = ("prometheus-alertmanager", "alertmanager")   # Debian's name, upstream's name
GRAFANA_BINARIES = ("grafana", "grafana-server")
INSTALL_HINT = ("install Debian's packages (sudo apt-get install --no-install-recommends prometheus "
                "prometheus-alertmanager, or `make tools` as root), or start a Docker engine")


def _which(names: tuple[str, ...]) -> str | None:
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    return None


def grafana_home(binary: str) -> Path | None:
    """Grafana's homepath (the folder with conf/defaults.ini) for a local install."""
    real = Path(binary).resolve()
    for candidate in (Path("/usr/share/grafana"), real.parent.parent / "share" / "grafana", real.parent.parent,
                      Path("/opt/homebrew/share/grafana"), Path("/usr/local/share/grafana")):
        if (candidate / "conf" / "defaults.ini").is_file():
            return candidate
    return None


class NativeStack:
    def __init__(self, settings: Settings, stack: Stack, out=print):
        self.s = settings
        self.stack = stack
        self.out = out

    # -- paths -----------------------------------------------------------------
    def config_path(self, service: str) -> Path:
        return self.s.service_dir(service) / f"{service}.yml"

    def log_path(self, service: str) -> Path:
        return self.s.logs_dir / f"{service}.log"

    # -- configs ---------------------------------------------------------------
    def render_prometheus(self, rules_dir: Path | None = None) -> str:
        """The native config; its rule_files point at `rules_dir` (default: Prometheus' own copy of the
        rule files in run/prometheus/rules/, see stackctl.staged)."""
        rules = (rules_dir or self.files("prometheus").rules).resolve()
        return prometheus_config.render_native(self.stack, str(rules), ports=dict(self.s.ports),
                                               secrets_dir=str(self.s.service_dir("prometheus").resolve()))

    def files(self, service: str) -> staged.Staged:
        return staged.Staged(service, self.s.service_dir(service), f"{service}.yml",
                             0o600 if service == "alertmanager" else 0o644)

    def stage(self, service: str):
        """The new config (and rule files) written into run/<service>/next/ and checked by promtool or
        amtool: (the service's files, how to render the config, the verdict)."""
        target, render, candidate = self._write_candidate(service)
        return target, render, staged.check(service, candidate)

    def stage_all(self, services=("prometheus", "alertmanager")):
        """stage() of each service, the tools' checks run side by side (each is a process)."""
        from concurrent.futures import ThreadPoolExecutor
        written = [self._write_candidate(service) for service in services]
        with ThreadPoolExecutor(max_workers=len(written)) as pool:
            verdicts = list(pool.map(staged.check, services, [c for _, _, c in written]))
        return [(target, render, verdict) for (target, render, _), verdict in zip(written, verdicts, strict=True)]

    def _write_candidate(self, service: str):
        target = self.files(service)
        if service == "prometheus":
            def render(rules_dir):
                return self.render_prometheus(rules_dir)
            rule_files = sorted((self.s.root / n.RULES_DIR).glob("*.rules.yml"))
        else:
            text, dropped = self.render_alertmanager()
            for d in dropped:
                self.out(d.line())

            def render(rules_dir):
                return text
            rule_files = []
        return target, render, target.stage(render, rule_files)

    def install_configs(self) -> None:
        """`up`: both configs checked, then put in place; a rejected one stops `up` before anything starts."""
        for service, (target, render, verdict) in zip(("prometheus", "alertmanager"), self.stage_all(), strict=True):
            if not verdict.ok:
                target.discard()
                raise StackError(f"{service}: the new config is REJECTED by {staged.TOOLS[service][0]}; nothing "
                                 "was started or changed:\n  " + verdict.output.replace("\n", "\n  "))
            if not verdict.checked:
                self.out(f"{service}: {verdict.output}")
            target.install(render)

    def web_config_path(self, service: str) -> Path:
        return self.s.service_dir(service) / n.WEB_CONFIG_FILE

    def write_web_auth(self) -> None:
        """web.yml (bcrypt hash) for Prometheus and Alertmanager, and the password files Prometheus'
        config reads; all mode 600 (the services run as this user)."""
        webauth.write({s: self.s.service_dir(s) for s in webauth.SERVICES}, self.s.environ, mode=0o600)

    def render_alertmanager(self) -> tuple[str, list[amconfig.Dropped]]:
        return amconfig.running_config(alertmanager_config.render_native(self.stack), environ=self.s.environ,
                                       secrets_dir=self.s.secrets_dir, native=True,
                                       strict=self.s.strict_secrets)

    def write_configs(self) -> None:
        files.private_dir(self.s.run_dir)
        self.write_web_auth()
        self.install_configs()
        if self.grafana_binary():
            self.write_grafana_provisioning()

    def write_grafana_provisioning(self) -> None:
        """The generated provisioning with the container's paths and service URLs made local."""
        source = self.s.root / n.GRAFANA_PROVISIONING_DIR
        target = self.s.service_dir("grafana") / "provisioning"
        replacements = self._grafana_replacements()
        if target.exists():
            shutil.rmtree(target)
        for path in sorted(source.rglob("*")) if source.is_dir() else []:
            if path.is_file():
                text = path.read_text(encoding="utf-8")
                for old, new in replacements:
                    text = text.replace(old, new)
                files.write(target / path.relative_to(source), text)
        for sub in grafana_provisioning.PROVISIONING_FOLDERS:
            (target / sub).mkdir(parents=True, exist_ok=True)

    def _grafana_replacements(self) -> list[tuple[str, str]]:
        return [(n.GRAFANA_PROMETHEUS_URL, self.s.url("prometheus")),
                (n.GRAFANA_ALERTMANAGER_URL, self.s.url("alertmanager")),
                (n.GRAFANA_DASHBOARDS_MOUNT, str((self.s.root / n.DASHBOARDS_DIR).resolve()))]

    def secret_values(self) -> list[str]:
        return redact.stack_secrets(self.s, self.stack)

    # -- commands --------------------------------------------------------------
    def grafana_binary(self) -> str | None:
        binary = _which(GRAFANA_BINARIES)
        return binary if binary and grafana_home(binary) else None

    def runs_exporter(self) -> bool:
        """The exporter runs beside the stack when a scrape job of the spec scrapes it (a target on host
        `exporter`, as compose names it), unless EXPORTER_SOURCE=off: a spec of your own bots needs none."""
        if self.s.exporter_args == ("--source", EXPORTER_OFF):
            return False
        return any(target.rsplit(":", 1)[0] == "exporter" for job in self.stack.scrape.jobs for target in job.targets)

    def commands(self) -> dict[str, tuple[list[str], dict[str, str]]]:
        """argv and environment of every service this machine can run natively."""
        env = dict(os.environ)
        run = self.s.run_dir.resolve()
        listen = {name: f"{LOCALHOST}:{port}" for name, port in self.s.ports.items()}
        out: dict[str, tuple[list[str], dict[str, str]]] = {}
        python = self.s.python or sys.executable
        if self.runs_exporter():
            out["exporter"] = ([python, "-m", "exporter", "--port", str(self.s.ports["exporter"]), "--bind",
                                LOCALHOST, *self.s.exporter_args], env)
        alertmanager = _which(ALERTMANAGER_BINARIES)
        if alertmanager:
            out["alertmanager"] = ([alertmanager, f"--config.file={run / 'alertmanager' / 'alertmanager.yml'}",
                                    f"--storage.path={run / 'alertmanager' / 'data'}",
                                    f"--web.listen-address={listen['alertmanager']}",
                                    f"--web.external-url={self.s.external_url('alertmanager')}",
                                    "--web.route-prefix=/",
                                    f"--web.config.file={run / 'alertmanager' / n.WEB_CONFIG_FILE}",
                                    "--cluster.listen-address="], env)   # no gossip port: one instance
        prometheus = _which(PROMETHEUS_BINARIES)
        if prometheus:
            out["prometheus"] = ([prometheus, f"--config.file={run / 'prometheus' / 'prometheus.yml'}",
                                  f"--storage.tsdb.path={run / 'prometheus' / 'data'}",
                                  f"--storage.tsdb.retention.time={self.stack.glob.retention}",
                                  f"--web.listen-address={listen['prometheus']}",
                                  f"--web.external-url={self.s.external_url('prometheus')}",
                                  "--web.route-prefix=/",
                                  f"--web.config.file={run / 'prometheus' / n.WEB_CONFIG_FILE}",
                                  # Re-send firing alerts at every evaluation, not every minute: an alert
                                  # evaluated before Alertmanager was discovered reaches it one
                                  # evaluation later (cold start: the first Watchdog within 30 s).
                                  f"--rules.alert.resend-delay={resend_delay(self.stack.glob.evaluation_interval)}",
                                  "--web.enable-lifecycle", *self.s.prometheus_args], env)
        grafana = self.grafana_binary()
        if grafana and self.s.environ.get("GF_SECURITY_ADMIN_PASSWORD"):   # never Grafana's default admin/admin
            out["grafana"] = self._grafana_command(grafana, env, run)
        return out

    def _grafana_command(self, binary: str, env: dict[str, str], run: Path) -> tuple[list[str], dict[str, str]]:
        home = grafana_home(binary)
        genv = dict(env)
        env_file = self.s.root / n.GRAFANA_ENV_FILE
        for key, value in read_env_file(env_file).items():
            for old, new in self._grafana_replacements():
                value = value.replace(old, new)
            genv[key] = value
        genv.update({
            "GF_PATHS_DATA": str(run / "grafana" / "data"),
            "GF_PATHS_LOGS": str(run / "grafana" / "logs"),
            "GF_PATHS_PLUGINS": str(run / "grafana" / "plugins"),
            "GF_PATHS_PROVISIONING": str(run / "grafana" / "provisioning"),
            "GF_SERVER_HTTP_ADDR": LOCALHOST,
            "GF_SERVER_HTTP_PORT": str(self.s.ports["grafana"]),
            "GF_SECURITY_ADMIN_USER": "admin",
            "GF_SECURITY_ADMIN_PASSWORD": self.s.environ.get("GF_SECURITY_ADMIN_PASSWORD", ""),
            "GF_AUTH_ANONYMOUS_ENABLED": "false",
            "GF_USERS_ALLOW_SIGN_UP": "false",
        })
        # The datasources' basic-auth passwords: provisioning expands ${PROM_WEB_PASSWORD}, ...
        for service, variable in n.WEB_PASSWORD_VARIABLES.items():
            genv[variable] = webauth.password(self.s.environ, service)
        name = Path(binary).name
        argv = [binary, "server", "--homepath", str(home)] if name == "grafana" else [binary, "--homepath", str(home)]
        return argv, genv

    # -- up --------------------------------------------------------------------
    def running(self) -> dict[str, processes.Record]:
        """Recorded processes that still run; PID files of ended (or recycled) pids are removed."""
        alive = {}
        for record in processes.read_all(self.s.pids_dir):
            if processes.alive(record):
                alive[record.name] = record
            else:
                processes.remove_pid_file(self.s.pids_dir, record.name)
        return alive

    def _stop_orphaned(self) -> None:
        """A service whose log relay died has no recorded pid: stop it, so `up` starts it anew
        (its port would otherwise be taken by our own leftover)."""
        for record in processes.read_all(self.s.pids_dir):
            if processes.survivors(record):        # [] while the relay itself runs
                self.out(f"{record.name}: {processes.stop(record)}")
                processes.remove_pid_file(self.s.pids_dir, record.name)

    def up(self) -> int:
        files.check_run_dir(self.s.run_dir)
        commands = self.commands()
        for service in ("prometheus", "alertmanager"):
            if service not in commands:
                raise StackError(f"{service} is not installed and no Docker engine answers: {INSTALL_HINT}")
        self._stop_orphaned()
        running = self.running()
        to_start = [name for name in START_ORDER if name in commands and name not in running]
        for name in START_ORDER:
            if name in running:
                self.out(f"{name}: already running ({running[name].describe()})")
        self._check_ports(to_start)
        self.write_configs()
        started: list[processes.Record] = []
        masked = self.secret_values()
        try:
            for name in to_start:
                argv, env = commands[name]
                (self.s.service_dir(name) / "data").mkdir(parents=True, exist_ok=True)
                record = processes.start(name, argv, pids_dir=self.s.pids_dir, log_path=self.log_path(name),
                                         env=env, cwd=ROOT, redact=masked)
                started.append(record)
                self.out(f"{name}: started {record.describe()} on {LOCALHOST}:{self.s.ports[name]}, "
                         f"log {record.log}")
            for record in started:
                self._wait_healthy(record)
            files.write(self.s.mode_file, "native\n")
            rejected = [name for name in ("prometheus", "alertmanager") if name in running   # already up:
                        and not reload_service(self.s, name, self.out,                      # run the new configs
                                               new_log_lines=log_follower(self.log_path(name)))]
            for name in rejected:             # never leave a config the running service refused in place
                self.files(name).restore()
            self._wait_targets()
        except BaseException:
            for record in reversed(started):
                processes.stop(record)
                processes.remove_pid_file(self.s.pids_dir, record.name)
            raise
        if "grafana" not in commands:
            self.out("grafana: not started: GF_SECURITY_ADMIN_PASSWORD is not set (`make up` writes one to .env)"
                     if self.grafana_binary() else
                     "grafana: not started: Grafana needs Docker (`make up` uses it when an engine answers) "
                     "or a local install (a `grafana` or `grafana-server` binary on PATH)")
        self.out("The stack is up:")
        for line in report.urls(self.s, self.stack, grafana="grafana" in commands, exporter="exporter" in commands):
            self.out(line)
        return 1 if rejected else 0

    def _check_ports(self, services: list[str]) -> None:
        check_ports(self.s, services, LOCALHOST)

    def _wait_healthy(self, record: processes.Record) -> None:
        service = SERVICES[record.name]
        url = self.s.url(record.name, service.ready_path)
        auth = self.s.auth(record.name)
        ok = health.wait_until(lambda: health.request(url, timeout=1, auth=auth).ok or not processes.alive(record),
                               self.s.wait_seconds)
        if not processes.alive(record):
            raise StackError(f"{record.name} exited right after it started; last lines of {record.log}:\n"
                             + processes.tail(record.log, 20))
        if not ok:
            raise StackError(f"{record.name} did not answer {url} within {self.s.wait_seconds:g}s; "
                             f"last lines of {record.log}:\n" + processes.tail(record.log, 20))
        self.out(f"{record.name}: ready ({url})")

    def _probe_target(self, target: dict) -> bool:
        """GET the target's scrape URL as Prometheus does (its self-monitoring jobs log in)."""
        job = target.get("labels", {}).get("job", "")
        auth = self.s.auth(job) if self.stack.scrape.self_monitoring and job in webauth.SERVICES else None
        return health.request(target.get("scrapeUrl", ""), timeout=3, auth=auth).ok

    def _wait_targets(self) -> None:
        """Every target Prometheus lists is up: scraped up by it, or (before its first scrape, which
        comes at a fixed offset within the scrape interval) answering its scrape URL with the same
        credentials; so `up` does not wait out a 15 s interval."""
        own = own_target(self.stack)
        ok, found, scraped = health.wait_targets_answer(self.s.url("prometheus"), self.s.wait_seconds,
                                                        expected_targets(self.stack), self._probe_target,
                                                        auth=self.s.auth("prometheus"), own=own)
        if not ok:
            raise StackError(f"not every target of the stack is up after {self.s.wait_seconds:g}s:\n  "
                             + "\n  ".join(health.describe_target(t) for t in found))
        down = report_bots_down(found, own, self.out, self._probe_target)
        waiting = len(found) - scraped - down
        self.out(f"prometheus: {f'{len(found) - down} of ' if down else 'all '}{len(found)} targets up" + (
            f" ({waiting} answered their scrape URL; Prometheus' first scrape of them comes within their "
            "scrape interval)" if waiting else ""))
        alertmanagers = self.s.url("prometheus", "/api/v1/alertmanagers")
        if not health.wait_until(lambda: (health.get_json(alertmanagers, auth=self.s.auth("prometheus")) or {}).get(
                "data", {}).get(
                "activeAlertmanagers"), self.s.wait_seconds):
            raise StackError(f"prometheus does not see alertmanager at {self.s.url('alertmanager')} "
                             f"({alertmanagers})")

    # -- down ------------------------------------------------------------------
    def down(self) -> int:
        records = processes.read_all(self.s.pids_dir)
        if not records:
            self.out("nothing to stop: no native stack recorded in " + str(self.s.pids_dir))
        for name in reversed(START_ORDER + tuple(r.name for r in records if r.name not in START_ORDER)):
            record = next((r for r in records if r.name == name), None)
            if record is None:
                continue
            if processes.running(record):
                self.out(f"{name}: {processes.stop(record)} ({record.describe()})")
            else:
                self.out(f"{name}: was not running (pid {record.pid} ended or belongs to another program now; "
                         "left alone)")
            processes.remove_pid_file(self.s.pids_dir, name)
        try:
            self.s.mode_file.unlink()
        except FileNotFoundError:
            pass
        return 0

    # -- status ----------------------------------------------------------------
    def status(self) -> int:
        records = {r.name: r for r in processes.read_all(self.s.pids_dir)}
        bad = 0
        notes: list[str] = []
        self.out(f"{'service':<13} {'process':<22} {'port':<6} {'healthy':<9} ready")
        for name in START_ORDER:
            record = records.get(name)
            if record is None:
                process = "not started"
            elif processes.alive(record):
                process = f"running (pid {record.pid})"
            elif left := processes.survivors(record):          # its relay died; the service did not
                process = f"ORPHANED (pid {left[0]})"
                notes.append(f"{name}: its log relay (pid {record.pid}) died; the service (pid "
                             f"{', '.join(map(str, left))}) still runs unrecorded: make down stops it, "
                             "make up restarts it")
            else:
                process = "DEAD (see make logs)"
            service = SERVICES[name]
            healthy = health.request(self.s.url(name, service.health_path), timeout=2, auth=self.s.auth(name))
            ready = health.request(self.s.url(name, service.ready_path), timeout=2, auth=self.s.auth(name))
            self.out(f"{name:<13} {process:<22} {self.s.ports[name]:<6} {_word(healthy):<9} {_word(ready)}")
            if record is not None and not (processes.alive(record) and healthy.ok and ready.ok):
                bad += 1
        if records.get("prometheus") is not None and processes.alive(records["prometheus"]):
            bad += not self.report_writes()
        for note in notes:
            self.out(note)
        print_targets(self.s, self.out)
        if not records:
            # Stopped is a state, not a failure: exit 0 (a script checks the words or `make up`).
            self.out("the native stack is not running (make up starts it)")
            return 0
        return 1 if bad else 0

    def report_writes(self) -> bool:
        """False (and why, in one line) when Prometheus cannot write its TSDB."""
        return report_writes(self.s, self.stack, self.s.service_dir("prometheus") / "data", self.out)

    # -- reload ----------------------------------------------------------------
    def reload(self) -> int:
        """Each config checked (promtool/amtool) before it replaces the running one, then POST /-/reload;
        a config refused by either is never left in place (stackctl.staged)."""
        if not self.running():
            raise StackError("the native stack is not running (make up starts it)")
        failed = 0
        for service in ("prometheus", "alertmanager"):
            target, render, verdict = self.stage(service)
            if not verdict.ok:
                target.discard()
                self.out(f"{service}: config REJECTED by {staged.TOOLS[service][0]}, nothing changed, still running "
                         "the previous one:\n  " + verdict.output.replace("\n", "\n  "))
                failed += 1
                continue
            if not verdict.checked:
                self.out(f"{service}: {verdict.output}")
            target.install(render)
            if not reload_service(self.s, service, self.out, new_log_lines=log_follower(self.log_path(service))):
                if target.restore():
                    self.out(f"{service}: the previous config is back in place ({target.config})")
                failed += 1
        if "grafana" in self.running():
            self.write_grafana_provisioning()
            reload_grafana(self.s, self.out)
        return 1 if failed else 0

    # -- logs ------------------------------------------------------------------
    def logs(self, follow: bool, lines: int = 40) -> int:
        """The logs with every secret value masked (stackctl.redact); -f follows them until Ctrl-C."""
        logs = sorted(self.s.logs_dir.glob("*.log")) if self.s.logs_dir.is_dir() else []
        if not logs:
            self.out(f"no logs yet in {self.s.logs_dir}")
            return 0
        logview.show(logs, lines, follow, redact.Redactor(self.secret_values()), out=self.out)
        return 0


def check_ports(settings: Settings, services, host: str) -> None:
    """Fail with one line per taken port, naming the port, its holder and the variable to change."""
    taken = []
    for name in services:
        port = settings.ports[name]
        if health.port_taken(host, port):
            found = holder.holder(port)
            taken.append(f"port {port} ({name}) is already taken on {host}"
                         + (f" by {found.describe()}" if found else "") + ": "
                         + holder.advice(found, port, SERVICES[name].port_variable))
    if taken:
        raise StackError("\n".join(taken))


def print_targets(settings: Settings, out) -> bool:
    """`prometheus targets: N/M up` and a line per target that is not; whether all are up."""
    found = health.targets(settings.url("prometheus"), auth=settings.auth("prometheus"))
    if not found:
        return False
    up = sum(t.get("health") == "up" for t in found)
    out(f"prometheus targets: {up}/{len(found)} up")
    for target in found:
        if target.get("health") != "up":
            out("  " + health.describe_target(target))
    return up == len(found)


def own_target(stack: Stack):
    """Whether a Prometheus target is the stack's own (Prometheus, Alertmanager, Grafana, the exporter
    beside it: a job whose every target is one of its services) rather than one of the user's bots."""
    own_jobs = {"prometheus", "alertmanager"} | {
        job.name for job in stack.scrape.jobs
        if job.targets and all(t.rsplit(":", 1)[0] in n.SERVICE_PORTS for t in job.targets)}
    return lambda target: target.get("labels", {}).get("job") in own_jobs


def report_bots_down(found: list[dict], own, out, probe=lambda target: False) -> int:
    """One line per bot target not up (the stack runs without it; TargetDown pages if it stays down).
    A target Prometheus has not scraped yet counts as up when it answers `probe` (its scrape URL)."""
    down = [t for t in found if not own(t) and t.get("health") != "up"
            and not (t.get("health") == "unknown" and probe(t))]
    for target in down:
        out(f"prometheus: bot target not up yet: {health.describe_target(target)}: the stack runs; "
            "TargetDown pages if it stays down")
    return len(down)


def expected_targets(stack: Stack) -> int:
    """How many targets the rendered Prometheus config scrapes."""
    return sum(len(c["static_configs"][0]["targets"]) for c in prometheus_yml.config(stack)["scrape_configs"])


def report_writes(settings: Settings, stack: Stack, data_dir, out) -> bool:
    """`status`: Prometheus answers /-/healthy even when it cannot store a sample (a full disk); its
    own TSDB failure counters and the age of its newest sample say so. False when it cannot write."""
    stale_after = 4 * duration_ms(stack.glob.scrape_interval) / 1000 + 10
    problems = health.prometheus_write_problems(settings.url("prometheus"), settings.auth("prometheus"), stale_after)
    if problems:
        out(f"prometheus: CANNOT WRITE its data ({data_dir}): {'; '.join(problems)}. Is the disk full "
            f"(df {data_dir})? The counters count since Prometheus started: after fixing, restart it "
            "(make down && make up)")
    return not problems


def resend_delay(evaluation_interval: str) -> str:
    """Half the evaluation interval: Prometheus re-sends a firing alert only when the delay has passed
    *before* an evaluation, so a delay equal to the interval would skip one evaluation."""
    return f"{max(1, duration_ms(evaluation_interval) // 2)}ms"


def duration_ms(text: str) -> int:
    """A Prometheus duration (1h30m, 15s, 500ms) in milliseconds."""
    units = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000,
             "y": 31_536_000_000}
    total = 0
    for number, unit in re.findall(r"(\d+)(ms|s|m|h|d|w|y)", text):
        total += int(number) * units[unit]
    return total


def _word(reply: health.Reply) -> str:
    return "ok" if reply.ok else ("no answer" if reply.status == 0 else f"HTTP {reply.status}")


def reload_service(settings: Settings, service: str, out, config: Path | None = None, previous: str | None = None,
                   mode: int = 0o644, new_log_lines=None) -> bool:
    """POST /-/reload. A rejected config is reported with the service's error (and the error lines
    it logged meanwhile: Prometheus names the bad rule file only there), the previous config file is
    put back, and the service keeps running the config it had."""
    reply = health.request(settings.url(service, "/-/reload"), method="POST", timeout=30, auth=settings.auth(service))
    if reply.ok:
        out(f"{service}: reloaded")
        return True
    why = reply.body.strip() or "(empty answer)"
    if reply.status == 0:
        out(f"{service}: reload failed: no answer at {settings.url(service)} ({why})")
    else:
        errors = [line for line in (new_log_lines() if new_log_lines else []) if "level=error" in line]
        out(f"{service}: config REJECTED (HTTP {reply.status}), still running the previous one:\n  {why}"
            + "".join(f"\n  {line}" for line in errors[-5:]))
    if config is not None and previous is not None:
        files.write(config, previous, mode=mode)
    return False


def log_follower(path: Path):
    """A callable returning the lines appended to `path` since this call."""
    try:
        start = path.stat().st_size
    except OSError:
        start = 0

    def new_lines() -> list[str]:
        time.sleep(0.2)   # the service logs the error just after it answers
        try:
            with open(path, "rb") as handle:
                handle.seek(start)
                return handle.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return []
    return new_lines


def reload_grafana(settings: Settings, out) -> bool:
    """Ask Grafana to re-read its provisioned dashboards and datasources (admin API)."""
    password = settings.environ.get("GF_SECURITY_ADMIN_PASSWORD", "")
    auth = base64.b64encode(f"admin:{password}".encode()).decode()
    ok = True
    for kind in ("datasources", "dashboards"):
        reply = health.request(settings.url("grafana", f"/api/admin/provisioning/{kind}/reload"), method="POST",
                               headers={"Authorization": f"Basic {auth}"}, timeout=30)
        if not reply.ok:
            ok = False
            out(f"grafana: reloading {kind} failed (HTTP {reply.status}): {reply.body.strip()[:300]}")
    if ok:
        out("grafana: provisioning reloaded")
    return ok
