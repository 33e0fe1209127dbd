"""The real promtool on the SLO rules of the generator tests' small spec: they load, their generated tests
pass, and the tests catch a pair whose burn rate is changed by hand."""
from __future__ import annotations

import subprocess

import pytest

from tests.conftest import need_tools
from tests.generator import fixture
from tests.generator.test_slos import two_slos_and_a_budget

pytestmark = pytest.mark.tools


def _write(tmp_path, files):
    for path, text in files.items():
        if path.startswith("rules/") and "slo" in path:
            target = tmp_path / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
    return sorted((tmp_path / "rules" / "tests").glob("slo*.test.yml"))


def _test(paths):
    return subprocess.run(["promtool", "test", "rules", *map(str, paths)], capture_output=True, text=True,
                          timeout=300)


def test_slo_rules_load_and_their_tests_pass(tmp_path):
    need_tools("promtool")
    _, files = fixture.render(two_slos_and_a_budget)
    tests = _write(tmp_path, files)
    assert len(tests) == 4
    check = subprocess.run(["promtool", "check", "rules", str(tmp_path / "rules" / "slo.rules.yml")],
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    proc = _test(tests)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_changed_burn_rate_fails_the_pairs_tests(tmp_path):
    need_tools("promtool")
    _, files = fixture.render(two_slos_and_a_budget)
    files["rules/slo.rules.yml"] = files["rules/slo.rules.yml"].replace("/ 0.005 > 14.4", "/ 0.005 > 20")
    tests = _write(tmp_path, files)
    proc = _test([t for t in tests if t.name == "slo.test.yml"])
    assert proc.returncode != 0
    assert "OrderAckBudgetBurn" in proc.stdout + proc.stderr
