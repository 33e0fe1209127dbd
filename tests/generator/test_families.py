"""The family declarations themselves: complete, consistent with the demo, and their own tests pass."""
from __future__ import annotations

import pytest

from exporter.scenarios import SCENARIOS
from stackgen.alerts import families as fam
from stackgen.signals import RECORDED_KEYS, signal_names


def test_every_family_names_a_demo_scenario_that_exists():
    for key, family in fam.families().items():
        if family.switch or family.key == "target_down":
            continue
        assert family.scenario in SCENARIOS, key


def test_every_signal_key_a_template_names_resolves():
    names = signal_names(None)
    catalog = fam.catalog()
    keys = {k for f in catalog.families.values() for r in f.rules for k in fam_keys(r["expr"])}
    keys |= {k for r in catalog.records.values() for k in fam_keys(r.expr)}
    known = set(names) | {"path_label", "jobs", "job", "quantile", "severity", "seconds", "absent_targets",
                          "host_label", "target_labels"}
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
