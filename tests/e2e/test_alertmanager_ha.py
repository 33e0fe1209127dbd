"""Alertmanager HA for real, on loopback: two prometheus-alertmanager processes started with the generated
flags (--cluster.listen-address, --cluster.peer) gossip; a silence made on one is active on the other,
and an alert sent to both (as Prometheus does: every instance, never a load balancer) reaches the
webhook receiver once.
"""
from __future__ import annotations

import copy
import json
import shutil
import time
from datetime import UTC, datetime, timedelta

import pytest
import yaml

from stackctl import health
from stackctl.native import ALERTMANAGER_BINARIES
from stackgen import conventions as n
from tests.conftest import run_generate
from tests.e2e.conftest import Receiver, _free_ports
from tests.e2e.servers import Servers, get, poll

pytestmark = [pytest.mark.e2e, pytest.mark.tools]
PEERS = 2


def ha_spec(spec: dict, webs: list[int], clusters: list[int], receiver_port: int) -> dict:
    data = copy.deepcopy(spec)
    data["alertmanager"].update(
        group_wait="1s", group_interval="2s", repeat_interval="4h", default_receiver="audit",
        receivers=[{"name": "audit", "webhook": {"url": f"http://127.0.0.1:{receiver_port}/alerts"}}],
        routes=[{"match": {"severity": "critical"}, "receivers": ["audit"]}], maintenance_windows=[])
    data["alertmanager_ha"] = {"enabled": True, "instances": [
        {"web": f"127.0.0.1:{w}", "cluster": f"127.0.0.1:{c}"} for w, c in zip(webs, clusters, strict=True)]}
    return data


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, spec_data):
    binary = next((shutil.which(b) for b in ALERTMANAGER_BINARIES if shutil.which(b)), None)
    if binary is None:
        pytest.skip("prometheus-alertmanager not installed (make tools)")
    base = tmp_path_factory.mktemp("am-ha")
    servers = Servers(base / "logs")
    receiver = Receiver().start()
    try:
        ports = _free_ports(2 * PEERS)
        webs, clusters = ports[:PEERS], ports[PEERS:]
        spec_path, tree = base / "spec.yaml", base / "tree"
        spec_path.write_text(yaml.safe_dump(ha_spec(spec_data, webs, clusters, receiver.port), sort_keys=False))
        result = run_generate("--spec", str(spec_path), "--out", str(tree))
        assert result.returncode == 0, result.stdout + result.stderr
        urls = []
        for i in range(PEERS):
            args = (tree / n.ALERTMANAGER_HA_DIR / f"alertmanager-{i + 1}.args").read_text().splitlines()[1:]
            servers.start(f"am-{i + 1}", [binary, *args, f"--config.file={tree / n.ALERTMANAGER_CONFIG}",
                                          f"--storage.path={base / f'am-{i + 1}'}",
                                          # Faster than production so the test takes seconds, not minutes.
                                          "--cluster.peer-timeout=2s", "--cluster.pushpull-interval=2s",
                                          "--cluster.settle-timeout=5s"])
            urls.append(f"http://127.0.0.1:{webs[i]}")
        for i, url in enumerate(urls):
            servers.wait_ready(f"am-{i + 1}", f"{url}/-/ready")
        yield {"urls": urls, "receiver": receiver, "servers": servers, "tree": tree}
    finally:
        servers.stop_all()
        receiver.stop()


def test_prometheus_lists_every_instance_and_each_peers_with_the_others(cluster):
    config = yaml.safe_load((cluster["tree"] / n.PROMETHEUS_CONFIG).read_text())
    targets = config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert [f"http://{t}" for t in targets] == cluster["urls"]

    def formed():
        statuses = [get(f"{url}/api/v2/status")["cluster"] for url in cluster["urls"]]
        return all(s["status"] == "ready" and len(s.get("peers") or []) == PEERS for s in statuses) and statuses
    statuses = poll(formed, 30)
    assert statuses, [get(f"{url}/api/v2/status")["cluster"] for url in cluster["urls"]]


def test_a_silence_made_on_one_is_active_on_the_other(cluster):
    first, second = cluster["urls"]
    now = datetime.now(UTC)
    silence = {"matchers": [{"name": "alertname", "value": "HaSilenceTest", "isRegex": False, "isEqual": True}],
               "startsAt": now.isoformat(), "endsAt": (now + timedelta(hours=1)).isoformat(),
               "createdBy": "test", "comment": "made on the first Alertmanager"}
    reply = health.request(f"{first}/api/v2/silences", method="POST", data=json.dumps(silence).encode(),
                           headers={"Content-Type": "application/json"})
    assert reply.ok, reply
    silence_id = json.loads(reply.body)["silenceID"]

    def seen():
        found = [s for s in get(f"{second}/api/v2/silences") if s["id"] == silence_id]
        return found and found[0]["status"]["state"] == "active" and found
    found = poll(seen, 20)
    assert found and found[0]["comment"] == silence["comment"]


def test_an_alert_sent_to_every_instance_is_delivered_once(cluster):
    receiver = cluster["receiver"]
    name = f"HaDeliveryTest{int(time.time())}"
    alert = [{"labels": {"alertname": name, "severity": "critical", "job": "exporter", "instance": "a:9100"},
              "annotations": {"summary": "HA delivery test"},
              "startsAt": datetime.now(UTC).isoformat()}]
    for url in cluster["urls"]:
        reply = health.request(f"{url}/api/v2/alerts", method="POST", data=json.dumps(alert).encode(),
                               headers={"Content-Type": "application/json"})
        assert reply.ok, reply

    def deliveries():
        return [a for _, _, a in receiver.alerts("/alerts") if a["labels"]["alertname"] == name]
    assert poll(deliveries, 30), cluster["servers"].log("am-1") + cluster["servers"].log("am-2")
    # Long enough for the second peer to have sent too had it not seen the first one's notification log
    # (it waits peer position x peer-timeout = 2 s, then checks the gossiped log).
    time.sleep(8)
    assert len(deliveries()) == 1, deliveries()
    # Both instances hold the alert: either could have sent it, one did.
    for url in cluster["urls"]:
        assert [a for a in get(f"{url}/api/v2/alerts") if a["labels"]["alertname"] == name]
