#!/usr/bin/env python3
"""How long generate.py takes: cold `--check` on the shipped spec (goal < 0.4 s) and the render
of specs 10x, 50x and 100x the default (goal: linear, 100x under 3 s).

    python bench/generate_bench.py [--repeats N] [--spec PATH] [--scales 1,10,50,100] [--profile N]

Prints: the import time of the pipeline (fresh interpreter); the wall time of
`python generate.py --check` as a user runs it, with and without the promtool/amtool judgement;
the in-process load + render time per renderer (warm); and per scale factor N, the wall time of
`generate.py --spec <N x spec> --check --no-tool-check` (a fresh interpreter, the files compared
with an empty folder) and its in-process load + render time. A spec N x the default has N times
the scrape jobs, the dashboards and the alerts of one's own (copies under new names), built here.
"Cold" is a fresh interpreter with its caches as every run after the first has them (.pyc files,
Jinja's compiled recipes): an untimed run writes them first. Medians of the runs; never fails on time.
"""
from __future__ import annotations

import argparse
import copy
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

COLD_TARGET = 0.4
SCALE_TARGET = 3.0


# A user's interpreter keeps .pyc files and Jinja keeps its compiled recipes (both written by the
# first run after a clone); PYTHONDONTWRITEBYTECODE, set on some CI images, would make every run a
# first run. The runs below measure what every later run costs; one untimed run first writes the caches.
_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _wall(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=False, capture_output=True, env=_ENV)
    return time.perf_counter() - start


def _walls(cmd: list[str], repeats: int) -> list[float]:
    _wall(cmd)                                   # writes .pyc and Jinja's cache where missing
    return [_wall(cmd) for _ in range(repeats)]


def _import_seconds() -> float:
    code = ("import time; t = time.perf_counter(); import stackgen.pipeline; "
            "print(time.perf_counter() - t)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                         env=_ENV)
    return float(out.stdout)


def _ms(samples: list[float]) -> str:
    return f"median {statistics.median(samples) * 1000:7.1f} ms  (min {min(samples) * 1000:7.1f})"


def scaled_spec(spec: dict, factor: int) -> dict:
    """`spec` with `factor` times its enabled scrape jobs, dashboards and alerts of one's own."""
    out = copy.deepcopy(spec)
    if factor == 1:
        return out
    jobs = [j for j in spec["scrape"]["jobs"] if j.get("enabled", True) and not j.get("profile")]
    for i in range(2, factor + 1):
        for job in jobs:
            new = copy.deepcopy(job)
            new["name"] = f"{job['name']}-{i}"
            new["targets"] = [f"{t.split(':')[0]}-{i}:{t.split(':')[1]}" for t in job["targets"]]
            out["scrape"]["jobs"].append(new)
    own = {k: v for k, v in spec["alerts"].items() if k[:1].isupper()}
    for i in range(2, factor + 1):
        for name, alert in own.items():
            out["alerts"][f"{name}{i}"] = copy.deepcopy(alert)
    for i in range(2, factor + 1):
        for board in spec["dashboards"]:
            new = copy.deepcopy(board)
            new["uid"] = f"{board['uid']}-{i}"
            new["title"] = f"{board['title']} {i}"
            out["dashboards"].append(new)
    return out


def _in_process(spec_path: Path, repeats: int) -> list[float]:
    from stackgen.pipeline import render_spec
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        render_spec(spec_path)
        samples.append(time.perf_counter() - start)
    return samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs per figure (2 for the 50x and 100x specs)")
    parser.add_argument("--spec", type=Path, default=ROOT / "spec.yaml")
    parser.add_argument("--scales", default="1,10,50,100")
    parser.add_argument("--profile", type=int, default=0, help="cProfile the in-process render of this scale")
    args = parser.parse_args(argv)
    generate = [sys.executable, str(ROOT / "generate.py")]

    if args.profile:
        import cProfile
        import pstats
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "spec.yaml"
            path.write_text(yaml.safe_dump(scaled_spec(yaml.safe_load(args.spec.read_text()), args.profile),
                                           sort_keys=False))
            from stackgen.pipeline import render_spec
            profiler = cProfile.Profile()
            profiler.runcall(render_spec, path)
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        return 0

    print(f"generate.py benchmark ({args.repeats} runs each, spec {args.spec.name})")
    imports = [_import_seconds() for _ in range(args.repeats)]
    print(f"  import stackgen.pipeline (fresh interpreter)           {_ms(imports)}")
    with_tools = _walls([*generate, "--spec", str(args.spec), "--check"], args.repeats)
    without = _walls([*generate, "--spec", str(args.spec), "--check", "--no-tool-check"], args.repeats)
    for label, samples in (("python generate.py --check (cold, promtool+amtool)", with_tools),
                           ("python generate.py --check --no-tool-check (cold)", without)):
        median = statistics.median(samples)
        print(f"  {label:<54} {_ms(samples)}  {'within' if median < COLD_TARGET else 'OVER'} "
              f"the {COLD_TARGET} s goal")

    from stackgen.load import load_stack
    from stackgen.pipeline import RENDERERS
    per: dict[str, list[float]] = {r.__name__.rsplit(".", 1)[-1]: [] for r in RENDERERS}
    for run in range(args.repeats + 1):     # a fresh Stack each run (renderers share work per Stack)
        stack = load_stack(args.spec)
        for renderer in RENDERERS:
            t = time.perf_counter()
            renderer.render(stack)
            if run:                         # run 0 warms first-call caches
                per[renderer.__name__.rsplit(".", 1)[-1]].append(time.perf_counter() - t)
    for name, samples in per.items():
        print(f"    render {name:<46} {_ms(samples)}")

    base = yaml.safe_load(args.spec.read_text())
    scales = [int(s) for s in args.scales.split(",") if s.strip()]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for factor in scales:
            path = Path(tmp) / f"spec-{factor}x.yaml"
            spec = scaled_spec(base, factor)
            path.write_text(yaml.safe_dump(spec, sort_keys=False))
            empty = Path(tmp) / f"out-{factor}x"
            empty.mkdir()
            repeats = max(1, args.repeats if factor <= 10 else 2)
            wall = _walls([*generate, "--spec", str(path), "--out", str(empty), "--check", "--no-tool-check"],
                          repeats)
            inproc = _in_process(path, repeats)
            rows.append((factor, len(spec["scrape"]["jobs"]), len(spec["dashboards"]),
                         sum(k[:1].isupper() for k in spec["alerts"]), wall, inproc))
    print("  scale (spec N x the default; generate.py --check --no-tool-check, cold wall; load + render in-process)")
    first = statistics.median(rows[0][5]) if rows else 0
    for factor, jobs, boards, alerts, wall, inproc in rows:
        per = statistics.median(inproc) / first / factor * (scales[0] if scales else 1) if first else 0
        verdict = ""
        if factor == 100:
            verdict = "  within the 3 s goal" if statistics.median(wall) < SCALE_TARGET else "  OVER the 3 s goal"
        print(f"    {factor:>4}x ({jobs:>4} jobs, {boards:>4} dashboards, {alerts:>4} own alerts)  wall "
              f"{statistics.median(wall):6.2f} s   render {statistics.median(inproc):6.2f} s "
              f"({per:4.2f}x the per-unit time of {scales[0]}x){verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
