#!/usr/bin/env python3
"""Render the whole monitoring stack from the spec.

    python generate.py [--spec PATH] [--out DIR] [--check] [--effective]
    python generate.py backtest [...]    replay the rules over recorded history (see --help there)
    python generate.py preview [--check] what each receiver gets, rendered by Alertmanager (docs/notifications)

--check writes nothing and exits 1 listing every file that would change.
--effective writes nothing and prints the spec with every default filled in, each marked `# default`.
A bad spec prints one line (file:line: field: what) and exits 2, writing nothing; so does a
spec whose rendered files promtool or amtool (when installed) reject.
"""
from __future__ import annotations

import argparse
import gc
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from stackgen import venv  # noqa: E402  (standard library only)

if __name__ == "__main__":
    venv.ensure()       # `python generate.py` outside .venv runs again under .venv's python

# Only what parsing the arguments needs is imported here; the pipeline (and, through it, each
# renderer) is imported when used, so --help and a spec error start fast.
try:
    from stackgen import conventions as names  # noqa: E402
    from stackgen import coverage, writer  # noqa: E402
    from stackgen.errors import SpecError  # noqa: E402
except ModuleNotFoundError as exc:
    sys.exit(venv.missing_package(exc, "generate.py"))


# A run names every missing key at once, but a screenful at most (each line is cut short too).
MAX_ERROR_LINES = 12
# Skips the promtool/amtool judgement of the rendered files (for in-process test runs).
SKIP_TOOLS_ENV = "STACKGEN_SKIP_TOOL_CHECK"


def _judge_with_tools(files: dict[str, str], display: str) -> None:
    """Before anything is written: a spec the real tools would reject is a spec error."""
    from stackgen.checks import check_rendered
    problems = check_rendered(files)
    if problems:
        raise SpecError(f"{problems[0]} (the spec renders a file the real tool refuses)", file=display)


def _annotate_drift(changes, out: Path, display: str) -> None:
    """Under GitHub Actions, each stale generated file (at most 10) as an annotation; elsewhere nothing."""
    from stackgen import annotations
    stale = ([(rel, "would be added") for rel in changes.added] + [(rel, "differs") for rel in changes.changed]
             + [(rel, "would be removed") for rel in changes.removed])
    for rel, what in stale[:10]:
        annotations.emit_error(f"{rel} {what}: regenerate with `make generate` and commit it with {display}",
                               file=str(out / rel) if what != "would be added" else None,
                               title="generated file out of date")


def _report(exc: SpecError) -> None:
    """One line per problem (a run names every missing required key at once)."""
    from stackgen import annotations
    shown = exc.errors[:MAX_ERROR_LINES]
    for error in shown:
        print(f"error: {error}", file=sys.stderr)
        annotations.emit_spec_error(error)
    if len(exc.errors) > len(shown):
        print(f"error: ... and {len(exc.errors) - len(shown)} more", file=sys.stderr)


def _print_effective(spec: Path, display: str) -> int:
    from stackgen.load import load_stack
    from stackgen.spec.defaults import effective_yaml
    try:
        stack = load_stack(spec, display)
    except SpecError as exc:
        _report(exc)
        return 2
    print(f"# {display} with every default filled in (# default: not written in the spec)")
    print(effective_yaml(stack.effective, stack.defaulted), end="")
    return 0


def init_main(argv: list[str]) -> int:
    """`generate.py init --from URL|FILE [--out SPEC]`: propose a profile and a spec from a bot's /metrics."""
    parser = argparse.ArgumentParser(prog="generate.py init", description=init_main.__doc__)
    parser.add_argument("--from", dest="source", required=True, help="the bot's /metrics URL, or a saved exposition")
    parser.add_argument("--out", type=Path, default=Path("my-bot.yaml"),
                        help="the spec to write (default: my-bot.yaml)")
    parser.add_argument("--bot", help="the bot's name (its scrape job; default: from the URL's host or the file)")
    parser.add_argument("--target", help="host:port Prometheus scrapes (default: the URL's)")
    args = parser.parse_args(argv)
    from stackgen import adopt
    try:
        lines, _ = adopt.init(args.source, args.out, args.bot, args.target)
    except SpecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0


