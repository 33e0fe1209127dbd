"""Where the stack runs decides how one service reaches another.

In compose, services reach each other by service name and the Docker host as
host.docker.internal; run natively, all of them are on 127.0.0.1.
"""
from __future__ import annotations

import re

from stackgen import conventions as n

COMPOSE = "compose"
NATIVE = "native"
DEPLOYMENTS = (COMPOSE, NATIVE)

_URL_HOST = re.compile(r"^(https?://)([^/:]+)(.*)$")


def address(target: str, deployment: str, ports: dict[str, int] | None = None) -> str:
    """host:port as seen from Prometheus or Alertmanager in this deployment.

    `ports` overrides the port of a compose service when it runs natively on another port."""
    if deployment == COMPOSE:
        return target
    host, port = target.rsplit(":", 1)
    if host in n.COMPOSE_HOSTS:
        if ports and host in ports:
            port = str(ports[host])
        return f"127.0.0.1:{port}"
    return target


def url(value: str, deployment: str) -> str:
    match = _URL_HOST.match(value)
    if deployment == COMPOSE or not match or match.group(2) not in n.COMPOSE_HOSTS:
        return value
    return f"{match.group(1)}127.0.0.1{match.group(3)}"
