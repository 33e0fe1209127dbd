"""The demo follows the spec's thresholds: calm stays under, each scenario crosses, whatever the numbers.

The plan comes the way the exporter gets it: the `demo` section (calm bounds and scenarios from
each family's entry, numbers worked out from the thresholds) the generator writes into
catalog.json, here rendered in-process from the generator tests' fixture spec with tight and
loose numbers (never the shipped spec's).
"""
from __future__ import annotations

import json
from importlib import resources

import pytest
from prometheus_client import CollectorRegistry

from exporter.demo import DemoBot, Plan
from exporter.metrics import BotMetrics
from exporter.scenarios import SCENARIOS, ScenarioSet
from stackgen.render.exporter_catalog import _demo
from tests.exporter.test_demo import (DT, T0, buckets_of, check_for, declared_check, error_share, histogram_quantile,
                                      value)
from tests.generator.fixture import stack_of

VARIANTS = {
    "tight": {
        "drawdown": {"warning": 0.01, "critical": 0.02, "for": "1m"},
        "win_rate": {"below": 0.9, "min_round_trips": 200, "window": "10m", "for": "1m"},
        "daily_loss": {"limit_usd": -5, "for": "1m"},
        "loop_latency": {"p99_seconds": 0.001, "for": "1m"},
        "api_latency": {"p99_seconds": 0.01, "p95_seconds": 0.05, "for": "1m"},
        "api_errors": {"ratio": 0.001, "for": "1m"},
        "rate_limiting": {"limited_per_second": 0.05, "for": "1m"},
        "fx_stale": {"max_age": "3s", "for": "1m"},
        "fx_sources": {"warning_below": 5, "critical_below": 3, "for": "1m"},
        "fx_deviation": {"max_bps": 0.5, "for": "1m"},
        "websocket_drop": {"drop": 1, "window": "10m", "for": "1m"},
        "order_rejects": {"ratio": 0.001, "min_orders": 500, "window": "10m", "for": "1m"},
        "fill_ratio": {"below": 0.99, "min_orders": 500, "window": "10m", "for": "1m"},
        "order_latency": {"p99_seconds": 0.006, "for": "1m"},
        "market_data_stale": {"max_age": "2s", "for": "1m"},
        "clock_skew": {"max_seconds": 0.001, "for": "1m"},
        "rate_limit_headroom": {"max_used": 0.05, "ban_window": "1m", "for": "1m"},
        "exposure": {"max_ratio": 0.05, "for": "1m"},
        "balance_drift": {"max_ratio": 0.0001, "for": "1m"},
    },
    "loose": {
        "drawdown": {"warning": 0.6, "critical": 0.9, "for": "1m"},
        "win_rate": {"below": 0.05, "min_round_trips": 3, "window": "5m", "for": "1m"},
        "daily_loss": {"limit_usd": -50000, "for": "1m"},
        "loop_latency": {"p99_seconds": 0.9, "for": "1m"},
        "api_latency": {"p99_seconds": 4, "p95_seconds": 4.5, "for": "1m"},
        "api_errors": {"ratio": 0.6, "for": "1m"},
        "rate_limiting": {"limited_per_second": 200, "for": "1m"},
        "fx_stale": {"max_age": "20s", "for": "1m"},
        "fx_sources": {"warning_below": 2, "critical_below": 1, "for": "1m"},
        "fx_deviation": {"max_bps": 500, "for": "1m"},
        "websocket_drop": {"drop": 40, "window": "1m", "for": "1m"},
        "order_rejects": {"ratio": 0.8, "min_orders": 2, "window": "1h", "for": "1m"},
        "fill_ratio": {"below": 0.05, "min_orders": 2, "window": "1h", "for": "1m"},
        "order_latency": {"p99_seconds": 2, "for": "1m"},
        "market_data_stale": {"max_age": "5m", "for": "1m"},
        "clock_skew": {"max_seconds": 30, "for": "1m"},
        "rate_limit_headroom": {"max_used": 0.95, "ban_window": "1h", "for": "1m"},
        "exposure": {"max_ratio": 3, "for": "1m"},
        "balance_drift": {"max_ratio": 0.5, "for": "1m"},
    },
}


