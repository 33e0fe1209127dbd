"""`make backtest` against 7 days of history with planted incidents, held in a real Prometheus:
every incident found with its alert and severity, and the replay's firing time agreeing with the
same rules evaluated tick by tick by Prometheus itself (tests/backtest/live.py)."""
from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from stackctl import health
from stackgen import promql
from stackctl.backtest import episodes as ep
from stackctl.backtest.engine import ScratchStore
from stackctl.backtest.run import Plan
from stackgen.load import load_stack
from tests.backtest import live
from tests.backtest.history import History, Incident
from tests.conftest import ROOT
from tests.e2e.servers import Servers, need
from tests.generator.fixture import spec_text

pytestmark = pytest.mark.tools

DAY, HOUR, MINUTE = 86400, 3600, 60
STEP = 60.0
AGREEMENT = 0.95
BOT = {"job": "bot", "instance": "exporter:9100", "env": "paper", "universe": "u1", "strategy": "momentum"}


def _spec(tmp: Path, edit=None) -> Path:
    def fixture_edit(data):
        # One-minute scrapes and ticks keep 7 days small; the thresholds are the fixture's own.
        data["global"].update(scrape_interval="1m", evaluation_interval="1m")
        if edit:
            edit(data)
    path = tmp / "spec.yaml"
    path.write_text(spec_text(fixture_edit))
    return path


def planted(start: float) -> tuple[History, list[Incident]]:
    """History of the fixture spec's signals with five incidents, given by the fixture's thresholds
    (drawdown warning 0.2 / critical 0.3, loop p99 0.05 s, daily loss -250 USD, up == 0)."""
    at = lambda day, hour: start + day * DAY + hour * HOUR  # noqa: E731
    incidents = [
        Incident("TradingDrawdownHigh", "warning", at(1, 10), at(1, 12)),
        Incident("TradingDrawdownHigh", "critical", at(3, 14), at(3, 15)),
        Incident("TradingDrawdownHigh", "warning", at(3, 14), at(3, 15)),     # 0.35 is over both levels
        Incident("TargetDown", "critical", at(2, 20), at(2, 20) + 40 * MINUTE),
        Incident("TradingLoopLatencyHigh", "warning", at(5, 8), at(5, 11)),   # through the recorded p99
        Incident("TradingDailyLossLimit", "warning", at(6, 3), at(6, 4)),
    ]
    during = lambda alert, severity, t: any(  # noqa: E731
        i.during(t) for i in incidents if (i.alert, i.severity) == (alert, severity))
    h = History(start - 2 * HOUR, start + 7 * DAY, STEP)
    h.gauge("trading_drawdown_ratio", BOT, lambda t: 0.35 if during("TradingDrawdownHigh", "critical", t)
            else 0.25 if during("TradingDrawdownHigh", "warning", t) else 0.02)
    h.gauge("trading_daily_pnl_usd", BOT, lambda t: -400 if during("TradingDailyLossLimit", "warning", t) else 35)
    h.histogram("trading_loop_latency_seconds", BOT, [0.001, 0.01, 0.1, 1], 5.0,
                lambda t: 0.08 if during("TradingLoopLatencyHigh", "warning", t) else 0.004)
    h.gauge("up", {"job": BOT["job"], "instance": BOT["instance"]},
            lambda t: 0 if during("TargetDown", "critical", t) else 1)
    return h, incidents


class Prom:
    """A real Prometheus over TSDB blocks made by promtool from the history (no scraping)."""

    def __init__(self, servers: Servers, folder: Path, history: History) -> None:
        self.servers, self.data, self.folder = servers, folder / "prometheus-data", folder
        live.write_blocks(history.samples(), self.data, folder)
        self.config = folder / "prometheus.yml"
        self.config.write_text("global: {scrape_interval: 1m}\n")
        self.start()

    def start(self) -> None:
        port = health.free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.servers.start("prometheus", ["prometheus", f"--config.file={self.config}",
                                          f"--storage.tsdb.path={self.data}", "--storage.tsdb.retention.time=100y",
                                          f"--web.listen-address=127.0.0.1:{port}"])
        self.servers.wait_ready("prometheus", f"{self.url}/-/ready")

    def add(self, series) -> None:
        """Prometheus loads blocks at start: stop it, write them, start it again."""
        self.servers.stop("prometheus")
        live.write_blocks(series, self.data, self.folder)
        self.start()


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def run_make_backtest(spec: Path, url: str, start: float, end: float, out: Path, *extra: str) -> dict:
    args = f"--spec {spec} --from {_iso(start)} --to {_iso(end)} --out {out} " + " ".join(extra)
    done = subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), "backtest", f"BACKTEST_ARGS={args}"],
                          env={**os.environ, "BACKTEST_URL": url}, capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stdout + done.stderr
    print(done.stdout)
    return json.loads((out / "backtest.json").read_text())


def _episodes(report: dict) -> list[ep.Episode]:
    return [ep.Episode(a["alert"], a["severity"], tuple(sorted(e["labels"].items())), e["start"], e["end"])
            for a in report["alerts"] for e in a["episodes"]]


@pytest.fixture
def servers(tmp_path):
    s = Servers(tmp_path / "logs")
    yield s
    s.stop_all()


