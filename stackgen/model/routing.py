"""Alertmanager routing: receivers, routes, grouping and timing, maintenance windows.

Secrets are referenced, never inlined. What Alertmanager 0.25 can do decides the form:
a file it reads itself where the config has a `*_file` field (Slack URL, SMTP password,
webhook bearer token), else an environment variable put into the running config at
deploy time (Telegram bot token: `bot_token_file` only arrived in Alertmanager 0.26).
"""
from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass

from stackgen.errors import Gather, listed
from stackgen.spec.fields import MAX_INT, Field, port_ok

_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
# Alertmanager's time_intervals: HH:MM from 00:00 to 23:59, and 24:00 as an end.
_TIME = re.compile(r"^(([01]\d|2[0-3]):[0-5]\d|24:00)$")
_ZONE = re.compile(r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$")
# Matcher values Alertmanager parses inside double quotes; refused rather than escaped.
_MATCHER_UNSAFE = re.compile(r'["\\\x00-\x1f\x7f]')
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(frozen=True)
class Secret:
    env: str = ""     # put into the running config from this variable at deploy time
    file: str = ""    # read by Alertmanager itself from this path

    @property
    def placeholder(self) -> str:
        return "${" + self.env + "}"


@dataclass(frozen=True)
class Telegram:
    bot_token: Secret
    chat_id: int


@dataclass(frozen=True)
class Slack:
    api_url: Secret
    channel: str


@dataclass(frozen=True)
class Email:
    to: str
    sender: str
    smarthost: str
    auth_username: str = ""
    auth_password: Secret | None = None


@dataclass(frozen=True)
class Webhook:
    url: str
    bearer_token: Secret | None = None


@dataclass(frozen=True)
class Receiver:
    name: str
    telegram: Telegram | None = None
    slack: Slack | None = None
    email: Email | None = None
    webhook: Webhook | None = None


@dataclass(frozen=True)
class Route:
    match: tuple[tuple[str, str], ...]
    receivers: tuple[str, ...]
    group_by: tuple[str, ...] = ()
    group_wait: str = ""
    group_interval: str = ""
    repeat_interval: str = ""


@dataclass(frozen=True)
class MaintenanceWindow:
    name: str
    weekdays: tuple[str, ...]
    start: str
    end: str
    location: str
    mute_alerts: tuple[str, ...]


@dataclass(frozen=True)
class Routing:
    resolve_timeout: str
    group_by: tuple[str, ...]
    group_wait: str
    group_interval: str
    repeat_interval: str
    default_receiver: str
    receivers: tuple[Receiver, ...]
    routes: tuple[Route, ...]
    maintenance_windows: tuple[MaintenanceWindow, ...]

    @property
    def secrets_from_env(self) -> tuple[str, ...]:
        names = []
        for r in self.receivers:
            for secret in (r.telegram and r.telegram.bot_token, r.email and r.email.auth_password,
                           r.webhook and r.webhook.bearer_token, r.slack and r.slack.api_url):
                if secret and secret.env:
                    names.append(secret.env)
        return tuple(sorted(set(names)))


def _secret(field: Field, *, file_ok: bool, env_ok: bool, why: str = "") -> Secret:
    if not isinstance(field.value, dict):
        raise field.error("secrets are never written in the spec: use {env: NAME} or {file: /path}"
                          + (f" ({why})" if why else ""))
    f = field.mapping(optional=("env", "file"))
    if len(f) != 1:
        raise field.error("give exactly one of env or file")
    if "env" in f:
        if not env_ok:
            raise f["env"].error(f"cannot come from the environment: {why}")
        return Secret(env=f["env"].string(pattern=_ENV_NAME, what="environment variable name"))
    if not file_ok:
        raise f["file"].error(f"cannot come from a file: {why}")
    path = f["file"].string()
    if not path.startswith("/"):
        raise f["file"].error(f"must be an absolute path, got {path!r}")
    return Secret(file=path)


def _receiver(field: Field) -> Receiver:
    f = field.mapping(required=("name",), optional=("telegram", "slack", "email", "webhook"))
    name = f["name"].slug("receiver name")
    if len(f) == 1:
        raise field.error("a receiver needs at least one of telegram, slack, email, webhook")
    kinds = {}
    if "telegram" in f:
        t = f["telegram"].mapping(required=("bot_token", "chat_id"))
        kinds["telegram"] = Telegram(
            _secret(t["bot_token"], file_ok=False, env_ok=True,
                    why="Alertmanager 0.25 has no bot_token_file; use {env: NAME}"),
            _chat_id(t["chat_id"]))
    if "slack" in f:
        s = f["slack"].mapping(required=("api_url", "channel"))
        kinds["slack"] = Slack(
            _secret(s["api_url"], file_ok=True, env_ok=False,
                    why="Alertmanager reads the webhook URL from a file (api_url_file); use {file: /path}"),
            s["channel"].no_template("Slack channel"))
    if "email" in f:
        e = f["email"].mapping(required=("to", "from", "smarthost"), optional=("auth_username", "auth_password"))
        for key in ("to", "from"):
            e[key].string(pattern=_EMAIL, what="e-mail address")
        smarthost = e["smarthost"].string(pattern=re.compile(r"^[A-Za-z0-9_.-]+:\d+$"), what="host:port")
        if not port_ok(smarthost):
            raise e["smarthost"].error(f"port must be between 1 and 65535, got {smarthost!r}")
        password = _secret(e["auth_password"], file_ok=True, env_ok=True) if "auth_password" in e else None
        kinds["email"] = Email(e["to"].value, e["from"].value, smarthost,
                               e["auth_username"].string() if "auth_username" in e else "", password)
    if "webhook" in f:
        w = f["webhook"].mapping(required=("url",), optional=("bearer_token",))
        url = w["url"].url(what="webhook URL")
        token = _secret(w["bearer_token"], file_ok=True, env_ok=True) if "bearer_token" in w else None
        kinds["webhook"] = Webhook(url, token)
    return Receiver(name, **kinds)


def _chat_id(field: Field) -> int:
    """Alertmanager refuses a missing (zero) chat_id; Telegram ids are int64."""
    chat_id = field.number(integer=True, low=-MAX_INT, high=MAX_INT)
    if chat_id == 0:
        raise field.error("chat_id must not be 0: Alertmanager needs the Telegram chat's id "
                          "(a negative number for groups)")
    return chat_id


def _location(field: Field) -> str:
    """An IANA time zone name, checked like Alertmanager checks it (Go's time.LoadLocation)."""
    name = field.string()
    if name == "Local":
        raise field.error("'Local' depends on the machine Alertmanager runs on: name the zone, such as UTC "
                          "or Europe/London")
    if not _ZONE.match(name):
        raise field.error(f"{name!r} is not an IANA time zone name (such as UTC, Europe/London, America/New_York)")
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise field.error(f"unknown time zone {name!r} (expected an IANA name such as UTC, Europe/London, "
                          "America/New_York)") from None
    return name


def _group_by(field: Field) -> tuple[str, ...]:
    labels: list[str] = []
    for item in field.items(min_items=1):
        label = item.name("label name")
        if label in labels:
            raise item.error(f"label {label!r} is listed twice (Alertmanager refuses duplicates in group_by)")
        labels.append(label)
    return tuple(labels)


def _timing(f: dict[str, Field], key: str, default: str = "") -> str:
    return f[key].duration(minimum=1) if key in f else default


def _label_map(field: Field) -> tuple[tuple[str, str], ...]:
    entries = field.mapping(optional=tuple(field.value or {})) if isinstance(field.value, dict) else None
    if not entries:
        raise field.error("expected a non-empty mapping of label: value")
    for key, value in entries.items():
        field.child(key, key).name("label name")
        text = value.string()
        bad = _MATCHER_UNSAFE.search(text)
        if bad:
            raise value.error(f"a matcher value must not contain {bad.group(0)!r} (Alertmanager matchers "
                              f"quote values with it), got {text!r}")
    return tuple(sorted((k, v.value) for k, v in entries.items()))


def read_routing(field: Field) -> Routing:
    # Every key but maintenance_windows has a default (stackgen/spec/defaults.py), filled in before this.
    f = field.mapping(required=("receivers", "routes", "default_receiver", "group_by", "group_wait",
                                "group_interval", "repeat_interval", "resolve_timeout"),
                      optional=("maintenance_windows",))
    receivers = []
    seen: set[str] = set()
    g = Gather()
    for item in f["receivers"].items(min_items=1):
        receiver = g.run(_receiver, item)
        if receiver is None:        # missing keys, reported at the end; routes may still name it
            name = item.value.get("name") if isinstance(item.value, dict) else None
            if isinstance(name, str):
                seen.add(name)
            continue
        if receiver.name in seen:
            raise item.error(f"receiver {receiver.name!r} is declared twice")
        seen.add(receiver.name)
        receivers.append(receiver)

    def known(name_field: Field) -> str:
        name = name_field.string()
        if name not in seen:
            raise name_field.error(f"unknown receiver {name!r} (declared: {listed(sorted(seen))})")
        return name

    routes = []
    for item in f["routes"].items():
        r = g.run(item.mapping, ("match", "receivers"),
                  ("group_by", "group_wait", "group_interval", "repeat_interval"))
        if r is None:
            continue
        names = tuple(known(x) for x in r["receivers"].items(min_items=1))
        group_by = _group_by(r["group_by"]) if "group_by" in r else ()
        routes.append(Route(_label_map(r["match"]), names, group_by, _timing(r, "group_wait"),
                            _timing(r, "group_interval"), _timing(r, "repeat_interval")))
    g.done()
    windows = []
    window_names: set[str] = set()
    for item in (f["maintenance_windows"].items() if "maintenance_windows" in f else []):
        w = item.mapping(required=("name", "weekdays", "start", "end", "mute_alerts"), optional=("location",))
        window_name = w["name"].slug("window name")
        if window_name in window_names:
            raise w["name"].error(f"maintenance window {window_name!r} is declared twice")
        window_names.add(window_name)
        start = w["start"].string(pattern=_TIME, what="time of day (HH:MM, 00:00 to 23:59)")
        if start == "24:00":
            raise w["start"].error("24:00 can only end a window; start at 00:00")
        end = w["end"].string(pattern=_TIME, what="time of day (HH:MM, 00:00 to 24:00)")
        if end <= start:
            raise w["end"].error(f"must be after start ({start}), got {end}")
        windows.append(MaintenanceWindow(
            window_name, tuple(d.one_of(WEEKDAYS) for d in w["weekdays"].items(min_items=1)),
            start, end, _location(w["location"]) if "location" in w else "UTC",
            tuple(a.name("alert name") for a in w["mute_alerts"].items(min_items=1))))
    return Routing(
        resolve_timeout=_timing(f, "resolve_timeout"),
        group_by=_group_by(f["group_by"]),
        group_wait=_timing(f, "group_wait"), group_interval=_timing(f, "group_interval"),
        repeat_interval=_timing(f, "repeat_interval"), default_receiver=known(f["default_receiver"]),
        receivers=tuple(receivers), routes=tuple(routes), maintenance_windows=tuple(windows))
