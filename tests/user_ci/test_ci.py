"""The CI templates users copy (GitHub, GitLab, pre-commit) and the annotations on pull requests."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from stackgen import annotations
from stackgen import conventions as n
from tests.conftest import ROOT, need_tools, run_generate

WORKFLOW = ROOT / ".github" / "workflows" / "check.yml"
GITLAB = ROOT / ".gitlab-ci.yml"
HOOKS = ROOT / ".pre-commit-hooks.yaml"


def _validate(schema: str, path: Path) -> subprocess.CompletedProcess:
    # check-jsonschema ships these schemas vendored: no network needed.
    return subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, str(path)],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("schema, path", [("vendor.github-workflows", WORKFLOW), ("vendor.gitlab-ci", GITLAB)])
def test_ci_files_validate_against_their_schema(schema, path):
    proc = _validate(schema, path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("schema, path, breakage", [
    ("vendor.github-workflows", WORKFLOW, ("runs-on:", "runs_on:")),
    ("vendor.gitlab-ci", GITLAB, ("script:", "scripts:")),
])
def test_the_schema_check_catches_a_broken_file(tmp_path, schema, path, breakage):
    broken = tmp_path / path.name
    broken.write_text(path.read_text().replace(*breakage))
    assert _validate(schema, broken).returncode != 0


def _workflow_commands() -> list[str]:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    steps = workflow["jobs"]["check"]["steps"]
    return [line.strip() for step in steps for line in step.get("run", "").splitlines() if line.strip()]


def _make_targets(commands: list[str]) -> list[str]:
    return [c.split()[1] for c in commands if c.startswith("make ")]


def _makefile_recipes() -> dict[str, list[str]]:
    recipes: dict[str, list[str]] = {}
    current = None
    for line in (ROOT / "Makefile").read_text().splitlines():
        target = re.match(r"^([a-zA-Z_-]+):", line)
        if target:
            current = target.group(1)
            recipes[current] = []
        elif line.startswith("\t") and current:
            recipes[current].append(line.strip())
        elif line.strip() and not line.startswith("\t"):
            current = None
    return recipes


def test_workflow_triggers_permissions_and_pinned_actions():
    text = WORKFLOW.read_text()
    workflow = yaml.safe_load(text)
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as true
    assert "pull_request" in triggers and "push" in triggers
    assert workflow["permissions"] == {"contents": "read"}
    uses = re.findall(r"uses:\s*(\S+)(.*)", text)
    assert uses
    for action, comment in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", action), f"{action} is not pinned to a commit"
        assert re.search(r"# v\d+\.\d+\.\d+", comment), f"{action} has no version comment"
    setup_python = next(s for s in workflow["jobs"]["check"]["steps"] if "setup-python" in s.get("uses", ""))
    assert setup_python["with"]["cache"] == "pip"
    commands = "\n".join(_workflow_commands())
    assert "exit 101" in commands and "policy-rc.d" in commands
    assert "systemctl disable --now" in commands
    assert "apt-get install" in commands and "prometheus prometheus-alertmanager" in commands.replace("\\\n", "")


def test_ci_runs_the_make_targets_the_tests_run():
    recipes = _makefile_recipes()
    github = _make_targets(_workflow_commands())
    gitlab = _make_targets(yaml.safe_load(GITLAB.read_text())["check"]["script"])
    assert github == gitlab == ["check", "test"]
    assert all(target in recipes for target in github)
    # `make check` is the drift check and the real-tool checks the suite runs in-process
    # (tests/real_tools/test_real_tools.py: stackgen.checks.run_all), `make test` is the suite itself.
    assert "$(PY) generate.py --check" in recipes["check"]
    assert "$(PY) -m stackgen.checks" in recipes["check"]
    assert "$(PY) -m pytest" in recipes["test"]
    assert "tools" in (ROOT / "Makefile").read_text().split("\ncheck:")[1].split("##")[0]
    # Our own CI runs the same target.
    assert "make test" in (ROOT / ".ci" / "run").read_text()


@pytest.mark.tools
def test_make_check_passes_here():
    need_tools("promtool", "amtool")
    proc = subprocess.run(["make", "--no-print-directory", "check", f"PY={sys.executable}"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "0 failed" in proc.stdout


@pytest.mark.tools
def test_pre_commit_hook_runs_the_drift_check():
    hooks = yaml.safe_load(HOOKS.read_text())
    hook = next(h for h in hooks if h["id"] == "stackgen-check")
    assert hook["entry"].split()[1:] == ["generate.py", "--check"]
    assert hook["pass_filenames"] is False
    # The README's example config names this hook.
    assert "id: stackgen-check" in (ROOT / "README.md").read_text()
    proc = subprocess.run([sys.executable, *hook["entry"].split()[1:]], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# -- annotations -------------------------------------------------------------

def test_escaping_follows_githubs_rules():
    assert annotations.escape_data("50% a\r\nb, c: d") == "50%25 a%0D%0Ab, c: d"
    assert annotations.escape_property("a,b:c%\n") == "a%2Cb%3Ac%25%0A"
    command = annotations.error_command("x\ny", file="spec.yaml", line=7, title="alerts.a: b,c")
    assert command == "::error file=spec.yaml,line=7,title=alerts.a%3A b%2Cc::x%0Ay"


def _generate_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("GITHUB_ACTIONS", "GITHUB_WORKSPACE")}
    env.update(extra)
    return env


def _bad_spec(edited_spec) -> tuple[Path, int]:
    def bad(data):
        data["alerts"]["drawdown"]["warning"] = 1.5
    path = edited_spec(bad)
    lines = path.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("alerts:"))
    line = next(i for i, text in enumerate(lines) if i > start and text.strip() == "warning: 1.5") + 1
    return path, line


def test_bad_spec_under_github_actions_prints_an_annotation_on_its_line(edited_spec, tmp_path):
    spec, line = _bad_spec(edited_spec)
    env = _generate_env(tmp_path, GITHUB_ACTIONS="true", GITHUB_WORKSPACE=str(tmp_path))
    proc = subprocess.run([sys.executable, str(ROOT / "generate.py"), "--spec", str(spec), "--out",
                           str(tmp_path / "out")], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 2
    assert proc.stderr == f"error: {spec}:{line}: alerts.drawdown.warning: must be above 0 and below 1 (got 1.5)\n"
    assert proc.stdout == (f"::error file=spec.yaml,line={line},title=spec error%3A alerts.drawdown.warning::"
                           "alerts.drawdown.warning: must be above 0 and below 1 (got 1.5)\n")
    assert not (tmp_path / "out").exists()


def test_bad_spec_elsewhere_keeps_the_one_line_output(edited_spec, tmp_path):
    spec, line = _bad_spec(edited_spec)
    env = _generate_env(tmp_path)
    proc = subprocess.run([sys.executable, str(ROOT / "generate.py"), "--spec", str(spec)],
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr == f"error: {spec}:{line}: alerts.drawdown.warning: must be above 0 and below 1 (got 1.5)\n"


@pytest.mark.tools
def test_failing_check_is_annotated_on_the_generated_file(tmp_path):
    need_tools("promtool", "amtool")
    out = tmp_path / "out"
    assert run_generate("--out", str(out)).returncode == 0
    rules = out / n.RULES_DIR / "topn.rules.yml"
    rules.write_text(rules.read_text().replace("trading_drawdown_ratio > 0.1", "trading_drawdown_ratio > 0.5"))
    command = [sys.executable, "-m", "stackgen.checks", "--root", str(out)]
    env = _generate_env(tmp_path, GITHUB_ACTIONS="true", GITHUB_WORKSPACE=str(out))
    annotated = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    plain = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300,
                           env=_generate_env(tmp_path))
    assert annotated.returncode == plain.returncode == 1
    errors = [line for line in annotated.stdout.splitlines() if line.startswith("::error")]
    assert len(errors) == 1
    assert errors[0].startswith("::error file=rules/tests/topn.test.yml,title=promtool test rules::")
    assert "TradingDrawdownHigh" in errors[0]
    assert "::" not in plain.stdout
    assert [line for line in annotated.stdout.splitlines() if not line.startswith("::error")] \
        == plain.stdout.splitlines()


def test_drift_under_github_actions_is_annotated_on_the_stale_file(tmp_path):
    out = tmp_path / "out"
    assert run_generate("--out", str(out), "--no-tool-check").returncode == 0
    stale = out / n.RULES_DIR / "topn.rules.yml"
    stale.write_text(stale.read_text() + "# edited by hand\n")
    command = [sys.executable, str(ROOT / "generate.py"), "--check", "--no-tool-check", "--out", str(out)]
    annotated = subprocess.run(command, capture_output=True, text=True, timeout=120,
                               env=_generate_env(tmp_path, GITHUB_ACTIONS="true", GITHUB_WORKSPACE=str(out)))
    plain = subprocess.run(command, capture_output=True, text=True, timeout=120, env=_generate_env(tmp_path))
    assert annotated.returncode == plain.returncode == 1
    errors = [line for line in annotated.stdout.splitlines() if line.startswith("::error")]
    assert errors == ["::error file=rules/topn.rules.yml,title=generated file out of date::rules/topn.rules.yml "
                      "differs: regenerate with `make generate` and commit it with spec.yaml"]
    assert "::" not in plain.stdout
    assert [line for line in annotated.stdout.splitlines() if not line.startswith("::")] == plain.stdout.splitlines()


def test_the_optional_backtest_jobs_run_make_backtest_only_when_a_history_is_configured():
    job = yaml.safe_load(WORKFLOW.read_text())["jobs"]["backtest"]
    assert "vars.BACKTEST_URL" in job["if"] and "pull_request" in job["if"]
    run = "\n".join(step.get("run", "") for step in job["steps"])
    assert 'make backtest BACKTEST_ARGS="--days 7 --against origin/$BASE_REF"' in run
    assert "GITHUB_STEP_SUMMARY" in run and "victoria-metrics" in run
    env = next(step["env"] for step in job["steps"] if "make backtest" in step.get("run", ""))
    assert env["BACKTEST_URL"] == "${{ vars.BACKTEST_URL }}" and "secrets.BACKTEST_PASSWORD" in env["BACKTEST_PASSWORD"]
    gitlab = yaml.safe_load(GITLAB.read_text())["backtest"]
    assert gitlab["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "merge_request_event" && $BACKTEST_URL'}]
    assert any(line.startswith("make backtest ") for line in gitlab["script"])
    assert "backtest" in _makefile_recipes()
