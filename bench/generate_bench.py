#!/usr/bin/env python3
"""How long generate.py takes, against the 1.5 s target.

    python bench/generate_bench.py [--repeats N] [--spec PATH] [--fail-over-target]

Prints: the import time of the generator (fresh interpreter), the in-process time of
loading the spec and of each renderer (best and median of N runs, warm), and the wall
time of `python generate.py --check` as a user runs it (best and median of N runs).
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_SECONDS = 1.5


def _wall(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=False, capture_output=True)
    return time.perf_counter() - start


def _import_seconds() -> float:
    code = ("import time; t = time.perf_counter(); import stackgen.pipeline; "
            "print(time.perf_counter() - t)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return float(out.stdout)


def _figures(samples: list[float]) -> str:
    return f"best {min(samples) * 1000:7.1f} ms   median {statistics.median(samples) * 1000:7.1f} ms"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--spec", type=Path, default=ROOT / "spec.yaml")
    parser.add_argument("--fail-over-target", action="store_true",
                        help="exit 1 when the median `generate.py --check` wall time is over the target")
    args = parser.parse_args(argv)

    imports = [_import_seconds() for _ in range(args.repeats)]

    from stackgen.model.stack import load_stack
    from stackgen.pipeline import RENDERERS, render_spec

    render_spec(args.spec)  # warm-up: first-call caches
    load, total = [], []
    per_renderer: dict[str, list[float]] = {r.__name__.rsplit(".", 1)[-1]: [] for r in RENDERERS}
    for _ in range(args.repeats):
        start = time.perf_counter()
        stack = load_stack(args.spec)
        load.append(time.perf_counter() - start)
        for renderer in RENDERERS:
            t = time.perf_counter()
            renderer.render(stack)
            per_renderer[renderer.__name__.rsplit(".", 1)[-1]].append(time.perf_counter() - t)
        total.append(time.perf_counter() - start)

    check_cmd = [sys.executable, str(ROOT / "generate.py"), "--spec", str(args.spec), "--check"]
    wall = [_wall(check_cmd) for _ in range(args.repeats)]

    print(f"generate.py benchmark ({args.repeats} runs each, spec {args.spec.name}, target {TARGET_SECONDS} s)")
    print(f"  import stackgen.pipeline (fresh interpreter)  {_figures(imports)}")
    print(f"  load + validate the spec (in-process)         {_figures(load)}")
    for name, samples in per_renderer.items():
        print(f"    render {name:<38} {_figures(samples)}")
    print(f"  load + every renderer (in-process, warm)      {_figures(total)}")
    print(f"  python generate.py --check (wall, subprocess) {_figures(wall)}")
    median = statistics.median(wall)
    verdict = "within" if median <= TARGET_SECONDS else "OVER"
    print(f"  => {verdict} the {TARGET_SECONDS} s target ({median / TARGET_SECONDS:.0%} of it)")
    return 1 if args.fail_over_target and median > TARGET_SECONDS else 0


if __name__ == "__main__":
    sys.exit(main())
