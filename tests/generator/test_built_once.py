"""What several renderers read (the rule files, the panel index, the dashboards) is built once per
Stack and kept with that Stack, not in a module-global "last Stack": two stacks alive at once each
keep their own."""
from __future__ import annotations

from stackgen.alerts.rulesets import rule_files
from stackgen.render import dashboards
from stackgen.render.builders import profile_rules
from stackgen.render.builders.dashboards import dashboards as built_dashboards
from stackgen.render.output import to_json
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


def test_renderers_serialise_what_the_builders_built_once():
    """Build, then render: the dashboards renderer and the k8s ConfigMaps serialise the same built
    dashboards, and a profile's rule groups (its rule file, its PrometheusRule) are built once."""
    stack = stack_of(lambda d: d.update(bots=[{"name": "fx", "profile": "d80-fx", "targets": ["127.0.0.1:9201"]}]))
    assert stack.profiles
    boards = built_dashboards(stack)
    assert built_dashboards(stack) is boards
    assert dashboards.render(stack) == {path: to_json(board) for path, board in boards.items()}
    for profile in stack.profiles:
        assert profile_rules.groups(stack, profile) is profile_rules.groups(stack, profile)
