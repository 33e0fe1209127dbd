"""k8s/: the same stack for kube-prometheus-stack (prometheus-operator), from the same spec.

- k8s/rules/<domain>.yaml: one PrometheusRule per rule file; spec.groups are rules/<domain>.rules.yml's,
  and k8s/rules/profile-<name>.yaml those of rules/profile-<name>.rules.yml (bot profiles);
- k8s/monitors/<job>.yaml: a ServiceMonitor (+ k8s/monitors/<job>-service.yaml) or a PodMonitor per
  scrape job the spec says runs in the cluster; the `job` label is the spec's job name, so the rules'
  job matchers (TargetAbsent) mean the same thing as in the single-host stack; a bot's monitor carries
  its profile's metric_relabel_configs as `metricRelabelings`;
- k8s/dashboards/<uid>.yaml: one ConfigMap per dashboard for the Grafana sidecar (minified JSON);
- k8s/kustomization.yaml ties the manifests together (`kubectl apply -k k8s/`);
- k8s/values-kube-prometheus-stack.yaml: the chart values that make them work: selectors, the
  sidecar's folder annotation, external labels, and the Alertmanager config (the chart renders it
  into the Secret it mounts). The config is not rendered as an AlertmanagerConfig: see docs/scale-out.md.
"""
from __future__ import annotations

import json
import re

from stackgen import conventions as n
from stackgen.alerts.rules import rule_document
from stackgen.alerts.rulesets import rule_files
from stackgen.model.scale import Workload
from stackgen.model.stack import Stack
from stackgen.render.builders import alertmanager, profile_rules
from stackgen.render.builders.dashboards import dashboards
from stackgen.render.output import to_yaml

_ENV_PLACEHOLDER = re.compile(r"^\$\{([A-Z_][A-Z0-9_]*)\}$")


def resource_name(*parts: str) -> str:
    """A DNS-1123 name from the prefix and spec names (which may hold '_' or '.')."""
    return re.sub(r"[^a-z0-9-]", "-", "-".join((n.K8S_NAME_PREFIX, *parts)).lower())[:63].rstrip("-")


def _metadata(stack: Stack, name: str, labels: dict | None = None, annotations: dict | None = None) -> dict:
    meta: dict = {"name": name, "namespace": stack.kubernetes.namespace,
                  "labels": {"app.kubernetes.io/part-of": n.K8S_NAME_PREFIX,
                             "app.kubernetes.io/managed-by": n.GENERATED_BY.replace(".", "-"), **(labels or {})}}
    if annotations:
        meta["annotations"] = annotations
    return meta


# -- PrometheusRule ------------------------------------------------------------------
def _prometheus_rule(stack: Stack, name: str, groups: list[dict]) -> dict:
    return {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
            "metadata": _metadata(stack, resource_name(name), dict(stack.kubernetes.rule_selector_labels)),
            "spec": {"groups": groups}}


def prometheus_rules(stack: Stack) -> dict[str, dict]:
    """One PrometheusRule per rule file: the built-in domains, custom, and each bot profile's."""
    out = {}
    for rule_file in rule_files(stack):
        if not rule_file.groups:
            continue
        groups = [{"name": g.name, "rules": [rule_document(r) for r in g.rules]} for g in rule_file.groups]
        out[f"{n.K8S_DIR}/rules/{rule_file.domain}.yaml"] = _prometheus_rule(stack, rule_file.domain, groups)
    for profile in stack.profiles:
        name = f"profile-{profile.name}"
        groups = [{"name": group, "rules": [rule_document(r) for r in rules]}
                  for group, rules in profile_rules.groups(stack, profile)]
        out[f"{n.K8S_DIR}/rules/{name}.yaml"] = _prometheus_rule(stack, name, groups)
    return out


