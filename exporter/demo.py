"""A seeded simulation of a TopN arbitrage bot, its FX aggregator and its HTTP API.

It drives every catalog metric through the public calls (the same ones a bot
makes), so every dashboard panel has data within the first tick, and the
scenarios (scenarios.py) push each alert family over its threshold. Rates are
per second of simulated time, so ticks of any length give the same picture.
"""
from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections import deque

from exporter.scenarios import ScenarioSet

log = logging.getLogger("exporter.demo")

SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "XRPUSDT")
EXCHANGES = ("binance", "okx", "bybit")
FX_SOURCES = ("binance", "okx", "bybit")
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
OUTLIER_BPS = 50.0          # the aggregator drops quotes this far from the median
FRESH_SECONDS = 10.0        # a source older than this does not feed the median
DRAWDOWN_TARGET = 0.25
DAILY_LOSS_TARGET = -2500.0
DAY = 86400.0


class DemoBot:
    """One simulated bot; call tick() (the demo thread does, every 0.5 s)."""

    def __init__(self, metrics, seed: int | None = None, scenarios: ScenarioSet | None = None,
                 clock=time.time) -> None:
        self.m = metrics
        self.rng = random.Random(seed)
        self.scenarios = scenarios if scenarios is not None else ScenarioSet()
        self._clock = clock
        self._started = False
        # trading
        self._positions: list[str] = []
        self._realised = 0.0
        self._daily = 0.0
        self._day = None
        self._unrealised = 0.0
        self._peak = START_EQUITY
        # The bot resumes with a history of 56 wins in its last 100 round trips, so the
        # rolling win rate starts near its long-run 55 % instead of swinging on 3 trades.
        history = [True] * 56 + [False] * 44
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
        self._websockets = 24
        self._realised_by_symbol = dict.fromkeys(SYMBOLS, 0.0)   # Trading Overview: realized PnL by symbol

    # -- driver -------------------------------------------------------------------

    def tick(self, dt: float = 0.5, now: float | None = None) -> None:
        """Advance the simulation by dt seconds ending at `now` (default: the clock)."""
        now = self._clock() if now is None else now
        if not self._started:
            self._startup(now)
            self._started = True
        self._tick_trading(dt, now)
        self._tick_fx(dt, now)
        self._tick_api(dt, now)

    def _startup(self, now: float) -> None:
        # Give every open-label series its first sample at once: no "No data" panel on start-up.
        m = self.m
        m.set_equity(START_EQUITY)
        m.set_risk_metrics(sharpe=self._sharpe, calmar=self._calmar, var95_usd=self._var95,
                           cvar95_usd=self._var95 * 1.35)
        m.record_alert("P3", "health_monitor")  # "bot started"
        wins = sum(self._window)
        m.record_win_rate(wins, len(self._window) - wins)
        for source in FX_SOURCES:  # every source sends a first quote, even one a scenario silences
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
        for _ in range(2):
            self._open_position()

    # -- trading ------------------------------------------------------------------

    def _tick_trading(self, dt: float, now: float) -> None:
        m, rng, on = self.m, self.rng, self.scenarios
        day = int(now // DAY)
        if day != self._day:
            self._day, self._daily = day, 0.0
        busy = "win_rate" in on
        entry_rate, max_open, hold = (8.0, 20, 0.5) if busy else (0.5, 6, 8.0)
        p_win = 0.15 if busy else 0.55

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
        if "loss" in on and self._daily > DAILY_LOSS_TARGET:
            self._book(-rng.uniform(150.0, 300.0))  # a losing streak: slippage on forced exits

        m.set_active_positions(len(self._positions))
        for symbol in SYMBOLS:
            m.set_open_positions(symbol, self._positions.count(symbol))
            m.set_realized_pnl(symbol, self._realised_by_symbol[symbol])

        # Equity = start + realised + mark-to-market of open positions.
        realised_equity = START_EQUITY + self._realised
        if "drawdown" in on:
            target = self._peak * (1.0 - DRAWDOWN_TARGET) - realised_equity
            self._unrealised += (target - self._unrealised) * 0.5
        else:
            self._unrealised += -self._unrealised * 0.2 + rng.gauss(0.0, 15.0)
        equity = realised_equity + self._unrealised
        self._peak = max(self._peak, equity)
        m.set_equity(equity)

        for _ in range(max(1, round(40 * dt))):
            m.record_loop_latency(self._loop_latency("loop_latency" in on))

        for _ in range(self._poisson(0.05 * dt)):
            m.record_guard_trigger(rng.choices(("exchange", "route", "symbol", "global"), (3, 2, 4, 1))[0])
        for _ in range(self._poisson(0.03 * dt)):
            m.record_alert(rng.choices(("P3", "P2", "P1", "P0"), (60, 30, 8, 2))[0], rng.choice(ALERT_SOURCES))
        for name, severity, source in (("loss", "P1", "risk_manager"), ("drawdown", "P1", "risk_manager"),
                                       ("rate_limiting", "P2", "rate_limiter"),
                                       ("fx_sources_zero", "P0", "fx_aggregator")):
            if name in on and rng.random() < 0.1 * dt:
                m.record_alert(severity, source)
        self._tick_risk(on)

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
        self._realised += pnl
        self._realised_by_symbol[symbol] += pnl
        self._daily += pnl
        self.m.record_pnl(pnl)

    def _loop_latency(self, slow: bool) -> float:
        rng = self.rng
        if slow and rng.random() < 0.3:
            return min(rng.lognormvariate(math.log(0.3), 0.5), 5.0)
        seconds = rng.lognormvariate(math.log(0.0025), 0.45)  # mostly 1-5 ms
        if rng.random() < 0.02:
            seconds *= rng.uniform(4.0, 15.0)                 # GC pauses, slow exchange replies
        # Normal traffic stays under the p99 alert bound even in a short window: only the
        # loop_latency scenario may fire TradingLoopLatencyHigh, also with a fast `for:`.
        return min(seconds, 0.08)

    def _tick_risk(self, on: ScenarioSet) -> None:
        rng = self.rng
        stressed = "loss" in on or "drawdown" in on
        self._sharpe += (( -0.6 if stressed else 1.8) - self._sharpe) * 0.05 + rng.gauss(0.0, 0.02)
        self._calmar += ((0.4 if stressed else 3.2) - self._calmar) * 0.05 + rng.gauss(0.0, 0.03)
        self._var95 += ((650.0 if stressed else 220.0) - self._var95) * 0.05 + rng.gauss(0.0, 3.0)
        self._var95 = max(self._var95, 10.0)
        self.m.set_risk_metrics(sharpe=self._sharpe, calmar=self._calmar, var95_usd=self._var95,
                                cvar95_usd=self._var95 * 1.35)

    # -- FX -------------------------------------------------------------------------

    def _tick_fx(self, dt: float, now: float) -> None:
        m, rng, on = self.m, self.rng, self.scenarios
        self._true_rate += (1.0002 - self._true_rate) * 0.05 + rng.gauss(0.0, 0.00001)
        disconnected = set()
        if "fx_sources_low" in on:
            disconnected |= {"okx", "bybit"}
        if "fx_sources_zero" in on:
            disconnected |= set(FX_SOURCES)
        silent = {"okx"} if "fx_stale" in on else set()
        # bybit goes quiet now and then for 8-20 s: stale-looking, never past the 30 s alert
        # (not while an FX scenario runs, so each scenario shows only its own effect).
        fx_scenario = any(name.startswith("fx_") for name in on.active)
        if not fx_scenario and now >= self._fx_silent_until.get("bybit", 0.0) and rng.random() < dt / 90.0:
            self._fx_silent_until["bybit"] = now + rng.uniform(8.0, 20.0)

        for source in FX_SOURCES:
            connected = source not in disconnected
            self._fx_connected[source] = connected
            m.set_fx_source_connected(source, connected)
            if not connected or source in silent or now < self._fx_silent_until.get(source, 0.0):
                continue
            quote = self._true_rate * (1.0 + rng.gauss(0.0, 0.00005))
            if rng.random() < 0.01:  # a bad tick from the exchange: 60-150 bps off
                quote = self._true_rate * (1.0 + rng.choice((-1, 1)) * rng.uniform(0.006, 0.015))
            elif source == "okx" and "fx_deviation" in on:
                quote = self._true_rate * (1.0 + 0.0030 + rng.gauss(0.0, 0.00002))
            stamp = now - rng.uniform(0.02, 0.2)
            self._fx_last[source] = stamp
            # The aggregator rejects a quote far from the median: counted as an outlier; the message
            # still counts as received, and the source's rate keeps its last accepted quote.
            if abs(quote / self._fx_median - 1.0) * 1e4 > OUTLIER_BPS:
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
        m, rng, on = self.m, self.rng, self.scenarios
        error_share = 0.2 if "api_errors" in on else 0.004
        for _ in range(self._poisson(24.0 * dt)):
            method, path, _, median, ok = rng.choices(ROUTES, [r[2] for r in ROUTES])[0]
            if rng.random() < 0.005:
                self._limited_request(method, path)
                continue
            m.record_rate_limit(False)
            if "api_latency" in on:
                seconds = rng.lognormvariate(math.log(2.0), 0.3)
            else:
                seconds = rng.lognormvariate(math.log(median), 0.5)
                if rng.random() < 0.005:
                    seconds *= rng.uniform(3.0, 8.0)  # a slow database query now and then
                seconds = min(seconds, 0.45)  # under ApiLatencyHigh's p99 bound: only the scenario fires it
            if rng.random() < error_share:
                status = rng.choices((500, 502, 503), (60, 25, 15))[0]
            elif method == "POST":
                status = 400 if rng.random() < 0.03 else ok
                if status == ok:
                    m.record_order(rng.choice(("buy", "sell")),
                                   rng.choices(("filled", "cancelled", "rejected"), (88, 7, 5))[0],
                                   rng.choice(EXCHANGES))
            elif method == "DELETE":
                status = 404 if rng.random() < 0.07 else ok
            else:
                status = 404 if rng.random() < 0.01 else ok
            m.observe_http_request(method, path, status, seconds)
        if "rate_limiting" in on:
            for _ in range(self._poisson(30.0 * dt)):
                method, path, *_ = rng.choice(ROUTES)
                self._limited_request(method, path)
        self._websockets = min(60, max(5, self._websockets + rng.choice((-2, -1, 0, 0, 1, 2))))
        m.set_websocket_connections(self._websockets)

    def _limited_request(self, method: str, path: str) -> None:
        self.m.record_rate_limit(True)
        self.m.observe_http_request(method, path, 429, self.rng.uniform(0.0005, 0.003))

    # -- helpers -----------------------------------------------------------------------

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