def probe_main(args) -> int:
    """`--probe URL|FILE`: each mapping of the spec's profiles against what the bot really serves."""
    from stackgen import adopt
    from stackgen.load import load_stack
    try:
        lines, ok = adopt.probe(load_stack(args.spec), adopt.read_exposition(args.probe), args.bot)
    except SpecError as exc:
        _report(exc)
        return 2
    print("\n".join(lines))
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["init"]:
        return init_main(argv[1:])
    if argv[:1] == ["backtest"]:
        from stackctl.backtest.cli import main as backtest
        return backtest(argv[1:], ROOT / names.SPEC_FILE)
    if argv[:1] == ["preview"]:
        from stackctl.preview.cli import main as preview
        return preview(argv[1:], ROOT / names.SPEC_FILE, ROOT)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     epilog="also: `generate.py init --from URL|FILE [--out SPEC]` (a spec and "
                                            "profile from a bot's /metrics), `generate.py backtest --help` (replay "
                                            "the rules over recorded history), `generate.py preview --help` (what "
                                            "each receiver gets)")
    parser.add_argument("--spec", type=Path, default=ROOT / names.SPEC_FILE, help="the spec (default: spec.yaml)")
    parser.add_argument("--out", type=Path, default=ROOT, help="output root (default: this repository)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if any file would change")
    parser.add_argument("--effective", action="store_true",
                        help="write nothing; print the spec with every default filled in and marked")
    parser.add_argument("--no-tool-check", action="store_true",
                        help=f"skip judging the rendered files with promtool/amtool (also: {SKIP_TOOLS_ENV}=1)")
    parser.add_argument("--probe", metavar="URL|FILE",
                        help="check each bot's profile against a live /metrics (or a saved one): found, missing, "
                             "out of range; exit 1 unless everything is found")
    parser.add_argument("--bot", help="with --probe: the bot whose exposition it is (default: every bot)")
    args = parser.parse_args(argv)
    if args.probe:
        return probe_main(args)
    display = args.spec.name if args.spec.resolve().parent == ROOT else str(args.spec)
    from stackgen import spec_schema
    from stackgen.pipeline import render_spec
    if args.effective:
        return _print_effective(args.spec, display)
    try:
        stack, files = render_spec(args.spec, display)
        files.update(spec_schema.render(ROOT, args.spec))   # the spec's JSON Schema, for editors (README)
        if not (args.no_tool_check or os.environ.get(SKIP_TOOLS_ENV) == "1"):
            _judge_with_tools(files, display)
    except SpecError as exc:
        _report(exc)
        return 2
    for note in stack.notes:
        print(f"note: {note}")
    for bot in coverage.report(stack):   # which alerts and panels each bot's profile can feed
        print("\n".join(bot.lines()))
    if args.check:
        changes = writer.compare(files, args.out, names.OWNED_DIRS)
        if changes.empty:
            print(f"up to date: {len(files)} generated files match {display}")
            return 0
        print(f"out of date: regenerate with `make generate` ({display} and the generated files differ):")
        print("\n".join(changes.lines()))
        _annotate_drift(changes, args.out, display)
        return 1
    changes = writer.write(files, args.out, names.OWNED_DIRS)
    print(f"generated {len(files)} files from {display} into {args.out}: "
          f"{len(changes.added)} added, {len(changes.changed)} changed, {len(changes.removed)} removed")
    return 0


if __name__ == "__main__":
    # A run builds many small objects that live until it ends (spec values, rules, panels), and the
    # cyclic collector would scan them again and again: a quarter of a large spec's time. A larger
    # first-generation threshold (the default is 700) keeps the collector, bounded, for a short run.
    gc.set_threshold(100_000, 50, 100)
    sys.exit(main())