# -- ServiceMonitor / PodMonitor -----------------------------------------------------------
def _endpoint(stack: Stack, workload: Workload) -> dict:
    job = next(j for j in stack.scrape.jobs if j.name == workload.job)
    # Prometheus names the job after the Service (or namespace/PodMonitor); the rules match the spec's name.
    relabelings = [{"action": "replace", "targetLabel": "job", "replacement": job.name}]
    relabelings += [{"action": "replace", "targetLabel": key, "replacement": value} for key, value in job.labels]
    endpoint = {"port": n.K8S_METRICS_PORT, "path": job.metrics_path, "scheme": job.scheme,
                "interval": job.interval or stack.glob.scrape_interval,
                "scrapeTimeout": job.timeout or stack.glob.scrape_timeout, "relabelings": relabelings}
    bot = stack.bot(job.name) if job.profile else None
    if bot is not None:
        metric = [metric_relabeling(c) for c in profile_rules.relabel_configs(bot.profile, stack.api.path_label)]
        if metric:
            # The bot's own names and labels mapped onto the signals, as prometheus.yml's metric_relabel_configs.
            endpoint["metricRelabelings"] = metric
    return endpoint


_CRD_KEYS = {"source_labels": "sourceLabels", "target_label": "targetLabel", "regex": "regex",
             "replacement": "replacement", "action": "action", "separator": "separator", "modulus": "modulus"}


def metric_relabeling(config: dict) -> dict:
    """A Prometheus relabel config in the operator's RelabelConfig shape (camelCase; the action is written
    out, since the CRD's default is the lower-case `replace` the operator passes through)."""
    out = {"action": config.get("action", "replace")}
    for key, value in config.items():
        if key not in _CRD_KEYS:
            raise ValueError(f"relabel key {key!r} has no RelabelConfig field")
        if key != "action":
            out[_CRD_KEYS[key]] = list(value) if isinstance(value, (list, tuple)) else value
    return out


def monitors(stack: Stack) -> dict[str, dict]:
    k8s = stack.kubernetes
    out = {}
    for w in k8s.workloads:
        name = resource_name(w.job)
        base = f"{n.K8S_DIR}/monitors/{w.job}"
        if w.kind == "service":
            out[f"{base}-service.yaml"] = {
                "apiVersion": "v1", "kind": "Service",
                "metadata": _metadata(stack, name, {n.K8S_JOB_LABEL: name}),
                "spec": {"selector": dict(w.selector), "ports": [
                    {"name": n.K8S_METRICS_PORT, "port": w.port, "targetPort": w.port, "protocol": "TCP"}]}}
            out[f"{base}.yaml"] = {
                "apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
                "metadata": _metadata(stack, name, dict(k8s.monitor_selector_labels)),
                "spec": {"selector": {"matchLabels": {n.K8S_JOB_LABEL: name}},
                         "namespaceSelector": {"matchNames": [k8s.namespace]},
                         "endpoints": [_endpoint(stack, w)]}}
        else:
            out[f"{base}.yaml"] = {
                "apiVersion": "monitoring.coreos.com/v1", "kind": "PodMonitor",
                "metadata": _metadata(stack, name, dict(k8s.monitor_selector_labels)),
                "spec": {"selector": {"matchLabels": dict(w.selector)},
                         "namespaceSelector": {"matchNames": [k8s.namespace]},
                         "podMetricsEndpoints": [_endpoint(stack, w)]}}
    return out


# -- dashboards --------------------------------------------------------------------------
def dashboard_config_maps(stack: Stack) -> dict[str, dict]:
    boards = dashboards(stack)
    folders = {f.name: f.title for f in stack.grafana.folders} if stack.grafana else {}
    out = {}
    for d in stack.dashboards:
        body = json.dumps(boards[n.dashboard_file(d.folder, d.uid)], separators=(",", ":"), sort_keys=True,
                          ensure_ascii=False)
        key, value = n.GRAFANA_DASHBOARD_LABEL
        out[f"{n.K8S_DIR}/dashboards/{d.uid}.yaml"] = {
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": _metadata(stack, resource_name("dashboard", d.uid), {key: value},
                                  {n.GRAFANA_FOLDER_ANNOTATION: folders.get(d.folder, d.folder)}),
            "data": {f"{d.uid}.json": body}}
    return out


