"""Trading operations end to end: a fake market-making bot speaks its own metric names, a profile maps them
onto the signals, a real Prometheus evaluates the generated rules and sends to a real Alertmanager. Each new
family's breach is planted in the bot's own names and units, and every corresponding alert must reach
Alertmanager. The spec is the generator tests' small fixture with this test's own thresholds."""
from __future__ import annotations

import shutil
import time

import pytest
import yaml

from stackctl import health
from tests.conftest import run_generate
from tests.e2e.conftest import Receiver
from tests.e2e.fakebots import FakeBot
from tests.e2e.servers import Servers, get, need, poll
from tests.generator.fixture import base_data

pytestmark = [pytest.mark.e2e, pytest.mark.tools]

PROFILE = {
    "name": "mm-bot", "title": "A market maker with its own names",
    "map": [
        {"signal": "exchange_connected", "from": "mm_venue_up", "labels": {"venue": "exchange"}},
        {"signal": "orders", "from": "mm_orders_total", "labels": {"venue": "exchange", "result": "status"}},
        {"signal": "order_latency", "from": "mm_order_ack_seconds", "labels": {"venue": "exchange"}},
        {"signal": "market_data_last_update", "from": "mm_book_age_seconds", "age": True},   # age -> timestamp
        {"signal": "clock_skew", "from": "mm_clock_offset_ms", "scale": 0.001},                # ms -> s
        {"signal": "trading_state", "from": "mm_mode", "labels": {"mode": "state"}},
        {"signal": "kill_switch", "from": "mm_killswitch"},
        {"signal": "rate_limit_used", "from": "mm_weight_used", "labels": {"venue": "exchange"}},
        {"signal": "rate_limit_limit", "from": "mm_weight_limit", "labels": {"venue": "exchange"}},
        {"signal": "rate_limit_bans", "from": "mm_http_bans_total", "labels": {"venue": "exchange"}},
        {"signal": "position_notional", "from": "mm_position_usd"},
        {"signal": "position_limit", "from": "mm_position_cap_usd"},
        {"signal": "balance", "from": "mm_balance_usd", "labels": {"src": "ledger"}},
    ],
}
# family -> its fields here (short windows, `for` of a second), and the alerts it must bring.
FAMILIES = {
    "exchange_disconnected": ({"for": "1s"}, ["TradingExchangeDisconnected"]),
    "order_rejects": ({"ratio": 0.2, "min_orders": 5, "window": "1m", "for": "1s"}, ["TradingOrderRejectsHigh"]),
    "fill_ratio": ({"below": 0.5, "min_orders": 5, "window": "1m", "for": "1s"}, ["TradingFillRatioLow"]),
    "order_latency": ({"p99_seconds": 0.1, "for": "1s"}, ["TradingOrderLatencyHigh"]),
    "market_data_stale": ({"max_age": "10s", "for": "1s"}, ["MarketDataStale"]),
    "clock_skew": ({"max_seconds": 0.5, "for": "1s"}, ["ClockSkewHigh"]),
    "trading_halted": ({"for": "1s"}, ["TradingHalted", "TradingKillSwitchTripped"]),
    "rate_limit_headroom": ({"max_used": 0.8, "ban_window": "1m", "for": "1s"},
                            ["ExchangeRateLimitHeadroomLow", "ExchangeRateLimitBanned"]),
    "exposure": ({"max_ratio": 1.0, "for": "1s"}, ["TradingExposureHigh"]),
    "balance_drift": ({"max_ratio": 0.01, "for": "1s"}, ["TradingBalanceDrift"]),
}
B = 'venue="binance"'
# The breaches, in the bot's own names and units.
BREACH = [
    ("set", 'mm_venue_up{venue="okx"}', 0.0),
    ("grow", f'mm_orders_total{{{B},side="buy",result="rejected"}}', 5.0),    # most new orders rejected,
    ("grow", f'mm_orders_total{{{B},side="buy",result="cancelled"}}', 2.0),   # none filled
    *[("grow", f'mm_order_ack_seconds_bucket{{{B},le="{le}"}}', 20.0) for le in ("1", "+Inf")],
    ("grow", f"mm_order_ack_seconds_count{{{B}}}", 20.0),                     # acknowledgements of 0.25-1 s
    ("set", 'mm_book_age_seconds{feed="binance:BTCUSDT"}', 60.0),
    ("set", 'mm_clock_offset_ms{reference="binance"}', -1500.0),                # 1.5 s behind
    ("set", 'mm_mode{mode="active"}', 0.0), ("set", 'mm_mode{mode="halted"}', 1.0), ("set", "mm_killswitch", 1.0),
    ("set", f"mm_weight_used{{{B}}}", 1150.0),
    ("grow", f'mm_http_bans_total{{{B},code="429"}}', 1.0),
    ("set", 'mm_position_usd{symbol="BTCUSDT"}', -80000.0),
    ("set", 'mm_balance_usd{asset="USDT",src="bot"}', 10500.0),
]