def test_backtest_finds_every_planted_incident_and_agrees_with_prometheus(tmp_path, servers):
    need("prometheus", "promtool", "victoria-metrics", "vmalert")
    began = time.monotonic()
    start = (time.time() // DAY - 9) * DAY          # midnight, 9 days ago: 7 days, all in the past
    end = start + 7 * DAY
    history, incidents = planted(start)
    prom = Prom(servers, tmp_path, history)
    print(f'prometheus loaded in {time.monotonic() - began:.1f}s')
    spec = _spec(tmp_path)
    report = run_make_backtest(spec, prom.url, start, end, tmp_path / "report")
    found = _episodes(report)
    print(f'backtest done at {time.monotonic() - began:.1f}s')

    plan = Plan.of(load_stack(spec), spec.name)
    holds = {(r["alert"], r["labels"]["severity"]): r.get("for", "0s") for _, r in plan.rules() if "alert" in r}
    planted_keys = {(i.alert, i.severity) for i in incidents}
    for incident in incidents:
        hold = {"2m": 120, "3m": 180, "10m": 600}[holds[(incident.alert, incident.severity)]]
        hits = [e for e in found if (e.alertname, e.severity) == (incident.alert, incident.severity)
                and e.start < incident.end + 10 * MINUTE and e.end > incident.start]
        assert len(hits) == 1, (incident, hits)
        # It fires once `for` has passed (plus a 5m rate window for the latency), and stops with the incident.
        assert incident.start + hold <= hits[0].start <= incident.start + hold + 6 * MINUTE, (incident, hits[0])
        assert incident.end <= hits[0].end <= incident.end + 6 * MINUTE, (incident, hits[0])
    spurious = [e for e in found if (e.alertname, e.severity) in planted_keys
                and not any(e.start < i.end + 10 * MINUTE and e.end > i.start for i in incidents
                            if (i.alert, i.severity) == (e.alertname, e.severity))]
    assert not spurious
    # The 38-minute TargetDown (shorter than the fixture's 1h repeat_interval) pages each critical
    # receiver of the fixture's routing twice: firing, then resolved.
    down = next(a for a in report["alerts"] if a["alert"] == "TargetDown")
    assert (down["notifications"], down["receivers"]) == (4, ["email", "telegram"])

    # The reference: the same rules, evaluated by Prometheus tick by tick over the same data.
    fed = {m["__name__"] for m, _ in history.series}
    prom.add(live.record(prom.url, list(plan.documents.values()), start - HOUR, end, STEP,
                         lambda r: set(promql.selected_metrics(r["expr"])) <= fed))
    print(f'records backfilled at {time.monotonic() - began:.1f}s')
    reference = live.alert_episodes(prom.url, list(plan.documents.values()), start, end, STEP)
    changing = lambda eps: [e for e in eps if (e.alertname, e.severity) in planted_keys]  # noqa: E731
    for name, mine, theirs in (("planted alerts", changing(found), changing(reference)),
                               ("every alert", found, reference)):
        both = ep.overlap(mine, theirs)
        union = ep.firing_time(mine) + ep.firing_time(theirs) - both
        agreement = both / union
        print(f"agreement with Prometheus over {name}: {agreement:.4f} ({both:.0f}s of {union:.0f}s)")
        assert agreement >= AGREEMENT, (name, agreement, mine, theirs)
    print(f"e2e took {time.monotonic() - began:.1f}s")
    assert time.monotonic() - began < 60


def test_against_a_revision_shows_what_a_threshold_change_does(tmp_path):
    """The spec committed with the drawdown warning at 0.2; the working copy raises it to 0.28, above
    the first incident (0.25): the report shows one warning episode fewer, and nothing else moved."""
    need("victoria-metrics", "vmalert", "git")
    start = (time.time() // DAY - 9) * DAY
    end = start + 7 * DAY
    history, _ = planted(start)
    repo = tmp_path / "repo"
    repo.mkdir()
    spec = _spec(repo)
    git = lambda *a: subprocess.run(["git", "-C", str(repo), *a], check=True, capture_output=True)  # noqa: E731
    git("init", "-q")
    git("add", "spec.yaml")
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "spec")
    spec.write_text(_spec(tmp_path, lambda d: d["alerts"]["drawdown"].update(warning=0.28)).read_text())
    with ScratchStore() as source:                  # the user's VictoriaMetrics (its /api/v1/export path)
        source.import_lines(history.import_lines())
        source.flush()
        assert health.wait_until(lambda: source.export('{__name__="up"}', start, end), timeout=10)
        out = tmp_path / "report"
        head = run_make_backtest(spec, source.url, start, end, out, "--against HEAD", "--no-timelines")
    base = json.loads((out / "base-backtest.json").read_text())
    count = lambda report: {(a["alert"], a["severity"]): len(a["episodes"]) for a in report["alerts"]}  # noqa: E731
    before, after = count(base), count(head)
    assert before[("TradingDrawdownHigh", "warning")] == 2 and after[("TradingDrawdownHigh", "warning")] == 1
    assert {k: v for k, v in before.items() if k != ("TradingDrawdownHigh", "warning")} == \
        {k: v for k, v in after.items() if k != ("TradingDrawdownHigh", "warning")}
    summary = (out / "backtest.md").read_text()
    diff = summary.split("## Against spec.yaml at HEAD", 1)[1]
    row = next(line for line in diff.splitlines() if line.startswith("| TradingDrawdownHigh | warning"))
    assert "| 2 -> 1 |" in row and "fewer (-1 episodes" in row, row
