"""Defaults (stackgen/spec/defaults.py): `version` + `bots:` is a complete spec, every default is
shown by --effective, every explicit key overrides its default, every missing key named at once."""
from __future__ import annotations

import re

import pytest
import yaml

import generate
from stackgen.alerts import families as fam
from stackgen.errors import SpecError
from stackgen.load import load_stack
from stackgen.pipeline import render_all
from stackgen.spec import defaults

FIVE_LINES = """version: tradingmon/v1
bots:
  - name: fx
    profile: d80-fx
    targets: ["fx-host:9100"]
"""


def _write(tmp_path, text: str, name: str = "spec.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_five_lines_are_a_complete_spec(tmp_path):
    stack = load_stack(_write(tmp_path, FIVE_LINES))
    files = render_all(stack)
    assert stack.glob.scrape_interval == defaults.STATIC["global"]["scrape_interval"]
    assert stack.api.path_label == "path" and stack.scrape.self_monitoring
    # Every family the profile feeds, at its documented default, and the profile's own alert.
    drawdown_free = {f.key for f in stack.alerts.families}
    assert {"fx_stale", "fx_sources", "fx_deviation", "target_down", "watchdog"} <= drawdown_free
    assert "drawdown" not in drawdown_free          # the FX exporter exports no drawdown
    stale = stack.alerts.family("fx_stale")
    assert stale["max_age"] == fam.families()["fx_stale"].field_spec("max_age").default
    assert [a.name for a in stack.alerts.custom] == ["FxSourceDisconnected"]
    # The profile's dashboards, in its folder; the home dashboard is the first one.
    assert [d.uid for d in stack.dashboards][0] == "fx_multi_source_d80_6"
    assert stack.grafana.home_dashboard == "fx_multi_source_d80_6"
    assert [f.name for f in stack.grafana.folders][0] == "fx"
    # An Alertmanager that says where alerts go.
    assert stack.routing.default_receiver == defaults.DEFAULT_RECEIVER["name"]
    assert defaults.DEFAULT_RECEIVER["webhook"]["url"] in files["stack/alertmanager/alertmanager.yml"]
    assert any("default receiver" in note and "5001" in note for note in stack.notes)


def test_generate_says_where_alerts_go(tmp_path, capsys):
    path = _write(tmp_path, FIVE_LINES)
    assert generate.main(["--spec", str(path), "--out", str(tmp_path / "out"), "--no-tool-check"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"note: alerts go to the default receiver 'default', a webhook at "
                     r"http://host\.docker\.internal:5001/alerts", out), out


def test_effective_prints_every_default_marked_and_reads_back_the_same(tmp_path, capsys):
    path = _write(tmp_path, FIVE_LINES)
    assert generate.main(["--spec", str(path), "--effective"]) == 0
    text = capsys.readouterr().out
    assert "scrape_interval: 15s  # default" in text and "name: fx\n" in text
    assert "  - name: fx  # default" not in text         # the spec's own values carry no mark
    for section, keys in defaults.STATIC.items():
        assert re.search(rf"^{section}:  # default$", text, re.M), section
        for key in keys:
            assert re.search(rf"^  {key}: .*# default$|^  {key}:  # default$", text, re.M), (section, key)
    # The effective spec is a spec: it renders exactly what the five lines render.
    again = _write(tmp_path, text, "effective.yaml")
    assert render_all(load_stack(again, "spec.yaml")) == render_all(load_stack(path, "spec.yaml"))


def test_every_explicit_key_overrides_its_default(tmp_path):
    text = FIVE_LINES + """global: {scrape_interval: 5s, scrape_timeout: 4s, project: mine}
alerts:
  fx_stale: {max_age: 45s}
alertmanager:
  receivers:
    - {name: ops, webhook: {url: "https://hooks.example.com/a"}}
"""
    stack = load_stack(_write(tmp_path, text))
    assert (stack.glob.scrape_interval, stack.glob.project, stack.glob.cluster) == ("5s", "mine", "local")
    # An `alerts:` written in the spec is the whole list: only what it names is on.
    assert [f.key for f in stack.alerts.families] == ["fx_stale"] and stack.alerts.custom == ()
    assert stack.alerts.family("fx_stale")["max_age"] == "45s"
    assert stack.routing.default_receiver == "ops"       # the first receiver the spec names
    assert not any("default receiver" in note for note in stack.notes)


def test_the_spec_dashboards_add_to_and_replace_the_profile_ones(tmp_path):
    text = FIVE_LINES + """dashboards:
  - uid: fx_multi_source_d80_6
    title: Mine instead
    folder: fx
    description: replaces the profile's
    rows: [{panels: [{title: Rate, type: stat, description: d, queries: [{expr: min(fx_valid_sources)}]}]}]
  - uid: extra
    title: Extra
    folder: mine
    description: added
    rows: [{panels: [{title: Median, type: stat, description: d, queries: [{expr: max(fx_median_rate)}]}]}]
"""
    stack = load_stack(_write(tmp_path, text))
    by_uid = {d.uid: d for d in stack.dashboards}
    assert by_uid["fx_multi_source_d80_6"].title == "Mine instead" and "extra" in by_uid
    assert {f.name: f.title for f in stack.grafana.folders} == {"fx": "D80 FX Monitoring", "fleet": "Fleet",
                                                               "mine": "mine"}


def test_every_missing_required_key_is_named_in_one_run(tmp_path, capsys):
    text = """version: tradingmon/v1
bots:
  - name: fx
    profile: d80-fx
  - targets: ["b:1"]
    profile: d80-fx
alertmanager:
  receivers:
    - name: hook
      webhook: {}
"""
    path = _write(tmp_path, text)
    with pytest.raises(SpecError) as info:
        load_stack(path)
    assert [str(e) for e in info.value.errors] == [
        "spec.yaml:3: bots[0]: missing required key 'targets'",
        "spec.yaml:5: bots[1]: missing required key 'name'",
        "spec.yaml:10: alertmanager.receivers[0].webhook: missing required key 'url'"]
    assert generate.main(["--spec", str(path), "--out", str(tmp_path / "out")]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 3 and all(re.match(r"error: \S+spec\.yaml:\d+: \S+: missing required key", line)
                                   for line in lines), lines
    assert not (tmp_path / "out").exists()



OWN = """version: tradingmon/v1
profiles:
  - name: mm-bot
    title: Market maker
    heartbeat: {metric: mm_last_update_seconds, kind: timestamp}
    map:
      - {signal: equity, from: mm_equity_dollars}
      - {signal: http_requests, from: mm_requests_total}
bots:
  - {name: mm, profile: mm-bot, targets: ["mm-host:8000"]}
  - {name: fx, profile: d80-fx, targets: ["fx-host:9100"], labels: {trading_mode: live}}
"""


def test_a_profile_without_dashboards_gets_panels_on_what_it_feeds_only(tmp_path):
    stack = load_stack(_write(tmp_path, OWN))
    by_uid = {d.uid: d for d in stack.dashboards}
    mine = by_uid["profile-mm-bot"]
    assert mine.title == "Market maker" and mine.folder == "mm-bot"
    # Equity alone feeds the drawdown too (a derived signal: its running peak).
    assert [p.title for p in mine.panels] == ["Equity", "Drawdown", "Requests per second", "Error ratio"]
    # The built-in profile brings its own dashboard, and no generated one.
    assert "fx_multi_source_d80_6" in by_uid and "profile-d80-fx" not in by_uid


def test_the_fleet_overview_covers_every_bot(tmp_path):
    stack = load_stack(_write(tmp_path, OWN))
    fleet = next(d for d in stack.dashboards if d.uid == "fleet-overview")
    panels = {p.title: p for p in fleet.panels}
    # No bot feeds PnL: no PnL panel. Equity: one bot does.
    assert set(panels) == {"Bots up", "Firing alerts per bot", "Heartbeat age", "Equity per bot"}
    assert [v.label for v in fleet.variables] == ["job", "instance", "trading_mode"]      # the live/paper selector
    heartbeat = [q.expr for q in panels["Heartbeat age"].queries]
    assert heartbeat[0].startswith("time() - max by (job) (mm_last_update_seconds{") and 'job="mm"' in heartbeat[0]
    assert "timestamp(up{" in heartbeat[1] and 'job="fx"' in heartbeat[1]    # no heartbeat: the last scrape
    assert 'job=~"mm|fx"' in panels["Bots up"].queries[0].expr
    # Each bot's mode target label: the spec's, else the global environment.
    config = yaml.safe_load(render_all(stack)["stack/prometheus/prometheus.yml"])
    modes = {c["job_name"]: c["static_configs"][0]["labels"]["trading_mode"] for c in config["scrape_configs"]
             if c["job_name"] in ("mm", "fx")}
    assert modes == {"mm": "paper", "fx": "live"}


def test_a_profile_feeding_every_signal_gets_every_generated_panel(tmp_path):
    """Every panel of stackgen/data/dashboards.yaml reads, and is valid for, what some signal feeds."""
    from stackgen.model import generated
    text = """version: tradingmon/v1
profiles:
  - name: all-signals
    identity: true      # every signal the exporter has (the trading-ops ones too)
bots: [{name: all, profile: all-signals, targets: ["all:9100"]}]
"""
    stack = load_stack(_write(tmp_path, text))
    mine = next(d for d in stack.dashboards if d.uid == "profile-all-signals")
    every = [p["title"] for row in generated._data()["profile"]["rows"] for p in row["panels"]]
    assert [p.title for p in mine.panels] == every
    render_all(stack)
