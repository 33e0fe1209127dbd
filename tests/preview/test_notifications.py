"""What people read, and what they are spared, proven with the real Alertmanager: the preview's
messages (summary first, links, colours, durations, subjects) and the inhibitions and maintenance
windows of the generated config, by posting alerts and reading what the local sinks received."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import pytest

from stackctl import health
from stackctl.preview.alertmanager import Alertmanager
from stackctl.preview.render import collect, config, examples
from stackctl.preview.sinks import HttpSink, SmtpSink
from tests.conftest import ROOT
from tests.e2e.servers import need
from tests.generator.fixture import stack_of

pytestmark = pytest.mark.tools
# The line naming the alert: `TradingDrawdownHigh (warning) · bot · strategy s · on x:9100`.
_ABOUT = re.compile(r"(\w+) \((\w+)\) ·(?:[^\n<]*? on ([\w.:-]+))?")


@pytest.fixture(scope="module")
def received():
    need("prometheus-alertmanager")
    stack = stack_of()
    return stack, examples(stack), collect(stack)


def _text(kind: str, body: dict) -> str:
    return {"slack": lambda: body["attachments"][0]["text"], "email": lambda: body["text"]}.get(
        kind, lambda: body.get("text", ""))()


def test_every_message_starts_with_the_summary_and_links_runbook_and_dashboard(received):
    _, alerts, got = received
    by_about = {f"{a['labels']['alertname']} ({a['labels']['severity']})": a for a in alerts}
    checked = 0
    for kind in ("slack", "telegram", "email"):
        for status, item in got[kind]:
            text = _text(kind, item.body)
            alert = by_about["{} ({})".format(*_ABOUT.search(text).groups()[:2])]
            summary = alert["annotations"]["summary"]
            first = re.sub(r"<[^>]+>|\*", "", text.splitlines()[0]).lstrip("✅❗⚠ℹ ")
            assert first == (summary if status == "firing" else f"Resolved after 42m: {summary}"), (kind, text)
            assert alert["annotations"]["runbook_url"] in text
            if "dashboard" in alert["annotations"]:
                dashboard = alert["annotations"]["dashboard"]
                assert (dashboard if kind != "telegram" else dashboard.replace("&", "&amp;")) in text
            checked += 1
    assert checked >= 2 * len(alerts)       # every alert reaches at least one person-facing receiver


def test_the_summary_carries_the_humanized_value(received):
    _, alerts, _ = received
    drawdown = next(a for a in alerts if a["labels"]["alertname"] == "TradingDrawdownHigh")
    assert re.search(r"is \d+(\.\d+)?%$", drawdown["annotations"]["summary"])    # 0.25 reads as 25%


def test_slack_colour_follows_the_severity_and_resolution(received):
    _, _, got = received
    colours = {(status, _ABOUT.search(_text("slack", i.body))[2]): i.body["attachments"][0]["color"]
               for status, i in got["slack"]}
    assert colours, "the fixture routes warnings to Slack"
    for (status, severity), colour in colours.items():
        assert colour == ("good" if status == "resolved" else {"critical": "danger", "warning": "warning"}.get(
            severity, "#439FE0")), (status, severity)


def test_email_subject_names_alert_severity_and_summary_without_repeating_labels(received):
    _, alerts, got = received
    assert got["email"]
    for status, item in got["email"]:
        subject = item.body["subject"]
        words = subject.split()
        assert not [w for a, w in zip(words, words[1:], strict=False) if a == w], subject   # no "paper paper"
        alert = next(a for a in alerts if subject.endswith(a["annotations"]["summary"]))
        head = "[RESOLVED]" if status == "resolved" else f"[{alert['labels']['severity'].upper()}]"
        assert subject == f"{head} {alert['labels']['alertname']}: {alert['annotations']['summary']}"


def test_the_committed_preview_of_the_shipped_spec_is_up_to_date():
    need("prometheus-alertmanager")
    done = subprocess.run([sys.executable, str(ROOT / "generate.py"), "preview", "--check"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


# -- inhibitions and maintenance windows -----------------------------------------------------------

def _alert(alerts: list[dict], name: str, severity: str, instance: str, job: str = "bot") -> dict:
    base = next(a for a in alerts if a["labels"]["alertname"] == name)
    labels = {**base["labels"], "severity": severity, "instance": instance, "job": job}
    return {"labels": labels, "annotations": base["annotations"], "startsAt": "2026-01-05T09:00:00Z"}


def _delivered(sinks) -> set[tuple[str, str, str]]:
    """(alertname, severity, instance) of every alert any receiver was told about."""
    out = set()
    for sink in sinks:
        for item in sink.received:
            if item.kind == "webhook":
                out |= {(a["labels"]["alertname"], a["labels"].get("severity", ""), a["labels"].get("instance", ""))
                        for a in item.body["alerts"]}
            else:
                out |= set(_ABOUT.findall(_text(item.kind, item.body)))
    return out


def _listed(am: Alertmanager) -> list:
    reply = health.request(f"{am.url}/api/v2/alerts", timeout=5.0)
    return json.loads(reply.body) if reply.ok else []


def _notify(stack, posted: list[dict], expected: set, settle: float = 3.0) -> set:
    """Posts the alerts, in order, to a real Alertmanager running the generated config (inhibitions and
    mute windows kept); returns what was delivered once `expected` arrived and `settle` more seconds passed.

    One at a time, each listed by Alertmanager before the next goes: an alert that started long ago is
    flushed at once (its group_wait is over), so a warning posted together with the critical that
    inhibits it could be sent before the inhibitor has read the critical."""
    http, smtp = HttpSink(), SmtpSink()
    try:
        with Alertmanager(config(stack, http.url, smtp.address, inhibit=True, mute=True)) as am:
            for count, alert in enumerate(posted, 1):
                am.post([alert])
                deadline = time.monotonic() + 10
                while len(_listed(am)) < count and time.monotonic() < deadline:
                    time.sleep(0.05)
                time.sleep(0.2)           # the inhibitor reads the store on its own goroutine
            deadline = time.monotonic() + 20
            while not expected <= _delivered((http, smtp)) and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(settle)          # what should stay silent had the same group_wait to arrive
            return _delivered((http, smtp))
    finally:
        http.close()
        smtp.close()


def test_a_critical_alert_silences_the_warning_of_the_same_alert_and_target_only():
    need("prometheus-alertmanager")
    stack = stack_of()
    alerts = examples(stack)
    posted = [_alert(alerts, "TradingDrawdownHigh", "critical", "x:9100"),
              _alert(alerts, "TradingDrawdownHigh", "warning", "x:9100"),
              _alert(alerts, "TradingDrawdownHigh", "warning", "y:9100")]      # another target: not silenced
    expected = {("TradingDrawdownHigh", "critical", "x:9100"), ("TradingDrawdownHigh", "warning", "y:9100")}
    got = _notify(stack, posted, expected)
    assert expected <= got
    assert ("TradingDrawdownHigh", "warning", "x:9100") not in got


def test_target_down_silences_the_rest_of_that_target_but_not_other_targets_nor_the_watchdog():
    need("prometheus-alertmanager")
    stack = stack_of()
    alerts = examples(stack)
    posted = [_alert(alerts, "TargetDown", "critical", "x:9100"),
              _alert(alerts, "TradingDrawdownHigh", "warning", "x:9100"),
              _alert(alerts, "TradingDailyLossLimit", "warning", "x:9100"),
              _alert(alerts, "TradingDrawdownHigh", "warning", "y:9100"),
              _alert(alerts, "Watchdog", "none", "x:9100")]
    expected = {("TargetDown", "critical", "x:9100"), ("TradingDrawdownHigh", "warning", "y:9100"),
                ("Watchdog", "none", "x:9100")}
    got = _notify(stack, posted, expected)
    assert expected <= got
    assert not {a for a in got if a[2] == "x:9100"} - expected


@pytest.mark.parametrize("open_now", [True, False])
def test_a_maintenance_window_mutes_what_it_names_and_nothing_else(open_now):
    need("prometheus-alertmanager")
    today = time.strftime("%A", time.gmtime()).lower()
    other = "monday" if today != "monday" else "tuesday"

    def window(data):
        data["alertmanager"]["maintenance_windows"] = [{
            "name": "upgrade", "weekdays": [today if open_now else other], "start": "00:00", "end": "24:00",
            "location": "UTC", "mute_alerts": ["TargetDown"]}]
    stack = stack_of(window)
    alerts = examples(stack)
    posted = [_alert(alerts, "TargetDown", "critical", "x:9100"),
              _alert(alerts, "TradingDrawdownHigh", "warning", "y:9100")]
    named, other_alert = ("TargetDown", "critical", "x:9100"), ("TradingDrawdownHigh", "warning", "y:9100")
    got = _notify(stack, posted, {other_alert} if open_now else {other_alert, named})
    assert other_alert in got                    # not named: delivered inside the window too
    assert (named in got) is not open_now        # named: muted while the window is open, delivered otherwise
