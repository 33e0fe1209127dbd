"""Hostile specs with the real promtool and amtool judging what the generator renders.

tests/generator/test_hostile_specs.py runs the attacks and the fuzzer in-process without the
tools; here generate.main runs as the CLI does when the tools are installed: a spec whose
rendered files promtool or amtool refuse is a spec error (one line, nothing written).
"""
from __future__ import annotations

import difflib
import os
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

import generate
from stackgen import checks
from stackgen import conventions as n
from tests.conftest import need_tools
from tests.generator.hostile import FIXTURE, SEED, Workspace, is_refusal, jobs, mutated_spec, run

pytestmark = pytest.mark.tools


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Workspace:
    need_tools("promtool", "amtool")
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv(generate.SKIP_TOOLS_ENV, raising=False)   # the judgement these tests are about
        yield Workspace.create(tmp_path_factory.mktemp("hostile-tools"), tools=True)


def test_a_spec_the_tools_refuse_is_a_spec_error_and_nothing_is_written(tmp_path):
    """check_rendered judges rendered text with the real promtool/amtool before anything is written."""
    from stackgen.pipeline import render_spec
    need_tools("promtool", "amtool")
    _, files = render_spec(FIXTURE)
    assert checks.check_rendered(files) == []
    broken = dict(files)
    broken[n.ALERTMANAGER_CONFIG] = files[n.ALERTMANAGER_CONFIG].replace("chat_id: -100123", "chat_id: 0")
    rule_file = next(rel for rel in files if rel.endswith("platform.rules.yml"))
    broken[rule_file] = files[rule_file].replace("expr: up == 0", "expr: up ==== 0")
    problems = checks.check_rendered(broken)
    assert len(problems) == 2
    assert problems[0].startswith(f"promtool check config rejects the rendered {n.PROMETHEUS_CONFIG}: ")
    assert "platform.rules.yml" in problems[0] and "\n" not in problems[0]
    assert problems[1].startswith(f"amtool check-config rejects the rendered {n.ALERTMANAGER_CONFIG}: ")
    assert "chat_id" in problems[1]


def test_999_scrape_jobs_pass_the_real_tools(workspace, tmp_path):
    """The largest spec allowed: its 999 jobs and 1,000-term TargetAbsent chain are accepted by promtool."""
    code, _, stderr, _ = run(jobs(998), workspace.base / "jobs.yaml", tmp_path / "out", tools=True)
    assert code == 0, stderr
    assert "job997" in (tmp_path / "out" / n.PROMETHEUS_CONFIG).read_text()
    assert "job997" in (tmp_path / "out" / n.RULES_DIR / "platform.rules.yml").read_text()


FUZZ_EXAMPLES = int(os.environ.get("STACKGEN_FUZZ_EXAMPLES", "100"))
FUZZ_FIGURES = {"cases": 0, "accepted": 0, "rejected": 0, "tool_rejected": 0, "slowest": 0.0}


@settings(max_examples=FUZZ_EXAMPLES, deadline=timedelta(seconds=10), database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(spec_text=mutated_spec())
def test_fuzzed_specs_render_what_the_tools_accept_or_end_in_one_line(workspace, spec_text):
    code, _, stderr, seconds = run(spec_text, workspace.base / "fuzz.yaml", workspace.out, tools=True)
    FUZZ_FIGURES["cases"] += 1
    FUZZ_FIGURES["slowest"] = max(FUZZ_FIGURES["slowest"], seconds)
    assert code in (0, 2)
    assert "Traceback" not in stderr
    if code == 2:
        FUZZ_FIGURES["rejected"] += 1
        FUZZ_FIGURES["tool_rejected"] += "rejects the rendered" in stderr
        assert is_refusal(stderr), stderr[:3000]
        assert workspace.unchanged()
    else:
        FUZZ_FIGURES["accepted"] += 1
        if os.environ.get("STACKGEN_FUZZ_FULLCHECK"):
            # Long runs: also every promtool unit test and amtool routing case on what was written.
            # Recorded, not asserted: a failing generated unit test is a generator bug to report,
            # found by this measurement; the run goes on to count them all.
            failed = [r.name for r in checks.run_all(workspace.out) if not r.ok]
            if failed:
                edits = [line for line in difflib.unified_diff(SEED.splitlines(), spec_text.splitlines(), n=0,
                                                               lineterm="") if line[:1] in "+-"][2:]
                FUZZ_FIGURES.setdefault("full_check_failures", []).append((failed, edits))
        workspace.restore()   # accepted: the seed's outputs back for the next example
    if os.environ.get("STACKGEN_FUZZ_REPORT"):
        Path(os.environ["STACKGEN_FUZZ_REPORT"]).write_text(repr(FUZZ_FIGURES))
