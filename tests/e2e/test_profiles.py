"""Every example spec against fake bots serving its seed document's own exposition, and a mixed fleet.

Per example: generate it (bots pointed at the fake bots, 1 s intervals), load a real Prometheus
with the generated config and rules, and measure how many panel queries return data (at least
80 %, and every panel the coverage report says the bot feeds); then plant a breach of each alert
the profile supports, in the bot's own names and units, and see that alert pending (or firing).
"""
from __future__ import annotations

import copy
import time

import pytest
import yaml

from stackgen import coverage
from stackgen.load import load_stack
from tests.conftest import ROOT, need_tools, run_generate
from tests.e2e.fakebots import FakeBot, Prometheus
from tests.e2e.test_native_stack import dashboards, panel_queries, substitute

pytestmark = pytest.mark.e2e

TIMEOUT = 45.0
# Alerts no value a bot serves can breach: Watchdog always fires; TargetAbsent needs the job gone
# from the configuration. TargetDown (and BotStopped without a heartbeat) are planted last, by
# stopping the bot.
NOT_PLANTABLE = {"Watchdog", "TargetAbsent"}
DOWN = {"TargetDown"}

D77 = '{env="paper",strategy="topn_arb",universe="top20"}'
ZQ_API = 'method="GET",path="/api/v1/strategies"'
RUST = 'method="GET",path="/api/orders"'
FA = 'handler="/api/trading/execute_trade"'


def _grow(series, per_second):
    return ("grow", series, per_second)


def _set(series, value):
    return ("set", series, value)


# example -> fixture, the bot's normal life (heartbeats advance), then the breach, in its own units.
PLANS = {
    "d77-topn": ("d77-topn",
                 [_grow(f"arb_topn_loop_latency_seconds_count{D77}", 100)],
                 [_set(f"arb_topn_win_rate{D77}", 30.0),                              # percent, below 40
                  _grow(f"arb_topn_round_trips_total{D77}", 50),
                  _set('arb_topn_loop_latency_seconds{env="paper",quantile="0.99",strategy="topn_arb",'
                       'universe="top20"}', 0.5),                                       # seconds, over 0.1
                  _set(f"arb_topn_loop_latency_seconds_count{D77}", 40000.0),          # the loop stopped
                  _set(f"arb_topn_pnl_total{D77}", -1400.0)]),                         # 1550 USD lost today
    "d80-fx": ("d80-fx", [],
               [_set('cross_fx_multi_source_okx_age{source="okx"}', 45.0),             # seconds, over 30
                _set("cross_fx_multi_source_count", 1.0),
                _set('cross_fx_multi_source_okx_rate{source="okx"}', 1.01)]),          # ~95 bps off
    "zigquant": ("zigquant",
                 [_grow("zigquant_uptime_seconds", 1)],
                 [_set("zigquant_max_drawdown", 0.15),
                  _set('zigquant_win_rate{strategy="sma_cross"}', 0.3),                 # below 0.4 (LowWinRate)
                  _grow(f'zigquant_api_latency_seconds_bucket{{{ZQ_API},le="0.1"}}', 100),
                  _grow(f'zigquant_api_latency_seconds_bucket{{{ZQ_API},le="+Inf"}}', 100),
                  _grow(f"zigquant_api_latency_seconds_count{{{ZQ_API}}}", 100),
                  _grow(f'zigquant_api_requests_total{{{ZQ_API},status="500"}}', 50),
                  _grow('zigquant_orders_total{status="rejected"}', 20),              # rejects: ratio up, fills down
                  _grow('zigquant_order_latency_seconds_bucket{le="0.1"}', 100),         # acks in (0.05, 0.1] s
                  _grow('zigquant_order_latency_seconds_bucket{le="+Inf"}', 100),
                  _grow("zigquant_order_latency_seconds_count", 100),
                  _set('zigquant_trade_pnl{strategy="sma_cross",pair="BTC-USDT"}', 900.0),  # 1600.50 USD lost today
                  _set("zigquant_uptime_seconds", 86400.0)]),                           # frozen
    "rust-trader": ("rust-trader", [],
                    [*[_grow(f'http_request_duration_seconds_bucket{{{RUST},le="{le}"}}', 100)
                       for le in ("2.5", "5", "10", "+Inf")],
                     _grow(f"http_request_duration_seconds_count{{{RUST}}}", 100),
                     _grow(f'http_requests_total{{{RUST},status="500"}}', 100),
                     _grow('rate_limit_requests_total{status="limited"}', 2000),
                     _set("websocket_connections_total", 0.0),                          # 12 -> 0 at once
                     _set('realized_pnl_total{symbol="ETH-USDT"}', -1500.0),            # below -1000 USD
                     _grow('orders_total{side="buy",status="rejected",exchange="upbit"}', 20),     # rejects
                     _grow('orders_total{side="sell",status="cancelled",exchange="binance"}', 20)]),  # no fills
    "fastapi": ("fastapi", [],
                [*[_grow(f'http_request_duration_seconds_bucket{{{FA},le="{le}",method="POST"}}', 100)
                   for le in ("1.0", "+Inf")],
                 _grow(f'http_request_duration_seconds_count{{{FA},method="POST"}}', 100),
                 _grow(f'http_requests_total{{{FA},method="POST",status="5xx"}}', 100),
                 _grow('trading_orders_executed_total{exchange="binance",result="rejected",side="buy"}', 20),
                 _grow('trading_orders_executed_total{exchange="binance",result="filled",side="buy"}', 1)]),  # 1 in 21
}


