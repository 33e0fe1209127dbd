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
from stackgen.load import load_stack
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


def test_bots_become_scrape_jobs_and_their_mappings_recording_rules_on_the_native_series(tmp_path):
    """Nothing renames the bot's own series at scrape time: each mapping is a recording rule reading it."""
    files = render_all(load(tmp_path))
    config = yaml.safe_load(files["stack/prometheus/prometheus.yml"])
    jobs = {c["job_name"]: c for c in config["scrape_configs"]}
    assert set(jobs) == {"fx", "api"}
    assert "metric_relabel_configs" not in jobs["fx"] and "metric_relabel_configs" not in jobs["api"]
    fx = {r["record"]: r["expr"] for r in yaml.safe_load(files["rules/profile-d80-fx.rules.yml"])["groups"][0]["rules"]}
    # Per-exchange names folded into `source` by label_replace, narrowed to the names of one signal.
    pattern = "cross_fx_multi_source_([a-z0-9]+)_(rate)"
    assert fx["fx_source_rate"] == (f'label_replace({{__name__=~"{pattern}", job="fx"}}, "source", "$1", '
                                    f'"__name__", "{pattern}")')
    assert fx["fx_valid_sources"] == 'cross_fx_multi_source_count{job="fx"}'
    rust = yaml.safe_load(files["rules/profile-rust-trader.rules.yml"])["groups"][0]["rules"]
    api = {r["record"]: r["expr"] for r in rust}
    assert api["http_websocket_connections"] == 'websocket_connections_total{job="api"}'
    assert "http_requests_total" not in api     # already the signal's name: read as scraped, not copied


def test_value_transforms_are_recording_rules_on_the_native_series_each_with_a_promtool_test(tmp_path):
    files = render_all(load(tmp_path))
    rules = yaml.safe_load(files["rules/profile-d80-fx.rules.yml"])["groups"]
    age = next(r for r in rules[0]["rules"] if r["record"] == "fx_source_last_message_timestamp_seconds")
    assert age["expr"].startswith('time() - label_replace({__name__=~"cross_fx_multi_source_([a-z0-9]+)_(age)"')
    tests = yaml.safe_load(files["rules/tests/profile-d80-fx.test.yml"])["tests"]
    test = next(t for t in tests if "fx_source_last_message" in t["name"])
    # One native per-exchange name in, the signal with its `source` out, and the native series kept.
    assert test["input_series"][0]["series"].startswith("cross_fx_multi_source_a_age{")
    assert test["promql_expr_test"][0]["exp_samples"][0] == {
        "labels": 'fx_source_last_message_timestamp_seconds{instance="bot-1:9100",job="fx",source="a"}', "value": 48.0}
    assert test["promql_expr_test"][1]["expr"].startswith("cross_fx_multi_source_a_age{")
    assert len([t for t in tests if "promql_expr_test" in t]) == len(rules[0]["rules"])
    assert any(t.get("alert_rule_test", [{}])[0].get("alertname") == "BotStopped" for t in tests)


def test_every_builtin_transform_has_a_test_and_every_builtin_profile_loads():
    profiles = builtin_profiles()
    assert {"exporter", "d77-topn", "d80-fx", "zigquant", "rust-trader", "fastapi-instrumentator",
            "starlette-exporter"} <= set(profiles)
    d77 = profiles["d77-topn"]
    transforms = {m.signal: m.transform for m in d77.maps}
    assert transforms["win_rate"] == "scale" and transforms["loop_latency"] == "summary"
    assert transforms["pnl"] == "rename"


def test_a_spec_may_define_its_own_profile(tmp_path):
    def edit(d):
        d["profiles"] = [{"name": "my-bot", "heartbeat": {"metric": "my_last_loop_seconds", "kind": "timestamp"},
                          "map": [{"signal": "drawdown", "from": "my_drawdown_percent", "scale": 0.01},
                                  {"signal": "pnl", "from": "my_pnl_dollars"}]}]
        d["bots"].append({"name": "mine", "profile": "my-bot", "targets": ["mine:9000"]})
    stack = load(tmp_path, edit)
    files = render_all(stack)
    rules = yaml.safe_load(files["rules/profile-my-bot.rules.yml"])["groups"]
    assert rules[0]["rules"] == [{"expr": 'my_drawdown_percent{job="mine"} * 0.01', "record": "trading_drawdown_ratio"},
                                 {"expr": 'my_pnl_dollars{job="mine"}', "record": "trading_pnl_usd"}]
    assert [g["name"] for g in rules] == ["profile-my-bot.mapping", "profile-my-bot.derived", "profile-my-bot.deadman"]
    assert "time() - max by (job, instance) (my_last_loop_seconds{job=\"mine\"}) > 120" in rules[2]["rules"][0]["expr"]
    report = {b.bot.name: b for b in coverage.report(stack)}
    assert {i.name for i in report["mine"].alerts if i.fed} >= {"TradingDrawdownHigh", "BotStopped"}
    panels = {i.name: i for i in report["mine"].panels}
    assert not panels["FX / Age"].fed and panels["FX / Drawdown"].fed


