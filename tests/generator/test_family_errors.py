"""A mistake in families.yaml is one line naming that file's line and the entry's path, never a traceback:
found when the file is read (unknown keys, a series the test never declares) or when a stack first
renders the entry (a template naming nothing in scope)."""
from __future__ import annotations

from importlib import resources

import pytest

from stackgen.alerts import families as fam
from stackgen.spec.fields import Field
from stackgen.spec.loader import parse_yaml
from tests.conftest import ROOT
from tests.generator.fixture import error_of

FILE = "stackgen/alerts/families.yaml"
SHIPPED = resources.files("stackgen.alerts").joinpath(fam.FAMILIES_FILE).read_text(encoding="utf-8")
RULE = '{severity: warning, let: {level: warning}, field: warning, expr: "<< drawdown >> > << level >>"}'
FIRES = "- {severity: warning, series: mid, value: mid}"


def _edited(old: str, new: str) -> tuple[str, int]:
    """The shipped file with one edit, and the line the edit is on."""
    assert SHIPPED.count(old) == 1, old
    return SHIPPED.replace(old, new), SHIPPED[:SHIPPED.index(old)].count("\n") + 1


def _read(text: str) -> fam.FamilyCatalog:
    value, lines = parse_yaml(text, FILE)
    return fam.read_catalog(Field(value, (), lines, FILE))


@pytest.fixture
def families_file(monkeypatch):
    """Use an edited families.yaml for this test: families_file(text)."""
    def use(text: str) -> None:
        catalog = _read(text)
        monkeypatch.setattr(fam, "catalog", lambda: catalog)
    return use


def test_a_template_naming_nothing_in_scope_names_the_rule(families_file):
    text, line = _edited(RULE, RULE.replace("<< drawdown >>", "<< drawdwn >>"))
    families_file(text)
    assert error_of() == (f"{FILE}:{line}: families.drawdown.rules[0]: template: 'drawdwn' is undefined "
                          "(names in scope: the signal keys, the family's fields, let:)")


def test_the_family_page_shows_that_error_as_it_is(families_file):
    """docs/families.md quotes the line a misspelt signal key gives: it stays the program's own."""
    page = (ROOT / "docs" / "families.md").read_text()
    quoted = next(line for line in page.splitlines() if line.startswith("error: ") and "drawdwn" in line)
    text, _ = _edited(RULE, RULE.replace("<< drawdown >>", "<< drawdwn >>"))
    families_file(text)
    assert quoted == f"error: {error_of()}"


def test_a_test_recipe_template_naming_nothing_names_the_test(families_file):
    old = 'values: "<< const(mid) >>"'
    text, _ = _edited(old, 'values: "<< const(middle) >>"')
    families_file(text)
    message = error_of()
    assert message.startswith(f"{FILE}:") and ": families.drawdown.test: template: 'middle' is undefined" in message


def test_a_fire_naming_an_undeclared_series_is_refused_when_read():
    text, line = _edited(FIRES, FIRES.replace("series: mid", "series: middle"))
    with pytest.raises(Exception) as info:
        _read(text)
    assert str(info.value) == (f"{FILE}:{line}: families.drawdown.test.fires[0].series: names series 'middle', "
                               "which test.series does not declare (ids: calm, deep, mid)")


@pytest.mark.parametrize("old, new, path", [
    (RULE, RULE.replace("severity:", "serverity: warning, severity:"), "families.drawdown.rules[0].serverity"),
    (FIRES, FIRES.replace("value:", "valeu:"), "families.drawdown.test.fires[0].valeu"),
    ("test:\n      name: \"drawdown:", "test:\n      nmae: x\n      name: \"drawdown:", "families.drawdown.test.nmae"),
])
def test_an_unknown_key_is_refused_with_its_line(old, new, path):
    text, line = _edited(old, new)
    with pytest.raises(Exception) as info:
        _read(text)
    message = str(info.value)
    assert message.startswith(f"{FILE}:") and f": {path}: unknown key" in message, message


def test_a_rule_field_must_name_a_declared_field():
    text, line = _edited(RULE, RULE.replace("field: warning", "field: warn"))
    with pytest.raises(Exception) as info:
        _read(text)
    assert str(info.value) == f"{FILE}:{line}: families.drawdown.rules[0].field: names unknown field 'warn'"


# What the demo needs of a family is asked of its entry, with its line, not by a test far away.
def test_a_bot_family_without_a_demo_scenario_is_refused():
    start = SHIPPED.index("  exposure:\n    domain: trading")
    scenarios = SHIPPED.index("    scenarios:\n", start)
    end = SHIPPED.index("        e2e: {severity: critical}\n", scenarios) + len("        e2e: {severity: critical}\n")
    text = SHIPPED[:scenarios] + SHIPPED[end:]
    with pytest.raises(Exception) as info:
        _read(text)
    line = SHIPPED[:start].count("\n") + 2       # the entry's first key
    assert str(info.value) == (f"{FILE}:{line}: families.exposure: a family a bot feeds needs scenarios: (the demo "
                               "scenario that drives it over its thresholds; docs/families.md)")


def test_a_check_must_read_a_signal_the_exporter_exposes(families_file):
    old = "          - {move: exposure_ratio, to: max_ratio * 2, labels: {symbol: BTCUSDT}}\n"
    text, line = _edited(old, old + "        check: {signal: exposure_ratio, above: max_ratio}\n")
    families_file(text)
    assert error_of() == (f"{FILE}:{line + 1}: families.exposure.scenarios.exposure.check.signal: 'exposure_ratio' "
                          "is not a signal the exporter exposes (a recorded series has no gauge to read)")
