"""remote_write for the stack's Prometheus, agent-mode configs per host, Alertmanager HA: as rendered,
and as the real promtool and vmalert judge them."""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from stackgen import conventions as n
from stackgen import promql, writer
from stackgen.alerts import engine
from stackgen.alerts import testdata as td
from stackgen.alerts.rules import selector
from stackgen.pipeline import render_spec
from stackgen.conventions import signal_names
from tests.conftest import ROOT, need_tools

HOSTS = [{"name": "bot-a", "jobs": ["exporter"], "targets": {"exporter": ["127.0.0.1:9100"]}},
         {"name": "bot-b", "jobs": ["topn-bot"]}]


def fleet(auth: dict | None = None, version: int = 2, tenant: str | None = "trading"):
    def edit(data):
        data["scrape"]["jobs"][1]["enabled"] = True
        rw = data["remote_write"]
        rw.update(enabled=True, prometheus_version=version, hosts=HOSTS)
        if auth is not None:
            rw["auth"] = auth
        if tenant is None:
            rw.pop("tenant", None)
    return edit


def _yaml(files, path):
    return yaml.safe_load(files[path])


def test_stack_prometheus_writes_to_the_store_with_file_credentials_and_a_keep_filter(edited_spec):
    stack, files = render_spec(edited_spec(fleet()))
    rw = stack.remote_write
    (entry,) = _yaml(files, n.PROMETHEUS_CONFIG)["remote_write"]
    assert entry["url"] == rw.url and entry["headers"] == {"X-Scope-OrgID": "trading"}
    assert entry["basic_auth"] == {"username": rw.auth.username, "password_file": rw.auth.file}
    assert entry["queue_config"] == {"capacity": 10000, "max_shards": 10, "max_samples_per_send": 2000,
                                     "batch_send_deadline": "5s"}
    (relabel,) = entry["write_relabel_configs"]
    assert relabel["action"] == "keep" and relabel["source_labels"] == ["__name__"]
    keep = re.compile(f"^(?:{relabel['regex']})$")          # Prometheus anchors relabel regexes
    recorded = [r["record"] for p, t in files.items() if p.startswith("rules/") and p.endswith(".rules.yml")
                for g in yaml.safe_load(t)["groups"] for r in g["rules"] if "record" in r]
    histogram = next(m for m in stack.catalog.metrics if m.type == "histogram")
    for name in [*recorded, "up", "ALERTS", f"{histogram.name}_bucket", f"{histogram.name}_count",
                 stack.catalog.metrics[0].name]:
        assert keep.match(name), name
    for name in ("go_gc_duration_seconds", "prometheus_tsdb_head_series", f"{histogram.name}_created", "upx"):
        assert not keep.match(name), name


@pytest.mark.parametrize("auth,expected", [
    ({"bearer_token": {"file": "/run/secrets/token"}},
     {"authorization": {"type": "Bearer", "credentials_file": "/run/secrets/token"}}),
    ({"oauth2": {"client_id": "prom", "client_secret": {"file": "/run/secrets/oauth"},
                 "token_url": "https://auth.example.com/token", "scopes": ["write"]}},
     {"oauth2": {"client_id": "prom", "client_secret_file": "/run/secrets/oauth",
                 "token_url": "https://auth.example.com/token", "scopes": ["write"]}}),
    ({"sigv4": {"region": "eu-west-1", "role_arn": "arn:aws:iam::1:role/amp"}},
     {"sigv4": {"region": "eu-west-1", "role_arn": "arn:aws:iam::1:role/amp"}}),
])
def test_each_credential_kind_is_a_file_or_an_identity(edited_spec, auth, expected):
    _, files = render_spec(edited_spec(fleet(auth=auth, tenant=None)))
    (entry,) = _yaml(files, n.PROMETHEUS_CONFIG)["remote_write"]
    assert "headers" not in entry
    assert {k: entry[k] for k in expected} == expected
    assert not {"basic_auth", "authorization", "oauth2", "sigv4"} - set(expected) & set(entry)


