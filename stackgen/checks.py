"""Judge the generated files with the real tools: promtool and amtool.

    python -m stackgen.checks [--root DIR]

Runs promtool check config / check rules / test rules, amtool check-config, and every
routing case of stack/alertmanager/routing-tests.yml through amtool config routes test.
"""
from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from stackgen import annotations
from stackgen import conventions as n


@dataclass(frozen=True)
class Result:
    name: str
    ok: bool
    output: str
    # The generated files the check ran on (relative to the root), for annotations.
    files: tuple[str, ...] = ()

    def failed_file(self) -> str | None:
        """The file a failure is about: the one promtool names before FAILED, else the first checked."""
        current = None
        for line in self.output.splitlines():
            named = _NAMED_FILE.match(line.strip())
            if named:
                current = named.group(1)
            elif "FAILED" in line and current:
                for rel in self.files:
                    if current == rel or current.endswith("/" + rel):
                        return rel
        return self.files[0] if self.files else None


# promtool prints "Checking <file>" (check rules/config) or "Unit Testing:  <file>" (test rules).
_NAMED_FILE = re.compile(r"^(?:Checking|Unit Testing:)\s+(\S+)")


TIMEOUT = 120   # seconds per tool run


def _run(name: str, command: list[str], files: tuple[str, ...] = ()) -> Result:
    try:
        # One pipe for both streams: promtool names each file on stdout and prints its failure on stderr,
        # so only the interleaved output says which file failed (see Result.failed_file).
        proc = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return Result(name, False, f"FAILED: did not finish within {TIMEOUT} s", files)
    return Result(name, proc.returncode == 0, proc.stdout.strip(), files)


# libyaml where built in: a config with 100,000 targets loads in 0.3 s instead of 10 s.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_YAML_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def check_rendered(files: dict[str, str], timeout: float = 60) -> list[str]:
    """Judge rendered (not yet written) files with promtool check config (which loads every rule
    file) and amtool check-config, in a temp dir, both at once. One line per rejection; empty
    when both accept, or when the tools are not installed."""
    if missing_tools():
        return []
    with tempfile.TemporaryDirectory(prefix="stackgen-check-") as tmp:
        base = Path(tmp)
        for rel, text in files.items():
            if rel == n.PROMETHEUS_CONFIG or rel == n.ALERTMANAGER_CONFIG or (
                    rel.startswith(n.RULES_DIR + "/") and rel.endswith(".rules.yml")):
                path = base / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
        commands = []
        if n.PROMETHEUS_CONFIG in files:
            config = yaml.load(files[n.PROMETHEUS_CONFIG], Loader=_YAML_LOADER)
            config["rule_files"] = [str(base / n.RULES_DIR / "*.rules.yml")]
            local = base / "prometheus-check.yml"
            local.write_text(yaml.dump(config, Dumper=_YAML_DUMPER), encoding="utf-8")
            commands.append(("promtool check config", n.PROMETHEUS_CONFIG,
                             ["promtool", "check", "config", str(local)]))
        if n.ALERTMANAGER_CONFIG in files:
            commands.append(("amtool check-config", n.ALERTMANAGER_CONFIG,
                             ["amtool", "check-config", str(base / n.ALERTMANAGER_CONFIG)]))
        running = [(name, rel, subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                                text=True, cwd=tmp))
                   for name, rel, command in commands]
        problems = []
        for name, rel, proc in running:
            try:
                output, _ = proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
                problems.append(f"{name} did not finish within {timeout:g}s on the rendered {rel}")
                continue
            if proc.returncode != 0:
                problems.append(f"{name} rejects the rendered {rel}: {_first_problem(output, tmp)}")
        return problems


def _first_problem(output: str, tmp: str) -> str:
    """The tool's own words, on one line, with temp paths made relative."""
    lines = [" ".join(line.replace(tmp + "/", "").split()) for line in output.splitlines()]
    lines = [line for line in lines if line]
    wanted = [line for line in lines if "FAILED" in line or "error" in line.lower()]
    text = "; ".join(dict.fromkeys(wanted or lines)) or "rejected"
    return text if len(text) <= 400 else text[:400] + "..."


