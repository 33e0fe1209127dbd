"""docker-compose.yml, offline: valid compose, pinned, healthy, private by default, in sync with the spec."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from stackgen import conventions as n
from stackgen.load import load_stack
from stackctl import docker_mode
from stackctl.settings import SECRETS_MOUNT, SERVICES, Settings, StackError
from tests.conftest import ROOT, need_tools

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
    assert services["grafana"]["image"].startswith("grafana/grafana:12.")  # the schemas in tests/schemas
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
    # Prometheus reads the config and rules `make up` / `make reload` installed into run/docker/prometheus/.
    prometheus = _volumes(services["prometheus"])
    config_flag = next(f for f in services["prometheus"]["command"] if f.startswith("--config.file="))
    config_in_container = config_flag.split("=", 1)[1]
    mount = str(Path(config_in_container).parent)
    settings = Settings.from_environment(ROOT, dotenv=False, environ={}, run_dir=ROOT / "run")
    mounted = docker_mode.DockerStack(settings, load_stack(ROOT / n.SPEC_FILE), None).mounted("prometheus")
    run = "${STACK_RUN_DIR:-./run}"
    assert ROOT / prometheus[mount].replace(run, "run") / Path(config_in_container).name == \
        mounted.folder / mounted.config
    for container_path, sub in mounted.mounts:          # the rules, the basic-auth files
        assert ROOT / prometheus[container_path].replace(run, "run") == mounted.folder / sub
    assert {p for p, _ in mounted.mounts} == {n.PROMETHEUS_RULES_MOUNT, n.PROMETHEUS_SECRETS_MOUNT}
    generated = yaml.safe_load((ROOT / n.PROMETHEUS_CONFIG).read_text())
    assert generated["rule_files"] == [f"{n.PROMETHEUS_RULES_MOUNT}/*.rules.yml"]

    grafana = _volumes(services["grafana"])
    assert (ROOT / grafana[n.GRAFANA_PROVISIONING_MOUNT]).resolve() == ROOT / n.GRAFANA_PROVISIONING_DIR
    assert (ROOT / grafana[n.GRAFANA_DASHBOARDS_MOUNT]).resolve() == ROOT / n.DASHBOARDS_DIR
    assert [(ROOT / p).resolve() for p in services["grafana"]["env_file"]] == [ROOT / n.GRAFANA_ENV_FILE]
    for entry in services["grafana"]["volumes"] + services["prometheus"]["volumes"]:
        if entry.startswith(("./", "${")):
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


# -- first run on a real host: bounded waits, compose v2, links, network, pins -------------------
def test_up_waits_for_healthy_containers_with_a_bounded_timeout():
    args = docker_mode.up_arguments(180)
    assert args[:2] == ["up", "-d"] and "--wait" in args
    assert args[args.index("--wait-timeout") + 1] == "180"
    assert docker_mode.up_arguments(0.2)[-1] == "1"


@pytest.mark.parametrize("text, version", [
    ("Docker Compose version v2.29.1\n", (2, 29, 1)),
    ("2.29.1\n", (2, 29, 1)),
    ("Docker Compose version v2.24.6-desktop.1\n", (2, 24, 6)),
    ("Docker Compose version 2.20.2+ds1-0ubuntu1~22.04.1\n", (2, 20, 2)),   # Ubuntu's docker-compose-v2
    ("docker-compose version 1.29.2, build unknown\n", (1, 29, 2)),           # Debian's docker-compose (v1)
    ("no version here", None),
])
def test_compose_versions_are_read_from_their_real_output(text, version):
    assert docker_mode.compose_version(text) == version


def test_only_compose_v2_is_used_and_v1_alone_is_refused_in_one_line():
    plugin, standalone = ["docker", "compose"], ["docker-compose"]
    assert docker_mode.choose_compose([(plugin, "Docker Compose version v2.29.1"),
                                       (standalone, "docker-compose version 1.29.2, build 5becea4c")]) == plugin
    assert docker_mode.choose_compose([(standalone, "Docker Compose version v2.27.0")]) == standalone
    with pytest.raises(StackError) as v1:
        docker_mode.choose_compose([(standalone, "docker-compose version 1.29.2, build 5becea4c")])
    assert str(v1.value).startswith("only the old docker-compose v1 is installed: it rejects docker-compose.yml's "
                                    "top-level `name:`")
    assert "\n" not in str(v1.value)
    with pytest.raises(StackError, match=r"`docker compose` is version 2.12.2; `make up` needs 2.17 or newer"):
        docker_mode.choose_compose([(plugin, "Docker Compose version v2.12.2")])
    with pytest.raises(StackError, match="the compose plugin\\) is not installed"):
        docker_mode.choose_compose([])


def _inspect(name, status, health_status=None, exit_code=0, restarts=0):
    """The fields of `docker inspect` that matter, in its own shape."""
    state = {"Status": status, "Running": status == "running", "Restarting": status == "restarting",
             "ExitCode": exit_code}
    if health_status:
        state["Health"] = {"Status": health_status, "FailingStreak": 0, "Log": []}
    return {"Id": f"id-{name}", "Name": f"/tradingmon-{name}-1", "RestartCount": restarts, "State": state}


def test_the_failing_container_is_named_worst_first():
    docs = [_inspect("grafana", "running", "healthy"), _inspect("prometheus", "running", "starting"),
            _inspect("alertmanager", "restarting", restarts=7, exit_code=1),
            _inspect("exporter", "exited", "unhealthy", exit_code=1)]
    assert [d["Name"] for d in docker_mode.failing(docs)] == [
        "/tradingmon-exporter-1", "/tradingmon-alertmanager-1", "/tradingmon-prometheus-1"]
    assert docker_mode.describe_state(docs[3]) == "exited, unhealthy, exit code 1"
    assert docker_mode.describe_state(docs[2]) == "restarting, restarted 7 times"
    assert docker_mode.describe_state(docs[1]) == "running, starting"
    assert docker_mode.failing([_inspect("grafana", "running", "healthy")]) == []


def test_links_in_notifications_use_the_external_urls(services, tmp_path):
    for name, variable, port in (("prometheus", "PROM_EXTERNAL_URL", 9090), ("alertmanager", "AM_EXTERNAL_URL", 9093)):
        flags = services[name]["command"]
        assert f"--web.external-url=${{{variable}:-http://127.0.0.1:{port}/}}" in flags
        assert "--web.route-prefix=/" in flags                       # healthchecks and the API stay at /
        default = Settings.from_environment(tmp_path, dotenv=False, environ={})
        assert default.external_url(name) == f"http://127.0.0.1:{port}/"
    (tmp_path / ".env").write_text("PROM_EXTERNAL_URL=https://mon.example.com/prometheus\nAM_PORT=19093\n")
    settings = Settings.from_environment(tmp_path, environ={})
    env = docker_mode.DockerStack(settings, load_stack(ROOT / n.SPEC_FILE), None).compose_env()
    assert env["PROM_EXTERNAL_URL"] == "https://mon.example.com/prometheus/"
    assert env["AM_EXTERNAL_URL"] == "http://127.0.0.1:19093/"
    with pytest.raises(StackError, match="PROM_EXTERNAL_URL='mon.example.com': expected an http"):
        Settings.from_environment(tmp_path, environ={"PROM_EXTERNAL_URL": "mon.example.com"}).external_url(
            "prometheus")


def test_the_bridge_has_a_fixed_name_and_the_documented_firewall_rule_names_it(compose):
    bridge = compose["networks"]["default"]["driver_opts"]["com.docker.network.bridge.name"]
    assert 0 < len(bridge) <= 15                                      # Linux interface names: 15 characters
    docs = (ROOT / "docs" / "stack.md").read_text()
    assert f"ufw allow in on {bridge} " in docs and f"-i {bridge} " in docs
    assert "in on docker0" not in docs and "-i docker0" not in docs


def test_grafana_finds_every_provisioning_folder_it_reads():
    from stackgen.render.grafana_provisioning import PROVISIONING_FOLDERS
    for folder in PROVISIONING_FOLDERS:
        assert (ROOT / n.GRAFANA_PROVISIONING_DIR / folder).is_dir(), folder
        assert any((ROOT / n.GRAFANA_PROVISIONING_DIR / folder).iterdir()), f"{folder} would not be in a clone"
    assert set(PROVISIONING_FOLDERS) >= {"alerting", "dashboards", "datasources", "plugins"}


# The pinned images and the Debian tools the native mode and the checks use (bookworm: 2.42 and 0.25).
PINS = {"prometheus": "prom/prometheus:v2.53.5", "alertmanager": "prom/alertmanager:v0.33.1",
        "grafana": "grafana/grafana:12.4.10"}


def test_images_are_pinned_to_the_current_patch_releases(services):
    assert {name: services[name]["image"] for name in PINS} == PINS
    dockerfile = (ROOT / "exporter" / "Dockerfile").read_text()
    assert "ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm" in dockerfile


def _version(tool: str) -> tuple[int, int]:
    out = subprocess.run([tool, "--version"], capture_output=True, text=True).stdout
    major, minor = re.search(r"version (\d+)\.(\d+)", out).groups()
    return int(major), int(minor)


def _flags(command: list[str]) -> list[str]:
    return [f.split("=", 1)[0] for f in command if f.startswith("--")]


@pytest.mark.tools
def test_the_generated_configs_and_flags_are_accepted_by_debian_and_the_pinned_images(services, tmp_path):
    """Debian's promtool/amtool/prometheus/alertmanager (the oldest versions the stack runs) accept the
    generated configs and every flag compose passes. The pinned images are newer: Prometheus keeps
    every v2 config and flag within v2 (its stability promise), and the Alertmanager config uses no
    key later releases deprecated (`match`, `match_re`, `source_match*`, `target_match*`)."""
    need_tools("promtool", "amtool", "prometheus", "prometheus-alertmanager")
    debian = {"prometheus": _version("promtool"), "alertmanager": _version("amtool")}
    for name, oldest in debian.items():
        pinned = tuple(int(x) for x in re.search(r":v(\d+)\.(\d+)", PINS[name]).groups())
        assert pinned[0] == oldest[0] and pinned >= oldest, f"{name}: image {PINS[name]} vs Debian {oldest}"
    staged = tmp_path / "prometheus.yml"
    staged.write_text((ROOT / n.PROMETHEUS_CONFIG).read_text().replace(n.PROMETHEUS_RULES_MOUNT,
                                                                        str(ROOT / n.RULES_DIR)))
    for argv in (["promtool", "check", "config", str(staged)],
                 ["amtool", "check-config", str(ROOT / n.ALERTMANAGER_CONFIG)]):
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    alertmanager = yaml.safe_load((ROOT / n.ALERTMANAGER_CONFIG).read_text())

    def keys(node):
        if isinstance(node, dict):
            for key, value in node.items():
                yield key
                yield from keys(value)
        elif isinstance(node, list):
            for value in node:
                yield from keys(value)
    deprecated = {"match", "match_re", "source_match", "source_match_re", "target_match", "target_match_re"}
    assert not deprecated & set(keys(alertmanager))
    for name, binary in (("prometheus", "prometheus"), ("alertmanager", "prometheus-alertmanager")):
        help_text = subprocess.run([binary, "--help"], capture_output=True, text=True).stderr + \
            subprocess.run([binary, "--help"], capture_output=True, text=True).stdout
        for flag in _flags(services[name]["command"]):
            assert re.search(rf"^\s+{re.escape(flag)}[=\s]", help_text, re.M), f"Debian's {binary} lacks {flag}"


def test_prometheus_and_alertmanager_run_behind_basic_auth_with_the_files_make_up_writes(services):
    prometheus, alertmanager = services["prometheus"], services["alertmanager"]
    prom_web = f"--web.config.file={n.PROMETHEUS_SECRETS_MOUNT}/{n.WEB_CONFIG_FILE}"
    assert prom_web in prometheus["command"]
    assert _volumes(prometheus)[n.PROMETHEUS_SECRETS_MOUNT] == "${STACK_RUN_DIR:-./run}/docker/prometheus/secrets"
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