def test_coverage_names_what_a_bot_cannot_feed(tmp_path):
    report = {b.bot.name: b for b in coverage.report(load(tmp_path))}
    api = {i.name: i for i in report["api"].alerts}
    assert api["ApiRateLimiting"].fed
    assert api["TradingDrawdownHigh"].missing == ("trading_drawdown_ratio",)
    assert api["FxSourceStale"].missing == ("fx_source_last_message_timestamp_seconds",)
    fx = {i.name: i for i in report["fx"].alerts}
    assert fx["FxSourceStale"].fed and not fx["ApiRateLimiting"].fed
    assert [i.fed for i in report["fx"].panels if i.name.startswith("FX / ")] == [True, False]
    # The spec's dashboards are added to the ones the bots' profiles bring, which the bots feed.
    own = [i for i in report["fx"].panels if i.name.startswith("FX Multi-Source Aggregation (D80-6) / ")]
    assert len(own) == 7 and all(i.fed for i in own)


def test_coverage_reports_a_label_rename_written_backwards(tmp_path):
    """`labels: {source: exchange}` moves the signal's own `source` away: the alerts grouping by it are not fed."""
    def edit(d):
        d["profiles"] = [{"name": "fx-mine", "map": [
            {"signal": "fx_last_message", "from": "my_last_message_timestamp_seconds",
             "labels": {"source": "exchange"}}]}]
        d["bots"].append({"name": "mine", "profile": "fx-mine", "targets": ["mine:9000"]})
    report = {b.bot.name: b for b in coverage.report(load(tmp_path, edit))}
    stale = {i.name: i for i in report["mine"].alerts}["FxSourceStale"]
    assert not stale.fed
    assert stale.missing == ("label 'source' of fx_source_last_message_timestamp_seconds (profile fx-mine renames it "
                             "to 'exchange': labels {source: exchange} written backwards?)",)
    # The right way round it is fed.
    def right(d):
        edit(d)
        d["profiles"][0]["map"][0]["labels"] = {"exchange": "source"}
    assert {i.name: i for i in {b.bot.name: b for b in coverage.report(load(tmp_path, right))}["mine"].alerts}[
        "FxSourceStale"].fed


def test_coverage_counts_the_specs_declared_metrics_as_present(tmp_path):
    def edit(d):
        d["metrics"] = {"redis": [{"name": "redis_pool_utilization_ratio", "type": "gauge", "unit": "ratio",
                                   "help": "Pool in use."}]}
        d["dashboards"][0]["rows"][0]["panels"].append(
            {"title": "Redis", "type": "stat", "description": "d",
             "queries": [{"expr": "max(redis_pool_utilization_ratio)"}]})
    report = {b.bot.name: b for b in coverage.report(load(tmp_path, edit))}
    assert {i.name: i.fed for i in report["fx"].panels}["FX / Redis"]


def test_generate_prints_the_coverage_of_every_bot(tmp_path, capsys):
    """generate.main in-process, as the CLI runs it (the real tools' judgement is tests/real_tools')."""
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(BASE, sort_keys=False))
    code = generate.main(["--spec", str(path), "--out", str(tmp_path / "out"), "--no-tool-check"])
    stdout, stderr = capsys.readouterr()
    assert code == 0, stderr
    found = re.search(r"bot api \(profile rust-trader\): alerts 2/4, panels (\d+)/(\d+)\b", stdout)
    assert found and 0 < int(found.group(1)) < int(found.group(2)), stdout     # some panels lit, not all
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
    ("a USD gauge into a ratio signal", lambda d: d.update(profiles=[{"name": "x", "map": [
        {"signal": "drawdown", "from": "mm_equity_usd"}]}]),
     r"profiles\[0\]\.map\[0\]\.from: mm_equity_usd is in USD \(by its name\) but signal drawdown "
     r"\(trading_drawdown_ratio\) is in a ratio 0\.\.1: they do not convert \(signals in USD: pnl, daily_pnl, equity"),
    ("percent into a ratio without its scale", lambda d: d.update(profiles=[{"name": "x", "map": [
        {"signal": "win_rate", "from": "mm_win_rate_percent"}]}]),
     r"map\[0\]\.from: mm_win_rate_percent is in percent \(by its name\) and signal win_rate "
     r"\(trading_win_rate_ratio\) in a ratio 0\.\.1: scale: 0\.01 converts it, got scale 1"),
    ("milliseconds into a seconds histogram", lambda d: d.update(profiles=[{"name": "x", "map": [
        {"signal": "order_latency", "from": "mm_order_rtt_ms"}]}]),
     r"mm_order_rtt_ms is a histogram in milliseconds \(by its name\) and signal order_latency .*cannot be rescaled"),
    ("exclude on a metric read as scraped", lambda d: d.update(profiles=[{"name": "x", "map": [
        {"signal": "http_requests", "from": "http_requests_total", "exclude": {"handler": "/metrics"}}]}]),
     r"map\[0\]\.exclude: http_requests_total already has the signal's name: its series are read as scraped"),
    ("a time zone name for utc_offset", lambda d: d["bots"][0].update(utc_offset="Asia/Seoul"),
     r"bots\[0\]\.utc_offset: 'Asia/Seoul' is not a UTC offset like \"\+09:00\""),
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


