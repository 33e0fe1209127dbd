"""python -m exporter: serve /metrics and /health, fed by the demo, an events file or stdin.

    python -m exporter --port 9100 --bind 0.0.0.0 --source demo --scenario drawdown
    python -m exporter --source events:/var/log/bot/events.jsonl
    my-bot | python -m exporter --source -

Exits 0 on SIGTERM/SIGINT; 1 with a one-line message when the port is taken
or cannot be bound; 2 for bad arguments.
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from urllib.parse import parse_qs

from prometheus_client import REGISTRY

from exporter.api import default_metrics
from exporter.demo import DemoBot, DemoSource
from exporter.events import EventApplier, FileTailer, StreamReader
from exporter.scenarios import SCENARIOS, ScenarioSet, UnknownScenario, parse_names
from exporter.server import MetricsServer

log = logging.getLogger("exporter")

DEFAULT_PORT = int(os.environ.get("EXPORTER_PORT", "9100") or 9100)


class _Stop(Exception):
    """Raised in the main thread by the SIGTERM/SIGINT handler."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m exporter",
        description="Prometheus exporter for trading bots: /metrics and /health on one port.")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help="port to listen on (default: $EXPORTER_PORT or 9100)")
    parser.add_argument("--bind", default=os.environ.get("EXPORTER_BIND", "0.0.0.0"), metavar="ADDR",
                        help="address to bind (default: $EXPORTER_BIND or 0.0.0.0; use 127.0.0.1 outside containers)")
    parser.add_argument("--source", default="demo", metavar="demo|events:PATH|-",
                        help="demo simulation, a JSON Lines file to follow, or - for stdin (default: demo)")
    parser.add_argument("--scenario", action="append", default=[], metavar="NAME[,NAME...]",
                        help=f"demo scenario to switch on (repeatable): {', '.join(SCENARIOS)}")
    parser.add_argument("--seed", type=int, default=None, help="demo random seed (default: random)")
    parser.add_argument("--tick", type=float, default=0.5, metavar="SECONDS",
                        help="demo tick interval (default: 0.5)")
    parser.add_argument("--poll", type=float, default=0.25, metavar="SECONDS",
                        help="how often an events file is checked for new lines (default: 0.25)")
    parser.add_argument("--env", default="paper", help="bot label env (default: paper)")
    parser.add_argument("--universe", default="top20", help="bot label universe (default: top20)")
    parser.add_argument("--strategy", default="topn_arb", help="bot label strategy (default: topn_arb)")
    parser.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    kind, _, path = args.source.partition(":")
    if kind not in ("demo", "events", "-") or (kind == "events") != bool(path):
        parser.error(f"--source: expected demo, events:PATH or - (got {args.source!r})")
    try:
        scenarios = ScenarioSet(parse_names(args.scenario))
    except UnknownScenario as exc:
        parser.error(f"--scenario: {exc}")
    if scenarios.active and kind != "demo":
        parser.error("--scenario needs --source demo")
    if not 0 <= args.port <= 65535:
        parser.error(f"--port: {args.port} is not a port number")
    logging.basicConfig(level=args.log_level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    metrics = default_metrics()
    try:
        metrics.init_metrics(args.env, args.universe, args.strategy, REGISTRY)
    except ValueError as exc:
        parser.error(str(exc))

    routes, extra = {}, {"source": "demo" if kind == "demo" else "stdin" if kind == "-" else "events"}
    if kind == "demo":
        bot = DemoBot(metrics, seed=args.seed, scenarios=scenarios)
        routes["/scenario"] = scenario_route(scenarios)
        source = DemoSource(bot, interval=args.tick)
    else:
        applier = EventApplier(metrics)
        source = (StreamReader(sys.stdin.buffer, applier.apply_line) if kind == "-"
                  else FileTailer(path, applier.apply_line, poll=args.poll))

    server = MetricsServer(lambda: metrics.registry, metrics, port=args.port, addr=args.bind, routes=routes,
                           health_extra=lambda: dict(extra, scenarios=scenarios.active))

    def _on_signal(signum, frame):
        # Ignore a second signal while shutting down; leave the main loop at once.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        raise _Stop(signal.Signals(signum).name)

    # Handlers first: a signal that arrives as soon as /health answers is a clean stop too.
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    source_started = False
    try:
        try:
            server.start()
        except OSError as exc:
            print(f"exporter: {exc.strerror or exc}", file=sys.stderr)
            return 1
        source.start()
        source_started = True
        log.info("exporter ready on %s (source: %s%s)", server.url, args.source,
                 f"; scenarios: {', '.join(scenarios.active)}" if scenarios.active else "")
        while True:
            time.sleep(3600)
    except _Stop as stop:
        log.info("%s received; shutting down", stop)
    finally:
        if source_started:
            source.stop()
        server.stop()
    return 0


def scenario_route(scenarios: ScenarioSet):
    """GET /scenario lists; POST /scenario?name=a[,b]&on=1|0 switches; DELETE /scenario clears all."""

    def handle(environ: dict) -> tuple[int, object]:
        method = environ.get("REQUEST_METHOD", "GET")
        if method == "DELETE":
            scenarios.clear()
        elif method == "POST":
            query = parse_qs(environ.get("QUERY_STRING", ""))
            on_text = query.get("on", ["1"])[-1].lower()
            if on_text not in ("1", "0", "true", "false", "on", "off"):
                return 400, {"error": f"on={on_text!r}: expected 1 or 0"}
            try:
                names = parse_names(query.get("name", []))
            except UnknownScenario as exc:
                return 400, {"error": str(exc)}
            if not names:
                return 400, {"error": "name is required: POST /scenario?name=drawdown&on=1"}
            for name in names:
                scenarios.set(name, on_text in ("1", "true", "on"))
            log.info("scenarios now: %s", ", ".join(scenarios.active) or "none")
        elif method != "GET":
            return 405, {"error": f"{method} /scenario: use GET, POST or DELETE"}
        return 200, {"active": scenarios.active, "available": SCENARIOS}

    return handle


if __name__ == "__main__":
    sys.exit(main())
