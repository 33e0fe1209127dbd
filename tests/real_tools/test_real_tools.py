"""The generated files as the real promtool and amtool judge them.

The committed outputs of the shipped spec are checked as they are (the real-tool check);
every other test renders the tests' own fixture spec, with thresholds drawn across the
whole range each family declares, and lets promtool prove the generated tests pass.
"""
from __future__ import annotations

import random
import subprocess

import pytest
import yaml

from stackgen import checks
from stackgen import conventions as n
from stackgen import writer
from stackgen.alerts import families as fam
from tests.conftest import ROOT, need_tools
from tests.generator.fixture import base_data, base_render, render

pytestmark = pytest.mark.tools


@pytest.fixture(autouse=True)
def _tools():
    need_tools("promtool", "amtool")


def _failures(results):
    return [f"{r.name}:\n{r.output}" for r in results if not r.ok]


def test_committed_outputs_pass_every_real_check():
    results = checks.run_all(ROOT)
    assert not _failures(results)
    names = [r.name for r in results]
    assert {"promtool check config", "promtool check rules", "promtool test rules", "amtool check-config"} <= set(names)
    assert sum(name.startswith("amtool routes test") for name in names) >= 4


# -- any value within its range -----------------------------------------------------------------------------
def _pick(spec: fam.FieldSpec, frac: float, values: dict, buckets: dict):
    if spec.type == "duration":
        # Up to 1h: the timing is linear in `for`, and a day of 1m steps only costs promtool time.
        low, high = spec.minimum, min(spec.maximum, 3600)
        seconds = max(low, round(low + frac * (high - low)))
        return f"{int(seconds)}s" if seconds >= 1 else "0s"
    low, high = spec.low, spec.high
    if spec.within_buckets:
        low, high = buckets[spec.within_buckets][0], buckets[spec.within_buckets][-1] * 0.999
    if spec.above:
        low = values[spec.above]
    if spec.below:
        high = values[spec.below] - (1 if spec.integer else 0)
    eps = (high - low) * 1e-3
    low = low + eps if spec.low_open or spec.above else low
    high = high - eps if spec.high_open or (spec.below and not spec.integer) else high
    value = low + frac * (high - low)
    return round(value) if spec.integer else value


def _thresholds(fracs) -> dict:
    data = base_data()
    buckets = {"loop_latency": [0.001, 0.01, 0.1, 1], "http_duration": [0.01, 0.1, 0.5, 1, 5]}
    families = fam.families()
    for key, body in data["alerts"].items():
        if key not in families or not isinstance(body, dict):
            continue
        for spec in families[key].fields:
            if spec.type != "severity":
                body[spec.name] = _pick(spec, next(fracs), body, buckets)
    return data


def _random(seed: int):
    return lambda d: d.update(_thresholds(iter(random.Random(seed).random, None)))


def _variants():
    yield "readme example", lambda d: d["alerts"]["drawdown"].update(warning=0.07)
    yield "every threshold at its low end", lambda d: d.update(_thresholds(iter(lambda: 0.0, None)))
    yield "every threshold at its high end", lambda d: d.update(_thresholds(iter(lambda: 1.0, None)))
    for i in range(2):
        yield f"random {i}", _random(20261122 + i)


@pytest.mark.parametrize("edit", [v[1] for v in _variants()], ids=[v[0] for v in _variants()])
def test_any_thresholds_within_their_ranges_give_rules_whose_tests_pass(edit, tmp_path):
    stack, files = render(edit)
    writer.write(files, tmp_path, n.OWNED_DIRS)
    tests = sorted((tmp_path / n.RULE_TESTS_DIR).glob("*.test.yml"))
    proc = subprocess.run(["promtool", "test", "rules", *map(str, tests)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for config in stack.alerts.families:   # the rule says the number the spec has
        for name, value in config.values:
            if isinstance(value, float) and name != "for":
                assert repr(value) in files[f"{n.RULES_DIR}/{fam.families()[config.key].domain}.rules.yml"] \
                    or config.key in ("fx_stale",), (config.key, name, value)


def test_generated_tests_catch_a_rule_edited_by_hand(tmp_path):
    """A test that cannot fail proves nothing: break a rule, keep its tests, and promtool must object."""
    _, files = base_render()
    writer.write(files, tmp_path, n.OWNED_DIRS)
    rules = tmp_path / n.RULES_DIR / "topn.rules.yml"
    critical = base_data()["alerts"]["drawdown"]["critical"]
    assert f"trading_drawdown_ratio > {critical!r}" in rules.read_text()
    rules.write_text(rules.read_text().replace(f"trading_drawdown_ratio > {critical!r}",
                                               "trading_drawdown_ratio > 0.99"))
    proc = subprocess.run(["promtool", "test", "rules", str(tmp_path / n.RULE_TESTS_DIR / "topn.test.yml")],
                          capture_output=True, text=True)
    assert proc.returncode != 0
    assert "TradingDrawdownHigh" in proc.stdout + proc.stderr


def test_fixture_outputs_pass_every_real_check_with_routing(tmp_path):
    def warnings_to_email(data):
        data["alertmanager"]["routes"].append({"match": {"severity": "warning"}, "receivers": ["email"]})
    _, files = render(warnings_to_email)
    writer.write(files, tmp_path, n.OWNED_DIRS)
    results = checks.run_all(tmp_path)
    assert not _failures(results)
    assert any(r.name.endswith("severity=warning -> email") for r in results)


def test_amtool_rejects_a_route_to_the_wrong_receiver(tmp_path):
    _, files = base_render()
    writer.write(files, tmp_path, n.OWNED_DIRS)
    proc = subprocess.run(["amtool", "config", "routes", "test", f"--config.file={tmp_path / n.ALERTMANAGER_CONFIG}",
                           "--verify.receivers=slack", "severity=critical", "alertname=X"],
                          capture_output=True, text=True)
    assert proc.returncode != 0


GO_FLOATS = (1e6, 123456.0, 1234567.0, 0.0001, 0.00001, 0.3, 2.0, -1.5, 0.1 + 0.2, 1e21, 999999.0, 12.5)


def test_plain_value_text_is_exactly_what_prometheus_prints(tmp_path):
    """{{ $value }} as the real promtool renders it, for the values where Go and Python differ."""
    from stackgen.alerts.engine import _go_float
    rules = {"groups": [{"name": "g", "rules": [
        {"alert": f"V{i}", "expr": f"vector({v!r})", "annotations": {"text": "{{ $value }}"}}
        for i, v in enumerate(GO_FLOATS)]}]}
    tests = {"rule_files": ["rules.yml"], "evaluation_interval": "1m", "tests": [{
        "interval": "1m", "input_series": [],
        "alert_rule_test": [{"eval_time": "1m", "alertname": f"V{i}",
                             "exp_alerts": [{"exp_labels": {}, "exp_annotations": {"text": _go_float(v)}}]}
                            for i, v in enumerate(GO_FLOATS)]}]}
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(rules))
    (tmp_path / "tests.yml").write_text(yaml.safe_dump(tests))
    proc = subprocess.run(["promtool", "test", "rules", str(tmp_path / "tests.yml")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