def test_an_http_library_profile_leaves_scrapes_and_health_probes_out_of_traffic(tmp_path):
    stack = load(tmp_path, lambda d: d["bots"].append({"name": "st", "profile": "starlette-exporter",
                                                       "targets": ["st:8000"]}))
    files = render_all(stack)
    rules = yaml.safe_load(files["rules/profile-starlette-exporter.rules.yml"])["groups"][0]["rules"]
    assert all('path!~"/metrics|/health.*|/ready.*|/live.*"' in r["expr"] for r in rules), rules
    tests = yaml.safe_load(files["rules/tests/profile-starlette-exporter.test.yml"])["tests"]
    requests = next(t for t in tests if t["name"].startswith("http_requests"))
    assert any('path="/metrics"' in s["series"] for s in requests["input_series"])     # served, not recorded
    assert len(requests["promql_expr_test"][0]["exp_samples"]) == 1


def test_a_route_label_rename_follows_api_path_label(tmp_path):
    def edit(d, label):
        d["api"]["path_label"] = label
        d["bots"].append({"name": "fa", "profile": "fastapi-instrumentator", "targets": ["fa:8000"]})

    def relabel(label):
        stack = load(tmp_path, lambda d: edit(d, label))
        config = yaml.safe_load(render_all(stack)["stack/prometheus/prometheus.yml"])
        return next(c for c in config["scrape_configs"] if c["job_name"] == "fa").get("metric_relabel_configs", [])
    # A copy (not a rename): the instrumentator's own `handler` stays beside the route label.
    assert relabel("path") == [
        {"source_labels": ["__name__", "handler"], "regex": "http_requests_total;(.+)", "target_label": "path",
         "replacement": "${1}"},
        {"source_labels": ["__name__", "handler"], "regex": "http_request_duration_seconds(_bucket|_sum|_count);(.+)",
         "target_label": "path", "replacement": "${2}"}]
    # The spec already names the route label `handler`: the instrumentator's label stays as it is.
    assert not any(r["target_label"] in ("path", "handler") for r in relabel("handler"))


def test_the_readme_profile_example_loads_and_renders(tmp_path):
    from tests.conftest import ROOT
    text = (ROOT / "README.md").read_text()
    block = text.split("Your own bot's profile, in the spec")[1].split("```yaml\n")[1].split("```")[0]
    stack = load(tmp_path, lambda d: d.update(yaml.safe_load(block)))
    files = render_all(stack)
    rules = yaml.safe_load(files["rules/profile-my-bot.rules.yml"])["groups"][0]["rules"]
    quote = next(r["expr"] for r in rules if r["record"] == "fx_source_rate")
    assert quote.startswith('label_replace({__name__=~"mybot_([a-z0-9]+)_quote", job="my-bot-1"}, "source", "$1"')


def test_a_fold_is_narrowed_to_the_native_names_of_each_folded_name():
    from stackgen.model.profiles import Fold, Profile
    from stackgen.render.builders.profile_rules import fold_of
    fold = Fold("x_([a-z0-9]+)_(rate|age)", "x_$2", "source", "$1")
    profile = Profile(name="p", title="p", source="", maps=(), folds=(fold,))
    assert fold_of(profile, "x_rate") == (fold, "x_([a-z0-9]+)_(rate)")
    assert fold_of(profile, "x_count") is None          # the pattern never gives it: a plain name
    twice = Fold("([a-z]+)_v_([a-z]+)", "$1_$2_$1", "venue", "$2")
    assert fold_of(Profile("q", "q", "", (), (twice,)), "a_b_a")[1] == "(a)_v_(b)"
    assert fold_of(Profile("q", "q", "", (), (twice,)), "a_b_c") is None
