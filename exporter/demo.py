"""A seeded simulation of a TopN arbitrage bot, its FX aggregator and its HTTP API.

It drives every catalog metric through the public calls (the same ones a bot
makes), so every dashboard panel has data within the first tick, and the
scenarios (scenarios.py) push each alert family over its threshold. Rates are
per second of simulated time, so ticks of any length give the same picture.
"""
from __future__ import annotations

import json
import logging
import math
import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from importlib import resources

from exporter import names
from exporter.scenarios import ScenarioSet

log = logging.getLogger("exporter.demo")

SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "XRPUSDT")
EXCHANGES = ("binance", "okx", "bybit")
FX_SOURCES = ("binance", "okx", "bybit")
# More venues join when the spec wants more valid FX sources than three (fx_sources.warning_below).
EXTRA_FX_SOURCES = ("kraken", "coinbase", "bitstamp", "gateio", "kucoin", "htx", "mexc", "bitget", "bitfinex",
                    "upbit", "bithumb", "cryptocom", "gemini", "bitflyer", "lbank", "poloniex", "whitebit")
ALERT_SOURCES = ("health_monitor", "rate_limiter", "risk_manager", "fx_aggregator")
# (method, route template, share of traffic, median seconds, success status)
ROUTES = (
    ("GET", "/api/v1/markets/{symbol}/ticker", 0.35, 0.008, 200),
    ("GET", "/api/v1/positions", 0.20, 0.015, 200),
    ("GET", "/api/v1/orders", 0.12, 0.025, 200),
    ("POST", "/api/v1/orders", 0.15, 0.060, 201),
    ("DELETE", "/api/v1/orders/{order_id}", 0.06, 0.040, 204),
    ("GET", "/api/v1/fx/rate", 0.12, 0.005, 200),
)

START_EQUITY = 100_000.0
WIN_WINDOW = 100            # the win rate is over the last 100 round trips
FRESH_SECONDS = 10.0        # a source older than this does not feed the median
DAY = 86400.0


@dataclass(frozen=True)
class Plan:
    """What the demo does, from the `demo` section the generator writes into catalog.json.

    Each alert family's entry (stackgen/alerts/families.yaml) declares its calm bounds and its
    scenarios in the demo's fixed vocabulary (move a signal, silence a source, disconnect sources,
    report bot alerts, stress the risk metrics); the generator works the numbers out from the
    spec's thresholds. So calm stays under every threshold and each scenario crosses its own,
    whatever the spec says, and a new family over known signals needs no demo code.
    """
    calm: dict = field(default_factory=dict)          # signal -> {"max"|"min": number}
    scenarios: dict = field(default_factory=dict)     # scenario name -> (action, ...)
    buckets: dict = field(default_factory=dict)       # histogram signal -> bucket bounds

    @classmethod
    def from_catalog(cls, document: dict | None = None) -> "Plan":
        if document is None:
            try:
                document = json.loads(resources.files("exporter").joinpath("catalog.json").read_text("utf-8"))
            except (OSError, ValueError):
                return cls()
        demo = document.get("demo") or {}
        calm = {signal: {kind: float(v) for kind, v in bounds.items()
                         if isinstance(v, (int, float)) and math.isfinite(v)}
                for signal, bounds in (demo.get("calm") or {}).items() if isinstance(bounds, dict)}
        scenarios = {entry.get("name"): tuple(a for a in (entry.get("do") or ()) if isinstance(a, dict))
                     for entry in (demo.get("scenarios") or ()) if isinstance(entry, dict)}
        by_name = {m.get("name"): tuple(m.get("buckets") or ()) for m in document.get("metrics") or ()}
        buckets = {"loop_latency": by_name.get(names.LOOP_LATENCY, ()),
                   "http_duration": by_name.get(names.HTTP_DURATION, ()),
                   "order_latency": by_name.get(names.ORDER_LATENCY, ())}
        return cls(calm, scenarios, buckets)

    def bound(self, signal: str, kind: str) -> float | None:
        return (self.calm.get(signal) or {}).get(kind)

    def targets(self, signal: str) -> list[float]:
        """Every value any scenario moves `signal` to (the demo leaves headroom for them)."""
        found = []
        for actions in self.scenarios.values():
            for action in actions:
                if action.get("move") == signal:
                    to = action.get("to")
                    found.extend(to if isinstance(to, list) else [to])
        return [float(v) for v in found if isinstance(v, (int, float))]


