"""Many hosts, one store, for real: two agent-mode Prometheus "hosts" (the generated configs and flags)
scrape two demo exporters and remote-write into VictoriaMetrics and into a Prometheus with the
remote-write receiver; vmalert evaluates the generated rules against VictoriaMetrics and writes the
results back; the dashboards' queries, narrowed to one host as the host variable does, return data.
Everything on 127.0.0.1, free ports, a temporary folder; every process is stopped by its pid.
"""
from __future__ import annotations

import copy
import re
import sys
import time

import pytest
import yaml

from stackgen import conventions as n
from stackgen import promql
from stackgen.alerts.families import families
from stackgen.load import load_stack
from stackgen.render.builders.remote_write import kept_series
from stackgen.signals import registry
from tests.conftest import run_generate
from tests.e2e.conftest import Receiver, _free_ports
from tests.e2e.servers import Servers, get, need, poll, query
from tests.e2e.test_native_stack import dashboards, panel_queries, substitute

pytestmark = [pytest.mark.e2e, pytest.mark.tools]

HOSTS = ("host-a", "host-b")
FAST = "1s"
DATA_TIMEOUT = 60.0

WATCHDOG = families()["watchdog"].alert


def fleet_spec(spec: dict, vm_port: int, exporter_ports: dict[str, int], token_file: str) -> dict:
    data = copy.deepcopy(spec)
    g = data["global"]
    g["scrape_interval"] = g["scrape_timeout"] = g["evaluation_interval"] = FAST
    for job in data["scrape"]["jobs"]:
        if "interval" in job:
            job["interval"] = job["timeout"] = FAST
    data["remote_write"] = {
        "enabled": True, "url": f"http://127.0.0.1:{vm_port}/api/v1/write", "tenant": "trading",
        "auth": {"bearer_token": {"file": token_file}}, "prometheus_version": 2, "host_label": "host",
        "queue": {"batch_send_deadline": "1s", "max_samples_per_send": 500, "capacity": 2500},
        "hosts": [{"name": host, "jobs": ["exporter"], "targets": {"exporter": [f"127.0.0.1:{port}"]}}
                  for host, port in exporter_ports.items()]}
    return data


@pytest.fixture(scope="module")
def fleet(tmp_path_factory, spec_data):
    need("prometheus", "victoria-metrics", "vmalert")
    base = tmp_path_factory.mktemp("fleet")
    servers = Servers(base / "logs")
    receiver = Receiver().start()
    try:
        names = ["vm", "receiver", "vmalert", *(f"exporter-{h}" for h in HOSTS), *(f"agent-{h}" for h in HOSTS)]
        ports = dict(zip(names, _free_ports(len(names)), strict=True))
        token = base / "remote-write-token"
        token.write_text("test-token-not-a-secret\n")
        token.chmod(0o600)
        spec = fleet_spec(spec_data, ports["vm"], {h: ports[f"exporter-{h}"] for h in HOSTS}, str(token))
        spec_path, tree = base / "spec.yaml", base / "tree"
        spec_path.write_text(yaml.safe_dump(spec, sort_keys=False))
        result = run_generate("--spec", str(spec_path), "--out", str(tree))
        assert result.returncode == 0, result.stdout + result.stderr

        vm = f"http://127.0.0.1:{ports['vm']}"
        servers.start("vm", ["victoria-metrics", f"-storageDataPath={base / 'vm'}",
                             f"-httpListenAddr=127.0.0.1:{ports['vm']}", "-retentionPeriod=1d",
                             "-search.latencyOffset=0s", "-search.disableCache", "-loggerLevel=WARN"])
        # The receiver evaluates the generated rules too: the central-Prometheus path.
        (base / "receiver.yml").write_text(yaml.safe_dump({"global": {"evaluation_interval": "2s"},
                                                           "rule_files": [f"{tree / n.RULES_DIR}/*.rules.yml"]}))
        servers.start("receiver", ["prometheus", f"--config.file={base / 'receiver.yml'}",
                                   f"--storage.tsdb.path={base / 'receiver-data'}",
                                   f"--web.listen-address=127.0.0.1:{ports['receiver']}",
                                   "--web.enable-remote-write-receiver"])
        for host in HOSTS:
            servers.start(f"exporter-{host}", [sys.executable, "-m", "exporter", "--source", "demo", "--bind",
                                               "127.0.0.1", "--port", str(ports[f"exporter-{host}"]),
                                               "--seed", str(HOSTS.index(host) + 1)])
        servers.wait_ready("vm", f"{vm}/health")
        servers.wait_ready("receiver", f"http://127.0.0.1:{ports['receiver']}/-/ready")
        agent_flags = {}
        for host in HOSTS:
            servers.wait_ready(f"exporter-{host}", f"http://127.0.0.1:{ports[f'exporter-{host}']}/health")
            config = yaml.safe_load((tree / n.AGENTS_DIR / host / "prometheus.yml").read_text())
            # The same generated remote_write entry, a second time, to the Prometheus receiver.
            second = copy.deepcopy(config["remote_write"][0])
            second.update(name="receiver", url=f"http://127.0.0.1:{ports['receiver']}/api/v1/write")
            config["remote_write"].append(second)
            (base / f"agent-{host}.yml").write_text(yaml.safe_dump(config, sort_keys=False))
            args = (tree / n.AGENTS_DIR / host / "prometheus.args").read_text().splitlines()[1:]
            # Keep the generated mode flag; paths and port are this test's.
            mode = [a for a in args if not a.startswith(("--config.file=", "--storage.agent.path=",
                                                         "--web.listen-address="))]
            agent_flags[host] = mode
            servers.start(f"agent-{host}", ["prometheus", *mode, f"--config.file={base / f'agent-{host}.yml'}",
                                            f"--storage.agent.path={base / f'agent-{host}-wal'}",
                                            f"--web.listen-address=127.0.0.1:{ports[f'agent-{host}']}"])
        for host in HOSTS:
            servers.wait_ready(f"agent-{host}", f"http://127.0.0.1:{ports[f'agent-{host}']}/-/ready")
        servers.start("vmalert", ["vmalert", f"-rule={tree / n.RULES_DIR}/*.rules.yml", f"-datasource.url={vm}",
                                  f"-remoteWrite.url={vm}", f"-notifier.url=http://127.0.0.1:{receiver.port}",
                                  "-evaluationInterval=2s", "-remoteWrite.flushInterval=1s",
                                  f"-httpListenAddr=127.0.0.1:{ports['vmalert']}", "-loggerLevel=WARN"])
        servers.wait_ready("vmalert", f"http://127.0.0.1:{ports['vmalert']}/health")
        yield {"servers": servers, "ports": ports, "vm": vm, "receiver": receiver, "tree": tree, "base": base,
               "spec_path": spec_path, "receiver_url": f"http://127.0.0.1:{ports['receiver']}",
               "vmalert": f"http://127.0.0.1:{ports['vmalert']}", "agent_flags": agent_flags,
               "started": time.monotonic()}
    finally:
        servers.stop_all()
        receiver.stop()