def missing_tools() -> list[str]:
    return [tool for tool in ("promtool", "amtool") if shutil.which(tool) is None]


def run_all(root: Path) -> list[Result]:
    rules = sorted(str(p) for p in (root / n.RULES_DIR).glob("*.rules.yml"))
    tests = sorted(str(p) for p in (root / n.RULE_TESTS_DIR).glob("*.test.yml"))
    rel = _relative_to(root)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        # The committed config points rule_files at the container path; check a copy that points
        # at this tree's rules so promtool also loads every rule file through the config.
        config = yaml.safe_load((root / n.PROMETHEUS_CONFIG).read_text())
        config["rule_files"] = [str((root / n.RULES_DIR).resolve() / "*.rules.yml")]
        local = Path(tmp) / "prometheus.yml"
        local.write_text(yaml.safe_dump(config))
        results.append(_run("promtool check config", ["promtool", "check", "config", str(local)],
                            (n.PROMETHEUS_CONFIG,)))
    results.append(_run("promtool check rules", ["promtool", "check", "rules", *rules], rel(rules)))
    # Scale-out: agent-mode configs (no rules, no alerting), and vmalert's parser where it is installed.
    for agent in sorted((root / n.AGENTS_DIR).glob("*/prometheus.yml")):
        results.append(_run(f"promtool check config --agent {agent.parent.name}",
                            ["promtool", "check", "config", "--agent", str(agent)], rel([str(agent)])))
    if shutil.which("vmalert"):
        results.append(_run("vmalert -dryRun", ["vmalert", "-dryRun", "-loggerLevel=ERROR",
                                                *[f"-rule={r}" for r in rules]], rel(rules)))
    results.append(_run("promtool test rules", ["promtool", "test", "rules", *tests], rel(tests)))
    am_config = str(root / n.ALERTMANAGER_CONFIG)
    results.append(_run("amtool check-config", ["amtool", "check-config", am_config], (n.ALERTMANAGER_CONFIG,)))
    cases = yaml.safe_load((root / n.ROUTING_TESTS).read_text())["cases"]
    for case in cases:
        labels = [f"{k}={v}" for k, v in sorted(case["labels"].items())]
        result = _run(f"amtool routes test {' '.join(labels)} -> {','.join(case['receivers'])}",
                      ["amtool", "config", "routes", "test", f"--config.file={am_config}",
                       f"--verify.receivers={','.join(case['receivers'])}", *labels],
                      (n.ALERTMANAGER_CONFIG, n.ROUTING_TESTS))
        results.append(result)
    return results


def _relative_to(root: Path):
    def rel(paths: list[str]) -> tuple[str, ...]:
        return tuple(Path(p).relative_to(root).as_posix() for p in paths)
    return rel


def _annotate(result: Result, root: Path) -> None:
    """A failing check as a GitHub annotation on the generated file it ran on (no-op outside Actions)."""
    file = result.failed_file()
    lines = [line.strip() for line in result.output.splitlines() if line.strip()]
    # Start at the failing file's own section, so the annotation shows the failure, not the successes.
    start = [i for i, line in enumerate(lines) if file and _NAMED_FILE.match(line) and line.endswith("/" + file)]
    lines = lines[start[0] + 1:] if start else lines
    detail = "\n".join(lines[:20]) or "failed"
    annotations.emit_error(f"{result.name} failed:\n{detail}",
                           file=str(root / file) if file else None, title=result.name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="check the generated files with promtool and amtool")
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    args = parser.parse_args(argv)
    missing = missing_tools()
    if missing:
        print(f"error: {', '.join(missing)} not found; install Debian's prometheus and "
              "prometheus-alertmanager packages (make tools)", file=sys.stderr)
        return 2
    results = run_all(args.root)
    for result in results:
        print(f"{'ok  ' if result.ok else 'FAIL'} {result.name}")
        if not result.ok:
            print("\n".join("     " + line for line in result.output.splitlines()))
            _annotate(result, args.root)
    failed = sum(not r.ok for r in results)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
