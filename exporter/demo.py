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
from dataclasses import dataclass
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
class Thresholds:
    """The alert thresholds of the spec the catalog was generated from (catalog.json `alerts`).

    The demo keeps its calm baseline under every one and makes each scenario cross its own, so
    editing a number in spec.yaml never makes the demo page by itself or a scenario stay quiet.
    The defaults are the families' own defaults, for a catalog generated before thresholds were in it.
    """
    drawdown_warning: float = 0.05
    drawdown_critical: float = 0.10
    win_rate_below: float = 0.40
    min_round_trips: float = 20
    win_window: float = 3600.0
    daily_loss_limit: float = -1000.0
    loop_p99: float = 0.1
    api_p99: float = 0.5
    api_p95: float = 1.0
    error_ratio: float = 0.05
    limited_per_second: float = 10.0
    fx_max_age: float = 30.0
    fx_warning_below: float = 2
    fx_critical_below: float = 1
    fx_max_bps: float = 10.0
    websocket_drop: float = 10.0
    loop_buckets: tuple[float, ...] = ()
    api_buckets: tuple[float, ...] = ()

    @classmethod
    def from_catalog(cls, document: dict | None = None) -> "Thresholds":
        if document is None:
            try:
                document = json.loads(resources.files("exporter").joinpath("catalog.json").read_text("utf-8"))
            except (OSError, ValueError):
                return cls()
        alerts = document.get("alerts") or {}

        def get(family: str, name: str, default: float) -> float:
            value = (alerts.get(family) or {}).get(name, default)
            return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else default

        buckets = {m.get("name"): tuple(m.get("buckets") or ()) for m in document.get("metrics") or ()}
        d = cls()
        return cls(
            drawdown_warning=get("drawdown", "warning", d.drawdown_warning),
            drawdown_critical=get("drawdown", "critical", d.drawdown_critical),
            win_rate_below=get("win_rate", "below", d.win_rate_below),
            min_round_trips=get("win_rate", "min_round_trips", d.min_round_trips),
            win_window=get("win_rate", "window", d.win_window),
            daily_loss_limit=get("daily_loss", "limit_usd", d.daily_loss_limit),
            loop_p99=get("loop_latency", "p99_seconds", d.loop_p99),
            api_p99=get("api_latency", "p99_seconds", d.api_p99),
            api_p95=get("api_latency", "p95_seconds", d.api_p95),
            error_ratio=get("api_errors", "ratio", d.error_ratio),
            limited_per_second=get("rate_limiting", "limited_per_second", d.limited_per_second),
            fx_max_age=get("fx_stale", "max_age", d.fx_max_age),
            fx_warning_below=get("fx_sources", "warning_below", d.fx_warning_below),
            fx_critical_below=get("fx_sources", "critical_below", d.fx_critical_below),
            fx_max_bps=get("fx_deviation", "max_bps", d.fx_max_bps),
            websocket_drop=get("websocket_drop", "drop", d.websocket_drop),
            loop_buckets=buckets.get(names.LOOP_LATENCY, ()),
            api_buckets=buckets.get(names.HTTP_DURATION, ()),
        )


def calm_cap(threshold: float, buckets: tuple[float, ...], ceiling: float) -> float:
    """The largest sample a calm histogram may hold so its quantiles stay under `threshold`: the
    highest bucket bound at or below it (every quantile then interpolates below that bound)."""
    below = [b for b in buckets if b <= threshold]
    return min(ceiling, below[-1] if below else threshold / 2)


