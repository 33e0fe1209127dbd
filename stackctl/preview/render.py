"""The generated Alertmanager config pointed at local sinks, one firing and one resolved alert of
every family posted to a real Alertmanager, and what each receiver got, as Markdown."""
from __future__ import annotations

import copy
import json
import re
import time

from stackgen import conventions as n
from stackgen.alerts.rulesets import rule_files
from stackctl.backtest.notifications import policies
from stackgen.model.stack import Stack
from stackctl.preview.alertmanager import Alertmanager, PreviewError
from stackctl.preview.sinks import HttpSink, Received, SmtpSink
from stackgen.render import hosts
from stackgen.render.builders import alertmanager

OUT_DIR = "docs/notifications"
# Fixed times: the committed preview never changes, and "resolved after 42m" is what it says.
STARTS_AT, ENDS_AT = "2026-01-05T09:00:00Z", "2026-01-05T09:42:00Z"
GENERATOR_URL = "http://prometheus:9090/alerts"
KINDS = ("slack", "telegram", "email", "webhook")


def _routes(route: dict, mute: bool, root: bool = True) -> None:
    """Fast timers (a preview waits seconds, not group_interval)."""
    for key in ("group_wait", "group_interval"):
        if root or key in route:
            route[key] = "1s"
    if not mute:
        route.pop("mute_time_intervals", None)
    for child in route.get("routes") or []:
        _routes(child, mute, root=False)


def config(stack: Stack, http_url: str, smtp: str, *, inhibit: bool = False, mute: bool = False) -> dict:
    """The generated config with every receiver sending to the sinks and seconds for timers; nothing
    about a message changed. The preview leaves out inhibitions (every alert is shown) and mute windows
    (it must not depend on the hour it runs at); tests/preview proves both with them kept."""
    doc = copy.deepcopy(alertmanager.config(stack, hosts.NATIVE))
    _routes(doc["route"], mute)
    if not inhibit:
        doc.pop("inhibit_rules", None)
    for receiver in doc["receivers"]:
        name = receiver["name"]
        for cfg in receiver.get("slack_configs", []):
            cfg.pop("api_url_file", None)
            cfg["api_url"] = f"{http_url}/slack/{name}"
        for cfg in receiver.get("telegram_configs", []):
            cfg.pop("bot_token_file", None)
            cfg.update(bot_token="preview-token", api_url=f"{http_url}/telegram")
        for cfg in receiver.get("email_configs", []):
            for key in ("auth_username", "auth_password", "auth_password_file"):
                cfg.pop(key, None)
            cfg.update(smarthost=smtp, require_tls=False)
        for cfg in receiver.get("webhook_configs", []):
            cfg.pop("http_config", None)
            cfg["url"] = f"{http_url}/webhook/{name}"
    return doc


def examples(stack: Stack) -> list[dict]:
    """One alert of every alerting rule (name and severity), with the labels and annotations its promtool
    test proves Prometheus sends, plus the external labels Prometheus adds."""
    external = {"project": stack.glob.project, "cluster": stack.glob.cluster, "environment": stack.glob.environment}
    out: dict[tuple[str, str], dict] = {}
    for rule_file in rule_files(stack):
        for case in rule_file.cases:
            for _, alert, firing in case.alert_checks:
                for expected in firing:
                    key = (alert, expected.labels.get("severity", ""))
                    out.setdefault(key, {"labels": {"alertname": alert, **expected.labels, **external},
                                         "annotations": dict(expected.annotations)})
    return [out[k] for k in sorted(out)]


def _expected(route: dict, alerts: list[dict]) -> int:
    return sum(len(policies(route, a["labels"])) for a in alerts)


def _wait(sinks, count: int, am: Alertmanager, timeout: float = 30.0) -> list[Received]:
    got: list[Received] = []
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        if not am.alive():
            raise PreviewError(f"Alertmanager exited while notifying:\n{am.tail()}")
        time.sleep(0.2)
        for sink in sinks:
            got.extend(sink.take())
    if len(got) < count:
        raise PreviewError(f"the receivers got {len(got)} of {count} notifications within {timeout:.0f}s:\n{am.tail()}")
    return got


