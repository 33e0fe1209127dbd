"""The Alertmanager config that actually runs: secrets filled in, integrations without a secret dropped.

The generated alertmanager.yml never holds a secret. A secret from the environment is a
${NAME} placeholder, filled here by stackgen.secrets.fill (NAME or the file named by
NAME_FILE). A secret Alertmanager reads itself is a `*_file` path under
/etc/alertmanager/secrets/, which is the repository's git-ignored `secrets/` folder (or
$SECRETS_DIR): natively the path is pointed there, with Docker the folder is mounted.

A secret that is not there would leave an integration that can never deliver (Alertmanager
0.25 starts with a missing `*_file` and then fails every notification to it). So that one
integration is dropped from the running config with one line naming the variable or file
and the receiver, and the rest of the stack starts; STRICT_SECRETS=1 refuses instead.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from stackgen import secrets
from stackctl.settings import SECRETS_MOUNT, StackError

HEADER = "# Running copy written by stackctl: secrets filled in. Never commit it.\n"


@dataclass(frozen=True)
class Dropped:
    receiver: str
    integration: str        # telegram, slack, email, webhook, ...
    reason: str             # what is missing, and how to provide it

    def line(self) -> str:
        return f"alertmanager: receiver {self.receiver}: {self.integration} integration left out: {self.reason}"


def _file_fields(node):
    """(mapping holding the key, key, value) of every `*_file` string in the integration."""
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(key, str) and key.endswith("_file") and isinstance(value, str):
                yield node, key, value
            else:
                yield from _file_fields(value)
    elif isinstance(node, list):
        for value in node:
            yield from _file_fields(value)


def _missing_reason(text: str, environ: dict[str, str]) -> str:
    names = [name for name in secrets.placeholders(text) if secrets.lookup(name, environ) is None]
    if not names:
        return ""
    return " and ".join(f"{name} is not set (set it, or {name}_FILE=/path, in the environment or .env)"
                        for name in names)


def running_config(text: str, *, environ: dict[str, str], secrets_dir: Path, native: bool,
                   strict: bool = False) -> tuple[str, list[Dropped]]:
    """The config to run and the integrations left out. Raises StackError under strict."""
    document = yaml.safe_load(text)
    dropped: list[Dropped] = []
    for receiver in document.get("receivers") or []:
        for key in [k for k in receiver if k.endswith("_configs")]:
            kept = []
            for integration in receiver[key]:
                kind = key.removesuffix("_configs")
                reason = _missing_reason(yaml.safe_dump(integration), environ)
                for holder, field, path in _file_fields(integration):
                    local = _local_path(path, secrets_dir, native)
                    if local is not None and not local.is_file():
                        reason = (reason + " and " if reason else "") + (
                            f"the secret file {local} does not exist ({field}: {path})")
                    elif native and local is not None:
                        holder[field] = str(local)
                if reason:
                    dropped.append(Dropped(receiver["name"], kind, reason))
                else:
                    kept.append(integration)
            if kept:
                receiver[key] = kept
            else:
                del receiver[key]
    if dropped and strict:
        raise StackError("STRICT_SECRETS=1: refusing to start Alertmanager without every secret:\n  "
                         + "\n  ".join(f"receiver {d.receiver} ({d.integration}): {d.reason}" for d in dropped))
    filled, missing = secrets.fill(yaml.safe_dump(document, sort_keys=False, width=10_000), environ)
    if missing:   # a placeholder outside any integration (e.g. in global:) cannot be left out
        raise StackError(f"alertmanager: {', '.join(missing)} not set and needed outside a receiver; "
                         "export it (or NAME_FILE=/path)")
    return HEADER + filled, dropped


def _local_path(path: str, secrets_dir: Path, native: bool) -> Path | None:
    """Where a secret file of the config is on this machine; None for a path this tool cannot see
    (a container path outside the secrets mount)."""
    mount = SECRETS_MOUNT.rstrip("/") + "/"
    if path.startswith(mount):
        return secrets_dir / path[len(mount):]
    return Path(path) if native else None
