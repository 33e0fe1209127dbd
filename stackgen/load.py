"""Loading a spec into a Stack: the model's reader, given what only the layers above it know.

A spec of `version` + `bots:` turns on every built-in alert family the bots' profiles feed, and
whether a profile feeds a family is what the coverage report says of the rules (stackgen.coverage,
above the model). So the model's reader takes that judgement as an argument and this module,
on top of every layer, passes it in. Load specs through here."""
from __future__ import annotations

from pathlib import Path

from stackgen import coverage
from stackgen.model import stack as model
from stackgen.model.stack import Stack
from stackgen.spec.fields import Field


def fed_alerts(stack: Stack) -> set[str]:
    """The alert names some bot of the stack feeds (every series its rule reads is provided)."""
    return {item.name for bot in coverage.report(stack) for item in bot.alerts if item.fed}


def load_stack(path: Path, display_name: str | None = None) -> Stack:
    """Load, then validate the spec; raises SpecError naming file, line and field."""
    return model.load_spec(path, fed_alerts, display_name)


def read_stack(root: Field) -> Stack:
    return model.read_stack(root, fed_alerts)
