"""The demo: every catalog metric gets data at once, and each scenario crosses its spec threshold."""
from __future__ import annotations

import json
import math
from importlib import resources

import pytest

from exporter.catalog import load_catalog
from exporter.demo import DemoBot
from exporter.scenarios import SCENARIOS, ScenarioSet, UnknownScenario, parse_names

from .conftest import buckets_of, duration_seconds, histogram_quantile, samples, value

T0 = 1_700_000_000.0
DT = 0.5


def run(metrics, scenarios=(), ticks=120, seed=7):
    bot = DemoBot(metrics, seed=seed, scenarios=ScenarioSet(scenarios))
    for i in range(ticks):
        bot.tick(DT, T0 + i * DT)
    return bot, T0 + (ticks - 1) * DT


def held(registry, metrics, check, alerts, scenarios, ticks=120, last=10, seed=7) -> int:
    """On how many of the last `last` ticks `check` held: alerts wait `for:` a while, so a single
    tick's outlier quote must not decide a test, but most ticks must agree."""
    bot = DemoBot(metrics, seed=seed, scenarios=ScenarioSet(scenarios))
    count = 0
    for i in range(ticks):
        bot.tick(DT, T0 + i * DT)
        if i >= ticks - last and check(registry, alerts, T0 + i * DT):
            count += 1
    return count


def total(registry, name, **labels) -> float:
    return sum(v for k, v in samples(registry, name).items() if set(labels.items()) <= set(k))


def error_share(registry) -> float:
    requests = samples(registry, "http_requests_total")
    errors = sum(v for k, v in requests.items() if dict(k)["status"].startswith("5"))
    return errors / sum(requests.values())


def route_quantiles(registry, q) -> dict[tuple[str, str], float]:
    routes = {(dict(k)["method"], dict(k)["path"]) for k in samples(registry, "http_request_duration_seconds_count")}
    return {r: histogram_quantile(q, buckets_of(registry, "http_request_duration_seconds", method=r[0], path=r[1]))
            for r in routes}


def fx_deviation_bps(registry, source) -> float:
    return abs(value(registry, "fx_source_rate", source=source) / value(registry, "fx_median_rate") - 1) * 1e4


def test_every_catalog_metric_has_data_after_the_first_ticks(metrics, registry):
    run(metrics, ticks=4)
    for spec in load_catalog().metrics:
        suffix = "_count" if spec.type == "histogram" else ""
        found = samples(registry, spec.name + suffix)
        assert found, f"{spec.name} has no series after 4 demo ticks"
    assert total(registry, "exporter_dropped_updates_total") == 0.0  # the demo makes only valid calls
    for name in ("trading_equity_usd", "trading_loop_latency_seconds_count", "trading_sharpe",
                 "trading_var95_usd", "fx_median_rate", "fx_valid_sources", "http_requests_total",
                 "http_websocket_connections", "api_rate_limiter_requests_total", "api_orders_total",
                 "trading_trades_total", "trading_bot_alerts_total"):
        assert total(registry, name) > 0, f"{name} is still 0 after 4 ticks"


def test_same_seed_same_run(registry, metrics):
    from prometheus_client import CollectorRegistry

    from exporter.metrics import BotMetrics
    other_registry = CollectorRegistry()
    other = BotMetrics(other_registry, process_collectors=False, clock=lambda: T0)
    other.init_metrics("test", "top20", "topn_arb")
    run(metrics, ticks=20, seed=3)
    run(other, ticks=20, seed=3)
    assert samples(registry, "http_requests_total") == samples(other_registry, "http_requests_total")
    assert samples(registry, "trading_pnl_usd") == samples(other_registry, "trading_pnl_usd")


