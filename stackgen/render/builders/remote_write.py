"""Pieces of prometheus.yml for scale-out: remote_write to a long-term store, and the Alertmanagers.

Used by the stack's prometheus.yml (builders/prometheus.py) and by the agent-mode configs (scale_out).
"""
from __future__ import annotations

from stackgen import conventions as n
from stackgen import promql
from stackgen.alerts.rulesets import recorded_series, rule_files
from stackgen.model.scale import RemoteWrite
from stackgen.model.stack import Stack
from stackgen.render.builders import profile_rules


def kept_series(stack: Stack) -> list[str]:
    """What is written to the store: the catalog's series, the recorded series, and the well-known
    ones the rules and dashboards read (up, ALERTS, process_*). Anything else stays local."""
    names = {s for m in stack.catalog.metrics for s in m.series_names}
    names |= set(recorded_series([rule for file in rule_files(stack) for rule in file.records]))
    names |= set(n.WELL_KNOWN_SERIES)
    # Bot profiles: what their rules read (a bot's own names the mapping rules scale or age, its
    # heartbeat) and what they record, since the rules run on the store too.
    for profile in stack.profiles:
        for _, rules in profile_rules.groups(stack, profile):
            for rule in rules:
                names |= set(promql.selected_metrics(rule.expr))
                if rule.record:
                    names.add(rule.record)
    return sorted(names)


def _auth(rw: RemoteWrite) -> dict:
    a = rw.auth
    if a.kind == "bearer":
        return {"authorization": {"type": "Bearer", "credentials_file": a.file}}
    if a.kind == "basic":
        return {"basic_auth": {"username": a.username, "password_file": a.file}}
    if a.kind == "oauth2":
        out: dict = {"client_id": a.client_id, "client_secret_file": a.file, "token_url": a.token_url}
        if a.scopes:
            out["scopes"] = list(a.scopes)
        return {"oauth2": out}
    if a.kind == "sigv4":
        out = {"region": a.region}
        if a.profile:
            out["profile"] = a.profile
        if a.role_arn:
            out["role_arn"] = a.role_arn
        return {"sigv4": out}
    return {}


def remote_write_entry(stack: Stack) -> dict:
    rw = stack.remote_write
    entry: dict = {"url": rw.url, "name": n.K8S_NAME_PREFIX}
    if rw.tenant:
        entry["headers"] = {n.TENANT_HEADER: rw.tenant}
    entry.update(_auth(rw))
    q = rw.queue
    queue = {key: getattr(q, key) for key in ("capacity", "max_shards", "min_shards", "max_samples_per_send",
                                                "batch_send_deadline") if getattr(q, key)}
    if queue:
        entry["queue_config"] = queue
    entry["write_relabel_configs"] = [{"source_labels": ["__name__"], "regex": "|".join(kept_series(stack)),
                                       "action": "keep"}]
    return entry


def remote_write_section(stack: Stack) -> dict:
    """{"remote_write": [...]} for prometheus.yml, or nothing when the spec has no remote_write."""
    return {"remote_write": [remote_write_entry(stack)]} if stack.remote_write else {}


def alertmanager_targets(stack: Stack) -> list[str]:
    """Every Alertmanager Prometheus sends to: all HA peers (never a load balancer), else the one."""
    if stack.alertmanager_ha:
        return [i.web for i in stack.alertmanager_ha.instances]
    return [f"alertmanager:{n.SERVICE_PORTS['alertmanager']}"]

