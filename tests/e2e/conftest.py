"""The whole stack, natively, from a test copy of spec.yaml: fast intervals, short `for`, and the
webhook receivers pointed at a receiver this test serves itself. Everything on 127.0.0.1, on
free ports, in a temporary tree and run folder, so it never meets a stack the user runs.
"""
from __future__ import annotations

import copy
import json
import secrets
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import yaml

from stackgen.alerts.families import families
from stackgen.spec.fields import parse_duration
from stackgen.load import load_stack
from exporter.server import STATE_CHANGE_HEADER
from stackctl import envfile, health, processes
from stackctl.native import ALERTMANAGER_BINARIES, NativeStack
from stackctl.settings import SERVICES, Settings
from tests.conftest import ROOT



@dataclass(frozen=True)
class Driven:
    """A demo scenario the e2e run drives, and the alert it must bring to the receiver."""
    scenario: str
    family: str
    alert: str
    labels: dict            # labels the alert carries besides the target's and the spec's externals
    spec: dict              # family fields the e2e's spec sets (a window short enough to clear)
    resolves_within: float  # seconds to wait for the resolved notification


def _driven() -> dict[str, Driven]:
    """The scenarios whose family's entry (families.yaml) marks them `e2e: {severity}`.

    The alert carries that severity, the labels the scenario moves its signal on, and, for a bot
    family, the demo bot's identity (the exporter's defaults).
    """
    from exporter.cli import build_parser
    bot = vars(build_parser().parse_args([]))
    found = {}
    for key, family in families().items():
        for scenario in family.scenarios:
            if not scenario.e2e:
                continue
            labels = {"severity": str(scenario.e2e["severity"])}
            for action in scenario.actions:
                labels.update({str(k): str(v) for k, v in (action.get("labels") or {}).items()})
            if family.domain == "topn":
                labels.update({name: bot[name] for name in ("env", "universe", "strategy")})
            within = parse_duration(scenario.e2e.get("resolves_within", "45s"))
            found[scenario.name] = Driven(scenario.name, key, family.alert, labels,
                                          dict(scenario.e2e.get("spec") or {}), within)
    return found


# The scenarios the test drives (scenario name -> Driven), from the family entries.
DRIVEN = _driven()
FAST = "1s"
TELEGRAM_TOKEN_VARIABLE = "TELEGRAM_BOT_TOKEN"


# Notifications posted under this path fail (500): what a receiver with a broken endpoint does.
BROKEN_PATH = "/broken"


class Receiver:
    """A webhook receiver on 127.0.0.1: keeps every notification Alertmanager posts (and answers 500 to
    those posted under BROKEN_PATH)."""

    def __init__(self) -> None:
        self.notifications: list[tuple[str, dict]] = []
        self.arrivals: list[tuple[float, str]] = []     # (time.monotonic(), path) of every notification
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path.startswith(BROKEN_PATH):   # a receiver whose endpoint is broken
                    self.send_response(500)
                    self.end_headers()
                    return
                with outer._lock:
                    outer.notifications.append((self.path, json.loads(body or b"{}")))
                    outer.arrivals.append((time.monotonic(), self.path))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> Receiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def alerts(self, path: str | None = None) -> list[tuple[str, dict, dict]]:
        """(path, notification, alert) of every alert received, oldest first."""
        with self._lock:
            return [(p, n, a) for p, n in self.notifications if path in (None, p) for a in n.get("alerts", [])]

    def wait_for(self, predicate, timeout: float) -> tuple[str, dict, dict] | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for item in self.alerts():
                if predicate(*item):
                    return item
            time.sleep(0.2)
        return None


def derive_test_spec(spec: dict, receiver_port: int) -> dict:
    data = copy.deepcopy(spec)
    g = data["global"]
    g["scrape_interval"] = g["scrape_timeout"] = g["evaluation_interval"] = FAST
    for job in data["scrape"]["jobs"]:
        if "interval" in job:
            job["interval"] = job["timeout"] = FAST
    for driven in DRIVEN.values():
        data["alerts"][driven.family].update(driven.spec, **{"for": "2s"})
    am = data["alertmanager"]
    am.update(group_wait="1s", group_interval="2s")
    for receiver in am["receivers"]:
        if "webhook" in receiver:
            url = urlsplit(receiver["webhook"]["url"])
            receiver["webhook"]["url"] = urlunsplit(url._replace(netloc=f"{url.hostname}:{receiver_port}"))
    return data