def test_baseline_stays_under_every_threshold(metrics, registry, thresholds):
    """Without scenarios nothing should alert: a quiet demo makes the scenarios meaningful."""
    alerts = thresholds
    ticks = 600  # five simulated minutes
    bot = DemoBot(metrics, seed=7)
    worst_deviation = 0.0
    for i in range(ticks):
        bot.tick(DT, T0 + i * DT)
        # checked on every tick: with a fast `for:` (as in the e2e test) one bad scrape would alert
        now_values = {(s.name, s.labels.get("source")): s.value for f in registry.collect() for s in f.samples
                      if s.name in ("fx_source_rate", "fx_median_rate", "trading_drawdown_ratio")}
        median = now_values[("fx_median_rate", None)]
        for source in ("binance", "okx", "bybit"):
            deviation = abs(now_values[("fx_source_rate", source)] / median - 1) * 1e4
            worst_deviation = max(worst_deviation, deviation)
        assert now_values[("trading_drawdown_ratio", None)] < alerts["drawdown"]["warning"]
    now = T0 + (ticks - 1) * DT
    assert worst_deviation < alerts["fx_deviation"]["max_bps"] / 2
    assert value(registry, "trading_max_drawdown_ratio") < alerts["drawdown"]["warning"]
    assert value(registry, "trading_win_rate_ratio") >= alerts["win_rate"]["below"]
    assert value(registry, "trading_daily_pnl_usd") > alerts["daily_loss"]["limit_usd"]
    loop = buckets_of(registry, "trading_loop_latency_seconds")
    assert histogram_quantile(0.99, loop) < alerts["loop_latency"]["p99_seconds"]
    # No sample above the bounds at all, so no window, however short, can reach them.
    def within(counts, threshold):   # the cumulative count of the highest bucket bound at or below it
        return counts[max(b for b in counts if b <= threshold)]
    assert within(loop, alerts["loop_latency"]["p99_seconds"]) == loop[float("inf")]
    api = buckets_of(registry, "http_request_duration_seconds")
    assert within(api, alerts["api_latency"]["p99_seconds"]) == api[float("inf")]
    assert 0.001 < histogram_quantile(0.5, loop) < 0.005  # mostly 1-5 ms
    assert max(route_quantiles(registry, 0.99).values()) < alerts["api_latency"]["p99_seconds"]
    assert error_share(registry) < alerts["api_errors"]["ratio"]
    assert 0 < error_share(registry)  # a few 5xx, as in real life
    limited = value(registry, "api_rate_limiter_requests_total", status="limited")
    assert limited / (ticks * DT) < alerts["rate_limiting"]["limited_per_second"]
    assert value(registry, "fx_valid_sources") >= alerts["fx_sources"]["warning_below"]
    max_age = duration_seconds(alerts["fx_stale"]["max_age"])
    for key, stamp in samples(registry, "fx_source_last_message_timestamp_seconds").items():
        assert now - stamp < max_age, dict(key)
    assert total(registry, "fx_outliers_removed_total") > 0  # occasional outliers
    assert value(registry, "trading_round_trips_total") > 100  # plenty of round trips


# scenario -> check(registry, thresholds (catalog.json), time of the last tick); each must hold after 60 s of demo
def _drawdown(r, a, now):
    return value(r, "trading_drawdown_ratio") > a["drawdown"]["critical"]


def _win_rate(r, a, now):
    return (value(r, "trading_win_rate_ratio") < a["win_rate"]["below"]
            and value(r, "trading_round_trips_total") >= a["win_rate"]["min_round_trips"])


def _loss(r, a, now):
    return value(r, "trading_daily_pnl_usd") < a["daily_loss"]["limit_usd"]


def _loop_latency(r, a, now):
    return histogram_quantile(0.99, buckets_of(r, "trading_loop_latency_seconds")) > a["loop_latency"]["p99_seconds"]


def _api_latency(r, a, now):
    p99, p95 = route_quantiles(r, 0.99), route_quantiles(r, 0.95)
    return (min(p99.values()) > a["api_latency"]["p99_seconds"]
            and min(p95.values()) > a["api_latency"]["p95_seconds"])


def _api_errors(r, a, now):
    return error_share(r) > a["api_errors"]["ratio"]


def _rate_limiting(r, a, now):
    limited = value(r, "api_rate_limiter_requests_total", status="limited")
    return limited / (now - T0 + DT) > a["rate_limiting"]["limited_per_second"]


def _fx_stale(r, a, now):
    age = now - value(r, "fx_source_last_message_timestamp_seconds", source="okx")
    return age > duration_seconds(a["fx_stale"]["max_age"]) and value(r, "fx_source_connected", source="okx") == 1


def _fx_sources_low(r, a, now):
    valid = value(r, "fx_valid_sources")
    return (a["fx_sources"]["critical_below"] <= valid < a["fx_sources"]["warning_below"]
            and value(r, "fx_http_fallback_active") == (1 if valid < 2 else 0))


def _fx_sources_zero(r, a, now):
    return value(r, "fx_valid_sources") < a["fx_sources"]["critical_below"] and value(r, "fx_median_rate") > 0


def _fx_deviation(r, a, now):
    return fx_deviation_bps(r, "okx") > a["fx_deviation"]["max_bps"]


