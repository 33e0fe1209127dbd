"""stack/alertmanager/routing-tests.yml: which receivers each kind of alert must reach.

Derived from the spec's routes; `stackgen.checks` runs each case through
`amtool config routes test --verify.receivers=...` against the generated config.
"""
from __future__ import annotations

from stackgen import conventions as n
from stackgen.model.stack import Stack
from stackgen.render.output import to_yaml


def cases(stack: Stack) -> list[dict]:
    r = stack.routing
    out = []
    for route in r.routes:
        labels = {"alertname": "RoutingTest", "job": "exporter", **dict(route.match)}
        out.append({"labels": labels, "receivers": list(route.receivers)})
    # Something no route matches goes to the default receiver.
    out.append({"labels": {"alertname": "RoutingTest", "severity": "info"}, "receivers": [r.default_receiver]})
    for window in r.maintenance_windows:
        for route in r.routes:
            labels = {"job": "exporter", **dict(route.match), "alertname": window.mute_alerts[0]}
            if dict(route.match).get("alertname", labels["alertname"]) != labels["alertname"]:
                continue
            out.append({"labels": labels, "receivers": list(route.receivers)})
            break
    return out


def render(stack: Stack) -> dict[str, str]:
    return {n.ROUTING_TESTS: to_yaml({"cases": cases(stack)}, stack.source, sort_keys=False)}
