"""The stack watching itself, for real: a native stack whose Watchdog route also posts to a receiver with a
broken endpoint. Alertmanager's failed notifications fire AlertmanagerNotificationsFailing, which reaches the
other (working) route; a configuration reload that Prometheus or Alertmanager rejects fires ConfigReloadFailed,
and restoring the configuration resolves it."""
from __future__ import annotations

import copy
import json

import pytest

from stackctl import health
from stackgen.alerts.families import families
from tests.e2e.conftest import BROKEN_PATH

pytestmark = pytest.mark.e2e

SELF = [key for key, family in families().items() if family.domain == "platform" and not family.switch
        and key != "target_down"]
TIMEOUT = 60


@pytest.fixture(scope="module")
def spec_data(spec_data):
    """The shipped spec with the self-monitoring alerts quick, and a receiver whose endpoint is broken."""
    data = copy.deepcopy(spec_data)
    for key in SELF:
        data["alerts"][key]["for"] = "2s"
    am = data["alertmanager"]
    broken = f"http://host.docker.internal:5001{BROKEN_PATH}"     # the e2e points it at its receiver
    am["receivers"].append({"name": "broken-webhook", "webhook": {"url": broken}})
    am["routes"] = [
        {"match": {"alertname": "AlertmanagerNotificationsFailing"}, "receivers": ["audit-webhook"],
         "group_wait": "1s"},
        {"match": {"alertname": "Watchdog"}, "receivers": ["deadmans-switch", "broken-webhook"], "group_wait": "1s",
         "repeat_interval": "1m"},
    ] + [r for r in am["routes"] if r.get("match") != {"alertname": "Watchdog"}]
    return data


def _firing(e2e, alertname: str, **labels):
    def hit(path, notification, alert):
        return (path == "/alerts" and alert["status"] == "firing" and alert["labels"]["alertname"] == alertname
                and all(alert["labels"].get(k) == v for k, v in labels.items()))
    got = e2e.receiver.wait_for(hit, TIMEOUT)
    assert got, f"no firing {alertname} {labels} reached /alerts; got: " + json.dumps(
        sorted({a["labels"]["alertname"] for _, _, a in e2e.receiver.alerts()}))
    return got


def test_failing_notifications_of_one_receiver_reach_the_other_route(e2e):
    path, notification, alert = _firing(e2e, "AlertmanagerNotificationsFailing", integration="webhook")
    assert notification["receiver"] == "audit-webhook"
    assert alert["labels"]["job"] == "alertmanager" and alert["labels"]["severity"] == "critical"
    assert alert["annotations"]["runbook_url"].endswith("#alertmanagernotificationsfailing")
    failed = e2e.query('alertmanager_notifications_failed_total{integration="webhook"}')
    assert failed and float(failed[0]["value"][1]) > 0


@pytest.mark.parametrize("service", ["alertmanager", "prometheus"])
def test_a_rejected_reload_fires_and_a_good_one_resolves_it(e2e, service):
    config = e2e.native.config_path(service)
    good = config.read_text()
    reload = e2e.url(service, "/-/reload")
    try:
        config.write_text(good + "\nthis is: [not a valid config\n")
        assert not health.request(reload, method="POST", auth=e2e.auth(service)).ok   # refused, old config kept
        _firing(e2e, "ConfigReloadFailed", job=service)
    finally:
        config.write_text(good)
        assert health.request(reload, method="POST", auth=e2e.auth(service)).ok

    def resolved(path, notification, alert):
        return (path == "/alerts" and alert["status"] == "resolved"
                and alert["labels"]["alertname"] == "ConfigReloadFailed" and alert["labels"].get("job") == service)
    assert e2e.receiver.wait_for(resolved, TIMEOUT), f"ConfigReloadFailed for {service} did not resolve"