def _hosts_with_up(base: str) -> set[str]:
    return {r["metric"].get("host") for r in query(base, 'up{job="exporter"} == 1')}


def test_agents_run_in_agent_mode_from_the_generated_flags(fleet):
    for host in HOSTS:
        assert fleet["agent_flags"][host] == ["--enable-feature=agent"]
        # An agent serves no queries: the query API is refused in agent mode.
        from stackctl import health
        reply = health.request(f"http://127.0.0.1:{fleet['ports'][f'agent-{host}']}/api/v1/query?query=up")
        assert not reply.ok, reply


def test_victoria_metrics_holds_both_hosts_series_with_their_host_label(fleet):
    hosts = poll(lambda: _hosts_with_up(fleet["vm"]) >= set(HOSTS) and _hosts_with_up(fleet["vm"]), DATA_TIMEOUT)
    assert hosts == set(HOSTS), fleet["servers"].log("agent-host-a")
    per_host = query(fleet["vm"], "count by (host, cluster, project, environment) (trading_pnl_usd)")
    assert {r["metric"]["host"] for r in per_host} == set(HOSTS)
    stack = load_stack(fleet["spec_path"])
    assert all(r["metric"]["cluster"] == stack.glob.cluster for r in per_host)
    # The keep filter: nothing outside the catalog, the recorded series and the well-known ones arrives.
    names = set(get(f"{fleet['vm']}/api/v1/label/__name__/values")["data"])
    kept = set(kept_series(stack)) | {"ALERTS_FOR_STATE"}   # vmalert writes its alert state back
    assert names - kept == set(), sorted(names - kept)[:10]
    assert "trading_pnl_usd" in names and f"{n.LOOP_LATENCY}_bucket" in names


def test_the_prometheus_receiver_holds_both_hosts_too(fleet):
    hosts = poll(lambda: _hosts_with_up(fleet["receiver_url"]) >= set(HOSTS) and _hosts_with_up(
        fleet["receiver_url"]), DATA_TIMEOUT)
    assert hosts == set(HOSTS), fleet["servers"].log("receiver")


def test_the_central_prometheus_evaluates_the_generated_rules_on_remote_written_data(fleet):
    base = fleet["receiver_url"]

    def healthy():
        groups = get(f"{base}/api/v1/rules")["data"]["groups"]
        rules = [r for g in groups for r in g["rules"]]
        return rules and all(r["health"] == "ok" for r in rules) and groups
    assert poll(healthy, DATA_TIMEOUT), get(f"{base}/api/v1/rules")
    recorded = poll(lambda: query(base, f'{n.LOOP_LATENCY_QUANTILE}{{quantile="0.99"}}'), DATA_TIMEOUT)
    assert len({r["metric"]["instance"] for r in recorded}) == len(HOSTS), recorded
    assert poll(lambda: query(base, f'ALERTS{{alertname="{WATCHDOG}", alertstate="firing"}}'), DATA_TIMEOUT)


