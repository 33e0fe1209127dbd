"""generate.py backtest: replay the spec's rules over recorded history; report per alert.

    python generate.py backtest [--spec spec.yaml] [--days 7 | --from T --to T] [--against REV]
                                [--url URL] [--out backtest-report]

The history is read from BACKTEST_URL (Prometheus or VictoriaMetrics; BACKTEST_USER and
BACKTEST_PASSWORD, or BACKTEST_BEARER_TOKEN, when it wants credentials).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from stackctl.backtest import report, timeline
from stackctl.backtest.engine import EngineError, ScratchStore
from stackctl.backtest.run import LOOKBACK, Plan, replay
from stackctl.backtest.source import URL_ENV, Source
from stackgen.errors import SpecError
from stackgen.load import load_stack
from stackgen.spec.fields import parse_duration

DEFAULT_OUT = Path("backtest-report")
REPORT_FILE = "backtest.md"
JSON_FILE = "backtest.json"    # the same verdicts for a program


def _time(text: str) -> float:
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an RFC 3339 time such as 2026-12-01T00:00:00Z: {text!r}") from None
    return (t if t.tzinfo else t.replace(tzinfo=timezone.utc)).timestamp()


def spec_at(spec: Path, revision: str, folder: Path) -> Path:
    """The spec as committed at a git revision, written into folder."""
    spec = spec.resolve()
    try:
        root = subprocess.run(["git", "-C", str(spec.parent), "rev-parse", "--show-toplevel"], check=True,
                              capture_output=True, text=True).stdout.strip()
        text = subprocess.run(["git", "-C", root, "show", f"{revision}:{spec.relative_to(root)}"], check=True,
                              capture_output=True, text=True).stdout
    except subprocess.CalledProcessError as exc:
        raise EngineError(f"--against {revision}: git cannot show {spec.name} there: "
                          f"{exc.stderr.strip().splitlines()[-1] if exc.stderr.strip() else exc}") from None
    path = folder / f"{spec.stem}@{revision.replace('/', '_')}{spec.suffix}"
    path.write_text(text)
    return path


def main(argv: list[str], default_spec: Path) -> int:
    parser = argparse.ArgumentParser(prog="generate.py backtest", description=__doc__.splitlines()[0])
    parser.add_argument("--spec", type=Path, default=default_spec)
    parser.add_argument("--url", help=f"the history's Prometheus or VictoriaMetrics (default: ${URL_ENV})")
    parser.add_argument("--days", type=float, default=7.0, help="how far back from --to (default 7)")
    parser.add_argument("--from", dest="start", type=_time, help="start of the range (RFC 3339, UTC)")
    parser.add_argument("--to", dest="end", type=_time, help="end of the range (default: now)")
    parser.add_argument("--against", metavar="REV",
                        help="also replay the spec at this git revision; print the difference")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"report folder (default: {DEFAULT_OUT})")
    parser.add_argument("--no-timelines", action="store_true", help="skip the PNG timelines")
    args = parser.parse_args(argv)
    end = args.end or time.time()
    start = args.start or end - args.days * 86400
    if start >= end:
        print("error: backtest: --from must be before --to", file=sys.stderr)
        return 2
    try:
        return _run(args, start, end)
    except (SpecError, EngineError) as exc:
        print(f"error: backtest: {exc}", file=sys.stderr)
        return 2


def _run(args, start: float, end: float) -> int:
    source = Source.from_env(args.url)
    stack = load_stack(args.spec, args.spec.name)
    head = Plan.of(stack, args.spec.name)
    with tempfile.TemporaryDirectory(prefix="backtest-spec-") as tmp:
        base = None
        if args.against:
            old = load_stack(spec_at(args.spec, args.against, Path(tmp)), f"{args.spec.name}@{args.against}")
            base = Plan.of(old, f"{args.spec.name} at {args.against}")
    metrics = list(dict.fromkeys(head.raw_metrics() + (base.raw_metrics() if base else [])))
    step = parse_duration(stack.glob.scrape_interval)
    args.out.mkdir(parents=True, exist_ok=True)
    with ScratchStore() as store:
        began = time.monotonic()
        series = source.copy(metrics, start - LOOKBACK, end, store, step)
        print(f"backtest: copied {series} series of {len(metrics)} metrics from {source.url} "
              f"in {time.monotonic() - began:.1f}s")
        result, episodes = replay(head, store, start, end)
        images = () if args.no_timelines else tuple(
            p.name for p in timeline.draw(head, episodes, store.url, start, end, args.out))
        base_result = None
        if base is not None:
            with ScratchStore() as other:        # a store of its own: its ALERTS and records must not mix
                Source(store.url).copy(metrics, start - LOOKBACK, end, other, step)
                base_result, _ = replay(base, other, start, end)
    print(report.terminal(result))
    if base_result is not None:
        print(report.terminal_diff(base_result, result))
    path = args.out / REPORT_FILE
    path.write_text(report.markdown(result, base_result, images))
    (args.out / JSON_FILE).write_text(report.as_json(result))
    if base_result is not None:
        (args.out / f"base-{JSON_FILE}").write_text(report.as_json(base_result))
    print(f"backtest: report in {path}" + (f", timelines {', '.join(images)}" if images else ""))
    return 0
