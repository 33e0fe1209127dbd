"""Bots and profiles: the spec's `bots:` and `profiles:`, what they render, coverage, bad input."""
from __future__ import annotations

import copy
import re

import pytest
import yaml

import generate
from stackgen import coverage
from stackgen.errors import SpecError
from stackgen.model.profiles import builtin_profiles
from stackgen.model.stack import load_stack
from stackgen.pipeline import render_all

BASE = {
    "version": "tradingmon/v1",
    "global": {"project": "p", "cluster": "c", "environment": "paper", "scrape_interval": "15s",
               "scrape_timeout": "10s", "evaluation_interval": "15s", "retention": "15d",
               "runbook_url": "https://example.com/runbook.md"},
    "scrape": {"self_monitoring": False},
    "bots": [{"name": "fx", "profile": "d80-fx", "targets": ["fx-host:9100"]},
             {"name": "api", "profile": "rust-trader", "targets": ["api-host:3000"]}],
    "api": {"path_label": "path"},
    "alerts": {"drawdown": {"warning": 0.05, "critical": 0.1, "for": "5m"},
               "rate_limiting": {"limited_per_second": 10, "for": "5m"},
               "fx_stale": {"max_age": "30s", "for": "1m"}},
    "alertmanager": {"resolve_timeout": "5m", "group_by": ["alertname"], "group_wait": "30s",
                     "group_interval": "5m", "repeat_interval": "4h", "default_receiver": "hook",
                     "receivers": [{"name": "hook", "webhook": {"url": "http://127.0.0.1:5001/"}}],
                     "routes": [{"match": {"severity": "critical"}, "receivers": ["hook"]}]},
    "grafana": {"prometheus_uid": "prometheus", "alertmanager_uid": "alertmanager",
                "folders": [{"name": "fx", "title": "FX"}], "home_dashboard": "fx"},
    "dashboards": [{"uid": "fx", "title": "FX", "folder": "fx", "description": "d", "rows": [{"panels": [
        {"title": "Age", "type": "timeseries", "description": "d",
         "queries": [{"expr": "time() - fx_source_last_message_timestamp_seconds"}]},
        {"title": "Drawdown", "type": "stat", "description": "d", "queries": [{"expr": "max(trading_drawdown_ratio)"}]},
    ]}]}],
}


def load(tmp_path, edit=None):
    data = copy.deepcopy(BASE)
    if edit:
        edit(data)
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_stack(path)


def test_bots_become_scrape_jobs_with_their_profiles_relabeling(tmp_path):
    files = render_all(load(tmp_path))
    config = yaml.safe_load(files["stack/prometheus/prometheus.yml"])
    jobs = {c["job_name"]: c for c in config["scrape_configs"]}
    assert set(jobs) == {"fx", "api"}
    fx = jobs["fx"]["metric_relabel_configs"]
    # Per-exchange names folded into `source` before the renames, both from the name.
    assert fx[0] == {"source_labels": ["__name__"], "regex": "cross_fx_multi_source_([a-z0-9]+)_(connected|rate|age)",
                     "target_label": "source", "replacement": "$1"}
    assert fx[1]["target_label"] == "__name__" and fx[1]["replacement"] == "cross_fx_multi_source_$2"
    assert {"source_labels": ["__name__"], "regex": "cross_fx_multi_source_rate", "target_label": "__name__",
            "replacement": "fx_source_rate"} in fx
    api = jobs["api"]["metric_relabel_configs"]
    assert {"source_labels": ["__name__"], "regex": "websocket_connections_total", "target_label": "__name__",
            "replacement": "http_websocket_connections"} in api
    assert not any(r["regex"].startswith("http_requests_total") for r in api)   # already the signal's name


