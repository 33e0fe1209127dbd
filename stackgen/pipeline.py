"""spec -> validated model -> every renderer -> {path: text}. Nothing is written here.

The renderers are imported when first used, not with this module: a spec error (or
`generate.py --help`) then never pays for grafanalib and jinja2, which take most of the
generator's cold start.
"""
from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

from stackgen.load import load_stack
from stackgen.model.stack import Stack

# One renderer per artifact; each module's render(stack) returns {relative path: text}.
RENDERER_NAMES = (
    "exporter_catalog",
    "alert_rules",
    "rule_tests",
    "prometheus_config",
    "alertmanager_config",
    "routing_tests",
    "runbook",
    "dashboards",
    "grafana_provisioning",
    "profile_rules",
    "kubernetes", "scale_out",  # k8s/, agent-mode hosts and Alertmanager HA (docs/scale-out.md)
)


def renderers() -> tuple[ModuleType, ...]:
    return tuple(importlib.import_module(f"stackgen.render.{name}") for name in RENDERER_NAMES)


def __getattr__(name: str):
    # RENDERERS (the modules, in order) stays available to callers such as bench/, imported on first use.
    if name == "RENDERERS":
        return renderers()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def render_all(stack: Stack) -> dict[str, str]:
    files: dict[str, str] = {}
    for renderer in renderers():
        for path, text in renderer.render(stack).items():
            if path in files:
                raise RuntimeError(f"two renderers produce {path}")
            files[path] = text
    return files


def render_spec(spec_path: Path, display_name: str | None = None) -> tuple[Stack, dict[str, str]]:
    stack = load_stack(spec_path, display_name)
    return stack, render_all(stack)