@pytest.mark.parametrize("version,flag", [(2, "--enable-feature=agent"), (3, "--agent")])
def test_one_agent_config_per_host_with_its_own_label_and_no_rules(edited_spec, version, flag):
    stack, files = render_spec(edited_spec(fleet(version=version)))
    labels = set()
    for host in HOSTS:
        config = _yaml(files, f"{n.AGENTS_DIR}/{host['name']}/prometheus.yml")
        assert "rule_files" not in config and "alerting" not in config
        assert "evaluation_interval" not in config["global"]
        external = config["global"]["external_labels"]
        labels.add(external["host"])
        assert external["cluster"] == stack.glob.cluster
        assert [j["job_name"] for j in config["scrape_configs"]] == host["jobs"]
        assert config["remote_write"] == _yaml(files, n.PROMETHEUS_CONFIG)["remote_write"]
        args = files[f"{n.AGENTS_DIR}/{host['name']}/prometheus.args"].splitlines()[1:]
        assert args[0] == flag and sum(a in ("--agent", "--enable-feature=agent") for a in args) == 1
    assert labels == {"bot-a", "bot-b"}
    a = _yaml(files, f"{n.AGENTS_DIR}/bot-a/prometheus.yml")
    assert a["scrape_configs"][0]["static_configs"][0]["targets"] == ["127.0.0.1:9100"]   # the host's override


def test_disabled_sections_render_nothing_and_leave_prometheus_alone(edited_spec):
    _, files = render_spec(edited_spec())
    config = _yaml(files, n.PROMETHEUS_CONFIG)
    assert "remote_write" not in config
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["alertmanager:9093"]
    assert not [p for p in files if p.startswith((n.AGENTS_DIR, n.ALERTMANAGER_HA_DIR))]