@dataclass
class E2E:
    native: NativeStack
    settings: Settings
    receiver: Receiver
    tree: Path
    spec_path: Path
    spec: dict
    output: list[str]
    started: list[processes.Record] = field(default_factory=list)
    up_seconds: float = 0.0
    up_started: float = 0.0          # time.monotonic() when `up` began

    def url(self, service: str, path: str = "") -> str:
        return self.settings.url(service, path)

    def auth(self, service: str) -> tuple[str, str] | None:
        return self.settings.auth(service)

    def query(self, promql: str) -> list:
        import urllib.parse
        data = health.get_json(self.url("prometheus", "/api/v1/query?" + urllib.parse.urlencode({"query": promql})),
                               auth=self.auth("prometheus"))
        assert data is not None and data["status"] == "success", (promql, data)
        return data["data"]["result"]

    def scenario(self, names: str, on: bool) -> None:
        # The demo changes state only for a request carrying its header (no browser form can send it).
        reply = health.request(self.url("exporter", f"/scenario?name={names}&on={int(on)}"), method="POST",
                               headers={STATE_CHANGE_HEADER: "1"})
        assert reply.ok, reply

    def generate(self, data: dict) -> None:
        self.spec_path.write_text(yaml.safe_dump(data, sort_keys=False))
        proc = subprocess.run([sys.executable, str(ROOT / "generate.py"), "--spec", str(self.spec_path),
                               "--out", str(self.tree)], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr


def _need_binaries() -> None:
    missing = [name for name, found in (("prometheus", shutil.which("prometheus")),
                                        ("prometheus-alertmanager", any(map(shutil.which, ALERTMANAGER_BINARIES))))
               if not found]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (make tools installs Debian's prometheus and "
                    "prometheus-alertmanager)")


def _free_ports(count: int) -> list[int]:
    ports: set[int] = set()
    while len(ports) < count:
        ports.add(health.free_port())
    return sorted(ports)


@pytest.fixture(scope="module")
def e2e(tmp_path_factory, spec_data):
    _need_binaries()
    base = tmp_path_factory.mktemp("e2e")
    receiver = Receiver().start()
    output: list[str] = []
    native = None
    try:
        ctx_spec = derive_test_spec(spec_data, receiver.port)
        tree = base / "tree"
        ports = dict(zip(SERVICES, _free_ports(len(SERVICES)), strict=True))
        # Only this environment: the user's own secrets and ports never leak into the test.
        environ = {variable: secrets.token_urlsafe(18) for variable in envfile.GENERATED}
        # A Telegram token: Alertmanager puts it into its error message when it cannot reach Telegram
        # (no network here); the log relay must mask it (test_no_secret_value_reaches_the_logs).
        environ[TELEGRAM_TOKEN_VARIABLE] = f"{secrets.randbelow(10**9)}:{secrets.token_urlsafe(26)}"
        settings = Settings.from_environment(tree, environ=environ, spec=base / "spec.yaml", run_dir=base / "run",
                                             ports=ports, wait_seconds=45.0)
        ctx = E2E(native=None, settings=settings, receiver=receiver, tree=tree, spec_path=base / "spec.yaml",
                  spec=ctx_spec, output=output)
        ctx.generate(ctx_spec)

        def out(line: str) -> None:
            output.append(line)
            print(line)

        native = NativeStack(settings, load_stack(ctx.spec_path), out=out)
        ctx.native = native
        started = ctx.up_started = time.monotonic()
        assert native.up() == 0
        ctx.up_seconds = time.monotonic() - started
        ctx.started = list(native.running().values())
        yield ctx
    finally:
        if native is not None:
            native.down()
        receiver.stop()
