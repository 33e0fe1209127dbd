"""rules/profile-<name>.rules.yml and rules/tests/profile-<name>.test.yml: what each bot profile becomes in
Prometheus and the promtool tests that prove it, built in stackgen/render/builders/profile_rules.py."""
from __future__ import annotations

from stackgen.model.stack import Stack
from stackgen.render.builders.profile_rules import documents
from stackgen.render.output import to_yaml


def render(stack: Stack) -> dict[str, str]:
    return {path: to_yaml(document, stack.source) for path, document in documents(stack).items()}