def _spec(target: str) -> dict:
    data = base_data()
    g = data["global"]
    g["scrape_interval"] = g["scrape_timeout"] = g["evaluation_interval"] = "1s"
    data["scrape"]["self_monitoring"] = False
    data["profiles"] = [PROFILE]
    data["bots"] = [{"name": "mm", "profile": "mm-bot", "targets": [target]}]
    data["scrape"]["jobs"] = []
    for key, (fields, _) in FAMILIES.items():
        data["alerts"][key] = fields
    return data


def test_every_planted_breach_reaches_alertmanager_through_the_profile(tmp_path):
    need("prometheus", "promtool")
    binary = next((b for b in ("prometheus-alertmanager", "alertmanager") if shutil.which(b)), None)
    if binary is None:
        pytest.skip("prometheus-alertmanager not installed")
    bot = FakeBot("mm-bot")
    receiver = Receiver().start()
    servers = Servers(tmp_path / "logs")
    try:
        spec = tmp_path / "spec.yaml"
        spec.write_text(yaml.safe_dump(_spec(bot.target), sort_keys=False))
        tree = tmp_path / "tree"
        proc = run_generate("--spec", str(spec), "--out", str(tree))
        assert proc.returncode == 0, proc.stdout + proc.stderr
        am_port, prom_port = health.free_port(), health.free_port()
        am = tmp_path / "am.yml"
        am.write_text(yaml.safe_dump({
            "route": {"receiver": "hook", "group_by": ["alertname"], "group_wait": "1s", "group_interval": "1s"},
            "receivers": [{"name": "hook", "webhook_configs": [{"url": f"http://127.0.0.1:{receiver.port}/alerts"}]}]}))
        servers.start("alertmanager", [shutil.which(binary), f"--config.file={am}",
                                       f"--storage.path={tmp_path / 'am'}", f"--web.listen-address=127.0.0.1:{am_port}",
                                       "--cluster.listen-address="])
        servers.wait_ready("alertmanager", f"http://127.0.0.1:{am_port}/-/ready")
        config = yaml.safe_load((tree / "stack/prometheus/prometheus.yml").read_text())
        config["rule_files"] = [str(tree / "rules" / "*.rules.yml")]
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]}
        config["scrape_configs"] = [c for c in config["scrape_configs"] if c["job_name"] == "mm"]
        (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))
        servers.start("prometheus", [shutil.which("prometheus"),
                                     f"--config.file={tmp_path / 'prometheus.yml'}",
                                     f"--storage.tsdb.path={tmp_path / 'data'}",
                                     f"--web.listen-address=127.0.0.1:{prom_port}"])
        servers.wait_ready("prometheus", f"http://127.0.0.1:{prom_port}/-/ready")
        # Normal life: orders fill, acknowledgements fast; nothing fires.
        bot.grow(f'mm_orders_total{{{B},side="buy",result="filled"}}', 5.0)
        for le in ("0.01", "0.05", "0.25", "1", "+Inf"):
            bot.grow(f'mm_order_ack_seconds_bucket{{{B},le="{le}"}}', 5.0)
        bot.grow(f"mm_order_ack_seconds_count{{{B}}}", 5.0)
        time.sleep(8)
        quiet = get(f"http://127.0.0.1:{am_port}/api/v2/alerts")
        assert not quiet, [a["labels"]["alertname"] for a in quiet]
        bot.set(f'mm_orders_total{{{B},side="buy",result="filled"}}', bot.value(
            f'mm_orders_total{{{B},side="buy",result="filled"}}'))          # no fills from now on
        for kind, series, amount in BREACH:
            bot.grow(series, amount) if kind == "grow" else bot.set(series, amount)
        wanted = {alert for _, alerts in FAMILIES.values() for alert in alerts}

        def arrived():
            got = {a["labels"]["alertname"] for a in get(f"http://127.0.0.1:{am_port}/api/v2/alerts") or []}
            return wanted <= got and got
        got = poll(arrived, 90)
        names = {a["labels"]["alertname"] for a in get(f"http://127.0.0.1:{am_port}/api/v2/alerts") or []}
        assert got, f"missing at Alertmanager: {sorted(wanted - names)}"
        alerts = {a["labels"]["alertname"]: a for a in get(f"http://127.0.0.1:{am_port}/api/v2/alerts")}
        assert alerts["TradingExchangeDisconnected"]["labels"]["exchange"] == "okx"
        assert alerts["ClockSkewHigh"]["labels"]["reference"] == "binance"
        assert alerts["MarketDataStale"]["labels"]["feed"] == "binance:BTCUSDT"
        assert receiver.wait_for(lambda p, n, a: a["labels"]["alertname"] == "TradingHalted", 30)
    finally:
        servers.stop_all()
        receiver.stop()
        bot.stop()
