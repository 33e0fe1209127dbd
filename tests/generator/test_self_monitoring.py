"""The self-monitoring families read Prometheus' and Alertmanager's own metrics, declared once as signals;
a job's sample_limit reaches prometheus.yml (what PrometheusScrapeSampleLimitHit watches)."""
from __future__ import annotations

import pytest
import yaml

from stackctl import health
from stackgen.alerts.families import families
from stackgen.errors import SpecError
from stackgen.signals import registry
from tests.generator.fixture import render


def test_every_platform_family_reads_only_declared_signals_of_the_stack_itself():
    platform = {s.name for s in registry().signals if s.domain == "platform"}
    assert {"prometheus_rule_evaluation_failures_total", "alertmanager_notifications_failed_total",
            "prometheus_config_last_reload_successful", "alertmanager_config_last_reload_successful",
            "prometheus_tsdb_wal_writes_failed_total", "prometheus_tsdb_compactions_failed_total",
            "prometheus_target_scrapes_exceeded_sample_limit_total", "alertmanager_cluster_members"} <= platform
    assert all(not s.exported for s in registry().signals if s.domain == "platform")
    # stackctl's status reads the same TSDB failure counters the alert does.
    assert set(health.TSDB_WRITE_FAILURES) == {s.name for s in registry().signals if s.key.startswith("tsdb_")}
    assert "AlertmanagerClusterPeersMissing" in families()["alertmanager_cluster"].alert_names


def test_the_cluster_alert_expects_the_declared_number_of_alertmanagers():
    def ha(data):
        data["alertmanager_ha"] = {"enabled": True, "instances": [
            {"web": f"alertmanager-{i}:9093", "cluster": f"alertmanager-{i}:9094"} for i in (1, 2, 3)]}
        data["alerts"]["alertmanager_cluster"] = {"for": "5m"}
    _, files = render(ha)
    rules = yaml.safe_load(files["rules/platform.rules.yml"])
    (rule,) = [r for g in rules["groups"] for r in g["rules"] if r.get("alert") == "AlertmanagerClusterPeersMissing"]
    assert rule["expr"] == "alertmanager_cluster_members < 3"


def test_a_jobs_sample_limit_reaches_the_prometheus_config():
    _, files = render(lambda d: d["scrape"]["jobs"][0].update(sample_limit=2000))
    config = yaml.safe_load(files["stack/prometheus/prometheus.yml"])
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "bot"]
    assert job["sample_limit"] == 2000
    assert all("sample_limit" not in j for j in config["scrape_configs"] if j["job_name"] != "bot")


@pytest.mark.parametrize("value", [0, 1.5, "many"])
def test_a_bad_sample_limit_fails_with_its_field(value):
    with pytest.raises(SpecError, match=r"scrape\.jobs\[0\]\.sample_limit"):
        render(lambda d: d["scrape"]["jobs"][0].update(sample_limit=value))