def _websocket_drop(r, a, now):
    drop = a["websocket_drop"]["drop"]
    level = max(24, math.ceil(drop * 3) + 5)      # where the demo keeps its clients when calm
    return value(r, "http_websocket_connections") < level - drop


def _order_share(r, status):
    orders = samples(r, "api_orders_total")
    return sum(v for k, v in orders.items() if dict(k)["status"] == status) / sum(orders.values())


def _order_rejects(r, a, now):
    return _order_share(r, "rejected") > a["order_rejects"]["ratio"]


def _fill_ratio(r, a, now):
    return _order_share(r, "filled") < a["fill_ratio"]["below"]


def _order_latency(r, a, now):
    latency = buckets_of(r, "trading_order_latency_seconds", exchange="okx")
    return histogram_quantile(0.99, latency) > a["order_latency"]["p99_seconds"]


def _market_data_stale(r, a, now):
    stamp = value(r, "trading_market_data_last_update_timestamp_seconds", feed="okx:BTC-USDT:book")
    return now - stamp > duration_seconds(a["market_data_stale"]["max_age"])


def _rate_limit_headroom(r, a, now):
    used = value(r, "trading_rate_limit_used", exchange="binance") / value(r, "trading_rate_limit_limit",
                                                                              exchange="binance")
    return used > a["rate_limit_headroom"]["max_used"] and total(r, "trading_rate_limit_bans_total",
                                                                  exchange="binance") > 0


def _exposure(r, a, now):
    ratio = abs(value(r, "trading_position_notional_usd", symbol="BTCUSDT")) / value(
        r, "trading_position_limit_usd", symbol="BTCUSDT")
    return ratio > a["exposure"]["max_ratio"]


def _balance_drift(r, a, now):
    mine = value(r, "trading_balance_usd", asset="USDT", ledger="bot")
    theirs = value(r, "trading_balance_usd", asset="USDT", ledger="exchange")
    return abs(mine - theirs) / abs(theirs) > a["balance_drift"]["max_ratio"]


CHECKS = {"websocket_drop": _websocket_drop, "order_rejects": _order_rejects, "fill_ratio": _fill_ratio,
          "order_latency": _order_latency, "market_data_stale": _market_data_stale,
          "rate_limit_headroom": _rate_limit_headroom, "exposure": _exposure, "balance_drift": _balance_drift,
          "drawdown": _drawdown, "win_rate": _win_rate, "loss": _loss, "loop_latency": _loop_latency,
          "api_latency": _api_latency, "api_errors": _api_errors, "rate_limiting": _rate_limiting,
          "fx_stale": _fx_stale, "fx_sources_low": _fx_sources_low, "fx_sources_zero": _fx_sources_zero,
          "fx_deviation": _fx_deviation}


@pytest.fixture(scope="module")
def thresholds() -> dict:
    """Every family's thresholds the demo was built from (catalog.json's `alerts`: the spec's values, a
    family that is off at its declared defaults, durations in seconds), so a check never needs a family
    to be on in the shipped spec.yaml."""
    return json.loads(resources.files("exporter").joinpath("catalog.json").read_text("utf-8"))["alerts"]


def catalog_scenarios(document: dict | None = None) -> dict[str, dict]:
    """The demo scenarios as the generator wrote them into catalog.json (name -> entry)."""
    if document is None:
        document = json.loads(resources.files("exporter").joinpath("catalog.json").read_text("utf-8"))["demo"]
    return {entry["name"]: entry for entry in document["scenarios"]}


def declared_check(entry: dict):
    """The check a family's entry declares for its scenario: a gauge pushed above or below a number
    the generator worked out from the thresholds."""
    spec = entry["check"]
    signals = json.loads(resources.files("exporter").joinpath("signals.json").read_text("utf-8"))["signals"]
    metric, labels = signals[spec["signal"]], spec.get("labels") or {}

    def check(r, a, now):
        got = value(r, metric, **labels)
        return got is not None and (got > spec["above"] if "above" in spec else got < spec["below"])
    return check


def check_for(name: str, document: dict | None = None):
    """The hand-written check of a scenario, else the one its family's entry declares."""
    if name in CHECKS:
        return CHECKS[name]
    return declared_check(catalog_scenarios(document)[name])


def test_every_scenario_has_a_check():
    scenarios = catalog_scenarios()
    assert list(scenarios) == list(SCENARIOS)
    assert not set(CHECKS) - set(SCENARIOS)
    unchecked = [name for name in SCENARIOS if name not in CHECKS and "check" not in scenarios[name]]
    assert not unchecked, f"scenarios without a check (declare `check:` in the family's entry): {unchecked}"


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_scenario_pushes_its_metric_over_the_spec_threshold(metrics, registry, thresholds, name):
    count = held(registry, metrics, check_for(name), thresholds, [name])
    assert count >= 9, f"scenario {name} held its threshold on only {count} of the last 10 ticks"


