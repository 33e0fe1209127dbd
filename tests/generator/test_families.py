"""The family declarations themselves: complete, consistent with the demo, and their own tests pass."""
from __future__ import annotations

import pytest

from exporter.scenarios import SCENARIOS
from stackgen.alerts import families as fam
from stackgen.conventions import RECORDED_KEYS, signal_names


def test_every_declared_scenario_is_one_the_exporter_offers():
    # That a bot family declares one is the loader's check (test_family_errors.py); the platform
    # families watch the stack's own processes, which the native e2e breaks for them.
    for key, family in fam.families().items():
        for scenario in family.scenarios:
            assert scenario.name in SCENARIOS, (key, scenario.name)
            assert SCENARIOS[scenario.name].endswith(f"({family.alert})")


def _read(text: str):
    from stackgen.spec.fields import Field
    from stackgen.spec.loader import parse_yaml
    value, lines = parse_yaml(text, "families.yaml")
    return fam.read_catalog(Field(value, (), lines, "families.yaml"))


_FAMILY = """\
families:
  demo:
    domain: fx
    alert: DemoAlert
    fields:
      limit: {type: number, range: [0, 10], default: 5}
    rules:
      - {severity: warning, expr: "<< fx_valid_sources >> < << limit >>"}
    runbook:
      DemoAlert: {meaning: m, steps: [s]}
    test: {name: t}
"""


def test_a_declared_scenario_reaches_the_family():
    family = _read(_FAMILY + """\
    calm:
      fx_valid_sources: {min: limit}
    scenarios:
      cut:
        about: sources   go
        do:
          - {disconnect: fx_sources, keep: limit - 1}
          - {bot_alert: P0, source: fx_aggregator}
        check: {signal: fx_valid_sources, below: limit}
        e2e: {severity: warning}
""").families["demo"]
    assert family.calm == (("fx_valid_sources", "min", "limit"),)
    (scenario,) = family.scenarios
    assert (scenario.name, scenario.about, scenario.e2e) == ("cut", "sources go", {"severity": "warning"})
    assert scenario.actions[0] == {"disconnect": "fx_sources", "keep": "limit - 1"}
    assert scenario.check == {"signal": "fx_valid_sources", "below": "limit"}


def test_an_e2e_entry_carries_the_spec_it_sets_and_how_long_it_takes_to_resolve():
    family = _read(_FAMILY + """\
    scenarios:
      cut:
        about: sources go
        do: [{disconnect: fx_sources, keep: 1}]
        e2e: {severity: critical, spec: {limit: 2}, resolves_within: 3m}
""").families["demo"]
    assert family.scenarios[0].e2e == {"severity": "critical", "spec": {"limit": 2}, "resolves_within": "3m"}


@pytest.mark.parametrize("extra, message", [
    ("    scenarios:\n      x:\n        about: a\n        do:\n          - {teleport: okx}\n",
     r"families.yaml:\d+: families.demo.scenarios.x.do\[0\]: expected one demo action of move, silence"),
    ("    scenarios:\n      x:\n        about: a\n        do:\n          - {move: equity, to: 1}\n",
     r"families.yaml:\d+: families.demo.scenarios.x.do\[0\].move: the demo cannot move 'equity'"),
    ("    scenarios:\n      x:\n        about: a\n        do:\n          - {move: drawdown}\n",
     r"move needs to:"),
    ("    scenarios:\n      x:\n        about: a\n        do:\n          - {silence: okx, keep: 1}\n",
     r"families.demo.scenarios.x.do\[0\].keep: unknown key \(expected one of: silence\)"),
    ("    scenarios:\n      x:\n        about: a\n        do: [{silence: okx}]\n        check: {signal: drawdown}\n",
     r"a check needs one of above, below"),
    ("    calm:\n      equity: {max: 1}\n", r"families.demo.calm.equity: the demo cannot bound 'equity'"),
    ("    scenarios:\n      x:\n        about: a\n        do: [{silence: okx}]\n        e2e: {severity: page}\n",
     r"families.demo.scenarios.x.e2e.severity: expected one of critical, warning, info, none \(got 'page'\)"),
    ("    scenarios:\n      x:\n        about: a\n        do: [{silence: okx}]\n"
     "        e2e: {severity: warning, spec: {window: 1m}}\n",
     r"families.demo.scenarios.x.e2e.spec.window: names field 'window', which the family does not declare "
     r"\(fields: limit\)"),
    ("    scenarios:\n      x:\n        about: a\n        do: [{silence: okx}]\n"
     "        e2e: {severity: warning, resolves_within: soon}\n",
     r"families.demo.scenarios.x.e2e.resolves_within: expected a Prometheus duration"),
    ("    scenarios:\n      x:\n        about: a\n        do: [{silence: okx}]\n"
     "        e2e: {severity: warning, wait: 1m}\n",
     r"families.demo.scenarios.x.e2e.wait: unknown key"),
])
def test_a_bad_scenario_is_refused_with_its_place(extra, message):
    from stackgen.spec.fields import SpecError
    with pytest.raises(SpecError, match=message):
        _read(_FAMILY + extra)


def test_every_signal_key_a_template_names_resolves():
    names = signal_names(None)
    catalog = fam.catalog()
    keys = {k for f in catalog.families.values() for r in f.rules for k in fam_keys(r["expr"])}
    keys |= {k for r in catalog.records.values() for k in fam_keys(r.expr)}
    known = set(names) | {"path_label", "jobs", "job", "quantile", "severity", "seconds", "absent_targets",
                          "host_label", "target_labels", "am_peers"}
    known |= {"key", "value"}       # loop variables over absent_targets' label sets
    known |= {f.name for fam_ in catalog.families.values() for f in fam_.fields}
    known |= {k for fam_ in catalog.families.values() for r in fam_.rules for k in (r.get("let") or {})}
    assert keys <= known, keys - known
    assert set(RECORDED_KEYS) == set(catalog.records)


def fam_keys(text: str) -> set[str]:
    import re
    return set(re.findall(r"<<\s*(\w+)", text))


@pytest.mark.parametrize("key", sorted(fam.families()))
def test_every_field_default_is_valid_for_its_own_declaration(key):
    for spec in fam.families()[key].fields:
        assert spec.default is not None, (key, spec.name)
        if spec.type == "number":
            low_ok = spec.low is None or (spec.default > spec.low if spec.low_open else spec.default >= spec.low)
            high_ok = spec.high is None or (spec.default < spec.high if spec.high_open else spec.default <= spec.high)
            assert low_ok and high_ok, (key, spec.name, spec.default)


def test_the_catalog_carries_the_scenarios_worked_out_from_the_spec():
    from stackgen.render.exporter_catalog import _demo
    from tests.generator.fixture import stack_of

    def demo(drawdown: dict) -> dict:
        return _demo(stack_of(lambda d: d["alerts"]["drawdown"].update(drawdown)))

    low, high = demo({"warning": 0.02, "critical": 0.04}), demo({"warning": 0.3, "critical": 0.6})
    assert low["calm"]["drawdown"] == {"max": 0.01} and high["calm"]["drawdown"] == {"max": 0.15}
    moves = [{a["move"]: a["to"] for a in s["do"] if "move" in a} for s in (low, high)
             for s in [next(e for e in s["scenarios"] if e["name"] == "drawdown")]]
    assert moves == [{"drawdown": 0.1}, {"drawdown": 0.8}]     # 2.5 times critical, at most halfway to 1
    assert [e["name"] for e in low["scenarios"]] == list(SCENARIOS)