def _apply(bot: FakeBot, steps) -> None:
    for kind, series, amount in steps:
        if kind == "grow":
            bot.grow(series, amount)
        else:
            bot.set(series, amount)


def derive(spec: dict, targets: dict[str, str]) -> dict:
    data = copy.deepcopy(spec)
    g = data.setdefault("global", {})
    g["scrape_interval"] = g["scrape_timeout"] = g["evaluation_interval"] = "1s"
    for bot in data["bots"]:
        bot["targets"] = [targets[bot["name"]]]
        bot.pop("interval", None)
        bot.pop("timeout", None)
        bot["heartbeat"] = {"max_age": "5s", "for": "1s"}
    return data


def poll(checks: dict, timeout: float) -> dict[str, str]:
    """Run every check until each passed once; the ones still failing at the deadline."""
    failing = dict(checks)
    deadline = time.monotonic() + timeout
    while failing and time.monotonic() < deadline:
        for key, check in list(failing.items()):
            if check():
                del failing[key]
        time.sleep(1)
    return {key: "no data" for key in failing}


class Fleet:
    def __init__(self, tmp_path, specs: dict[str, dict]):
        """specs: example name -> parsed spec; one fake bot per bot entry, one Prometheus for all."""
        self.bots: dict[str, FakeBot] = {}
        self.example_of: dict[str, str] = {}
        merged = None
        for example, spec in specs.items():
            for entry in spec["bots"]:
                self.bots[entry["name"]] = FakeBot(PLANS[example][0], entry.get("metrics_path", "/metrics"))
                self.example_of[entry["name"]] = example
            merged = spec if merged is None else merge(merged, spec)
        for name, bot in self.bots.items():
            _apply(bot, PLANS[self.example_of[name]][1])
        self.spec_path = tmp_path / "spec.yaml"
        self.spec_path.write_text(yaml.safe_dump(derive(merged, {n: b.target for n, b in self.bots.items()}),
                                                 sort_keys=False))
        self.tree = tmp_path / "tree"
        proc = run_generate("--spec", str(self.spec_path), "--out", str(self.tree))
        assert proc.returncode == 0, proc.stdout + proc.stderr
        self.generate_output = proc.stdout
        self.stack = load_stack(self.spec_path)
        self.prometheus = Prometheus(self.tree, tmp_path)

    def stop(self) -> None:
        self.prometheus.stop()
        for bot in self.bots.values():
            try:
                bot.stop()
            except OSError:
                pass

    def lit(self, expr: str) -> bool:
        return bool(self.prometheus.query(substitute(expr)))

    def pending(self, alert: str, job: str) -> bool:
        return bool(self.prometheus.query(f'ALERTS{{alertname="{alert}",job="{job}",alertstate=~"pending|firing"}}'))


