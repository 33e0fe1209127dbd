"""The Alertmanager config as data: receivers, routes, inhibitions, maintenance windows (written as
stack/alertmanager/alertmanager.yml, the native run's copy and the k8s chart values).

Secrets from the environment appear as ${NAME} placeholders; the stack's deploy step
(stackgen.secrets) fills them into the running copy, never into this file.
"""
from __future__ import annotations

from stackgen import conventions as n
from stackgen.alerts.families import families
from stackgen.model.routing import Receiver, Route, Routing, Secret
from stackgen.model.stack import Stack
from stackgen.render import hosts, notifications

# The alert names come from their family declarations (stackgen/alerts/families.yaml).
_TARGET_DOWN = families()["target_down"].alert
_WATCHDOG = families()["watchdog"].alert


def _secret(config: dict, key: str, secret: Secret, file_key: str | None = None) -> None:
    if secret.file:
        config[file_key or f"{key}_file"] = secret.file
    else:
        config[key] = secret.placeholder


def receiver(r: Receiver, deployment: str) -> dict:
    out: dict = {"name": r.name}
    if r.telegram:
        cfg = {"chat_id": r.telegram.chat_id, "parse_mode": "HTML", "send_resolved": True, **notifications.TELEGRAM}
        _secret(cfg, "bot_token", r.telegram.bot_token)
        out["telegram_configs"] = [cfg]
    if r.slack:
        cfg = {"channel": r.slack.channel, "send_resolved": True, **notifications.SLACK}
        _secret(cfg, "api_url", r.slack.api_url)
        out["slack_configs"] = [cfg]
    if r.email:
        cfg = {"to": r.email.to, "from": r.email.sender, "smarthost": r.email.smarthost,
               "send_resolved": True, "require_tls": True, **notifications.EMAIL}
        if r.email.auth_username:
            cfg["auth_username"] = r.email.auth_username
        if r.email.auth_password:
            _secret(cfg, "auth_password", r.email.auth_password)
        out["email_configs"] = [cfg]
    if r.webhook:
        cfg = {"url": hosts.url(r.webhook.url, deployment), "send_resolved": True}
        if r.webhook.bearer_token:
            auth: dict = {"type": "Bearer"}
            _secret(auth, "credentials", r.webhook.bearer_token)
            cfg["http_config"] = {"authorization": auth}
        out["webhook_configs"] = [cfg]
    return out


def _matchers(match: tuple[tuple[str, str], ...]) -> list[str]:
    return [f'{key}="{value}"' for key, value in match]


def _route_entries(route: Route, mute: list[str] | None = None) -> list[dict]:
    """One route per receiver; all but the last continue, so every receiver gets the alert."""
    entries = []
    for i, name in enumerate(route.receivers):
        entry: dict = {"receiver": name, "matchers": _matchers(route.match)}
        if route.group_by:
            entry["group_by"] = list(route.group_by)
        for key in ("group_wait", "group_interval", "repeat_interval"):
            if getattr(route, key):
                entry[key] = getattr(route, key)
        if mute:
            entry["mute_time_intervals"] = list(mute)
        if i < len(route.receivers) - 1:
            entry["continue"] = True
        entries.append(entry)
    return entries


def routes(routing: Routing) -> list[dict]:
    """Maintenance windows first: their alerts follow the same routes, muted inside the window."""
    out = []
    for window in routing.maintenance_windows:
        alert_regex = "|".join(window.mute_alerts)
        children = [e for r in routing.routes for e in _route_entries(r, [window.name])]
        children.append({"receiver": routing.default_receiver, "mute_time_intervals": [window.name]})
        out.append({"receiver": routing.default_receiver, "matchers": [f'alertname=~"{alert_regex}"'],
                    "mute_time_intervals": [window.name], "routes": children})
    for route in routing.routes:
        out.extend(_route_entries(route))
    return out


def inhibit_rules() -> list[dict]:
    return [
        # A critical alert silences the warning of the same alert on the same thing.
        {"source_matchers": ['severity="critical"'], "target_matchers": ['severity="warning"'],
         "equal": list(n.IDENTITY_LABELS)},
        # A target that is down explains every other alert from it.
        {"source_matchers": [f'alertname="{_TARGET_DOWN}"'],
         "target_matchers": [f'alertname!~"{_TARGET_DOWN}|{_WATCHDOG}"'],
         "equal": ["job", "instance"]},
    ]


def config(stack: Stack, deployment: str = hosts.COMPOSE) -> dict:
    r = stack.routing
    document: dict = {
        "global": {"resolve_timeout": r.resolve_timeout},
        "route": {"receiver": r.default_receiver, "group_by": list(r.group_by), "group_wait": r.group_wait,
                  "group_interval": r.group_interval, "repeat_interval": r.repeat_interval,
                  "routes": routes(r)},
        "inhibit_rules": inhibit_rules(),
        "receivers": [receiver(x, deployment) for x in r.receivers],
    }
    if r.maintenance_windows:
        document["time_intervals"] = [{"name": w.name, "time_intervals": [{
            "weekdays": list(w.weekdays), "times": [{"start_time": w.start, "end_time": w.end}],
            "location": w.location}]} for w in r.maintenance_windows]
    return document
