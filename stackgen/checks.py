"""Judge the generated files with the real tools: promtool and amtool.

    python -m stackgen.checks [--root DIR]

Runs promtool check config / check rules / test rules, amtool check-config, and every
routing case of stack/alertmanager/routing-tests.yml through amtool config routes test.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from stackgen import conventions as n


@dataclass(frozen=True)
class Result:
    name: str
    ok: bool
    output: str


def _run(name: str, command: list[str]) -> Result:
    proc = subprocess.run(command, capture_output=True, text=True, timeout=120)
    return Result(name, proc.returncode == 0, (proc.stdout + proc.stderr).strip())


def missing_tools() -> list[str]:
    return [tool for tool in ("promtool", "amtool") if shutil.which(tool) is None]


def run_all(root: Path) -> list[Result]:
    rules = sorted(str(p) for p in (root / n.RULES_DIR).glob("*.rules.yml"))
    tests = sorted(str(p) for p in (root / n.RULE_TESTS_DIR).glob("*.test.yml"))
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        # The committed config points rule_files at the container path; check a copy that points
        # at this tree's rules so promtool also loads every rule file through the config.
        config = yaml.safe_load((root / n.PROMETHEUS_CONFIG).read_text())
        config["rule_files"] = [str((root / n.RULES_DIR).resolve() / "*.rules.yml")]
        local = Path(tmp) / "prometheus.yml"
        local.write_text(yaml.safe_dump(config))
        results.append(_run("promtool check config", ["promtool", "check", "config", str(local)]))
    results.append(_run("promtool check rules", ["promtool", "check", "rules", *rules]))
    # Scale-out: agent-mode configs (no rules, no alerting), and vmalert's parser where it is installed.
    for agent in sorted((root / n.AGENTS_DIR).glob("*/prometheus.yml")):
        results.append(_run(f"promtool check config --agent {agent.parent.name}",
                            ["promtool", "check", "config", "--agent", str(agent)]))
    if shutil.which("vmalert"):
        results.append(_run("vmalert -dryRun", ["vmalert", "-dryRun", "-loggerLevel=ERROR",
                                                *[f"-rule={r}" for r in rules]]))
    results.append(_run("promtool test rules", ["promtool", "test", "rules", *tests]))
    am_config = str(root / n.ALERTMANAGER_CONFIG)
    results.append(_run("amtool check-config", ["amtool", "check-config", am_config]))
    cases = yaml.safe_load((root / n.ROUTING_TESTS).read_text())["cases"]
    for case in cases:
        labels = [f"{k}={v}" for k, v in sorted(case["labels"].items())]
        result = _run(f"amtool routes test {' '.join(labels)} -> {','.join(case['receivers'])}",
                      ["amtool", "config", "routes", "test", f"--config.file={am_config}",
                       f"--verify.receivers={','.join(case['receivers'])}", *labels])
        results.append(result)
    return results


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
    failed = sum(not r.ok for r in results)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
