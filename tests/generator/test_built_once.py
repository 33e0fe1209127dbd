"""What several renderers read (the rule files, the panel index, the dashboards) is built once per
Stack and kept with that Stack, not in a module-global "last Stack": two stacks alive at once each
keep their own."""
from __future__ import annotations

from stackgen.alerts.rulesets import rule_files
from stackgen.render import dashboards
from tests.generator.fixture import setter, stack_of


def test_each_stack_keeps_what_was_built_from_it():
    first = stack_of()
    second = stack_of(setter(["alerts", "drawdown", "warning"], 0.15))
    files, rendered = rule_files(first), dashboards.render(first)
    assert rule_files(second) != files                         # built from the other spec
    dashboards.render(second)
    assert rule_files(first) is files                          # not rebuilt after the other stack
    assert dashboards.render(first) == rendered
    assert dashboards.render(first) is not dashboards.render(first)   # callers get their own dict
