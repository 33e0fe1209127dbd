"""k8s/: every manifest against the offline schemas, the PrometheusRules through the real promtool,
ConfigMaps under the size limit, and the kustomization through the real kubectl where one exists."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft7Validator

from stackgen import conventions as n
from stackgen.pipeline import render_spec
from tests.conftest import ROOT, need_tools, run_generate
from tests.dashboards.fixture import fixture_spec

SCHEMAS = Path(__file__).parent / "schemas"
SCHEMA_OF = {
    ("monitoring.coreos.com/v1", "PrometheusRule"): "prometheusrule_v1.json",
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "servicemonitor_v1.json",
    ("monitoring.coreos.com/v1", "PodMonitor"): "podmonitor_v1.json",
    ("v1", "ConfigMap"): "configmap-v1.json",
    ("v1", "Service"): "service-v1.json",
}


def _validator(name: str) -> Draft7Validator:
    schema = json.loads((SCHEMAS / name).read_text())
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema, format_checker=Draft7Validator.FORMAT_CHECKER)


VALIDATORS = {key: _validator(name) for key, name in SCHEMA_OF.items()}


def manifests(files: dict[str, str]) -> dict[str, dict]:
    """Every rendered Kubernetes object (the kustomization and Helm values are not objects)."""
    return {path: yaml.safe_load(text) for path, text in files.items()
            if path.startswith(n.K8S_DIR + "/") and path not in (n.K8S_KUSTOMIZATION, n.K8S_HELM_VALUES)}


def schema_errors(docs: dict[str, dict]) -> list[str]:
    errors = []
    for path, doc in docs.items():
        validator = VALIDATORS.get((doc.get("apiVersion"), doc.get("kind")))
        if validator is None:
            errors.append(f"{path}: no schema for {doc.get('apiVersion')} {doc.get('kind')}")
            continue
        errors += [f"{path}: {'/'.join(map(str, e.absolute_path))}: {e.message[:200]}"
                   for e in validator.iter_errors(doc)]
    return errors


def _pod_workloads(data):
    """A second setup: custom selector labels, a PodMonitor, a job with static labels."""
    data["kubernetes"].update(namespace="trading", rule_selector_labels={"prometheus": "trading", "role": "rules"},
                              monitor_selector_labels={"prometheus": "trading"})
    data["scrape"]["jobs"][1]["enabled"] = True
    data["kubernetes"]["workloads"].append({"job": data["scrape"]["jobs"][1]["name"], "kind": "pod",
                                            "selector": {"app": "topn-bot"}})


@pytest.fixture(scope="module")
def shipped():
    return render_spec(ROOT / "spec.yaml")[1]


def test_schemas_reject_a_broken_manifest():
    """The validators are live: a typo'd field and a wrong type are both caught."""
    rule = {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule", "metadata": {"name": "x"},
            "spec": {"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "up", "fore": "5m"}]}]}}
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "labels": {"grafana_dashboard": 1}}}
    assert schema_errors({"rule": rule}) and schema_errors({"cm": cm})


def test_every_shipped_manifest_validates_with_zero_errors(shipped):
    docs = manifests(shipped)
    kinds = {doc["kind"] for doc in docs.values()}
    assert {"PrometheusRule", "ServiceMonitor", "Service", "ConfigMap"} <= kinds
    assert schema_errors(docs) == []


def test_a_pod_workload_and_custom_selectors_validate(edited_spec):
    _, files = render_spec(edited_spec(_pod_workloads))
    docs = manifests(files)
    assert schema_errors(docs) == []
    pod = [d for d in docs.values() if d["kind"] == "PodMonitor"]
    assert len(pod) == 1 and pod[0]["spec"]["selector"] == {"matchLabels": {"app": "topn-bot"}}
    assert pod[0]["metadata"]["labels"]["prometheus"] == "trading" and "role" not in pod[0]["metadata"]["labels"]
    endpoint = pod[0]["spec"]["podMetricsEndpoints"][0]
    assert endpoint["port"] == "metrics" and endpoint["interval"] == "5s" and endpoint["scrapeTimeout"] == "4s"
    for doc in docs.values():
        assert doc["metadata"]["namespace"] == "trading"
        if doc["kind"] == "PrometheusRule":
            assert {"prometheus": "trading", "role": "rules"}.items() <= doc["metadata"]["labels"].items()
    values = yaml.safe_load(files[n.K8S_HELM_VALUES])
    assert values["prometheus"]["prometheusSpec"]["ruleSelector"] == {
        "matchLabels": {"prometheus": "trading", "role": "rules"}}


