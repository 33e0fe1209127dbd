"""The backtest's own arithmetic, in-process: episodes from ALERTS samples, Alertmanager's grouping
and repeat timers, the replay stages of a recording chain, the CLI's errors."""
from __future__ import annotations

from stackctl.backtest import episodes as ep
from stackctl.backtest.cli import main
from stackctl.backtest.engine import stages
from stackctl.backtest.notifications import notifications, policies
from stackctl.backtest.run import Plan
from stackctl.backtest.source import URL_ENV, Source
from stackctl.backtest.timeline import signal_of

MIN = 60.0


def _series(alertname: str, minutes: list[int], **labels) -> dict:
    return {"metric": {"__name__": "ALERTS", "alertname": alertname, "alertstate": "firing", "severity": "warning",
                       **labels}, "values": [1] * len(minutes), "timestamps": [m * 60_000 for m in minutes]}


def test_a_missed_evaluation_ends_an_episode_and_pending_never_counts():
    pending = {**_series("A", [0, 1]), "metric": {**_series("A", [0])["metric"], "alertstate": "pending"}}
    found = ep.from_series([_series("A", [10, 11, 12, 14, 15]), pending], MIN)
    assert [(e.start / MIN, e.end / MIN) for e in found] == [(10, 13), (14, 16)]
    assert ep.firing_time(found) == 5 * MIN


def test_overlap_compares_the_same_alert_instance_only():
    a = ep.from_series([_series("A", list(range(0, 10)), instance="x")], MIN)
    b = ep.from_series([_series("A", list(range(5, 20)), instance="x"), _series("A", list(range(0, 10)), instance="y")],
                       MIN)
    assert ep.overlap(a, b) == 5 * MIN


ROUTE = {"receiver": "default", "group_by": ["alertname"], "group_wait": "30s", "group_interval": "5m",
         "repeat_interval": "1h", "routes": [
             {"receiver": "pager", "matchers": ['severity="critical"'], "repeat_interval": "30m", "continue": True},
             {"receiver": "mail", "matchers": ['severity=~"critical|warning"']},
         ]}


def test_routes_follow_continue_and_inherit_timers():
    critical = policies(ROUTE, {"alertname": "A", "severity": "critical"})
    assert [(p.receiver, p.repeat_interval, p.group_wait) for p in critical] == \
        [("pager", 1800, 30), ("mail", 3600, 30)]
    assert [p.receiver for p in policies(ROUTE, {"severity": "info"})] == ["default"]


def _episode(start_min: float, end_min: float, instance: str = "x", severity: str = "warning") -> ep.Episode:
    labels = (("alertname", "A"), ("instance", instance), ("severity", severity))
    return ep.Episode("A", severity, labels, start_min * MIN, end_min * MIN)


def test_one_firing_and_one_resolved_notification_then_repeats_after_repeat_interval():
    sent = notifications({"route": ROUTE}, [_episode(0, 20)])
    # firing after group_wait; resolved at the first group_interval tick after it ended (20m -> 20.5m)
    assert [(t / MIN, r) for t, r, _ in sent] == [(0.5, "mail"), (20.5, "mail")]
    long = notifications({"route": ROUTE}, [_episode(0, 130)])
    assert [t / MIN for t, _, _ in long] == [0.5, 60.5, 120.5, 130.5]     # repeats every hour, then resolved


def test_alerts_of_one_group_share_notifications_and_a_short_blip_sends_nothing():
    grouped = notifications({"route": ROUTE}, [_episode(0, 20, "x"), _episode(0.2, 20, "y")])
    assert len(grouped) == 2                       # both in the first notification, both resolved together
    assert notifications({"route": ROUTE}, [_episode(0, 0.3)]) == []     # resolved before group_wait: never notified


