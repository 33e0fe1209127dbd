#!/usr/bin/env python3
"""How long `make backtest` takes on 7 days of history for every rule of a spec (goal < 60 s).

    python bench/backtest_bench.py [--spec spec.yaml] [--days 7] [--out DIR]

The history is built here, one plausible series per metric the spec's rules read (15 s apart, the
bot's labels), imported into a real VictoriaMetrics that plays the user's; then `generate.py
backtest` runs against it as a user runs it (a fresh interpreter, PNG timelines included). Prints
the import time, the backtest's wall time and its replay time. Never fails on time.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from stackctl.backtest.engine import ScratchStore  # noqa: E402
from stackctl.backtest.run import LOOKBACK, Plan  # noqa: E402
from stackgen.load import load_stack  # noqa: E402
from tests.backtest.history import generic  # noqa: E402

TARGET = 60.0
STEP = 15.0
LABELS = {"job": "exporter", "instance": "exporter:9100", "env": "paper", "universe": "bench", "strategy": "bench"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", type=Path, default=ROOT / "spec.yaml")
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--out", type=Path, help="keep the report and timelines there (default: thrown away)")
    args = parser.parse_args()
    plan = Plan.of(load_stack(args.spec), args.spec.name)
    end = (time.time() // 3600 - 2) * 3600
    start = end - args.days * 86400
    rules = sum(1 for _ in plan.rules())
    with ScratchStore() as source, tempfile.TemporaryDirectory(prefix="backtest-bench-") as tmp:
        out = str(args.out or tmp)
        began = time.monotonic()
        history = generic(plan.raw_metrics(), start - LOOKBACK, end, STEP, LABELS)
        source.import_lines(history.import_lines())
        source.flush()
        samples = sum(len(v) for _, v in history.series)
        print(f"backtest bench: {len(history.series)} series, {samples} samples ({args.days:g} days at {STEP:g}s) "
              f"built and imported in {time.monotonic() - began:.1f}s")
        time.sleep(1.0)
        iso = lambda t: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))  # noqa: E731
        began = time.monotonic()
        done = subprocess.run([sys.executable, str(ROOT / "generate.py"), "backtest", "--spec", str(args.spec),
                               "--from", iso(start), "--to", iso(end), "--out", out],
                              env={**os.environ, "BACKTEST_URL": source.url}, capture_output=True, text=True)
        wall = time.monotonic() - began
        if done.returncode != 0:
            print(done.stdout + done.stderr, file=sys.stderr)
            return 1
        replayed = next((line for line in done.stdout.splitlines() if "replayed in" in line), "")
        replay = replayed.split("replayed in ", 1)[1].split("s;", 1)[0] if replayed else "?"
        verdict = "under" if wall < TARGET else "OVER"
        print(f"backtest bench: {rules} rules of {args.spec.name} over {args.days:g} days: make backtest "
              f"{wall:.1f}s wall ({verdict} the {TARGET:.0f}s goal), of which vmalert -replay {replay}s, "
              f"timelines included")
    return 0


if __name__ == "__main__":
    sys.exit(main())
