"""docker-compose.yml, offline: valid compose, pinned, healthy, private by default, in sync with the spec."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from stackgen import conventions as n
from stackgen.model.stack import load_stack
from stackctl.settings import SECRETS_MOUNT, SERVICES
from tests.conftest import ROOT

COMPOSE = ROOT / "docker-compose.yml"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def _volumes(service: dict) -> dict[str, str]:
    """container path -> host source (without :ro)."""
    out = {}
    for entry in service.get("volumes", []):
        source, target = re.fullmatch(r"(.+):(/[^:]*)(?::ro|:rw)?", entry).groups()
        out[target] = source
    return out


def test_validates_against_the_compose_spec_schema():
    cli = Path(sys.executable).parent / "check-jsonschema"
    proc = subprocess.run([str(cli), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_runs_the_four_services(services):
    assert set(services) == set(SERVICES)


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_service_has_a_healthcheck_and_a_restart_policy(services, name):
    service = services[name]
    assert service["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL"), name
    assert service["restart"] in ("unless-stopped", "always", "on-failure"), name


def test_every_image_is_pinned_to_a_version(services):
    for name, service in services.items():
        if "build" in service:
            continue
        image = service["image"]
        assert "@sha256:" in image or re.search(r":v?\d+\.\d+\.\d+$", image), f"{name}: {image} is not pinned"
    assert services["grafana"]["image"].startswith("grafana/grafana:12.")
    assert services["prometheus"]["image"].startswith("prom/prometheus:v2.")
    assert services["alertmanager"]["image"].startswith("prom/alertmanager:v0.")


def test_exporter_is_built_from_its_dockerfile(services):
    build = services["exporter"]["build"]
    dockerfile = (ROOT / build["context"] / build.get("dockerfile", "Dockerfile")).resolve()
    assert dockerfile == ROOT / "exporter" / "Dockerfile" and dockerfile.is_file()
    # The image's entrypoint is `python -m exporter`; compose only passes its arguments.
    assert 'ENTRYPOINT ["python", "-m", "exporter"]' in dockerfile.read_text()
    assert services["exporter"]["command"][:4] == ["--port", "9100", "--bind", "0.0.0.0"]
    assert "demo" in services["exporter"]["command"][-1]


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_ports_are_bound_to_localhost_by_default_and_configurable(services, name):
    service = SERVICES[name]
    assert services[name]["ports"] == [
        f"${{BIND_ADDR:-127.0.0.1}}:${{{service.port_variable}:-{service.default_port}}}:{service.default_port}"]


def test_startup_order_waits_for_health(services):
    for name, service in services.items():
        for dependency, condition in service.get("depends_on", {}).items():
            assert condition == {"condition": "service_healthy"}, f"{name} -> {dependency}"
    assert set(services["prometheus"]["depends_on"]) == {"alertmanager", "exporter"}
    assert set(services["grafana"]["depends_on"]) == {"prometheus"}


def test_data_lives_in_named_volumes(compose, services):
    assert set(compose["volumes"]) == {"prometheus-data", "alertmanager-data", "grafana-data"}
    assert _volumes(services["prometheus"])["/prometheus"] == "prometheus-data"
    assert _volumes(services["alertmanager"])["/alertmanager"] == "alertmanager-data"
    assert _volumes(services["grafana"])["/var/lib/grafana"] == "grafana-data"


def test_the_docker_host_is_reachable_on_linux(services):
    for name in ("prometheus", "alertmanager"):
        assert "host.docker.internal:host-gateway" in services[name]["extra_hosts"], name


def test_grafana_has_no_default_password(services):
    grafana = services["grafana"]
    env = grafana["environment"]
    password = env["GF_SECURITY_ADMIN_PASSWORD"]
    # Only from .env; `:?` makes compose refuse to start without it; no `:-default`.
    assert password.startswith("${GF_SECURITY_ADMIN_PASSWORD:?"), password
    assert ":-" not in password
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    text = COMPOSE.read_text().lower()
    assert "admin/admin" not in text and "password: admin" not in text and "password=admin" not in text


def test_no_secret_values_in_the_compose_file(services):
    for name, service in services.items():
        environment = service.get("environment", {})
        for key, value in environment.items():
            if re.search(r"PASSWORD|TOKEN|SECRET|KEY|WEBHOOK", key):
                assert str(value).startswith("${"), f"{name}: {key} must come from the environment"


def test_env_and_secrets_are_git_ignored():
    ignored = subprocess.run(["git", "check-ignore", ".env", "run/docker/alertmanager/alertmanager.yml",
                              "secrets/slack_webhook_url"], cwd=ROOT, capture_output=True, text=True)
    assert ignored.stdout.split() == [".env", "run/docker/alertmanager/alertmanager.yml",
                                      "secrets/slack_webhook_url"]


def test_prometheus_retention_matches_the_spec(services):
    stack = load_stack(ROOT / n.SPEC_FILE)
    flags = services["prometheus"]["command"]
    assert f"--storage.tsdb.retention.time={stack.glob.retention}" in flags
    assert "--web.enable-lifecycle" in flags


def test_mounts_match_the_generated_files_and_the_conventions(services):
    prometheus = _volumes(services["prometheus"])
    config_flag = next(f for f in services["prometheus"]["command"] if f.startswith("--config.file="))
    config_in_container = config_flag.split("=", 1)[1]
    mount = str(Path(config_in_container).parent)
    assert (ROOT / prometheus[mount] / Path(config_in_container).name).resolve() == ROOT / n.PROMETHEUS_CONFIG
    assert (ROOT / prometheus[n.PROMETHEUS_RULES_MOUNT]).resolve() == ROOT / n.RULES_DIR
    generated = yaml.safe_load((ROOT / n.PROMETHEUS_CONFIG).read_text())
    assert generated["rule_files"] == [f"{n.PROMETHEUS_RULES_MOUNT}/*.rules.yml"]

    grafana = _volumes(services["grafana"])
    assert (ROOT / grafana[n.GRAFANA_PROVISIONING_MOUNT]).resolve() == ROOT / n.GRAFANA_PROVISIONING_DIR
    assert (ROOT / grafana[n.GRAFANA_DASHBOARDS_MOUNT]).resolve() == ROOT / n.DASHBOARDS_DIR
    assert [(ROOT / p).resolve() for p in services["grafana"]["env_file"]] == [ROOT / n.GRAFANA_ENV_FILE]
    for entry in services["grafana"]["volumes"] + services["prometheus"]["volumes"]:
        if entry.startswith("./"):
            assert entry.endswith(":ro"), entry

    alertmanager = _volumes(services["alertmanager"])
    assert alertmanager[SECRETS_MOUNT] == "${STACK_RUN_DIR:-./run}/docker/secrets"
    am_flag = next(f for f in services["alertmanager"]["command"] if f.startswith("--config.file="))
    assert alertmanager[str(Path(am_flag.split("=", 1)[1]).parent)] == "${STACK_RUN_DIR:-./run}/docker/alertmanager"


def test_services_listen_on_the_ports_the_generated_configs_use(services):
    for name in SERVICES:
        assert services[name]["ports"][0].endswith(f":{n.SERVICE_PORTS[name]}")
    generated = (ROOT / n.PROMETHEUS_CONFIG).read_text()
    for name in ("exporter", "alertmanager", "prometheus"):
        assert f"{name}:{n.SERVICE_PORTS[name]}" in generated


def test_prometheus_and_alertmanager_run_behind_basic_auth_with_the_files_make_up_writes(services):
    prometheus, alertmanager = services["prometheus"], services["alertmanager"]
    prom_web = f"--web.config.file={n.PROMETHEUS_SECRETS_MOUNT}/{n.WEB_CONFIG_FILE}"
    assert prom_web in prometheus["command"]
    assert _volumes(prometheus)[n.PROMETHEUS_SECRETS_MOUNT] == "${STACK_RUN_DIR:-./run}/docker/prometheus"
    am_config = next(f for f in alertmanager["command"] if f.startswith("--config.file=")).split("=", 1)[1]
    assert f"--web.config.file={Path(am_config).parent}/{n.WEB_CONFIG_FILE}" in alertmanager["command"]
    # Prometheus' own config reads the passwords from the mounted folder (self-scrape and alerting).
    generated = yaml.safe_load((ROOT / n.PROMETHEUS_CONFIG).read_text())
    files = {c["basic_auth"]["password_file"] for c in generated["scrape_configs"] if "basic_auth" in c}
    files.add(generated["alerting"]["alertmanagers"][0]["basic_auth"]["password_file"])
    assert files == {f"{n.PROMETHEUS_SECRETS_MOUNT}/{f}" for f in n.PASSWORD_FILES.values()}
    # The healthchecks log in with the password file, never a value in this file.
    assert "prometheus_password" in prometheus["healthcheck"]["test"][1]
    assert f"{Path(am_config).parent}/alertmanager_password" in alertmanager["healthcheck"]["test"][1]
    # Grafana gets the two passwords its provisioned datasources expand, from .env only.
    for variable in n.WEB_PASSWORD_VARIABLES.values():
        assert services["grafana"]["environment"][variable].startswith(f"${{{variable}:?")