# Scenarios that disconnect sources also make them go stale (as they would for real), and drop the
# valid-source count other FX scenarios need; the others must trip nothing but their own family.
ISOLATED = sorted(name for name, entry in catalog_scenarios().items()
                  if not any("disconnect" in action for action in entry["do"]))


@pytest.mark.parametrize("name", ISOLATED)
def test_scenario_does_not_trip_unrelated_thresholds(thresholds, name):
    from prometheus_client import CollectorRegistry

    from exporter.metrics import BotMetrics

    def everything_else(r, a, now):
        return [other for other in ISOLATED if other != name and check_for(other)(r, a, now)]

    registry = CollectorRegistry()
    metrics = BotMetrics(registry, process_collectors=False)
    metrics.init_metrics("test", "top20", "topn_arb")
    bot = DemoBot(metrics, seed=7, scenarios=ScenarioSet([name]))
    tripped: dict[str, int] = {}
    for i in range(120):
        bot.tick(DT, T0 + i * DT)
        if i >= 110:
            for other in everything_else(registry, thresholds, T0 + i * DT):
                tripped[other] = tripped.get(other, 0) + 1
    assert {k: n for k, n in tripped.items() if n > 1} == {}, f"scenario {name} also trips {tripped}"


def test_scenarios_switch_at_run_time_and_recover(metrics, registry, thresholds):
    scenarios = ScenarioSet()
    bot = DemoBot(metrics, seed=1, scenarios=scenarios)
    t = T0
    for _ in range(20):
        t += DT
        bot.tick(DT, t)
    assert value(registry, "trading_drawdown_ratio") < thresholds["drawdown"]["warning"]
    scenarios.set("drawdown", True)
    for _ in range(10):
        t += DT
        bot.tick(DT, t)
    assert value(registry, "trading_drawdown_ratio") > thresholds["drawdown"]["critical"]
    scenarios.set("drawdown", False)
    for _ in range(60):
        t += DT
        bot.tick(DT, t)
    assert value(registry, "trading_drawdown_ratio") < thresholds["drawdown"]["warning"]
    assert value(registry, "trading_max_drawdown_ratio") > thresholds["drawdown"]["critical"]


def test_scenario_names_parse():
    assert parse_names(["drawdown,loss", "loss", " fx_stale "]) == ["drawdown", "loss", "fx_stale"]
    with pytest.raises(UnknownScenario, match="unknown scenario 'nope'; known: drawdown, "):
        parse_names("nope")


def _orders_by_exchange(registry) -> dict[str, tuple[float, float]]:
    """exchange -> (rejected, all) orders so far."""
    out: dict[str, list[float]] = {}
    for labels, count in samples(registry, "api_orders_total").items():
        entry = out.setdefault(dict(labels)["exchange"], [0.0, 0.0])
        entry[0] += count if dict(labels)["status"] == "rejected" else 0.0
        entry[1] += count
    return {k: (v[0], v[1]) for k, v in out.items()}


@pytest.mark.parametrize("ratio", [0.1, 0.05, 0.02, 0.004])
def test_calm_rejects_stay_under_the_ratio_in_every_minute_with_enough_orders(metrics, registry, ratio):
    """The calm reject share is dealt out evenly per exchange: no one-minute window of at least 20 orders
    crosses the ratio (a random draw did, now and then, on a short window), and a ratio too small for one
    reject per window gets none."""
    from exporter.demo import Plan
    bot = DemoBot(metrics, seed=11, plan=Plan(calm={"order_reject_ratio": {"max": ratio / 4}}))
    history = []
    window = int(60 / DT)
    for i in range(20 * window):
        bot.tick(DT, T0 + i * DT)
        history.append(_orders_by_exchange(registry))
    worst = 0.0
    for before, after in zip(history[:-window], history[window:], strict=True):
        for exchange, (rejected, orders) in after.items():
            old = before.get(exchange, (0.0, 0.0))
            if orders - old[1] >= 20:
                worst = max(worst, (rejected - old[0]) / (orders - old[1]))
    assert worst <= ratio, f"a calm minute rejected {worst:.1%} of its orders, over the ratio {ratio:.1%}"
    rejected = sum(r for r, _ in history[-1].values())
    assert (rejected == 0) == (ratio / 4 < 0.01), rejected