def test_monitors_set_the_spec_job_name_and_its_labels(shipped):
    """The rules match job="exporter"; in the cluster the job would otherwise be the Service's name."""
    docs = manifests(shipped)
    monitor = next(d for d in docs.values() if d["kind"] == "ServiceMonitor")
    service = next(d for d in docs.values() if d["kind"] == "Service")
    relabel = {r["targetLabel"]: r["replacement"] for r in monitor["spec"]["endpoints"][0]["relabelings"]}
    job = relabel["job"]
    spec_job = yaml.safe_load((ROOT / "spec.yaml").read_text())["scrape"]["jobs"][0]
    assert job == spec_job["name"] and {k: relabel[k] for k in spec_job["labels"]} == spec_job["labels"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert [p["name"] for p in service["spec"]["ports"]] == [n.K8S_METRICS_PORT]


def test_prometheus_rules_hold_exactly_the_rule_files_groups(shipped):
    rules = {p: d for p, d in manifests(shipped).items() if d["kind"] == "PrometheusRule"}
    rule_files = {p for p in shipped if p.startswith(n.RULES_DIR + "/") and p.endswith(".rules.yml")}
    assert len(rules) == len(rule_files)
    for path, doc in rules.items():
        domain = Path(path).stem
        assert doc["spec"]["groups"] == yaml.safe_load(shipped[f"{n.RULES_DIR}/{domain}.rules.yml"])["groups"]
        assert doc["metadata"]["labels"]["release"] == "kube-prometheus-stack"


@pytest.mark.tools
def test_groups_extracted_from_prometheus_rules_pass_promtool_check_and_test(shipped, tmp_path):
    """The groups taken back out of each PrometheusRule, judged by the real promtool with the generated tests."""
    need_tools("promtool")
    rules_dir = tmp_path / "rules"
    (rules_dir / "tests").mkdir(parents=True)
    extracted, tests = [], []
    for path, doc in manifests(shipped).items():
        if doc["kind"] != "PrometheusRule":
            continue
        domain = Path(path).stem
        target = rules_dir / f"{domain}.rules.yml"
        target.write_text(yaml.safe_dump({"groups": doc["spec"]["groups"]}, sort_keys=False))
        extracted.append(str(target))
        test = rules_dir / "tests" / f"{domain}.test.yml"
        test.write_text(shipped[f"{n.RULE_TESTS_DIR}/{domain}.test.yml"])
        tests.append(str(test))
    check = subprocess.run(["promtool", "check", "rules", *extracted], capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.count("SUCCESS") == len(extracted)
    run = subprocess.run(["promtool", "test", "rules", *tests], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.count("SUCCESS") == len(tests)
    # And promtool does judge them: a broken expression in one extracted group fails.
    doc = yaml.safe_load(Path(extracted[0]).read_text())
    doc["groups"][0]["rules"][0]["expr"] = "sum by (job (up)"
    Path(extracted[0]).write_text(yaml.safe_dump(doc))
    assert subprocess.run(["promtool", "check", "rules", extracted[0]], capture_output=True,
                          timeout=60).returncode != 0


def test_dashboard_config_maps_are_small_labelled_minified_and_round_trip(shipped):
    docs = manifests(shipped)
    folders = {f["name"]: f["title"] for f in yaml.safe_load((ROOT / "spec.yaml").read_text())["grafana"]["folders"]}
    maps = {p: d for p, d in docs.items() if d["kind"] == "ConfigMap"}
    dashboards = {p for p in shipped if p.startswith(n.DASHBOARDS_DIR + "/") and p.endswith(".json")}
    assert len(maps) == len(dashboards) > 0
    for path, doc in maps.items():
        assert len(shipped[path].encode()) < n.K8S_MANIFEST_MAX_BYTES, path
        assert doc["metadata"]["labels"]["grafana_dashboard"] == "1"     # a string, as the sidecar matches
        (key, body), = doc["data"].items()
        original = next(p for p in dashboards if p.endswith("/" + key))
        assert json.loads(body) == json.loads(shipped[original])
        assert body == json.dumps(json.loads(body), separators=(",", ":"), sort_keys=True, ensure_ascii=False)
        assert doc["metadata"]["annotations"][n.GRAFANA_FOLDER_ANNOTATION] == folders[original.split("/")[1]]
    sidecar = yaml.safe_load(shipped[n.K8S_HELM_VALUES])["grafana"]["sidecar"]["dashboards"]
    assert sidecar["folderAnnotation"] == n.GRAFANA_FOLDER_ANNOTATION
    assert sidecar["provider"]["foldersFromFilesStructure"] is True
    assert (sidecar["label"], sidecar["labelValue"]) == n.GRAFANA_DASHBOARD_LABEL


def test_a_dashboard_over_the_size_limit_fails_at_generate_time(edited_spec, tmp_path):
    def huge(data):
        # The fixture dashboard's panels with 60 KB descriptions each (one value may hold at most 64 KiB):
        # over 500 KB, whatever the shipped dashboards hold.
        fixture_spec(data)
        for row in data["dashboards"][0]["rows"]:
            for panel in row["panels"]:
                panel["description"] = "Long text. " * 5_500
    out = tmp_path / "out"
    result = run_generate("--spec", str(edited_spec(huge)), "--out", str(out))
    assert result.returncode == 2, result.stdout + result.stderr
    line = result.stderr.strip()
    assert "\n" not in line and "Traceback" not in line
    assert line.startswith("error: ") and "spec.yaml:" in line and "dashboards[0]" in line, line
    assert "Kubernetes ConfigMap would be" in line and "256,000-byte limit" in line, line
    assert not out.exists() or not any(out.rglob("*.yaml"))


def test_kustomization_lists_exactly_the_manifests(shipped):
    kustomization = yaml.safe_load(shipped[n.K8S_KUSTOMIZATION])
    assert kustomization["namespace"] == "monitoring"
    listed = {f"{n.K8S_DIR}/{r}" for r in kustomization["resources"]}
    assert listed == set(manifests(shipped))
    committed = {p.relative_to(ROOT).as_posix() for p in (ROOT / n.K8S_DIR).rglob("*.yaml")}
    assert listed == committed - {n.K8S_KUSTOMIZATION, n.K8S_HELM_VALUES}


@pytest.mark.tools
def test_kubectl_kustomize_builds_the_folder_offline():
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl not installed (Debian: apt-get install kubernetes-client)")
    proc = subprocess.run(["kubectl", "kustomize", str(ROOT / n.K8S_DIR)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    built = list(yaml.safe_load_all(proc.stdout))
    files = {p: yaml.safe_load(p.read_text()) for p in (ROOT / n.K8S_DIR).rglob("*.yaml")
             if p.name not in ("kustomization.yaml", Path(n.K8S_HELM_VALUES).name)}
    assert sorted((d["kind"], d["metadata"]["name"]) for d in built) == sorted(
        (d["kind"], d["metadata"]["name"]) for d in files.values())
    assert all(d["metadata"]["namespace"] == "monitoring" for d in built)
    assert schema_errors({f"built[{i}]": d for i, d in enumerate(built)}) == []


def _local_and_k8s_alertmanager(files):
    return (yaml.safe_load(files[n.ALERTMANAGER_CONFIG]),
            yaml.safe_load(files[n.K8S_HELM_VALUES])["alertmanager"]["config"])


def test_the_charts_alertmanager_config_is_the_same_routing_with_secrets_from_the_mounted_secret(shipped):
    local, k8s = _local_and_k8s_alertmanager(shipped)
    values = yaml.safe_load(shipped[n.K8S_HELM_VALUES])
    secret = values["alertmanager"]["alertmanagerSpec"]["secrets"][0]
    mount = f"{n.K8S_ALERTMANAGER_SECRETS_MOUNT}/{secret}/"
    for key in ("route", "inhibit_rules", "global", "time_intervals"):
        assert k8s.get(key) == local.get(key), key
    text = yaml.safe_dump(k8s)
    assert "${" not in text
    files = [line.split(": ", 1)[1] for line in text.splitlines() if "_file: " in line]
    assert files and all(path.startswith(mount) for path in files), files
    assert f"{mount}TELEGRAM_BOT_TOKEN" in files        # an {env: NAME} secret becomes key NAME


@pytest.mark.tools
def test_amtool_accepts_the_charts_alertmanager_config(shipped, tmp_path):
    """amtool here is 0.25; the chart runs >= 0.26, which added telegram bot_token_file. Every other
    field is judged as is; that one is checked by name and given to 0.25 as the older bot_token."""
    need_tools("amtool")
    _, k8s = _local_and_k8s_alertmanager(shipped)
    older = yaml.safe_dump(k8s).replace("bot_token_file: ", "bot_token: ")
    assert older != yaml.safe_dump(k8s)
    (tmp_path / "am.yml").write_text(older)
    proc = subprocess.run(["amtool", "check-config", str(tmp_path / "am.yml")], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_two_secret_files_with_one_name_are_refused(edited_spec):
    def clash(data):
        for r in data["alertmanager"]["receivers"]:
            if "email" in r:
                r["email"]["auth_password"] = {"file": "/elsewhere/slack_webhook_url"}
    from stackgen.errors import SpecError
    with pytest.raises(SpecError, match=r"alertmanager\.receivers: /etc/alertmanager/secrets/slack_webhook_url "
                                        r"and /elsewhere/slack_webhook_url would both be key 'slack_webhook_url'"):
        render_spec(edited_spec(clash))


# -- bots and profiles: examples rendered with kubernetes enabled ------------------------------
# Each example's bots run in the cluster: one behind a Service, the others as pods (PodMonitor).
EXAMPLES = ("rust-trader", "d77-topn", "d80-fx", "fastapi", "zigquant")


def _example_in_kubernetes(name: str, tmp_path: Path) -> tuple[dict, dict[str, str]]:
    data = yaml.safe_load((ROOT / "examples" / f"{name}.yaml").read_text())
    workloads = []
    for i, bot in enumerate(data["bots"]):
        port = int(bot["targets"][0].rsplit(":", 1)[1])
        if i == 0:
            workloads.append({"job": bot["name"], "kind": "service", "selector": {"app": bot["name"]}, "port": port})
        else:
            workloads.append({"job": bot["name"], "kind": "pod", "selector": {"app": bot["name"]}})
    data["kubernetes"] = {"enabled": True, "workloads": workloads}
    spec = tmp_path / f"{name}.yaml"
    spec.write_text(yaml.safe_dump(data, sort_keys=False))
    return data, render_spec(spec)[1]


@pytest.fixture(scope="module", params=EXAMPLES)
def example(request, tmp_path_factory):
    return request.param, *_example_in_kubernetes(request.param, tmp_path_factory.mktemp(request.param))


def test_examples_with_bots_validate_and_carry_the_profile_rules(example):
    name, data, files = example
    docs = manifests(files)
    assert schema_errors(docs) == []
    profile_files = sorted(p for p in files if Path(p).name.startswith("profile-") and p.endswith(".rules.yml"))
    assert profile_files, "the example has a bot profile"
    rules = {Path(p).stem: d for p, d in docs.items() if d["kind"] == "PrometheusRule"}
    all_rule_files = {Path(p).name.removesuffix(".rules.yml") for p in files
                      if p.startswith(n.RULES_DIR + "/") and p.endswith(".rules.yml")}
    assert set(rules) == all_rule_files
    for path in profile_files:
        stem = Path(path).name.removesuffix(".rules.yml")
        assert rules[stem]["spec"]["groups"] == yaml.safe_load(files[path])["groups"]
        assert rules[stem]["metadata"]["labels"]["release"] == "kube-prometheus-stack"
        assert rules[stem]["metadata"]["name"] == f"tradingmon-{stem}"


def _crd_shape(config: dict) -> dict:
    names = {"source_labels": "sourceLabels", "target_label": "targetLabel"}
    return {"action": "replace", **{names.get(k, k): v for k, v in config.items()}}


def test_bot_monitors_carry_the_profiles_metric_relabel_configs_as_metric_relabelings(example):
    """The same rewrites as prometheus.yml's metric_relabel_configs, in the CRD's camelCase fields."""
    name, data, files = example
    scrape = {j["job_name"]: j for j in yaml.safe_load(files[n.PROMETHEUS_CONFIG])["scrape_configs"]}
    docs = manifests(files)
    checked = 0
    for bot in data["bots"]:
        monitor = next(d for d in docs.values() if d["kind"] in ("ServiceMonitor", "PodMonitor")
                       and d["metadata"]["name"] == f"tradingmon-{bot['name']}")
        (endpoint,) = monitor["spec"].get("endpoints") or monitor["spec"]["podMetricsEndpoints"]
        expected = [_crd_shape(c) for c in scrape[bot["name"]].get("metric_relabel_configs", [])]
        assert endpoint.get("metricRelabelings", []) == expected
        for relabeling in endpoint.get("metricRelabelings", []):
            assert not {k for k in relabeling if "_" in k}, relabeling       # camelCase only
            assert set(relabeling) <= {"sourceLabels", "targetLabel", "regex", "replacement", "action"}
        checked += len(expected)
    # Only a metric already under its signal's name gets a scrape-time label copy (the instrumentator's).
    assert checked > 0 or name != "fastapi"


@pytest.mark.tools
def test_example_prometheus_rules_pass_promtool_check_and_their_generated_tests(example, tmp_path):
    need_tools("promtool")
    name, _, files = example
    rules_dir = tmp_path / "rules"
    (rules_dir / "tests").mkdir(parents=True)
    extracted, tests = [], []
    for path, doc in manifests(files).items():
        if doc["kind"] != "PrometheusRule":
            continue
        stem = Path(path).stem
        target = rules_dir / f"{stem}.rules.yml"
        target.write_text(yaml.safe_dump({"groups": doc["spec"]["groups"]}, sort_keys=False))
        extracted.append(str(target))
        test = rules_dir / "tests" / f"{stem}.test.yml"
        test.write_text(files[f"{n.RULE_TESTS_DIR}/{stem}.test.yml"])
        tests.append(str(test))
    assert any("profile-" in t for t in tests)
    check = subprocess.run(["promtool", "check", "rules", *extracted], capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr
    run = subprocess.run(["promtool", "test", "rules", *tests], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.count("SUCCESS") == len(tests)
