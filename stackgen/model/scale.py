"""Scale-out settings: Kubernetes output, remote_write with agent-mode hosts, Alertmanager HA.

Three optional top-level sections of the spec; each is off when absent or `enabled: false`.
Credentials are accepted only as files the server reads itself, never inline, never from
the environment (a remote_write password in a committed prometheus.yml is a leak waiting).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from stackgen.spec.fields import Field

_K8S_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
# Kubernetes label keys: an optional DNS prefix and a name; values: up to 63 characters.
_LABEL_KEY = re.compile(r"^([a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?)?$")
_ADDRESS = re.compile(r"^[A-Za-z0-9_.-]+:\d{1,5}$")
_URL = re.compile(r"^https?://[^\s/]+(/\S*)?$")
_TENANT = re.compile(r"^[A-Za-z0-9!._*'()-]{1,150}$")


# -- kubernetes --------------------------------------------------------------------
@dataclass(frozen=True)
class Workload:
    job: str                                  # a scrape job of the spec
    kind: str                                 # "service": Service + ServiceMonitor; "pod": PodMonitor
    selector: tuple[tuple[str, str], ...]     # pod labels
    port: int = 0                             # the container port (kind service)


@dataclass(frozen=True)
class Kubernetes:
    namespace: str
    rule_selector_labels: tuple[tuple[str, str], ...]
    monitor_selector_labels: tuple[tuple[str, str], ...]
    alertmanager_secret: str                  # Secret holding the receivers' secret files
    workloads: tuple[Workload, ...]


# -- remote_write and agents --------------------------------------------------------
@dataclass(frozen=True)
class Auth:
    kind: str = ""                            # "", bearer, basic, oauth2, sigv4
    file: str = ""                            # bearer token / password / client secret file
    username: str = ""
    client_id: str = ""
    token_url: str = ""
    scopes: tuple[str, ...] = ()
    region: str = ""
    profile: str = ""
    role_arn: str = ""


@dataclass(frozen=True)
class Queue:
    capacity: int = 0
    max_shards: int = 0
    min_shards: int = 0
    max_samples_per_send: int = 0
    batch_send_deadline: str = ""


@dataclass(frozen=True)
class AgentHost:
    name: str                                 # the host label's value, unique
    jobs: tuple[str, ...]                     # scrape jobs of the spec this host runs
    targets: tuple[tuple[str, tuple[str, ...]], ...] = ()   # job -> targets, overriding the job's own


@dataclass(frozen=True)
class RemoteWrite:
    url: str
    tenant: str                               # X-Scope-OrgID (Mimir, Cortex); empty: none
    auth: Auth
    queue: Queue
    prometheus_major: int                     # 2: --enable-feature=agent; 3: --agent
    host_label: str
    hosts: tuple[AgentHost, ...]


# -- Alertmanager HA ------------------------------------------------------------------
@dataclass(frozen=True)
class AlertmanagerInstance:
    web: str                                  # host:port Prometheus sends alerts to
    cluster: str                              # host:port of its --cluster.listen-address


@dataclass(frozen=True)
class AlertmanagerHA:
    instances: tuple[AlertmanagerInstance, ...]


def _labels(field: Field) -> tuple[tuple[str, str], ...]:
    f = field.mapping(optional=tuple(field.value or {})) if isinstance(field.value, dict) else field.mapping()
    out = []
    for key, value in f.items():
        if not isinstance(key, str) or not _LABEL_KEY.match(key):
            raise value.error(f"{key!r} is not a valid Kubernetes label key")
        if not isinstance(value.value, str) or not _LABEL_VALUE.match(value.value):
            raise value.error(f"expected a Kubernetes label value (a string of up to 63 letters, digits, "
                              f"'-', '_', '.'), got {value.value!r}")
        out.append((key, value.value))
    return tuple(sorted(out))


def _enabled(field: Field, f: dict[str, Field]) -> bool:
    return f["enabled"].boolean() if "enabled" in f else True


def read_kubernetes(field: Field, job_names: tuple[str, ...], notes: list[str] | None = None) -> Kubernetes | None:
    f = field.mapping(optional=("enabled", "namespace", "rule_selector_labels", "monitor_selector_labels",
                                "alertmanager_secret", "workloads"))
    if not _enabled(field, f):
        return None
    namespace = f["namespace"].string(pattern=_K8S_NAME, what="namespace (DNS label)") \
        if "namespace" in f else "monitoring"
    rule_labels = _labels(f["rule_selector_labels"]) if "rule_selector_labels" in f \
        else (("release", "kube-prometheus-stack"),)
    if not rule_labels:
        raise f["rule_selector_labels"].error(
            "must not be empty: the operator's ruleSelector picks PrometheusRules by these labels")
    monitor_labels = _labels(f["monitor_selector_labels"]) if "monitor_selector_labels" in f else rule_labels
    secret = f["alertmanager_secret"].string(pattern=_K8S_NAME, what="Secret name") \
        if "alertmanager_secret" in f else "alertmanager-receiver-secrets"
    workloads, seen = [], set()
    for item in (f["workloads"].items() if "workloads" in f else []):
        w = item.mapping(required=("job", "kind", "selector"), optional=("port",))
        job = w["job"].string()
        if job not in job_names:
            # A workload follows its job: with the job disabled or removed, it is left out.
            if notes is not None:
                notes.append(f"{str(w['job'].error('no enabled scrape job'))} {job!r}: its workload is left out "
                             f"(jobs: {', '.join(job_names) or 'none'})")
            continue
        if job in seen:
            raise w["job"].error(f"job {job!r} is listed twice")
        seen.add(job)
        kind = w["kind"].one_of(("service", "pod"))
        selector = _labels(w["selector"])
        if not selector:
            raise w["selector"].error("expected at least one pod label to select the workload")
        port = 0
        if kind == "service":
            if "port" not in w:
                raise item.error("missing required key 'port' (the container port the Service forwards to)")
            port = int(w["port"].number(low=1, high=65535, integer=True))
        elif "port" in w:
            raise w["port"].error("only for kind service: a PodMonitor scrapes the pod's port named 'metrics'")
        workloads.append(Workload(job, kind, selector, port))
    return Kubernetes(namespace, rule_labels, monitor_labels, secret, tuple(workloads))


def _file(field: Field) -> str:
    """A secret as a file path; inline values and environment variables are refused."""
    if not isinstance(field.value, dict) or set(field.value) != {"file"}:
        raise field.error("credentials are read from files only: use {file: /path}")
    path = field.child("file", field.value["file"]).string()
    if not path.startswith("/"):
        raise field.child("file", path).error(f"must be an absolute path, got {path!r}")
    return path


def _auth(field: Field) -> Auth:
    f = field.mapping(optional=("bearer_token", "basic_auth", "oauth2", "sigv4"))
    if len(f) != 1:
        raise field.error("give exactly one of bearer_token, basic_auth, oauth2, sigv4")
    (kind, value), = f.items()
    if kind == "bearer_token":
        return Auth("bearer", file=_file(value))
    if kind == "basic_auth":
        b = value.mapping(required=("username", "password"))
        return Auth("basic", file=_file(b["password"]), username=b["username"].string())
    if kind == "oauth2":
        o = value.mapping(required=("client_id", "client_secret", "token_url"), optional=("scopes",))
        token_url = o["token_url"].string(pattern=_URL, what="URL")
        scopes = tuple(s.string() for s in o["scopes"].items()) if "scopes" in o else ()
        return Auth("oauth2", file=_file(o["client_secret"]), client_id=o["client_id"].string(),
                    token_url=token_url, scopes=scopes)
    s = value.mapping(required=("region",), optional=("profile", "role_arn", "access_key", "secret_key"))
    for key in ("access_key", "secret_key"):
        if key in s:
            raise s[key].error("keys are never written in the spec: use a profile, a role_arn or the "
                               "instance's credentials (AWS_SHARED_CREDENTIALS_FILE)")
    return Auth("sigv4", region=s["region"].string(), profile=s["profile"].string() if "profile" in s else "",
                role_arn=s["role_arn"].string() if "role_arn" in s else "")


def _queue(field: Field) -> Queue:
    f = field.mapping(optional=("capacity", "max_shards", "min_shards", "max_samples_per_send",
                                "batch_send_deadline"))

    def whole(key: str) -> int:
        return int(f[key].number(low=1, high=10_000_000, integer=True)) if key in f else 0
    queue = Queue(capacity=whole("capacity"), max_shards=whole("max_shards"), min_shards=whole("min_shards"),
                  max_samples_per_send=whole("max_samples_per_send"),
                  batch_send_deadline=f["batch_send_deadline"].duration(minimum=0.001)
                  if "batch_send_deadline" in f else "")
    if queue.min_shards and queue.max_shards and queue.min_shards > queue.max_shards:
        raise f["min_shards"].error(f"must not be above max_shards ({queue.max_shards}), got {queue.min_shards}")
    if queue.capacity and queue.max_samples_per_send and queue.capacity < queue.max_samples_per_send:
        raise f["capacity"].error(f"must be at least max_samples_per_send ({queue.max_samples_per_send}), "
                                  f"got {queue.capacity}")
    return queue


def read_remote_write(field: Field, job_names: tuple[str, ...], reserved_labels: tuple[str, ...]) -> RemoteWrite | None:
    f = field.mapping(optional=("enabled", "url", "tenant", "auth", "queue", "prometheus_version",
                                "host_label", "hosts"))
    if not _enabled(field, f):
        return None
    if "url" not in f:
        raise field.error("missing required key 'url' (the store's remote write endpoint)")
    url = f["url"].string(pattern=_URL, what="URL (http:// or https://)")
    tenant = f["tenant"].string(pattern=_TENANT, what="tenant id") if "tenant" in f else ""
    auth = _auth(f["auth"]) if "auth" in f else Auth()
    if auth.kind and url.startswith("http://") and not url.startswith(("http://127.0.0.1", "http://localhost")):
        raise f["url"].error("credentials over plain http would travel in clear text: use https://")
    major = int(f["prometheus_version"].one_of((2, 3))) if "prometheus_version" in f else 2
    host_label = f["host_label"].name("label name") if "host_label" in f else "host"
    if host_label in reserved_labels:
        raise f["host_label"].error(f"{host_label!r} is already an external label or a target label "
                                    f"({', '.join(reserved_labels)}); choose another name")
    hosts, seen = [], set()
    for item in (f["hosts"].items() if "hosts" in f else []):
        h = item.mapping(required=("name", "jobs"), optional=("targets",))
        name = h["name"].slug("host name")
        if name in seen:
            raise h["name"].error(f"host {name!r} is listed twice: the host label must tell hosts apart")
        seen.add(name)
        jobs = []
        for j in h["jobs"].items(min_items=1):
            job = j.string()
            if job not in job_names:
                raise j.error(f"no enabled scrape job {job!r} (jobs: {', '.join(job_names) or 'none'})")
            jobs.append(job)
        targets = []
        if "targets" in h:
            t = h["targets"]
            tf = t.mapping(optional=tuple(jobs))
            for job, value in tf.items():
                targets.append((job, tuple(x.string(pattern=_ADDRESS, what="target (host:port)")
                                           for x in value.items(min_items=1))))
        hosts.append(AgentHost(name, tuple(jobs), tuple(sorted(targets))))
    return RemoteWrite(url, tenant, auth, _queue(f["queue"]) if "queue" in f else Queue(), major, host_label,
                       tuple(hosts))


def read_alertmanager_ha(field: Field) -> AlertmanagerHA | None:
    f = field.mapping(optional=("enabled", "instances"))
    if not _enabled(field, f):
        return None
    if "instances" not in f:
        raise field.error("missing required key 'instances' (two or more {web, cluster} addresses)")
    instances, seen = [], set()
    for item in f["instances"].items(min_items=2):
        i = item.mapping(required=("web", "cluster"))
        web = i["web"].string(pattern=_ADDRESS, what="address (host:port)")
        cluster = i["cluster"].string(pattern=_ADDRESS, what="address (host:port)")
        for key, value in (("web", web), ("cluster", cluster)):
            if value in seen:
                raise i[key].error(f"{value} is used twice: every instance needs its own web and cluster address")
            seen.add(value)
        instances.append(AlertmanagerInstance(web, cluster))
    return AlertmanagerHA(tuple(instances))