def collect(stack: Stack) -> dict[str, list[tuple[str, Received]]]:
    """status ("firing"/"resolved") and what arrived, per receiver kind."""
    http, smtp = HttpSink(), SmtpSink()
    try:
        doc = config(stack, http.url, smtp.address)
        alerts = examples(stack)
        with Alertmanager(doc) as am:
            count = _expected(doc["route"], alerts)
            posted = [{**a, "startsAt": STARTS_AT, "generatorURL": GENERATOR_URL} for a in alerts]
            firing = _wait((http, smtp), count, am) if am.post(posted) is None else []
            am.post([{**a, "endsAt": ENDS_AT} for a in posted])
            resolved = _wait((http, smtp), count, am)
    finally:
        http.close()
        smtp.close()
    out: dict[str, list[tuple[str, Received]]] = {k: [] for k in KINDS}
    for status, items in (("firing", firing), ("resolved", resolved)):
        for item in items:
            out[item.kind].append((status, item))
    return out


# -- Markdown -----------------------------------------------------------------------------------

_ABOUT = re.compile(r"(\w+) \((\w+)\) · ")


def _alert_of(kind: str, item: Received) -> str:
    """Which alert a message is about ("TradingDrawdownHigh (warning)"), for sorting and headings."""
    if kind == "webhook":
        labels = item.body["commonLabels"]
        return f"{labels.get('alertname')} ({labels.get('severity')})"
    text = {"slack": lambda b: b["attachments"][0]["text"]}.get(kind, lambda b: b.get("text", ""))(item.body)
    found = _ABOUT.search(text)
    return f"{found[1]} ({found[2]})" if found else "?"


def _block(text: str, lang: str = "") -> list[str]:
    fence = "````" if "```" in text else "```"
    return [f"{fence}{lang}", text.rstrip("\n"), fence]


def _section(kind: str, status: str, item: Received) -> list[str]:
    body = item.body
    receiver = item.path.strip("/").split("/")[1] if kind in ("slack", "webhook") else ""
    if kind == "slack":
        att = body["attachments"][0]
        return [f"**{att['title']}** ({status}, to `{receiver}` {body.get('channel', '')}, colour `{att['color']}`)",
                "", f"title link: {att.get('title_link') or '-'}", "", *_block(att["text"])]
    if kind == "telegram":
        return [f"**{status}**, to chat `{body.get('chat_id')}` (parse_mode {body.get('parse_mode')})", "",
                *_block(body["text"], "html")]
    if kind == "email":
        return [f"**Subject: {body['subject']}** ({status}, to {item.path})", "", *_block(body["text"]),
                "", "<details><summary>HTML part</summary>", "", *_block(body["html"], "html"), "", "</details>"]
    payload = {k: v for k, v in body.items() if k != "groupKey"}
    return [f"**{status}**, to `{receiver}`", "", *_block(json.dumps(payload, indent=1, sort_keys=True), "json")]


def markdown(stack: Stack, received: dict[str, list[tuple[str, Received]]]) -> dict[str, str]:
    """docs/notifications/<kind>.md for every receiver kind that got something."""
    files = {}
    for kind, items in received.items():
        if not items:
            continue
        ordered = sorted(items, key=lambda x: (_alert_of(kind, x[1]), x[0] != "firing", x[1].path))
        lines = [f"<!-- Code generated by `generate.py preview` from {stack.source}. DO NOT EDIT. -->",
                 f"# What {kind} receives", "",
                 f"Rendered by the real Alertmanager with the templates of `{n.ALERTMANAGER_CONFIG}`, for one "
                 "firing and one resolved alert of every alerting rule (labels and annotations as their promtool "
                 f"tests prove Prometheus sends them; fired at {STARTS_AT}, resolved at {ENDS_AT}). "
                 "Regenerate with `make preview`.", ""]
        for status, item in ordered:
            lines += [f"## {_alert_of(kind, item)}" if status == "firing" else "", "",
                      *_section(kind, status, item), ""]
        files[f"{OUT_DIR}/{kind}.md"] = "\n".join(line for line in _squeeze(lines)) + "\n"
    return files


def _squeeze(lines: list[str]) -> list[str]:
    out: list[str] = []
    for line in lines:
        if line == "" and out and out[-1] == "":
            continue
        out.append(line)
    while out and out[-1] == "":
        out.pop()
    return out
