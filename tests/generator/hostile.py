"""Helpers of the hostile-spec tests: the seed spec, running generate.main in-process, the fuzzer's
strategy, and a workspace holding the seed's generated files to compare with and restore from.

Used by tests/generator/test_hostile_specs.py (in-process, no real binaries) and by
tests/real_tools/test_hostile_specs_tools.py (the same, judged by the real promtool and amtool).
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import time
from dataclasses import dataclass
from pathlib import Path

from hypothesis import strategies as st

import generate

FIXTURE = Path(__file__).parent / "fixtures" / "small_spec.yaml"
SEED = FIXTURE.read_text()


def snapshot(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def run(spec_text: str | bytes, spec: Path, out: Path, tools: bool = False) -> tuple[int, str, str, float]:
    """generate.main as the CLI runs it; `tools` keeps its promtool/amtool judgement of the rendered files."""
    spec.write_bytes(spec_text if isinstance(spec_text, bytes) else spec_text.encode("utf-8", "surrogatepass"))
    stdout, stderr = io.StringIO(), io.StringIO()
    argv = ["--spec", str(spec), "--out", str(out)] + ([] if tools else ["--no-tool-check"])
    start = time.monotonic()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = generate.main(argv)
    return code, stdout.getvalue(), stderr.getvalue(), time.monotonic() - start


@dataclass
class Workspace:
    """A folder with the seed's generated files in `out`, their digest and their bytes."""
    base: Path
    out: Path
    digest: str
    files: dict[str, bytes]

    @classmethod
    def create(cls, base: Path, tools: bool = False) -> Workspace:
        out = base / "out"
        code, _, stderr, _ = run(SEED, base / "spec.yaml", out, tools)
        assert code == 0, stderr
        files = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}
        return cls(base, out, snapshot(out), files)

    def unchanged(self) -> bool:
        return snapshot(self.out) == self.digest

    def restore(self) -> None:
        """Put back the seed's outputs (after a spec that was accepted and wrote its own): remove
        the files the seed does not have, rewrite the ones that differ."""
        present = {p.relative_to(self.out).as_posix(): p for p in self.out.rglob("*") if p.is_file()}
        for rel, path in present.items():
            if rel not in self.files:
                path.unlink()
        for rel, data in self.files.items():
            path = self.out / rel
            if rel not in present or path.read_bytes() != data:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
        assert self.unchanged()


def is_refusal(stderr: str) -> bool:
    """What a refused spec prints: one `error:` line; or one per missing required key (a run names
    them all, a screenful at most) and at most one more; every line short, all of it at most 2 KB."""
    lines = stderr.splitlines()
    return (bool(lines) and stderr.endswith("\n") and all(line.startswith("error: ") for line in lines)
            and all("missing required key" in line or line == lines[-1] for line in lines)
            and len(lines) <= 13 and all(len(line.encode()) <= 1024 for line in lines)
            and len(stderr.encode()) <= 2048)


def sub(old: str, new: str) -> str:
    assert old in SEED, old
    return SEED.replace(old, new, 1)


def jobs(count: int) -> str:
    lines = "".join(f"    - name: job{i}\n      targets: ['h{i}:9100']\n" for i in range(count))
    return SEED.replace("  jobs:\n", "  jobs:\n" + lines, 1)


# -- the fuzzer's strategy ----------------------------------------------------------------------------

HOSTILE_VALUES = [
    "", "~", "null", "yes", "no", "on", "off", "0", "-0", "010", "0x1F", "0b101", "1:20", "1_000", ".inf", "-.inf",
    ".nan", "1e400", "9" * 400, "-" + "9" * 30, "0.0000001", "[]", "{}", "[[[[[[[[]]]]]]]]", "{a: {b: {c: 1}}}",
    "&x 1", "*x", "*undefined", "!!python/object:os.system x", "!!binary aGk=", "!!set {a}", "!!str 5",
    "'{{ .x }}'", "'a\"b'", "'a\\\\b'", "\"\\u0000\"", "\"\\ud800\"", "\"line\\nbreak\"", "300y", "100000y", "0s",
    "1ms", "24:30", "'24:00'", "Mars/Olympus", "Local", "http://", "'http://a b'", "http://h:99999/x",
    "ftp://example.com/", "'x' * 3", "|\n  block", ">-\n  folded", "2024-01-01", "2001-12-14t21:59:43.10-05:00",
    "'" + "x" * 70_000 + "'", "é✓😀", "<<", "? complex\n  : key", "'%'", "\"\\t\"", "true", "false", "5", "-1",
]


@st.composite
def mutated_spec(draw) -> str:
    lines = SEED.splitlines()
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        index = draw(st.integers(min_value=0, max_value=len(lines) - 1))
        line = lines[index]
        kind = draw(st.sampled_from(["value", "value", "value", "text", "number", "number", "quoted", "quoted",
                                     "delete", "duplicate", "indent", "key"]))
        if kind in ("value", "text", "number", "quoted") and ":" in line:
            head = line.split(":", 1)[0]
            if kind == "value":
                value = draw(st.sampled_from(HOSTILE_VALUES))
            elif kind == "text":
                value = draw(st.text(max_size=12))
            elif kind == "quoted":
                # Any string, validly quoted: reaches the string checks instead of the YAML parser.
                value = json.dumps(draw(st.text(max_size=24)))
            else:
                value = repr(draw(st.one_of(st.integers(min_value=-10**25, max_value=10**25),
                                            st.floats(allow_nan=False, allow_infinity=False))))
            lines[index] = f"{head}: {value}"
        elif kind == "delete":
            del lines[index]
        elif kind == "duplicate":
            lines.insert(index, line)
        elif kind == "indent":
            lines[index] = " " * draw(st.integers(min_value=0, max_value=6)) + line.lstrip()
        elif kind == "key":
            indent = len(line) - len(line.lstrip())
            lines.insert(index, " " * indent + draw(st.sampled_from(["<<: {a: 1}", "on: 1", "5: x", "x: &a [*a]"])))
        if not lines:
            lines = ["~"]
    return "\n".join(lines) + "\n"