# -- Helm values: selectors, Grafana sidecar, Alertmanager config ----------------------------
def alertmanager_config_for_kubernetes(stack: Stack) -> dict:
    """The Alertmanager config with every secret read from the mounted Secret.

    kube-prometheus-stack mounts alertmanagerSpec.secrets at <mount>/<secret>/<key>; the key is
    the environment variable's name ({env: NAME}) or the file's base name ({file: /path}). The
    chart's Alertmanager (>= 0.26) reads the Telegram token from a file too (bot_token_file)."""
    mount = f"{n.K8S_ALERTMANAGER_SECRETS_MOUNT}/{stack.kubernetes.alertmanager_secret}"
    keys: dict[str, str] = {}     # Secret key -> the spec's file path or variable it stands for

    def key_for(name: str, origin: str) -> str:
        if keys.setdefault(name, origin) != origin:
            raise stack.error(("alertmanager", "receivers"), (
                f"{keys[name]} and {origin} would both be key {name!r} of Secret "
                f"{stack.kubernetes.alertmanager_secret!r}; give the files different names"))
        return f"{mount}/{name}"

    def walk(node):
        if isinstance(node, list):
            return [walk(x) for x in node]
        if not isinstance(node, dict):
            return node
        out = {}
        for key, value in node.items():
            match = _ENV_PLACEHOLDER.match(value) if isinstance(value, str) else None
            if match:
                out[f"{key}_file"] = key_for(match.group(1), f"${{{match.group(1)}}}")
            elif key.endswith("_file") and isinstance(value, str):
                out[key] = key_for(value.rsplit("/", 1)[-1], value)
            else:
                out[key] = walk(value)
        return out
    return walk(alertmanager.config(stack))


def helm_values(stack: Stack) -> dict:
    k8s, g = stack.kubernetes, stack.glob
    label, value = n.GRAFANA_DASHBOARD_LABEL
    monitor = {"matchLabels": dict(k8s.monitor_selector_labels)}
    return {
        "prometheus": {"prometheusSpec": {
            "externalLabels": {"project": g.project, "cluster": g.cluster, "environment": g.environment},
            "evaluationInterval": g.evaluation_interval, "scrapeInterval": g.scrape_interval,
            "scrapeTimeout": g.scrape_timeout, "retention": g.retention,
            # Explicit selectors: a PrometheusRule without these labels is silently ignored otherwise.
            "ruleSelectorNilUsesHelmValues": False,
            "ruleSelector": {"matchLabels": dict(k8s.rule_selector_labels)},
            "serviceMonitorSelectorNilUsesHelmValues": False, "serviceMonitorSelector": monitor,
            "podMonitorSelectorNilUsesHelmValues": False, "podMonitorSelector": monitor}},
        "alertmanager": {
            "config": alertmanager_config_for_kubernetes(stack),
            "alertmanagerSpec": {"secrets": [k8s.alertmanager_secret]}},
        "grafana": {"sidecar": {"dashboards": {
            "enabled": True, "label": label, "labelValue": value, "searchNamespace": k8s.namespace,
            "folderAnnotation": n.GRAFANA_FOLDER_ANNOTATION,
            "provider": {"foldersFromFilesStructure": True, "allowUiUpdates": False}}}},
    }


# -- the whole folder ----------------------------------------------------------------------
def manifests(stack: Stack) -> dict[str, dict]:
    return {**prometheus_rules(stack), **monitors(stack), **dashboard_config_maps(stack)}


def render(stack: Stack) -> dict[str, str]:
    if stack.kubernetes is None:
        return {}
    files = {path: to_yaml(doc, stack.source, sort_keys=False) for path, doc in manifests(stack).items()}
    for i, d in enumerate(stack.dashboards):
        size = len(files[f"{n.K8S_DIR}/dashboards/{d.uid}.yaml"].encode("utf-8"))
        if size > n.K8S_MANIFEST_MAX_BYTES:
            raise stack.error(("dashboards", i), (
                f"dashboard {d.uid!r}: its Kubernetes ConfigMap would be {size:,} bytes, above the "
                f"{n.K8S_MANIFEST_MAX_BYTES:,}-byte limit (kubectl apply copies it into an annotation of at "
                "most 262,144 bytes); split it into smaller dashboards"))
    prefix = f"{n.K8S_DIR}/"
    kustomization = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                     "namespace": stack.kubernetes.namespace,
                     "resources": sorted(path[len(prefix):] for path in files)}
    files[n.K8S_KUSTOMIZATION] = to_yaml(kustomization, stack.source, sort_keys=False)
    files[n.K8S_HELM_VALUES] = to_yaml(helm_values(stack), stack.source, sort_keys=False)
    return files