def merge(a: dict, b: dict) -> dict:
    """Two example specs as one stack: their bots together (alerts, folders and dashboards come with
    the bots' profiles), and any alerts, folders and dashboards they write (first wins)."""
    out = copy.deepcopy(a)
    out["bots"] += copy.deepcopy(b["bots"])
    for key, value in b.get("alerts", {}).items():
        out.setdefault("alerts", {}).setdefault(key, value)
    folders = out.setdefault("grafana", {}).setdefault("folders", []) if "folders" in b.get("grafana", {}) else []
    folders += [f for f in b.get("grafana", {}).get("folders", []) if f["name"] not in {x["name"] for x in folders}]
    if "dashboards" in b:
        uids = {d["uid"] for d in out.setdefault("dashboards", [])}
        out["dashboards"] += [d for d in b["dashboards"] if d["uid"] not in uids]
    return out


def seed_queries(example: str) -> list[dict]:
    """The seed document's own queries on its bot's native names (vendored, with provenance)."""
    return yaml.safe_load((ROOT / "tests" / "fixtures" / "seed_queries" / f"{example}.yaml").read_text())


def _example(name: str) -> dict:
    return yaml.safe_load((ROOT / "examples" / f"{name}.yaml").read_text())


def _panels(tree) -> dict[str, list[str]]:
    panels: dict[str, list[str]] = {}
    for where, expr in panel_queries(tree):
        panels.setdefault(where.rsplit(" ", 1)[0], []).append(expr)
    return panels


def _panel_types(tree) -> dict[str, str]:
    """Panel type by the `where` key of _panels (path: 'title')."""
    kinds = {}
    for path, dashboard in dashboards(tree).items():
        for panel in dashboard.get("panels", []):
            if panel.get("targets"):
                kinds[f"{path}: {panel.get('title')!r}"] = panel["type"]
    return kinds


def _plant_and_watch(fleet: Fleet, names: list[str]) -> dict[str, dict[str, bool]]:
    """Plant every breach, then stop the bots: which supported alert went pending, per bot."""
    report = {b.bot.name: b for b in coverage.report(fleet.stack)}
    supported = {name: [i.name for i in report[name].alerts if i.fed and i.name not in NOT_PLANTABLE]
                 for name in names}
    # A daily loss is counted from the day's start: it must be recorded before the PnL drops.
    assert not poll({name: (lambda n=name: fleet.prometheus.query(f'trading_daily_pnl_usd{{job="{n}"}}'))
                     for name in names if "TradingDailyLossLimit" in supported[name]}, TIMEOUT)
    for name in names:
        _apply(fleet.bots[name], PLANS[fleet.example_of[name]][2])
    down_kind = {name: DOWN | ({"BotStopped"} if report[name].bot.profile.heartbeat is None else set())
                 for name in names}
    checks = {(name, alert): (lambda n=name, a=alert: fleet.pending(a, n))
              for name in names for alert in supported[name] if alert not in down_kind[name]}
    failing = poll(checks, TIMEOUT)
    result = {name: {alert: (name, alert) not in failing for alert in supported[name]} for name in names}
    for name in names:
        fleet.bots[name].stop()
    checks = {(name, alert): (lambda n=name, a=alert: fleet.pending(a, n))
              for name in names for alert in supported[name] if alert in down_kind[name]}
    failing = poll(checks, TIMEOUT)
    for name, alert in checks:
        result[name][alert] = (name, alert) not in failing
    return result