def test_value_transforms_are_recording_rules_on_the_native_series_each_with_a_promtool_test(tmp_path):
    files = render_all(load(tmp_path))
    rules = yaml.safe_load(files["rules/profile-d80-fx.rules.yml"])["groups"]
    mapping = rules[0]["rules"]
    assert mapping == [{"expr": 'time() - cross_fx_multi_source_age{job="fx"}',
                        "record": "fx_source_last_message_timestamp_seconds"}]
    tests = yaml.safe_load(files["rules/tests/profile-d80-fx.test.yml"])["tests"]
    assert tests[0]["input_series"][0]["series"].startswith("cross_fx_multi_source_age{")
    assert tests[0]["promql_expr_test"][0]["exp_samples"][0]["value"] == 48.0
    assert any(t.get("alert_rule_test", [{}])[0].get("alertname") == "BotStopped" for t in tests)


def test_every_builtin_transform_has_a_test_and_every_builtin_profile_loads():
    profiles = builtin_profiles()
    assert {"exporter", "d77-topn", "d80-fx", "zigquant", "rust-trader", "fastapi-instrumentator",
            "starlette-exporter"} <= set(profiles)
    d77 = profiles["d77-topn"]
    transforms = {m.signal: m.transform for m in d77.maps}
    assert transforms["win_rate"] == "scale" and transforms["loop_latency"] == "summary"
    assert transforms["pnl"] == "rename"
    assert d77.stored_name("arb_topn_loop_latency_seconds_count") == "trading_loop_latency_seconds_count"


def test_a_spec_may_define_its_own_profile(tmp_path):
    def edit(d):
        d["profiles"] = [{"name": "my-bot", "heartbeat": {"metric": "my_last_loop_seconds", "kind": "timestamp"},
                          "map": [{"signal": "drawdown", "from": "my_drawdown_percent", "scale": 0.01},
                                  {"signal": "pnl", "from": "my_pnl_dollars"}]}]
        d["bots"].append({"name": "mine", "profile": "my-bot", "targets": ["mine:9000"]})
    stack = load(tmp_path, edit)
    files = render_all(stack)
    rules = yaml.safe_load(files["rules/profile-my-bot.rules.yml"])["groups"]
    assert rules[0]["rules"] == [{"expr": 'my_drawdown_percent{job="mine"} * 0.01', "record": "trading_drawdown_ratio"}]
    assert "time() - max by (job, instance) (my_last_loop_seconds{job=\"mine\"}) > 120" in rules[1]["rules"][0]["expr"]
    report = {b.bot.name: b for b in coverage.report(stack)}
    assert {i.name for i in report["mine"].alerts if i.fed} >= {"TradingDrawdownHigh", "BotStopped"}
    assert not report["mine"].panels[0].fed and report["mine"].panels[1].fed


def test_coverage_names_what_a_bot_cannot_feed(tmp_path):
    report = {b.bot.name: b for b in coverage.report(load(tmp_path))}
    api = {i.name: i for i in report["api"].alerts}
    assert api["ApiRateLimiting"].fed
    assert api["TradingDrawdownHigh"].missing == ("trading_drawdown_ratio",)
    assert api["FxSourceStale"].missing == ("fx_source_last_message_timestamp_seconds",)
    fx = {i.name: i for i in report["fx"].alerts}
    assert fx["FxSourceStale"].fed and not fx["ApiRateLimiting"].fed
    assert [i.fed for i in report["fx"].panels] == [True, False]


def test_generate_prints_the_coverage_of_every_bot(tmp_path, capsys):
    """generate.main in-process, as the CLI runs it (the real tools' judgement is tests/real_tools')."""
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(BASE, sort_keys=False))
    code = generate.main(["--spec", str(path), "--out", str(tmp_path / "out"), "--no-tool-check"])
    stdout, stderr = capsys.readouterr()
    assert code == 0, stderr
    assert "bot api (profile rust-trader): alerts 2/4, panels 0/2" in stdout
    assert "  alert TradingDrawdownHigh: not fed, needs trading_drawdown_ratio" in stdout
    assert "  panel FX / Drawdown: no data, needs trading_drawdown_ratio" in stdout


