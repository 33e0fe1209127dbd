"""Fill ${NAME} secret placeholders of a generated config at deploy time.

The committed alertmanager.yml never holds a secret: where Alertmanager 0.25 cannot read
a secret from a file itself (Telegram's bot token), the generator writes ${NAME}, and the
stack's deploy step writes a filled copy into the git-ignored run folder (mode 0600).
NAME comes from the environment, or from the file named by NAME_FILE.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import yaml

_PLACEHOLDER = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)\}")


def placeholders(text: str) -> list[str]:
    return sorted(set(_PLACEHOLDER.findall(text)))


def lookup(name: str, environ: dict[str, str] | None = None) -> str | None:
    env = os.environ if environ is None else environ
    if env.get(name):
        return env[name]
    path = env.get(f"{name}_FILE")
    if path and Path(path).is_file():
        return Path(path).read_text(encoding="utf-8").strip()
    return None


def fill(text: str, environ: dict[str, str] | None = None) -> tuple[str, list[str]]:
    """The YAML document with every placeholder in its string values filled, and the names
    that had no value (left as placeholders). Works on the parsed document, so a secret with
    ':' or '#' in it cannot break the YAML."""
    values = {name: lookup(name, environ) for name in placeholders(text)}
    missing = [name for name, value in values.items() if value is None]

    def walk(node):
        if isinstance(node, dict):
            return {key: walk(value) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(value) for value in node]
        if isinstance(node, str):
            return _PLACEHOLDER.sub(lambda m: values.get(m.group(1)) or m.group(0), node)
        return node

    filled = walk(yaml.safe_load(text))
    return yaml.safe_dump(filled, sort_keys=False, allow_unicode=True, width=10_000), missing
