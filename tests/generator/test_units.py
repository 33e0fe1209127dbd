"""Small pure pieces: humanize twins, durations, secrets, native host mapping."""
from __future__ import annotations

import pytest
import yaml

from stackgen import secrets
from stackgen.alerts import humanize as h
from stackgen.alerts import testdata as td
from tests.generator.fixture import stack_of
from stackgen.render import alertmanager_config, hosts, prometheus_config
from stackgen.spec.fields import parse_duration


@pytest.mark.parametrize("value,expected", [
    (0.075, "7.5%"), (0.15, "15%"), (1.0, "100%"), (0.0, "0%"), (0.123456, "12.35%")])
def test_humanize_percentage(value, expected):
    assert h.humanize_percentage(value) == expected


@pytest.mark.parametrize("value,expected", [
    (0.2485, "248.5ms"), (0.0001, "100us"), (45, "45s"), (90, "1m 30s"), (3725, "1h 2m 5s"),
    (90061, "1d 1h 1m 1s"), (0, "0s"), (1.5, "1.5s")])
def test_humanize_duration(value, expected):
    assert h.humanize_duration(value) == expected


@pytest.mark.parametrize("value,expected", [(20, "20"), (1234, "1.234k"), (0.5, "500m"), (0, "0"), (2e6, "2M")])
def test_humanize(value, expected):
    assert h.humanize(value) == expected


@pytest.mark.parametrize("text,seconds", [("5m", 300), ("1h30m", 5400), ("15d", 15 * 86400), ("250ms", 0.25),
                                          ("5 minutes", None), ("", None), ("5M", None)])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


def test_test_timing_keeps_silent_before_and_firing_after_for():
    silent, pending, firing, samples = td.timing("5m", earliest=60, latest=360)
    assert (silent, pending, firing) == ("5m", "", "12m")
    assert samples * td.STEP > td.seconds(firing)
    silent, pending, firing, _ = td.timing("1h", earliest=600, latest=660)
    assert (silent, pending, firing) == ("1h9m", "1h9m", "1h12m")


def test_secrets_are_filled_from_env_or_file(tmp_path):
    text = "receivers:\n- name: t\n  telegram_configs:\n  - bot_token: ${TG_TOKEN}\n    chat_id: 1\n"
    filled, missing = secrets.fill(text, {"TG_TOKEN": "123:ab #c"})
    assert missing == []
    assert yaml.safe_load(filled)["receivers"][0]["telegram_configs"][0]["bot_token"] == "123:ab #c"
    token_file = tmp_path / "token"
    token_file.write_text("from-file\n")
    filled, missing = secrets.fill(text, {"TG_TOKEN_FILE": str(token_file)})
    assert "from-file" in filled and missing == []
    filled, missing = secrets.fill(text, {})
    assert missing == ["TG_TOKEN"] and "${TG_TOKEN}" in filled


def test_committed_alertmanager_config_holds_no_secret_value():
    stack = stack_of()
    config = yaml.safe_load(alertmanager_config.render(stack)["stack/alertmanager/alertmanager.yml"])
    for receiver in config["receivers"]:
        for telegram in receiver.get("telegram_configs", []):
            assert telegram["bot_token"] == "${TG_TOKEN}"
        for slack in receiver.get("slack_configs", []):
            assert "api_url" not in slack and slack["api_url_file"].startswith("/")
        for email in receiver.get("email_configs", []):
            assert "auth_password" not in email and email["auth_password_file"].startswith("/")


def test_native_configs_point_at_localhost():
    stack = stack_of()
    prom = yaml.safe_load(prometheus_config.render_native(stack, "/tmp/rules", ports={"exporter": 19100}))
    targets = [t for job in prom["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]]
    assert "127.0.0.1:19100" in targets and "127.0.0.1:9090" in targets
    assert all(t.startswith("127.0.0.1:") for t in targets)
    assert prom["rule_files"] == ["/tmp/rules/*.rules.yml"]
    am = yaml.safe_load(alertmanager_config.render_native(stack))
    urls = [w["url"] for r in am["receivers"] for w in r.get("webhook_configs", [])]
    assert urls and all(u.startswith("http://127.0.0.1:5001/") for u in urls)
    assert hosts.address("10.0.0.5:9100", hosts.NATIVE) == "10.0.0.5:9100"