def _demo_for(alerts: dict) -> dict:
    return _demo(stack_of(lambda d: d["alerts"].update(alerts)))


def _plan_for(demo: dict) -> Plan:
    document = json.loads(resources.files("exporter").joinpath("catalog.json").read_text("utf-8"))
    document["demo"] = demo
    return Plan.from_catalog(document)


def _bot(alerts: dict, scenarios=(), demo: dict | None = None):
    registry = CollectorRegistry()
    metrics = BotMetrics(registry, process_collectors=False)
    metrics.init_metrics("test", "top20", "topn_arb")
    plan = _plan_for(demo if demo is not None else _demo_for(alerts))
    return registry, DemoBot(metrics, seed=7, scenarios=ScenarioSet(scenarios), plan=plan)


def _fx_sources_low(r, a, now):
    valid = value(r, "fx_valid_sources")
    return a["fx_sources"]["critical_below"] <= valid < a["fx_sources"]["warning_below"]


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_each_scenario_crosses_the_thresholds_it_is_given(variant, name):
    alerts = VARIANTS[variant]
    demo = _demo_for(alerts)
    check = _fx_sources_low if name == "fx_sources_low" else check_for(name, demo)
    registry, bot = _bot(alerts, [name], demo)
    held = 0
    for i in range(120):
        bot.tick(DT, T0 + i * DT)
        if i >= 110 and check(registry, alerts, T0 + i * DT):
            held += 1
    assert held >= 9, f"{variant}: scenario {name} held its threshold on only {held} of the last 10 ticks"


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_calm_stays_under_the_thresholds_it_is_given(variant):
    a = VARIANTS[variant]
    demo = _demo_for(a)
    registry, bot = _bot(a, demo=demo)
    # Scenarios whose family's entry declares the gauge they push over: calm never gets there.
    declared = {e["name"]: declared_check(e) for e in demo["scenarios"] if "check" in e}
    worst_deviation = 0.0
    most_clients, worst_drop = 0.0, 0.0
    for i in range(400):
        bot.tick(DT, T0 + i * DT)
        crossed = [name for name, check in declared.items() if check(registry, a, T0 + i * DT)]
        assert not crossed, f"{variant}: calm crosses the checks of {crossed} at tick {i}"
        clients = value(registry, "http_websocket_connections")
        most_clients = max(most_clients, clients)
        worst_drop = max(worst_drop, most_clients - clients)
        assert value(registry, "trading_drawdown_ratio") < a["drawdown"]["warning"]
        median = value(registry, "fx_median_rate")
        for source in ("binance", "okx", "bybit"):
            rate = value(registry, "fx_source_rate", source=source)
            worst_deviation = max(worst_deviation, abs(rate / median - 1) * 1e4)
        assert value(registry, "fx_valid_sources") >= a["fx_sources"]["warning_below"]
    now = T0 + 399 * DT
    assert worst_deviation < a["fx_deviation"]["max_bps"]
    assert worst_drop < a["websocket_drop"]["drop"]
    assert value(registry, "trading_win_rate_ratio") >= a["win_rate"]["below"]
    assert value(registry, "trading_daily_pnl_usd") > a["daily_loss"]["limit_usd"]
    loop = buckets_of(registry, "trading_loop_latency_seconds")
    assert histogram_quantile(0.99, loop) < a["loop_latency"]["p99_seconds"]
    api = buckets_of(registry, "http_request_duration_seconds")
    bound = min(a["api_latency"]["p99_seconds"], a["api_latency"]["p95_seconds"])
    assert histogram_quantile(0.99, api) < bound
    assert error_share(registry) < a["api_errors"]["ratio"]
    limited = value(registry, "api_rate_limiter_requests_total", status="limited")
    assert limited / (400 * DT) < a["rate_limiting"]["limited_per_second"]
    max_age = float(a["fx_stale"]["max_age"].rstrip("s"))
    for source in ("binance", "okx", "bybit"):
        assert now - value(registry, "fx_source_last_message_timestamp_seconds", source=source) < max_age