class DemoBot:
    """One simulated bot; call tick() (the demo thread does, every 0.5 s)."""

    def __init__(self, metrics, seed: int | None = None, scenarios: ScenarioSet | None = None,
                 clock=time.time, thresholds: Thresholds | None = None) -> None:
        self.m = metrics
        self.rng = random.Random(seed)
        self.scenarios = scenarios if scenarios is not None else ScenarioSet()
        self._clock = clock
        self._started = False
        t = self.t = thresholds if thresholds is not None else Thresholds.from_catalog()
        # What calm and each scenario aim at, derived from the thresholds (see Thresholds).
        self._p_win = max(0.55, t.win_rate_below + (1 - t.win_rate_below) / 2)
        self._p_win_busy = min(0.15, t.win_rate_below / 2)
        # Enough round trips that the win-rate guard is met twice over within its window.
        self._busy_rate = min(400.0, max(8.0, 2.0 * t.min_round_trips / max(t.win_window, 60.0)))
        self._drawdown_target = min(t.drawdown_critical * 2.5, t.drawdown_critical + (1 - t.drawdown_critical) / 2)
        self._loss_target = t.daily_loss_limit * 2.5 - 50.0   # beyond the noise of single trades
        self._loop_cap = calm_cap(t.loop_p99, t.loop_buckets, 0.08)
        self._api_cap = calm_cap(min(t.api_p99, t.api_p95), t.api_buckets, 0.45)
        self._error_share = min(0.004, t.error_ratio / 4)
        self._error_share_bad = max(0.2, t.error_ratio * 4) if t.error_ratio * 4 < 1 else \
            t.error_ratio + (1 - t.error_ratio) / 2
        self._limited_share = min(0.005, t.limited_per_second / 24.0 / 4)
        self._limited_busy = max(30.0, t.limited_per_second * 3)
        self._fx_deviation_bps = max(30.0, t.fx_max_bps * 3)
        self._outlier_bps = max(50.0, self._fx_deviation_bps * 2)   # the aggregator's outlier cut
        self._fx_noise_bps = min(0.5, t.fx_max_bps / 16)
        self._fx_sources = FX_SOURCES + EXTRA_FX_SOURCES[:max(0, int(t.fx_warning_below) - len(FX_SOURCES))]
        # WebSocket clients: calm wanders within a band narrower than half the alert's drop; the
        # scenario loses three times the drop.
        self._ws_level = max(24, math.ceil(t.websocket_drop * 3) + 5)
        self._ws_band = int(t.websocket_drop // 4)
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
        for _ in range(2):
            self._open_position()

    # -- trading ------------------------------------------------------------------

    def _tick_trading(self, dt: float, now: float) -> None:
        m, rng, on = self.m, self.rng, self.scenarios
        day = int(now // DAY)
        if day != self._day:
            self._day, self._daily = day, 0.0
        busy = "win_rate" in on
        entry_rate, max_open, hold = ((self._busy_rate, max(20, int(self._busy_rate)), 0.5) if busy
                                      else (0.5, 6, 8.0))
        p_win = self._p_win_busy if busy else self._p_win

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
        if "loss" in on and self._daily > self._loss_target:
            step = abs(self._loss_target) / 10
            self._book(-rng.uniform(step * 0.6, step * 1.2))  # a losing streak: slippage on forced exits

        m.set_active_positions(len(self._positions))
        for symbol in SYMBOLS:
            m.set_open_positions(symbol, self._positions.count(symbol))
            m.set_realized_pnl(symbol, self._realised_by_symbol[symbol])

        # Equity = start + realised + mark-to-market of open positions.
        realised_equity = START_EQUITY + self._realised
        if "drawdown" in on:
            target = self._peak * (1.0 - self._drawdown_target) - realised_equity
            self._unrealised += (target - self._unrealised) * 0.5
        else:
            self._unrealised += -self._unrealised * 0.2 + rng.gauss(0.0, 15.0)
            # Calm: never deeper than half the warning level, whatever the spec's number.
            floor = self._peak * (1.0 - self.t.drawdown_warning / 2) - realised_equity
            self._unrealised = max(self._unrealised, floor)
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
        if "loss" not in self.scenarios:
            # Calm: today's loss stays within half the daily limit.
            pnl = max(pnl, self.t.daily_loss_limit / 2 - self._daily)
        self._realised += pnl
        self._realised_by_symbol[symbol] += pnl
        self._daily += pnl
        self.m.record_pnl(pnl)

    def _loop_latency(self, slow: bool) -> float:
        rng = self.rng
        if slow and rng.random() < 0.3:
            return self.t.loop_p99 * rng.uniform(3.0, 6.0)   # well over the p99 budget
        seconds = rng.lognormvariate(math.log(0.0025), 0.45)  # mostly 1-5 ms
        if rng.random() < 0.02:
            seconds *= rng.uniform(4.0, 15.0)                 # GC pauses, slow exchange replies
        # Normal traffic stays under the p99 alert bound even in a short window: only the
        # loop_latency scenario may fire TradingLoopLatencyHigh, also with a fast `for:`.
        return min(seconds, self._loop_cap)

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
            # Exactly critical_below sources stay: under the warning level, not the critical one.
            disconnected |= set(self._fx_sources[max(1, int(self.t.fx_critical_below)):])
        if "fx_sources_zero" in on:
            disconnected |= set(self._fx_sources)
        silent = {"okx"} if "fx_stale" in on else set()
        # bybit goes quiet now and then for 8-20 s: stale-looking, never past the 30 s alert
        # (not while an FX scenario runs, so each scenario shows only its own effect).
        fx_scenario = any(name.startswith("fx_") for name in on.active)
        longest = min(20.0, self.t.fx_max_age / 2)
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
            elif source == "okx" and "fx_deviation" in on:
                quote = self._true_rate * (1.0 + self._fx_deviation_bps / 1e4 + rng.gauss(0.0, 0.00002))
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
        m, rng, on = self.m, self.rng, self.scenarios
        error_share = self._error_share_bad if "api_errors" in on else self._error_share
        for _ in range(self._poisson(24.0 * dt)):
            method, path, _, median, ok = rng.choices(ROUTES, [r[2] for r in ROUTES])[0]
            if rng.random() < self._limited_share:
                self._limited_request(method, path)
                continue
            m.record_rate_limit(False)
            if "api_latency" in on:
                seconds = max(self.t.api_p99, self.t.api_p95) * rng.uniform(2.0, 4.0)
            else:
                seconds = rng.lognormvariate(math.log(median), 0.5)
                if rng.random() < 0.005:
                    seconds *= rng.uniform(3.0, 8.0)  # a slow database query now and then
                seconds = min(seconds, self._api_cap)  # under ApiLatencyHigh's bounds: only the scenario fires it
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
            for _ in range(self._poisson(self._limited_busy * dt)):
                method, path, *_ = rng.choice(ROUTES)
                self._limited_request(method, path)
        if "websocket_drop" in on:
            low = max(1, self._ws_level - math.ceil(self.t.websocket_drop * 3))
            self._websockets = max(low, self._websockets - math.ceil(self.t.websocket_drop))
        else:
            band = self._ws_band
            step = rng.choice((-2, -1, 0, 0, 1, 2)) if band else 0
            # back up towards the level after a scenario (a rise never alerts), else wander in the band
            lowest = self._websockets if self._websockets < self._ws_level - band else self._ws_level - band
            self._websockets = min(self._ws_level + band, max(lowest, self._websockets + step))
            if self._websockets < self._ws_level - band:
                self._websockets += 1
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