def test_alertmanager_ha_lists_every_instance_and_peers_each_with_the_others(edited_spec):
    def ha(data):
        data["alertmanager_ha"].update(enabled=True, instances=[
            {"web": f"am-{i}:9093", "cluster": f"am-{i}:9094"} for i in (1, 2, 3)])
    _, files = render_spec(edited_spec(ha))
    targets = _yaml(files, n.PROMETHEUS_CONFIG)["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert targets == ["am-1:9093", "am-2:9093", "am-3:9093"]
    for i in (1, 2, 3):
        args = files[f"{n.ALERTMANAGER_HA_DIR}/alertmanager-{i}.args"].splitlines()[1:]
        assert f"--cluster.listen-address=am-{i}:9094" in args and f"--web.listen-address=am-{i}:9093" in args
        assert sorted(a for a in args if a.startswith("--cluster.peer=")) == [
            f"--cluster.peer=am-{j}:9094" for j in (1, 2, 3) if j != i]


@pytest.mark.tools
def test_promtool_accepts_the_stack_config_and_every_agent_config(edited_spec, tmp_path):
    need_tools("promtool")
    secret = tmp_path / "password"
    secret.write_text("not-a-real-password\n")
    secret.chmod(0o600)

    def with_real_file(data):
        fleet()(data)
        data["remote_write"]["auth"]["basic_auth"]["password"] = {"file": str(secret)}
    _, files = render_spec(edited_spec(with_real_file))
    rules = tmp_path / "rules"
    rules.mkdir()
    for path, text in files.items():
        if path.startswith("rules/") and path.endswith(".rules.yml"):
            (rules / Path(path).name).write_text(text)
    config = _yaml(files, n.PROMETHEUS_CONFIG)
    config["rule_files"] = [f"{rules}/*.rules.yml"]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    proc = subprocess.run(["promtool", "check", "config", str(tmp_path / "prometheus.yml")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for host in HOSTS:
        path = tmp_path / f"{host['name']}.yml"
        path.write_text(files[f"{n.AGENTS_DIR}/{host['name']}/prometheus.yml"])
        proc = subprocess.run(["promtool", "check", "config", "--agent", str(path)], capture_output=True,
                              text=True, timeout=60)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    # Agent mode has no rules: the stack's config (with rule_files) is refused as an agent config.
    proc = subprocess.run(["promtool", "check", "config", "--agent", str(tmp_path / "prometheus.yml")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0


@pytest.mark.tools
def test_vmalert_dry_run_accepts_the_generated_rules_and_rejects_a_broken_one(tmp_path):
    """A second checker beside promtool: VictoriaMetrics' vmalert parses every group and template."""
    need_tools("vmalert")
    rules = sorted((ROOT / n.RULES_DIR).glob("*.rules.yml"))
    proc = subprocess.run(["vmalert", "-dryRun", *[f"-rule={p}" for p in rules]], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    broken = yaml.safe_load(rules[0].read_text())
    broken["groups"][-1]["rules"][0]["expr"] += " >> 1"
    (tmp_path / "broken.rules.yml").write_text(yaml.safe_dump(broken))
    proc = subprocess.run(["vmalert", "-dryRun", f"-rule={tmp_path / 'broken.rules.yml'}"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode != 0 and "bad prometheus expr" in proc.stdout + proc.stderr


# bot-b runs only topn-bot; bot-a runs topn-bot and the exporter: the last (host, job) TargetAbsent checks is
# (bot-a, exporter), so the generated test loses bot-a's exporter while bot-b never scrapes one.
SHARDED = [{"name": "bot-b", "jobs": ["topn-bot"]}, {"name": "bot-a", "jobs": ["topn-bot", "exporter"]}]


def _sharded(data):
    fleet()(data)
    data["remote_write"]["hosts"] = SHARDED


def _platform(files) -> tuple[dict, dict]:
    rules = yaml.safe_load(files[f"{n.RULES_DIR}/platform.rules.yml"])
    rule = next(r for g in rules["groups"] for r in g["rules"] if r.get("alert") == "TargetAbsent")
    test = yaml.safe_load(files[f"{n.RULE_TESTS_DIR}/platform.test.yml"])
    case = next(t for t in test["tests"] if "TargetAbsent" in t["name"])
    return rule, case


def _promtool_test(files, tmp_path) -> subprocess.CompletedProcess:
    writer.write(files, tmp_path, n.OWNED_DIRS)
    return subprocess.run(["promtool", "test", "rules", str(tmp_path / n.RULE_TESTS_DIR / "platform.test.yml")],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.tools
def test_sharded_target_absent_fires_only_for_the_host_that_runs_the_job(edited_spec, tmp_path):
    """With agent hosts, the generated TargetAbsent has one absent() per (host, job) the spec assigns, and its
    generated promtool test proves it: bot-b, which does not run the exporter, stays silent; bot-a losing its
    exporter fires with {job, host}, although bot-b's topn-bot and bot-a's topn-bot are still there."""
    need_tools("promtool")
    _, files = render_spec(edited_spec(_sharded))
    rule, case = _platform(files)
    assert rule["expr"] == ('absent(up{job="prometheus"}) or absent(up{job="alertmanager"}) or '
                            'absent(up{job="topn-bot", host="bot-b"}) or absent(up{job="topn-bot", host="bot-a"}) '
                            'or absent(up{job="exporter", host="bot-a"})')
    fired = [a["exp_labels"] for t in case["alert_rule_test"] if t["alertname"] == "TargetAbsent"
             for a in t["exp_alerts"]]
    assert fired == [{"job": "exporter", "host": "bot-a", "severity": "critical"}]
    inputs = [s["series"] for s in case["input_series"]]
    assert 'up{host="bot-b",instance="topn-bot:1",job="topn-bot"}' in inputs
    assert not [s for s in inputs if 'job="exporter"' in s]           # no host sends the exporter's up
    proc = _promtool_test(files, tmp_path / "gen")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # The test can fail: the unscoped per-job chain (today's single-host form) does not name the host.
    platform = tmp_path / "gen" / n.RULES_DIR / "platform.rules.yml"
    plain = " or ".join(f'absent(up{{job="{j}"}})' for j in ("prometheus", "alertmanager", "topn-bot", "exporter"))
    platform.write_text(platform.read_text().replace(rule["expr"], plain))
    assert plain in platform.read_text()
    proc = subprocess.run(["promtool", "test", "rules", str(tmp_path / "gen" / n.RULE_TESTS_DIR / "platform.test.yml")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "TargetAbsent" in proc.stdout + proc.stderr


def test_without_agent_hosts_target_absent_stays_the_per_job_chain(edited_spec):
    stack, files = render_spec(edited_spec())
    rule, _ = _platform(files)
    jobs = ["prometheus", "alertmanager"] if stack.scrape.self_monitoring else []
    jobs += [j.name for j in stack.scrape.jobs]
    assert rule["expr"] == " or ".join(f'absent(up{{job="{j}"}})' for j in jobs)


def _recording_case(stack, host_label: str = "host") -> tuple[dict, list[str]]:
    """Two hosts scrape the same address (127.0.0.1:9101 on each) with identical target labels: one
    bot loops fast, the other slow; each has its own FX median and one source. In the store only the
    host label tells them apart."""
    names = signal_names(stack)
    loop = stack.catalog.get(names["loop_latency"])
    target = {"job": "topn-bot", "instance": "127.0.0.1:9101"}
    bot = {**target, "env": "paper", "universe": "top20", "strategy": "s1"}
    fast, slow = td.bucket_below(loop.buckets, 0.01), td.bucket_above(loop.buckets, 0.1)
    series, samples = [], 20
    for host, bucket, median in (("bot-a", fast, 1.0), ("bot-b", slow, 1.01)):
        series += td.histogram_series(loop.name, {**bot, host_label: host}, loop.buckets, bucket[1], 60, samples)
        series.append((selector(names["fx_median"], {**target, host_label: host}), td.constant(median, samples)))
        series.append((selector(names["fx_source_rate"], {**target, host_label: host, "source": "okx"}),
                       td.constant(1.0, samples)))
    p50 = f'{names["loop_latency_quantile"]}{{quantile="0.5"}}'
    expected = [
        {"labels": selector(names["loop_latency_quantile"], {**bot, host_label: host, "quantile": "0.5"}),
         "value": td.quantile_in_bucket(0.5, *bucket)} for host, bucket in (("bot-a", fast), ("bot-b", slow))]
    deviation = [
        {"labels": selector(names["fx_source_deviation"], {**target, host_label: host, "source": "okx"}),
         "value": value} for host, value in (("bot-a", 0.0), ("bot-b", 10000 * abs(1.0 - 1.01) / 1.01))]
    case = {"interval": "1m", "input_series": [{"series": s, "values": v} for s, v in series],
            "promql_expr_test": [{"expr": p50, "eval_time": "10m", "exp_samples": expected},
                                 {"expr": names["fx_source_deviation"], "eval_time": "10m",
                                  "exp_samples": deviation}]}
    return case, [names["loop_latency_quantile"], names["fx_source_deviation"]]


@pytest.mark.tools
def test_recording_rules_keep_the_host_label_so_hosts_sharing_an_address_do_not_collide(edited_spec, tmp_path):
    """With agent hosts the built-in recording rules group and match by (job, instance, host): two hosts
    scraping the same address keep one recorded series each, and each source is compared with its own
    host's median. Without the host in the clauses the same test fails (summed into one series, or a
    many-to-many match)."""
    need_tools("promtool")
    stack, files = render_spec(edited_spec(fleet()))
    assert engine.target_labels(stack) == "job, instance, host"
    writer.write(files, tmp_path, n.OWNED_DIRS)
    case, recorded = _recording_case(stack)
    rules = [str(tmp_path / n.RULES_DIR / f) for f in ("topn.rules.yml", "fx.rules.yml")]
    (tmp_path / "fleet.test.yml").write_text(yaml.safe_dump({
        "rule_files": rules, "evaluation_interval": "1m", "tests": [case]}))

    def promtool() -> subprocess.CompletedProcess:
        return subprocess.run(["promtool", "test", "rules", str(tmp_path / "fleet.test.yml")], capture_output=True,
                              text=True, timeout=120)
    proc = promtool()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # The single-host form of the same rules collides: one file at a time, each for its own reason.
    for path, symptom in zip(rules, (f'expr: "{recorded[0]}', "many-to-many matching not allowed"), strict=True):
        text = Path(path).read_text()
        assert "job, instance, host" in text
        Path(path).write_text(text.replace("job, instance, host", "job, instance"))
        proc = promtool()
        assert proc.returncode != 0 and symptom in proc.stdout + proc.stderr, proc.stdout + proc.stderr
        Path(path).write_text(text)

def test_without_agent_hosts_rules_group_by_job_and_instance_only(edited_spec):
    stack, files = render_spec(edited_spec())
    assert engine.target_labels(stack) == "job, instance"
    text = "".join(t for p, t in files.items() if p.startswith(f"{n.RULES_DIR}/") and p.endswith(".rules.yml"))
    assert "by (job, instance" in text and not re.search(r"\bhost\b", text)   # (localhost in links is fine)


def test_agents_scrape_bots_with_their_profile_and_the_store_keeps_what_profile_rules_read(tmp_path):
    """A bot on an agent host is scraped with its profile's metric_relabel_configs (as on the stack's
    Prometheus), and the keep filter lets through the bot series the profile rules read and record."""
    data = yaml.safe_load((ROOT / "examples" / "fastapi.yaml").read_text())   # its bots carry label copies
    bot = data["bots"][0]["name"]
    data["remote_write"] = {"url": "http://127.0.0.1:8428/api/v1/write", "hosts": [{"name": "bot-a", "jobs": [bot]}]}
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(data, sort_keys=False))
    _, files = render_spec(spec)
    central = {j["job_name"]: j for j in _yaml(files, n.PROMETHEUS_CONFIG)["scrape_configs"]}
    config = _yaml(files, f"{n.AGENTS_DIR}/bot-a/prometheus.yml")
    (agent,) = config["scrape_configs"]
    assert agent["metric_relabel_configs"] == central[bot]["metric_relabel_configs"] != []
    # ... and the bot's own series reach the store under their own names (the mapping rules read them).
    keep = re.compile(f"^(?:{config['remote_write'][0]['write_relabel_configs'][0]['regex']})$")
    profile_rules = yaml.safe_load(next(t for p, t in files.items() if "/profile-" in p and p.endswith(".rules.yml")))
    read = {r.get("record") for g in profile_rules["groups"] for r in g["rules"]} - {None}
    read |= {m for g in profile_rules["groups"] for r in g["rules"] for m in promql.selected_metrics(r["expr"])}
    assert read and all(keep.match(name) for name in read), [m for m in read if not keep.match(m)]


def _dashboards(files) -> dict[str, dict]:
    return {p: json.loads(t) for p, t in files.items() if p.startswith(f"{n.DASHBOARDS_DIR}/") and p.endswith(".json")}


def _exprs(dashboard: dict) -> list[str]:
    found, pending = [], list(dashboard.get("panels", []))
    while pending:
        panel = pending.pop()
        pending += panel.get("panels", [])
        found += [t["expr"] for t in panel.get("targets", []) if t.get("expr")]
    return found


def test_with_agent_hosts_every_dashboard_has_a_host_variable_and_every_selector_uses_it(edited_spec):
    """The host variable tolerates a single host: "All" is `.*`, which matches series without the label."""
    _, files = render_spec(edited_spec(fleet()))
    boards = _dashboards(files)
    assert boards
    total = 0
    for path, board in boards.items():
        variables = {v["name"]: v for v in board["templating"]["list"]}
        host = variables["host"]
        assert (host["type"], host["includeAll"], host["allValue"], host["multi"]) == ("query", True, ".*", True), path
        assert host["definition"] == "label_values(up, host)"
        assert host["current"] == {"text": ["All"], "value": ["$__all"]}
        for expr in _exprs(board):
            selectors: list = []
            promql._walk(promql.parse(expr), selectors, [], set(), [])
            assert selectors and all("host" in labels for _, labels in selectors), (path, expr)
            assert expr.count('host=~"$host"') == len(selectors), expr
            total += 1
    assert total >= 40
    # The shipped spec (no hosts): no host variable, no host matcher.
    _, plain = render_spec(edited_spec())
    for board in _dashboards(plain).values():
        assert "host" not in {v["name"] for v in board["templating"]["list"]}
        assert not [e for e in _exprs(board) if "$host" in e]


@pytest.mark.parametrize("expr,expected", [
    ('count(up == 0) or on() vector(0)', 'count(up{h=~"$h"} == 0) or on() vector(0)'),
    ('sum by (status) (rate(x_total{job=~"$job"}[$__rate_interval]))',
     'sum by (status) (rate(x_total{h=~"$h", job=~"$job"}[$__rate_interval]))'),
    ('sum(a:b:c) / ignoring (up) group_left sum without (up) (up{})',
     'sum(a:b:c{h=~"$h"}) / ignoring (up) group_left sum without (up) (up{h=~"$h"})'),
    ('up{h="a"} + on (instance) label_replace(up, "up", "$1", "instance", "(up)")',
     'up{h="a"} + on (instance) label_replace(up{h=~"$h"}, "up", "$1", "instance", "(up)")'),
    ('{__name__="up", job="x"}', '{h=~"$h", __name__="up", job="x"}'),
    ('sum(x{path=~"/a{1}", q="}"}) + y{a="\\"}"}', 'sum(x{h=~"$h", path=~"/a{1}", q="}"}) + y{h=~"$h", a="\\"}"}'),
])
def test_add_matcher_narrows_every_selector_and_nothing_else(expr, expected):
    assert promql.add_matcher(expr, "h", "$h") == expected


@pytest.mark.tools
@pytest.mark.parametrize("example", ["fastapi", "d77-topn"])
def test_bot_stopped_on_agent_hosts_is_per_host_and_its_generated_tests_pass(example, tmp_path):
    """BotStopped, like TargetAbsent, checks absent() per agent host that runs the bot, and its
    heartbeat per (job, instance, host); the generated profile tests pass under promtool."""
    need_tools("promtool")
    data = yaml.safe_load((ROOT / "examples" / f"{example}.yaml").read_text())
    bots = [b["name"] for b in data["bots"]]
    data["remote_write"] = {"url": "http://127.0.0.1:8428/api/v1/write", "hosts": [
        {"name": "bot-a", "jobs": bots}, {"name": "bot-b", "jobs": bots[:1]}]}
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(data, sort_keys=False))
    _, files = render_spec(spec)
    (path,) = [p for p in files if "/profile-" in p and p.endswith(".rules.yml")]
    stopped = [r["expr"] for g in yaml.safe_load(files[path])["groups"] for r in g["rules"]
               if r.get("alert") == "BotStopped"]
    assert len(stopped) == len(bots)
    first = next(e for e in stopped if f'job="{bots[0]}"' in e)
    assert f'absent(up{{job="{bots[0]}", host="bot-a"}}) or absent(up{{job="{bots[0]}", host="bot-b"}})' in first
    if len(bots) > 1:
        second = next(e for e in stopped if f'job="{bots[1]}"' in e)
        assert f'absent(up{{job="{bots[1]}", host="bot-a"}})' in second and 'host="bot-b"' not in second
    if data["bots"][0].get("heartbeat"):
        assert "max by (job, instance, host)" in first
    writer.write(files, tmp_path / "out", n.OWNED_DIRS)
    tests = sorted((tmp_path / "out" / n.RULE_TESTS_DIR).glob("*.test.yml"))
    proc = subprocess.run(["promtool", "test", "rules", *map(str, tests)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
