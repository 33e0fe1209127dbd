"""stack/alertmanager/alertmanager.yml (and the native run's copy), built in stackgen/render/builders/alertmanager.py.

Secrets from the environment appear as ${NAME} placeholders; the stack's deploy step
(stackgen.secrets) fills them into the running copy, never into this file.
"""
from __future__ import annotations

from stackgen import conventions as n
from stackgen.model.stack import Stack
from stackgen.render import hosts
from stackgen.render.builders.alertmanager import config
from stackgen.render.output import to_yaml


def render(stack: Stack) -> dict[str, str]:
    return {n.ALERTMANAGER_CONFIG: to_yaml(config(stack), stack.source, sort_keys=False)}


def render_native(stack: Stack) -> str:
    return to_yaml(config(stack, hosts.NATIVE), stack.source, sort_keys=False)
