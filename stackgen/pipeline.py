"""spec -> validated model -> every renderer -> {path: text}. Nothing is written here."""
from __future__ import annotations

from pathlib import Path

from stackgen.model.stack import Stack, load_stack
from stackgen.render import (alert_rules, alertmanager_config, exporter_catalog, prometheus_config, routing_tests,
                             rule_tests, runbook)
from stackgen.render import dashboards, grafana_provisioning, kubernetes, profile_rules, scale_out

# One renderer per artifact; each returns {relative path: text}.
RENDERERS = (
    exporter_catalog,
    alert_rules,
    rule_tests,
    prometheus_config,
    alertmanager_config,
    routing_tests,
    runbook,
    dashboards,
    grafana_provisioning,
    profile_rules,
    kubernetes, scale_out,  # k8s/, agent-mode hosts and Alertmanager HA (docs/scale-out.md)
)


def render_all(stack: Stack) -> dict[str, str]:
    files: dict[str, str] = {}
    for renderer in RENDERERS:
        for path, text in renderer.render(stack).items():
            if path in files:
                raise RuntimeError(f"two renderers produce {path}")
            files[path] = text
    return files


def render_spec(spec_path: Path, display_name: str | None = None) -> tuple[Stack, dict[str, str]]:
    stack = load_stack(spec_path, display_name)
    return stack, render_all(stack)
