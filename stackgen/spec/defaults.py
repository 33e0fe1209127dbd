"""Every default of the spec, declared once, as data, and the one function that fills them in.

`version` and `bots: [{name, profile, targets}]` make a complete spec: what is left out comes
from here. A key the spec writes always wins (a mapping the spec writes gets the keys it leaves
out; a list or value it writes replaces the default). `generate.py --effective` prints the spec
with every default filled in and marked, so nothing is hidden.

Static defaults are plain values (STATIC). The rest follow from the bots (DERIVED, in order):
the Alertmanager's default receiver, the alert families their profiles feed plus the profiles'
own alerts, the profiles' dashboards and Grafana's folders and home dashboard.
"""
from __future__ import annotations

import copy

# Where alerts go when the spec names no receiver: a webhook on the Docker host, port 5001
# (127.0.0.1:5001 when the stack runs natively), said at generate time (see `notes`).
DEFAULT_RECEIVER = {"name": "default", "webhook": {"url": "http://host.docker.internal:5001/alerts"}}

STATIC: dict[str, dict] = {
    "global": {
        "project": "trading-bots",
        "cluster": "local",
        "environment": "paper",
        "scrape_interval": "15s",
        "scrape_timeout": "10s",
        "evaluation_interval": "15s",
        "retention": "15d",
        "runbook_url": "https://github.com/your-org/trading-bot-monitoring/blob/main/docs/runbook.md",
    },
    "scrape": {"self_monitoring": True},
    # The route label of the HTTP signals: what every profile maps its own route label onto.
    "api": {"path_label": "path"},
    "alertmanager": {
        "resolve_timeout": "5m",
        "group_by": ["alertname", "job", "instance"],
        "group_wait": "30s",
        "group_interval": "5m",
        "repeat_interval": "4h",
        "receivers": [DEFAULT_RECEIVER],
        "routes": [],
    },
    # external_url: Grafana as users reach it (the alerts' dashboard links point there).
    "grafana": {"prometheus_uid": "prometheus", "alertmanager_uid": "alertmanager",
                "external_url": "http://localhost:3000"},
}
# Families on whatever a bot exposes (every target has `up`).
ALWAYS_ON = ("target_down", "watchdog")


class Filled:
    """The spec with its defaults filled in, and the paths whose value is a default."""

    def __init__(self, value: dict):
        self.value = value
        self.defaulted: set[tuple] = set()
        self.notes: list[str] = []

    def put(self, path: tuple, value) -> None:
        """Set a default at path (its parents exist and are mappings)."""
        parent = self.value
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = value
        self.defaulted.add(path)


def fill_static(value: dict) -> Filled:
    """The static defaults (no profile needed), into a copy of the spec's top-level mapping."""
    out = Filled(copy.deepcopy(value))
    for section, keys in STATIC.items():
        given = out.value.get(section)
        if section not in out.value:
            out.put((section,), {})
            given = out.value[section]
        if not isinstance(given, dict):
            continue            # the reader says what is wrong with it
        for key, default in keys.items():
            if key not in given:
                out.put((section, key), copy.deepcopy(default))
    am = out.value["alertmanager"]
    if isinstance(am, dict) and "default_receiver" not in am:
        receivers = am.get("receivers")
        first = receivers[0] if isinstance(receivers, list) and receivers and isinstance(receivers[0], dict) else {}
        if "name" in first:
            out.put(("alertmanager", "default_receiver"), first["name"])
    if ("alertmanager", "receivers") in out.defaulted:
        out.notes.append(
            f"alerts go to the default receiver {DEFAULT_RECEIVER['name']!r}, a webhook at "
            f"{DEFAULT_RECEIVER['webhook']['url']} (127.0.0.1:5001 when run natively; the spec names no "
            "receiver: set alertmanager.receivers to send them elsewhere)")
    return out


def merge_by(defaults: list[dict], given: list, key: str) -> list:
    """Defaults first (the first of each `key`), then the spec's entries, which replace a default
    with the same `key`."""
    taken = {entry.get(key) for entry in given if isinstance(entry, dict)}
    out = []
    for entry in defaults:
        if entry[key] not in taken:
            taken.add(entry[key])
            out.append(copy.deepcopy(entry))
    return out + list(given)


def effective_yaml(value, defaulted: set[tuple] | frozenset) -> str:
    """The spec as YAML with every default filled in; each key or item holding a default says `# default`."""
    lines: list[str] = []
    _emit(value, (), 0, defaulted, lines, "")
    return "\n".join(lines) + "\n"


def _scalar(value) -> str:
    import yaml
    return yaml.safe_dump(value, default_flow_style=True, width=1 << 20, allow_unicode=True).strip() \
        .removesuffix("...").strip()


def _leaf(value) -> bool:
    return not isinstance(value, (dict, list)) or not value


def _emit(value, path: tuple, indent: int, defaulted, lines: list[str], lead: str) -> None:
    """Append the lines of a mapping or list; `lead` is the text (a list dash) before its first line."""
    pad = " " * indent
    entries = value.items() if isinstance(value, dict) else enumerate(value)
    first = True
    for key, child in entries:
        mark = "  # default" if path + (key,) in defaulted else ""
        head = (lead if first else pad) if isinstance(value, dict) else pad + "- "
        first = False
        if isinstance(value, dict):
            label = f"{head}{_scalar(key)}:"
            if _leaf(child):
                lines.append(f"{label} {_scalar(child)}{mark}")
            else:
                lines.append(label + mark)
                _emit(child, path + (key,), indent + 2, defaulted, lines, " " * (indent + 2))
        elif _leaf(child):
            lines.append(f"{head}{_scalar(child)}{mark}")
        elif isinstance(child, dict):
            # The item's first key goes on the dash line; the mark on its own line above it.
            if mark:
                lines.append(f"{pad}# default:")
            _emit(child, path + (key,), indent + 2, defaulted, lines, head)
        else:
            lines.append(f"{head.rstrip()}{mark}")
            _emit(child, path + (key,), indent + 2, defaulted, lines, " " * (indent + 2))