BAD = [
    ("unknown profile", lambda d: d["bots"][0].update(profile="nope"),
     r"spec\.yaml:\d+: bots\[0\]\.profile: unknown profile 'nope' \(known: d77-topn, d80-fx, exporter"),
    ("unknown signal", lambda d: d.update(profiles=[{"name": "x", "map": [{"signal": "pnl_usd", "from": "a"}]}]),
     r"profiles\[0\]\.map\[0\]\.signal: unknown signal 'pnl_usd'"),
    ("two transforms", lambda d: d.update(profiles=[{"name": "x", "map": [
        {"signal": "win_rate", "from": "a", "scale": 0.01, "age": True}]}]),
     r"profiles\[0\]\.map\[0\]\.age: a mapping takes one transform, got scale and age"),
    ("label rename with a transform", lambda d: d.update(profiles=[{"name": "x", "map": [
        {"signal": "win_rate", "from": "a", "scale": 0.01, "labels": {"h": "path"}}]}]),
     r"profiles\[0\]\.map\[0\]\.labels: label renames go with plain renames"),
    ("summary on a gauge", lambda d: d.update(profiles=[{"name": "x", "map": [
        {"signal": "pnl", "from": "a", "summary": True}]}]),
     r"summary quantiles feed a latency histogram signal \(loop_latency, http_duration, order_latency\), not 'pnl'"),
    ("profile named like a built-in", lambda d: d.update(profiles=[{"name": "d80-fx", "map": [
        {"signal": "pnl", "from": "a"}]}]),
     r"profiles\[0\]\.name: profile 'd80-fx' is already defined \(built in; give yours another name\)"),
    ("bot named like another", lambda d: d["bots"][1].update(name="fx"),
     r"bots\[1\]\.name: job name 'fx' is used twice"),
    ("fold into a bad name", lambda d: d.update(profiles=[{"name": "x", "fold": [
        {"pattern": "a_(.+)_b", "name": "a-$1", "label": "source", "value": "$1"}], "map": [
        {"signal": "pnl", "from": "a"}]}]),
     r"profiles\[0\]\.fold\[0\]\.name: 'a-\$1' does not give a metric name"),
    ("signal mapped twice", lambda d: d.update(profiles=[{"name": "x", "map": [
        {"signal": "pnl", "from": "a"}, {"signal": "pnl", "from": "b"}]}]),
     r"profiles\[0\]\.map\[1\]\.signal: signal 'pnl' is mapped twice \(also map\[0\]\)"),
]


@pytest.mark.parametrize("edit,pattern", [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_bots_and_profiles_fail_with_file_line_and_field(tmp_path, edit, pattern):
    with pytest.raises(SpecError) as exc:
        load(tmp_path, edit)
    assert re.search(pattern, str(exc.value)), str(exc.value)


def test_a_route_label_rename_follows_api_path_label(tmp_path):
    def edit(d, label):
        d["api"]["path_label"] = label
        d["bots"].append({"name": "fa", "profile": "fastapi-instrumentator", "targets": ["fa:8000"]})

    def relabel(label):
        stack = load(tmp_path, lambda d: edit(d, label))
        config = yaml.safe_load(render_all(stack)["stack/prometheus/prometheus.yml"])
        return next(c for c in config["scrape_configs"] if c["job_name"] == "fa").get("metric_relabel_configs", [])
    assert {"source_labels": ["__name__", "handler"], "regex": "http_requests_total;(.+)", "target_label": "path",
            "replacement": "${1}"} in relabel("path")
    # The spec already names the route label `handler`: the instrumentator's label stays as it is.
    assert not any(r["target_label"] in ("path", "handler") for r in relabel("handler"))


def test_the_readme_profile_example_loads_and_renders(tmp_path):
    from tests.conftest import ROOT
    text = (ROOT / "README.md").read_text()
    block = text.split("Your own bot's profile, in the spec")[1].split("```yaml\n")[1].split("```")[0]
    stack = load(tmp_path, lambda d: d.update(yaml.safe_load(block)))
    files = render_all(stack)
    relabel = next(c for c in yaml.safe_load(files["stack/prometheus/prometheus.yml"])["scrape_configs"]
                   if c["job_name"] == "my-bot-1")["metric_relabel_configs"]
    assert relabel[0]["regex"] == "mybot_([a-z0-9]+)_quote" and relabel[0]["target_label"] == "source"
    assert "rules/profile-my-bot.rules.yml" in files