def test_vmalert_evaluates_the_generated_rules_against_the_store(fleet):
    vmalert = fleet["vmalert"]
    groups = get(f"{vmalert}/api/v1/rules")["data"]["groups"]
    generated = {g["name"] for p in (fleet["tree"] / n.RULES_DIR).glob("*.rules.yml")
                 for g in yaml.safe_load(p.read_text())["groups"]}
    assert {g["name"] for g in groups} == generated

    def watchdog():
        alerts = get(f"{vmalert}/api/v1/alerts")["data"]["alerts"]
        return [a for a in alerts if a["name"] == WATCHDOG and a["state"] == "firing"]
    assert poll(watchdog, DATA_TIMEOUT), fleet["servers"].log("vmalert")
    # vmalert notified the (test's) Alertmanager endpoint with the Watchdog.
    posted = poll(lambda: [body for path, body in fleet["receiver"].notifications
                           if WATCHDOG in str(body)], DATA_TIMEOUT)
    assert posted
    # Recording rules ran on both hosts' data and their results were written back to VictoriaMetrics.
    recorded = poll(lambda: query(fleet["vm"], f'{n.LOOP_LATENCY_QUANTILE}{{quantile="0.99"}}'), DATA_TIMEOUT)
    assert len({r["metric"]["instance"] for r in recorded}) == len(HOSTS), recorded
    assert poll(lambda: query(fleet["vm"], f'ALERTS{{alertname="{WATCHDOG}", alertstate="firing"}}'),
                DATA_TIMEOUT)
    # Every rule evaluates cleanly against VictoriaMetrics (MetricsQL runs the generated PromQL).
    errors = [(g["name"], r["name"], r.get("lastError")) for g in get(f"{vmalert}/api/v1/rules")["data"]["groups"]
              for r in g["rules"] if r.get("lastError")]
    assert errors == []


def test_dashboard_queries_narrowed_to_each_host_return_data(fleet):
    """The generated host variable as Grafana fills it: its query lists both hosts, and every panel query,
    with $host set to one host (the other variables on "All"), has data in the store."""
    # Both agents' samples arrived (vmalert's own series, such as ALERTS from absent(), carry a host earlier).
    assert poll(lambda: _hosts_with_up(fleet["vm"]) >= set(HOSTS), DATA_TIMEOUT)
    assert set(get(f"{fleet['vm']}/api/v1/label/host/values")["data"]) >= set(HOSTS)
    assert get(f"{fleet['vm']}/api/v1/label/cluster/values")["data"] == [load_stack(fleet["spec_path"]).glob.cluster]
    boards = dashboards(fleet["tree"])
    for path, board in boards.items():
        host = next(v for v in board["templating"]["list"] if v["name"] == "host")
        assert (host["includeAll"], host["allValue"]) == (True, ".*"), path
        metric, label = re.match(r"label_values\((\w+), (\w+)\)", host["definition"]).groups()
        values = {r["metric"].get(label) for r in query(fleet["vm"], f"count by ({label}) ({metric})")}
        assert values == set(HOSTS), (path, values)
    queries = panel_queries(fleet["tree"])
    assert len(queries) >= 40 and all('host=~"$host"' in expr for _, expr in queries)
    # ALERTS carry a host only when the alert's expression keeps it: the Watchdog never does. Those run
    # with the host variable on "All" (`.*`, which also matches a missing label).
    # Panels on the stack's own Prometheus and Alertmanager (the platform signals) have nothing here: this
    # fleet runs agents, VictoriaMetrics and vmalert, no Prometheus server or Alertmanager.
    own = {sig.name for sig in registry().signals if sig.domain == "platform"}
    queries = [(where, expr) for where, expr in queries if not set(promql.selected_metrics(substitute(expr))) <= own]
    # The error-budget dashboard reads SLO records, which aggregate over every host (as sloth's do: one
    # objective for the service); narrowed to one host they have nothing. Those run on "All" below.
    slo_board = f"{n.SLO_DASHBOARD_UID}.json"
    fleetwide = [(where, expr) for where, expr in queries if slo_board in where]
    queries = [(where, expr) for where, expr in queries if slo_board not in where]
    for where, expr in fleetwide:
        assert poll(lambda e=expr: query(fleet["vm"], substitute(e)), DATA_TIMEOUT), where
    missing = {}
    for host in HOSTS:
        pending = {f"{host}: {where}": substitute(expr if "ALERTS" in expr else _with_host(expr, host))
                   for where, expr in queries}

        def empty(pending=pending):
            for key, expr in list(pending.items()):
                if query(fleet["vm"], expr):
                    del pending[key]
            return not pending
        poll(empty, DATA_TIMEOUT, interval=1.0)
        missing.update(pending)
    # The variable narrows: a host nobody has gives a panel nothing.
    nowhere = substitute(_with_host(next(e for _, e in queries if "trading_pnl_usd" in e), "no-such-host"))
    assert query(fleet["vm"], nowhere) == [], nowhere
    assert not missing, "panels without data for one host:\n" + "\n".join(f"{k} -> {v}" for k, v in missing.items())


def _with_host(expr: str, host: str) -> str:
    """$host (or ${host}) as Grafana substitutes one selected value into a regex matcher."""
    return re.sub(r"\$\{host(?::\w+)?\}|\$host\b", host, expr)   # slugs: nothing to escape