def test_an_inhibited_warning_and_a_muted_route_send_nothing_while_it_lasts():
    critical = _episode(0, 30, severity="critical")
    inhibit = {"source_matchers": ['severity="critical"'], "target_matchers": ['severity="warning"'],
               "equal": ["alertname", "instance"]}
    doc = {"route": ROUTE, "inhibit_rules": [inhibit]}
    warned = lambda d, eps: [r for _, r, named in notifications(d, eps) for e in named if e.severity == "warning"]  # noqa: E731
    assert warned(doc, [critical, _episode(0, 20)]) == []                 # silenced by its critical twin
    assert warned(doc, [critical, _episode(0, 20, instance="y")]) == ["mail", "mail"]   # another target
    # 2026-01-04 is a Sunday; a window on Sundays 00:00-01:00 UTC mutes the first hour.
    sunday = 1767484800.0 / MIN
    night = {"weekdays": ["sunday"], "times": [{"start_time": "00:00", "end_time": "01:00"}], "location": "UTC"}
    muted = {"route": {**ROUTE, "routes": [{**ROUTE["routes"][1], "mute_time_intervals": ["night"]}]},
             "time_intervals": [{"name": "night", "time_intervals": [night]}]}
    sent = notifications(muted, [_episode(sunday + 10, sunday + 90)])
    assert [round(t / MIN - sunday, 1) for t, _, _ in sent] == [60.5, 90.5]   # first told when the window closes


def test_recording_chains_replay_in_layers_before_the_alerts():
    docs = [{"groups": [{"name": "g", "interval": "30s", "rules": [
        {"alert": "High", "expr": "b:x:max > 1"},
        {"record": "b:x:max", "expr": "max(a:x:sum)"},
        {"record": "a:x:sum", "expr": "sum(x)"},
    ]}]}]
    selected = {"b:x:max > 1": ["b:x:max"], "max(a:x:sum)": ["a:x:sum"], "sum(x)": ["x"]}.__getitem__
    out = stages(docs, selected)
    assert [[r.get("record") or r["alert"] for g in s["groups"] for r in g["rules"]] for s in out] == \
        [["a:x:sum"], ["b:x:max"], ["High"]]
    assert all(g["interval"] == "30s" for s in out for g in s["groups"])


def test_the_signal_of_an_alert_is_the_left_side_of_its_first_comparison():
    assert signal_of("a < 0.4 and on (job) increase(b[1h]) >= 20") == ("a", 0.4)
    assert signal_of('absent(up{job="x"})') == ('absent(up{job="x"})', None)


def test_no_history_url_is_one_line_naming_the_variable(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv(URL_ENV, raising=False)
    assert main(["--spec", str(tmp_path / "spec.yaml")], tmp_path / "spec.yaml") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: backtest: no history to replay: set BACKTEST_URL") and "\n" not in err


def test_from_after_to_is_refused(capsys, tmp_path):
    assert main(["--from", "2026-12-02T00:00:00Z", "--to", "2026-12-01T00:00:00Z"], tmp_path / "s.yaml") == 2
    assert "--from must be before --to" in capsys.readouterr().err


def test_credentials_come_from_the_environment_only():
    assert Source.from_env(None, {URL_ENV: "http://h:9090/", "BACKTEST_BEARER_TOKEN": "t"}) == \
        Source("http://h:9090", (("Authorization", "Bearer t"),))
    basic = Source.from_env("http://h", {"BACKTEST_USER": "u", "BACKTEST_PASSWORD": "p"})
    assert basic.headers == (("Authorization", "Basic dTpw"),)
    assert Source.from_env("http://h", {}).headers == ()


def test_the_history_copied_is_what_the_rules_read_and_nothing_they_write():
    plan = Plan("t", {"d": {"groups": [{"name": "g", "rules": [
        {"record": "job:x:sum", "expr": "sum by (job) (x)"},
        {"alert": "A", "expr": 'job:x:sum > 1 and on () absent(ALERTS{alertname="B"})'},
        {"alert": "B", "expr": "up == 0"}]}]}}, {"route": {}}, "1m")
    assert plan.raw_metrics() == ["x", "up"]
