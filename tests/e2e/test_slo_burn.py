"""An SLO burn end to end: a fake zigQuant bot (its own exposition) starts acknowledging every order late
while its drawdown climbs toward the allowance, a real Prometheus runs the generated rules of
examples/slo.yaml, and both pages (the objective's and the money budget's) reach a real Alertmanager;
meanwhile every panel of the error-budget dashboard returns data."""
from __future__ import annotations

import json
import shutil

import pytest
import yaml

from stackctl import health
from stackgen import conventions as n
from tests.conftest import ROOT, run_generate
from tests.e2e.fakebots import FakeBot
from tests.e2e.servers import Servers, get, need, poll, query
from tests.e2e.test_native_stack import substitute

pytestmark = pytest.mark.e2e
TIMEOUT = 60.0


def _spec(bot: FakeBot) -> dict:
    data = yaml.safe_load((ROOT / "examples" / "slo.yaml").read_text())
    data.setdefault("global", {}).update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
    data["bots"][0]["targets"] = [bot.target]
    data.setdefault("alertmanager", {}).update(group_wait="1s", group_interval="2s")
    return data


def _prometheus_config(tree, am_port: int) -> dict:
    config = yaml.safe_load((tree / n.PROMETHEUS_CONFIG).read_text())
    config["rule_files"] = [str(tree / n.RULES_DIR / "*.rules.yml")]
    # Only the bot: the self-scrapes and the Alertmanager login need the stack's password files.
    config["scrape_configs"] = [c for c in config["scrape_configs"]
                                if c["job_name"] not in ("prometheus", "alertmanager")]
    config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]}
    return config


def test_a_burn_through_a_fake_bot_pages_in_alertmanager_and_the_budget_dashboard_has_data(tmp_path):
    need("prometheus", "alertmanager" if shutil.which("alertmanager") else "prometheus-alertmanager")
    bot = FakeBot("zigquant")
    servers = Servers(tmp_path / "logs")
    try:
        spec = tmp_path / "slo.yaml"
        spec.write_text(yaml.safe_dump(_spec(bot), sort_keys=False))
        tree = tmp_path / "tree"
        proc = run_generate("--spec", str(spec), "--out", str(tree), "--no-tool-check")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        am_port, prom_port = health.free_port(), health.free_port()
        am_url, prom_url = f"http://127.0.0.1:{am_port}", f"http://127.0.0.1:{prom_port}"
        binary = shutil.which("alertmanager") or shutil.which("prometheus-alertmanager")
        servers.start("alertmanager", [binary, f"--config.file={tree / n.ALERTMANAGER_CONFIG}",
                                       f"--storage.path={tmp_path / 'am'}",
                                       f"--web.listen-address=127.0.0.1:{am_port}", "--cluster.listen-address="])
        servers.wait_ready("alertmanager", f"{am_url}/-/ready")
        config = tmp_path / "prometheus.yml"
        config.write_text(yaml.safe_dump(_prometheus_config(tree, am_port), sort_keys=False))
        servers.start("prometheus", [shutil.which("prometheus"), f"--config.file={config}",
                                     f"--storage.tsdb.path={tmp_path / 'data'}",
                                     f"--web.listen-address=127.0.0.1:{prom_port}"])
        servers.wait_ready("prometheus", f"{prom_url}/-/ready")
        # The bot in use: API traffic, orders acknowledged in time, the drawdown creeping up.
        bot.grow('zigquant_api_requests_total{method="GET",path="/api/v1/strategies",status="200"}', 50)
        bot.grow('zigquant_api_requests_total{method="GET",path="/api/v1/strategies",status="500"}', 0.01)
        bot.set("zigquant_max_drawdown", 0.02, 0.0005)
        # The burn: every new order is acknowledged after 100 ms (it lands above the le="0.1" bucket).
        bot.grow("zigquant_order_latency_seconds_count", 20)
        bot.grow('zigquant_order_latency_seconds_bucket{le="+Inf"}', 20)

        def paged(alertname: str):
            alerts = get(f"{am_url}/api/v2/alerts")
            return [a for a in alerts if a["labels"].get("alertname") == alertname
                    and a["labels"].get("sloth_severity") == "page"]
        found = poll(lambda: paged("OrderAckBudgetBurn"), TIMEOUT)
        assert found, ("no page in Alertmanager", query(prom_url, 'ALERTS{alertname="OrderAckBudgetBurn"}'),
                       servers.log("prometheus"))
        page = found[0]
        assert page["labels"]["severity"] == "critical" and page["labels"]["sloth_slo"] == "order-ack"
        assert "burns its error budget" in page["annotations"]["summary"]
        # 0.0005 per second from 0.02 toward 0.10: at this pace the allowance is gone in under 3 minutes.
        found = poll(lambda: paged("DrawdownBudgetBurn"), TIMEOUT)
        assert found, ("no budget page", query(prom_url, "budget:exhaustion_seconds:deriv5m"))
        assert found[0]["labels"]["budget"] == "drawdown"
        assert found[0]["annotations"]["summary"].startswith("Budget drawdown: at this pace the limit is gone in ")
        # Every panel of the error-budget dashboard returns data.
        board = json.loads(next((tree / n.DASHBOARDS_DIR).rglob(f"{n.SLO_DASHBOARD_UID}.json")).read_text())
        queries = [(p["title"], t["expr"]) for p in board["panels"] for t in p.get("targets", [])]
        assert len(queries) >= 10
        empty = []
        for title, expr in queries:
            if not poll(lambda e=expr: query(prom_url, substitute(e)), 20):
                empty.append((title, expr))
        assert not empty, empty
    finally:
        servers.stop_all()
        bot.stop()