def calm_cap(threshold: float | None, buckets: tuple[float, ...], ceiling: float) -> float:
    """The largest sample a calm histogram may hold so its quantiles stay under `threshold`: the
    highest bucket bound at or below it (every quantile then interpolates below that bound)."""
    if threshold is None:
        return ceiling
    below = [b for b in buckets if b <= threshold]
    return min(ceiling, below[-1] if below else threshold / 2)


class DemoBot:
    """One simulated bot; call tick() (the demo thread does, every 0.5 s)."""

    def __init__(self, metrics, seed: int | None = None, scenarios: ScenarioSet | None = None,
                 clock=time.time, plan: Plan | None = None) -> None:
        self.m = metrics
        self.rng = random.Random(seed)
        self.scenarios = scenarios if scenarios is not None else ScenarioSet()
        self._clock = clock
        self._started = False
        self._actions: list[dict] = []
        p = self.plan = plan if plan is not None else Plan.from_catalog()
        # Calm: the demo's natural behaviour, held within the bounds the families declare (see Plan).
        def bound(signal: str, kind: str, natural: float, pick) -> float:
            value = p.bound(signal, kind)
            return natural if value is None else pick(natural, value)
        self._p_win = bound("win_rate", "min", 0.55, max)
        self._loop_cap = calm_cap(p.bound("loop_latency", "max"), p.buckets.get("loop_latency", ()), 0.08)
        self._api_cap = calm_cap(p.bound("http_duration", "max"), p.buckets.get("http_duration", ()), 0.45)
        self._error_share = bound("http_error_ratio", "max", 0.004, min)
        self._limited_share = bound("rate_limited_rate", "max", 0.12, min) / 24.0   # of 24 requests/s
        self._fx_silence = bound("fx_source_age", "max", 20.0, min)   # the longest calm gap between messages
        # The aggregator's outlier cut lies beyond the deviation any scenario moves a source to.
        self._outlier_bps = max([50.0] + [2 * v for v in p.targets("fx_source_deviation")])
        self._fx_noise_bps = bound("fx_source_deviation", "max", 0.5, min)
        wanted = math.ceil(p.bound("fx_valid_sources", "min") or 0)
        self._fx_sources = FX_SOURCES + EXTRA_FX_SOURCES[:max(0, wanted - len(FX_SOURCES))]
        # WebSocket clients: calm wanders within the band calm allows; the level leaves room for
        # the largest drop a scenario makes.
        self._ws_level = max([24] + [math.ceil(v) + 5 for v in p.targets("websocket_drop")])
        self._ws_band = int(bound("websocket_drop", "max", 2.0, min))
        # Orders: calm shares of rejects and fills, dealt out evenly per exchange (a random draw could
        # put three rejects among a quiet minute's twenty orders and page on a short window). Under a
        # bound of 1 %, none: one reject alone is over a tiny ratio in any window of fewer than
        # 1/ratio orders, which the demo's pace (~90 orders a minute per exchange) cannot promise.
        self._reject_share = bound("order_reject_ratio", "max", 0.02,
                                   lambda natural, cap: min(natural, cap / 2) if cap >= 0.01 else 0.0)
        self._fill_share = bound("order_fill_ratio", "min", 0.9, max)
        self._reject_debt = dict.fromkeys(EXCHANGES, 0.0)
        # trading
        self._positions: list[str] = []
        self._realised = 0.0
        self._daily = 0.0
        self._day = None
        self._unrealised = 0.0
        self._peak = START_EQUITY
        # The bot resumes with a history of 56 wins in its last 100 round trips, so the
        # rolling win rate starts near its long-run 55 % instead of swinging on 3 trades.
        wins = max(56, math.ceil(self._p_win * WIN_WINDOW))
        history = [True] * wins + [False] * (WIN_WINDOW - wins)
        self.rng.shuffle(history)
        self._window: deque[bool] = deque(history, maxlen=WIN_WINDOW)
        self._sharpe, self._calmar, self._var95 = 1.8, 3.2, 220.0
        # fx
        self._true_rate = 1.0002
        self._fx_last: dict[str, float] = {}      # source -> time of its last message
        self._fx_quote: dict[str, float] = {}     # source -> last quote
        self._fx_median = self._true_rate
        self._fx_connected: dict[str, bool] = {}
        self._fx_silent_until: dict[str, float] = {}
        # api
        self._websockets = self._ws_level
        self._realised_by_symbol = dict.fromkeys(SYMBOLS, 0.0)   # Trading Overview: realized PnL by symbol

    # -- driver -------------------------------------------------------------------

    def tick(self, dt: float = 0.5, now: float | None = None) -> None:
        """Advance the simulation by dt seconds ending at `now` (default: the clock)."""
        now = self._clock() if now is None else now
        self._actions = [a for name in self.scenarios.active for a in self.plan.scenarios.get(name, ())]
        if not self._started:
            self._startup(now)
            self._started = True
        self._tick_trading(dt, now)
        self._tick_fx(dt, now)
        self._tick_api(dt, now)
        self._tick_ops(dt, now)

    def _startup(self, now: float) -> None:
        # Give every open-label series its first sample at once: no "No data" panel on start-up.
        m = self.m
        m.set_equity(START_EQUITY)
        m.set_risk_metrics(sharpe=self._sharpe, calmar=self._calmar, var95_usd=self._var95,
                           cvar95_usd=self._var95 * 1.35)
        m.record_alert("P3", "health_monitor")  # "bot started"
        wins = sum(self._window)
        m.record_win_rate(wins, len(self._window) - wins)
        for source in self._fx_sources:  # every source sends a first quote, even one a scenario silences
            self._fx_connected[source] = True
            m.set_fx_source_connected(source, True)
            stamp = now - self.rng.uniform(0.02, 0.2)
            self._fx_quote[source], self._fx_last[source] = self._true_rate, stamp
            m.record_fx_quote(source, self._true_rate, stamp)
        for method, path, _, median, ok in ROUTES:
            m.observe_http_request(method, path, ok, median)
            m.record_rate_limit(False)
        for exchange in EXCHANGES:
            m.record_order("buy", "filled", exchange)
            m.record_order_latency(exchange, 0.01)
        for _ in range(2):
            self._open_position()

    # -- trading ------------------------------------------------------------------

    def _tick_trading(self, dt: float, now: float) -> None:
        m, rng = self.m, self.rng
        day = int(now // DAY)
        if day != self._day:
            self._day, self._daily = day, 0.0
        trips, win_rate = self._move("round_trips"), self._move("win_rate")
        busy = trips is not None
        rate = float(trips["to"]) if busy else 0.5
        entry_rate, max_open, hold = (rate, max(20, int(rate)), 0.5) if busy else (0.5, 6, 8.0)
        p_win = float(win_rate["to"]) if win_rate is not None else self._p_win

        for _ in range(self._poisson(entry_rate * dt)):
            if len(self._positions) < max_open:
                self._open_position()
        close_p = 1.0 - math.exp(-dt / hold)
        closed = False
        for symbol in list(self._positions):
            if rng.random() < close_p:
                self._positions.remove(symbol)
                self._close_position(rng.random() < p_win, small_losses=busy, symbol=symbol)
                closed = True
        if closed:
            wins = sum(self._window)
            m.record_win_rate(wins, len(self._window) - wins)
        loss = self._move("daily_pnl")
        if loss is not None and self._daily > float(loss["to"]):
            step = abs(float(loss["to"])) / 10
            self._book(-rng.uniform(step * 0.6, step * 1.2))  # a losing streak: slippage on forced exits

        m.set_active_positions(len(self._positions))
        for symbol in SYMBOLS:
            m.set_open_positions(symbol, self._positions.count(symbol))
            m.set_realized_pnl(symbol, self._realised_by_symbol[symbol])

        # Equity = start + realised + mark-to-market of open positions.
        realised_equity = START_EQUITY + self._realised
        drawdown = self._move("drawdown")
        if drawdown is not None:
            target = self._peak * (1.0 - float(drawdown["to"])) - realised_equity
            self._unrealised += (target - self._unrealised) * 0.5
        else:
            self._unrealised += -self._unrealised * 0.2 + rng.gauss(0.0, 15.0)
            deepest = self.plan.bound("drawdown", "max")
            if deepest is not None:   # calm: never deeper than its bound, whatever the spec's number
                floor = self._peak * (1.0 - deepest) - realised_equity
                self._unrealised = max(self._unrealised, floor)
        equity = realised_equity + self._unrealised
        self._peak = max(self._peak, equity)
        m.set_equity(equity)

        for _ in range(max(1, round(40 * dt))):
            m.record_loop_latency(self._loop_latency(self._move("loop_latency")))

        for _ in range(self._poisson(0.05 * dt)):
            m.record_guard_trigger(rng.choices(("exchange", "route", "symbol", "global"), (3, 2, 4, 1))[0])
        for _ in range(self._poisson(0.03 * dt)):
            m.record_alert(rng.choices(("P3", "P2", "P1", "P0"), (60, 30, 8, 2))[0], rng.choice(ALERT_SOURCES))
        for action in self._actions:   # the bot reports what a scenario does to it
            if "bot_alert" in action and rng.random() < 0.1 * dt:
                m.record_alert(str(action["bot_alert"]), str(action.get("source", "health_monitor")))
        self._tick_risk(any("stress" in action for action in self._actions))

    def _open_position(self) -> None:
        self._positions.append(self.rng.choice(SYMBOLS))
        self.m.record_trade("entry")

    def _close_position(self, won: bool, small_losses: bool = False, symbol: str = SYMBOLS[0]) -> None:
        rng, m = self.rng, self.m
        m.record_trade("exit")
        if won:
            reason = rng.choices(("take_profit", "spread_reversal", "time_limit"), (80, 15, 5))[0]
            pnl = rng.uniform(2.0, 12.0)
        else:
            reason = rng.choices(("stop_loss", "time_limit", "spread_reversal"), (60, 25, 15))[0]
            pnl = -rng.uniform(2.0, 10.0)
            if small_losses:  # win_rate scenario: many small losers, so the daily-loss alert stays quiet
                pnl *= 0.1
        m.record_exit_reason(reason)
        m.record_round_trip()
        self._window.append(won)
        self._book(pnl, symbol)

    def _book(self, pnl: float, symbol: str = SYMBOLS[0]) -> None:
        lowest = self.plan.bound("daily_pnl", "min")
        if lowest is not None and self._move("daily_pnl") is None:
            # Calm: today's loss stays within its bound (half the daily limit).
            pnl = max(pnl, lowest - self._daily)
        self._realised += pnl
        self._realised_by_symbol[symbol] += pnl
        self._daily += pnl
        self.m.record_pnl(pnl)

    def _loop_latency(self, slow: dict | None) -> float:
        rng = self.rng
        if slow is not None and self._hits(slow):
            return self._value(slow)                          # well over the p99 budget
        seconds = rng.lognormvariate(math.log(0.0025), 0.45)  # mostly 1-5 ms
        if rng.random() < 0.02:
            seconds *= rng.uniform(4.0, 15.0)                 # GC pauses, slow exchange replies
        # Normal traffic stays under the p99 alert bound even in a short window: only the
        # loop_latency scenario may fire TradingLoopLatencyHigh, also with a fast `for:`.
        return min(seconds, self._loop_cap)

    def _tick_risk(self, stressed: bool) -> None:
        rng = self.rng
        self._sharpe += (( -0.6 if stressed else 1.8) - self._sharpe) * 0.05 + rng.gauss(0.0, 0.02)
        self._calmar += ((0.4 if stressed else 3.2) - self._calmar) * 0.05 + rng.gauss(0.0, 0.03)
        self._var95 += ((650.0 if stressed else 220.0) - self._var95) * 0.05 + rng.gauss(0.0, 3.0)
        self._var95 = max(self._var95, 10.0)
        self.m.set_risk_metrics(sharpe=self._sharpe, calmar=self._calmar, var95_usd=self._var95,
                                cvar95_usd=self._var95 * 1.35)

    # -- FX -------------------------------------------------------------------------

    def _tick_fx(self, dt: float, now: float) -> None:
        m, rng = self.m, self.rng
        self._true_rate += (1.0002 - self._true_rate) * 0.05 + rng.gauss(0.0, 0.00001)
        disconnected = set()
        for action in self._actions:
            if "disconnect" in action:   # all but `keep` sources disconnect
                disconnected |= set(self._fx_sources[max(0, int(action.get("keep") or 0)):])
        silent = {str(a["silence"]) for a in self._actions if "silence" in a}
        deviating = self._move("fx_source_deviation")
        # bybit goes quiet now and then for 8-20 s: stale-looking, never past the stale alert
        # (not while an FX scenario runs, so each scenario shows only its own effect).
        fx_scenario = bool(disconnected or silent or deviating)
        longest = self._fx_silence
        if (not fx_scenario and longest >= 4.0 and now >= self._fx_silent_until.get("bybit", 0.0)
                and rng.random() < dt / 90.0):
            self._fx_silent_until["bybit"] = now + rng.uniform(longest * 0.4, longest)

        for source in self._fx_sources:
            connected = source not in disconnected
            self._fx_connected[source] = connected
            m.set_fx_source_connected(source, connected)
            if not connected or source in silent or now < self._fx_silent_until.get(source, 0.0):
                continue
            quote = self._true_rate * (1.0 + rng.gauss(0.0, self._fx_noise_bps / 1e4))
            if rng.random() < 0.01:  # a bad tick from the exchange, beyond the outlier cut
                quote = self._true_rate * (1.0 + rng.choice((-1, 1)) * self._outlier_bps * rng.uniform(1.2, 3.0) / 1e4)
            elif deviating is not None and self._on_series(deviating, source=source):
                quote = self._true_rate * (1.0 + float(deviating["to"]) / 1e4 + rng.gauss(0.0, 0.00002))
            stamp = now - rng.uniform(0.02, 0.2)
            self._fx_last[source] = stamp
            # The aggregator rejects a quote far from the median: counted as an outlier; the message
            # still counts as received, and the source's rate keeps its last accepted quote.
            if abs(quote / self._fx_median - 1.0) * 1e4 > self._outlier_bps:
                m.record_fx_outlier(source)
                quote = self._fx_quote.get(source, self._fx_median)
            self._fx_quote[source] = quote
            m.record_fx_quote(source, quote, stamp)

        # The median over fresh quotes from connected sources; HTTP polling when none is left.
        fresh = [q for s, q in self._fx_quote.items()
                 if self._fx_connected.get(s) and now - self._fx_last[s] <= FRESH_SECONDS]
        valid = len(fresh)
        if fresh:
            self._fx_median = _median(fresh)
        else:
            self._fx_median = self._true_rate * (1.0 + rng.gauss(0.0, 0.00001))
        m.set_fx_valid_sources(valid)
        m.set_fx_median(self._fx_median)
        m.set_fx_fallback(valid < 2)

    # -- API --------------------------------------------------------------------------

    def _tick_api(self, dt: float, now: float) -> None:
        m, rng = self.m, self.rng
        errors, slow, limited, drop = (self._move(signal) for signal in (
            "http_error_ratio", "http_duration", "rate_limited_rate", "websocket_drop"))
        error_share = float(errors["to"]) if errors is not None else self._error_share
        for _ in range(self._poisson(24.0 * dt)):
            method, path, _, median, ok = rng.choices(ROUTES, [r[2] for r in ROUTES])[0]
            if rng.random() < self._limited_share:
                self._limited_request(method, path)
                continue
            m.record_rate_limit(False)
            if slow is not None and self._hits(slow):
                seconds = self._value(slow)
            else:
                seconds = rng.lognormvariate(math.log(median), 0.5)
                if rng.random() < 0.005:
                    seconds *= rng.uniform(3.0, 8.0)  # a slow database query now and then
                seconds = min(seconds, self._api_cap)  # under ApiLatencyHigh's bounds: only the scenario fires it
            if rng.random() < error_share:
                status = rng.choices((500, 502, 503), (60, 25, 15))[0]
            elif method == "POST":
                status = 400 if rng.random() < 0.03 else ok
                # While an order scenario runs, _tick_ops places every order (its shares are the scenario's).
                if status == ok and not (self._move("order_reject_ratio") or self._move("order_fill_ratio")):
                    exchange = rng.choice(EXCHANGES)
                    m.record_order(rng.choice(("buy", "sell")),
                                   self._order_status(exchange, self._reject_share, self._fill_share), exchange)
            elif method == "DELETE":
                status = 404 if rng.random() < 0.07 else ok
            else:
                status = 404 if rng.random() < 0.01 else ok
            m.observe_http_request(method, path, status, seconds)
        if limited is not None:
            for _ in range(self._poisson(float(limited["to"]) * dt)):
                method, path, *_ = rng.choice(ROUTES)
                self._limited_request(method, path)
        if drop is not None:   # clients leave over three ticks, down to the whole drop
            low = max(1, self._ws_level - math.ceil(float(drop["to"])))
            self._websockets = max(low, self._websockets - math.ceil(float(drop["to"]) / 3))
        else:
            band = self._ws_band
            step = rng.choice((-2, -1, 0, 0, 1, 2)) if band else 0
            # back up towards the level after a scenario (a rise never alerts), else wander in the band
            lowest = self._websockets if self._websockets < self._ws_level - band else self._ws_level - band
            self._websockets = min(self._ws_level + band, max(lowest, self._websockets + step))
            if self._websockets < self._ws_level - band:
                self._websockets += 1
        m.set_websocket_connections(self._websockets)

    # -- trading operations (exporter/ops.py's calls) ----------------------------------------

    def _tick_ops(self, dt: float, now: float) -> None:
        """Venues, orders, market data, clock, trading state and risk limits: calm within the bounds the
        families declare, moved by their scenarios (on the series with the action's labels)."""
        m, rng, p = self.m, self.rng, self.plan
        down = self._move("exchange_connected")
        for exchange in EXCHANGES:
            m.set_exchange_connected(exchange, not (down is not None and self._on_series(down, exchange=exchange)))
        # Orders: a steady pace, a small reject share and a high fill share unless a scenario moves them.
        rate = self._move("order_rate")
        rejects, fills = self._move("order_reject_ratio"), self._move("order_fill_ratio")
        reject_share = float(rejects["to"]) if rejects else self._reject_share
        fill_share = float(fills["to"]) if fills else self._fill_share
        slow = self._move("order_latency")
        cap = calm_cap(p.bound("order_latency", "max"), p.buckets.get("order_latency", ()), 0.05)
        for _ in range(self._poisson((float(rate["to"]) if rate else 1.0) * dt)):
            exchange = rng.choice(EXCHANGES)
            m.record_order(rng.choice(("buy", "sell")), self._order_status(exchange, reject_share, fill_share),
                           exchange)
            seconds = self._value(slow) if slow is not None and self._hits(slow) else \
                min(rng.lognormvariate(math.log(0.012), 0.4), cap)
            m.record_order_latency(exchange, seconds)
        stale = self._move("market_data_age")
        for exchange, symbol in zip(EXCHANGES, ("BTCUSDT", "BTC-USDT", "BTCUSDT"), strict=True):
            feed = f"{exchange}:{symbol}:book"
            if stale is not None and self._on_series(stale, feed=feed):
                m.record_market_data(feed, now - float(stale["to"]))
            else:
                m.record_market_data(feed, now - rng.uniform(0.0, min(1.0, p.bound("market_data_age", "max") or 1.0)))
        skew = self._move("clock_skew")
        calm_skew = min(0.005, p.bound("clock_skew", "max") or 0.005)
        for reference in ("binance", "ntp"):
            on = skew is not None and self._on_series(skew, reference=reference)
            m.set_clock_skew(reference, float(skew["to"]) if on else rng.uniform(-calm_skew, calm_skew))
        state = self._move("trading_state")
        m.set_trading_state(("active", "reducing", "halted")[int(state["to"]) if state else 0])
        m.set_kill_switch(self._move("kill_switch") is not None)
        usage, bans = self._move("rate_limit_usage"), self._move("rate_limit_bans")
        calm_usage = min(0.3, p.bound("rate_limit_usage", "max") or 0.3)
        for exchange in EXCHANGES:
            on = usage is not None and self._on_series(usage, exchange=exchange)
            m.set_rate_limit(exchange, 1200.0 * (float(usage["to"]) if on else rng.uniform(0.05, calm_usage)), 1200.0)
            if bans is not None and self._on_series(bans, exchange=exchange) and rng.random() < dt:
                m.record_rate_limit_ban(exchange, "429")
        exposure, drift = self._move("exposure_ratio"), self._move("balance_drift_ratio")
        calm_exposure = min(0.4, p.bound("exposure_ratio", "max") or 0.4)
        calm_drift = min(0.001, p.bound("balance_drift_ratio", "max") or 0.001)
        for symbol in SYMBOLS:
            on = exposure is not None and self._on_series(exposure, symbol=symbol)
            share = float(exposure["to"]) if on else calm_exposure * self._positions.count(symbol) / 6
            m.set_position(symbol, 50_000.0 * share, 50_000.0)
        for asset, usd in (("USDT", START_EQUITY + self._realised), ("BTC", 20_000.0)):
            on = drift is not None and self._on_series(drift, asset=asset)
            m.set_balance(asset, usd * (1 + (float(drift["to"]) if on else rng.uniform(0, calm_drift))), usd)

    def _limited_request(self, method: str, path: str) -> None:
        self.m.record_rate_limit(True)
        self.m.observe_http_request(method, path, 429, self.rng.uniform(0.0005, 0.003))

    # -- helpers -----------------------------------------------------------------------

    def _move(self, signal: str) -> dict | None:
        """The active scenario action that moves `signal`, if any."""
        return next((a for a in self._actions if a.get("move") == signal), None)

    def _order_status(self, exchange: str, reject_share: float, fill_share: float) -> str:
        """rejected for `reject_share` of an exchange's orders, evenly spaced; of the rest, filled for
        `fill_share` (drawn) and cancelled otherwise."""
        self._reject_debt[exchange] += reject_share
        if self._reject_debt[exchange] >= 1.0:
            self._reject_debt[exchange] -= 1.0
            return "rejected"
        return "filled" if self.rng.random() < fill_share else "cancelled"

    def _hits(self, action: dict) -> bool:
        """Whether this observation is one the action moves (`share` of them; all without one)."""
        return "share" not in action or self.rng.random() < float(action["share"])

    def _value(self, action: dict) -> float:
        to = action["to"]
        return self.rng.uniform(float(to[0]), float(to[1])) if isinstance(to, list) else float(to)

    @staticmethod
    def _on_series(action: dict, **labels: str) -> bool:
        wanted = action.get("labels") or {}
        return all(labels.get(k) == v for k, v in wanted.items())

    def _poisson(self, lam: float) -> int:
        """Knuth's method: fine for the small rates per tick used here."""
        limit, k, p = math.exp(-lam), 0, 1.0
        while True:
            p *= self.rng.random()
            if p <= limit:
                return k
            k += 1


def _median(values: list[float]) -> float:
    values = sorted(values)
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2.0


class DemoSource:
    """Ticks a DemoBot from a daemon thread every `interval` seconds of wall time."""

    def __init__(self, bot: DemoBot, interval: float = 0.5) -> None:
        self.bot, self.interval = bot, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="exporter-demo", daemon=True)

    def start(self) -> "DemoSource":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        last = time.monotonic()
        while True:
            now = time.monotonic()
            dt, last = min(max(now - last, self.interval), 5.0), now
            try:
                self.bot.tick(dt)
            except Exception:  # the demo must keep the exporter alive whatever happens
                log.exception("demo tick failed; continuing")
            if self._stop.wait(self.interval):
                return
