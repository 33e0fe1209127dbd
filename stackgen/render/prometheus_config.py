"""stack/prometheus/prometheus.yml for the compose stack; the same for a native run on 127.0.0.1 (built in
stackgen/render/builders/prometheus.py)."""
from __future__ import annotations

from stackgen import conventions as n
from stackgen.model.stack import Stack
from stackgen.render import hosts
from stackgen.render.builders.prometheus import config
from stackgen.render.output import to_yaml


def render(stack: Stack) -> dict[str, str]:
    return {n.PROMETHEUS_CONFIG: to_yaml(config(stack), stack.source, sort_keys=False)}


def render_native(stack: Stack, rules_dir: str, ports: dict[str, int] | None = None,
                  secrets_dir: str = n.PROMETHEUS_SECRETS_MOUNT) -> str:
    return to_yaml(config(stack, hosts.NATIVE, rules_dir, ports, secrets_dir), stack.source, sort_keys=False)
