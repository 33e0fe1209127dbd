"""generate.py preview: what every receiver gets for one firing and one resolved alert of every family.

    python generate.py preview [--spec spec.yaml] [--check]

Writes docs/notifications/<receiver kind>.md; --check writes nothing and exits 1 when they differ.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stackgen import writer
from stackgen.errors import SpecError
from stackgen.load import load_stack
from stackctl.preview.alertmanager import PreviewError
from stackctl.preview.render import OUT_DIR, collect, markdown


def main(argv: list[str], default_spec: Path, root: Path) -> int:
    parser = argparse.ArgumentParser(prog="generate.py preview", description=__doc__.splitlines()[0])
    parser.add_argument("--spec", type=Path, default=default_spec)
    parser.add_argument("--out", type=Path, default=root, help="output root (default: this repository)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if the preview changed")
    args = parser.parse_args(argv)
    try:
        stack = load_stack(args.spec, args.spec.name)
        files = markdown(stack, collect(stack))
    except (SpecError, PreviewError) as exc:
        print(f"error: preview: {exc}", file=sys.stderr)
        return 2
    if args.check:
        changes = writer.compare(files, args.out, (OUT_DIR,))
        if changes.empty:
            print(f"up to date: {len(files)} preview files match {args.spec.name}")
            return 0
        print("out of date: regenerate with `make preview`:\n" + "\n".join(changes.lines()))
        return 1
    changes = writer.write(files, args.out, (OUT_DIR,))
    print(f"preview: {len(files)} files in {OUT_DIR}: {len(changes.added)} added, {len(changes.changed)} changed")
    return 0