@pytest.mark.parametrize("example", sorted(PLANS))
def test_example_lights_its_panels_and_each_supported_alert_goes_pending(example, tmp_path):
    need_tools("prometheus")
    fleet = Fleet(tmp_path, {example: _example(example)})
    try:
        panels = _panels(fleet.tree)
        fed = {f"{d.title} / {p.title}" for b in coverage.report(fleet.stack) for d in fleet.stack.dashboards
               for p in d.panels for i in b.panels if i.fed and i.name == f"{d.title} / {p.title}"}
        failing = poll({where: (lambda q=queries: all(fleet.lit(e) for e in q)) for where, queries in panels.items()},
                       TIMEOUT)
        lit = len(panels) - len(failing)
        print(f"\n{example}: panels lit {lit}/{len(panels)}; dark: {sorted(failing)}")
        assert panels and lit / len(panels) >= 0.8, failing
        dark_but_fed = [w for w in failing if w.split(": ", 1)[1].strip("'") in {f.split(" / ", 1)[1] for f in fed}]
        assert not dark_but_fed, f"panels the coverage says are fed but stay dark: {dark_but_fed}"
        # Beside them, every query the seed document writes on the bot's own names still returns data.
        own = seed_queries(example)
        dark_own = poll({q["expr"]: (lambda e=q["expr"]: fleet.lit(e)) for q in own}, TIMEOUT)
        print(f"{example}: the seed's own queries on native names return data: {len(own) - len(dark_own)}/{len(own)}")
        assert not dark_own, dark_own
        # The new panel types return data; a heatmap returns one series per histogram bucket (le).
        kinds = _panel_types(fleet.tree)
        for where, kind in sorted(kinds.items()):
            if kind in ("heatmap", "piechart", "table", "barchart"):
                assert where not in failing, (where, kind)
            if kind == "heatmap":
                buckets = {r["metric"].get("le") for e in panels[where] for r in fleet.prometheus.query(substitute(e))}
                print(f"{example}: heatmap {where}: buckets {sorted(buckets, key=float)}")
                assert len(buckets) >= 3 and None not in buckets and "+Inf" in buckets, buckets
        print(f"{example}: new panel types: " + ", ".join(
            f"{k} {sum(1 for v in kinds.values() if v == k)}" for k in ("heatmap", "piechart", "table", "barchart")))
        result = _plant_and_watch(fleet, list(fleet.bots))
        for bot, alerts in result.items():
            print(f"{example}: bot {bot}: alerts pending {sum(alerts.values())}/{len(alerts)}: {alerts}")
            assert alerts and all(alerts.values()), alerts
    finally:
        fleet.stop()


def test_mixed_fleet_of_five_profiles(tmp_path):
    need_tools("prometheus")
    fleet = Fleet(tmp_path, {name: _example(name) for name in sorted(PLANS)})
    try:
        assert len({b.profile.name for b in fleet.stack.bots}) >= 5
        panels = _panels(fleet.tree)
        failing = poll({where: (lambda q=queries: all(fleet.lit(e) for e in q)) for where, queries in panels.items()},
                       TIMEOUT)
        print(f"\nmixed fleet: panels lit {len(panels) - len(failing)}/{len(panels)}; dark: {sorted(failing)}")
        assert not failing, failing
        # Dashboard variables work across profiles: the `job` values of the HTTP signal span four bots.
        jobs = {r["metric"]["job"] for r in fleet.prometheus.query("http_requests_total")}
        assert {"zigquant", "trader-api", "hyperrsi", "grid"} <= jobs, jobs
        result = _plant_and_watch(fleet, list(fleet.bots))
        for bot, alerts in result.items():
            print(f"mixed fleet: bot {bot}: alerts pending {sum(alerts.values())}/{len(alerts)}")
            assert any(alerts.values()), (bot, alerts)
    finally:
        fleet.stop()
