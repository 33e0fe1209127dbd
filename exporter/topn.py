"""TopN arbitrage calls: PnL, equity and drawdown, win rate, trades, latency, guards, alerts, exits, risk.

Every series carries the bot labels (env, universe, strategy); children are
bound once in init_metrics(), so the hot path is a dict lookup or an attribute
read followed by prometheus_client's own .inc()/.set()/.observe().
"""
from __future__ import annotations

from exporter import names
from exporter.checks import INF, Refused, as_flag, as_number, closed_value, open_value

DAY = 86400.0


class TopNMetrics:
    """Mixin of BotMetrics; relies on its _clock, _lock, _drops, _metrics and _slow()."""

    def _unbind_topn(self) -> None:
        # None children make the hot path fail over to _slow(), which reports "before init_metrics()".
        self._pnl = self._daily = self._equity_g = self._peak_g = None
        self._dd_g = self._max_dd_g = self._win_rate_g = self._round_trips = None
        self._loop_latency = self._active_positions = None
        self._risk = {}
        self._trades, self._guards, self._exits, self._alerts = {}, {}, {}, {}
        self._reset_topn_state()

    def _reset_topn_state(self) -> None:
        self._equity = None      # no equity reported yet: drawdown stays 0
        self._peak = None
        self._dd = 0.0
        self._max_dd = 0.0
        self._wins = 0.0
        self._losses = 0.0
        self._day_end = 0.0      # forces a roll-over to "today" on the first PnL

    def _bind_topn(self, bot: tuple[str, ...]) -> None:
        m = self._metrics

        def child(name):
            return m[name].labels(*bot)

        def closed(name, label):
            return {v: m[name].labels(*bot, v) for v in self._catalog.metric(name).label(label).values}

        self._reset_topn_state()
        self._pnl, self._daily = child(names.PNL), child(names.DAILY_PNL)
        self._equity_g, self._peak_g = child(names.EQUITY), child(names.EQUITY_PEAK)
        self._dd_g, self._max_dd_g = child(names.DRAWDOWN), child(names.MAX_DRAWDOWN)
        self._win_rate_g, self._round_trips = child(names.WIN_RATE), child(names.ROUND_TRIPS)
        self._loop_latency, self._active_positions = child(names.LOOP_LATENCY), child(names.ACTIVE_POSITIONS)
        self._risk = {"sharpe": child(names.SHARPE), "calmar": child(names.CALMAR),
                      "var95_usd": child(names.VAR95), "cvar95_usd": child(names.CVAR95)}
        self._trades = closed(names.TRADES, "trade_type")
        self._guards = closed(names.GUARD_TRIGGERS, "guard_type")
        self._exits = closed(names.EXITS, "reason")
        self._alerts = {}  # (severity, source) -> child; filled per new source

    def _roll_day(self, now: float) -> None:
        """Start a new UTC day for trading_daily_pnl_usd (caller holds self._lock)."""
        if self._day_end and self._daily is not None:
            self._daily.set(0.0)
        self._day_end = (now // DAY + 1.0) * DAY

    # -- PnL, equity, drawdown ---------------------------------------------------------

    def record_pnl(self, delta_usd: float) -> bool:
        """Add a realised PnL delta to trading_pnl_usd and today's trading_daily_pnl_usd; moves equity."""
        if delta_usd.__class__ is float and -INF < delta_usd < INF:
            now = self._clock()
            try:
                with self._lock:
                    if now >= self._day_end:
                        self._roll_day(now)
                    self._pnl.inc(delta_usd)
                    self._daily.inc(delta_usd)
                    if self._equity is not None:
                        self._apply_equity(self._equity + delta_usd)
            except Exception:
                return self._slow("record_pnl", None)
            self._last_event = now
            return True
        return self._slow("record_pnl", lambda: self.record_pnl(as_number(delta_usd, "delta_usd")))

    def set_equity(self, equity_usd: float) -> bool:
        """Set trading_equity_usd; tracks the peak, drawdown = (peak - equity) / peak and the max drawdown."""
        if equity_usd.__class__ is float and -INF < equity_usd < INF:
            try:
                with self._lock:
                    self._apply_equity(equity_usd)
            except Exception:
                return self._slow("set_equity", None)
            self._last_event = self._clock()
            return True
        return self._slow("set_equity", lambda: self.set_equity(as_number(equity_usd, "equity_usd")))

    def _apply_equity(self, equity: float) -> None:
        # Caller holds self._lock. Gauges that did not change are not set again (cheaper hot path).
        self._equity_g.set(equity)
        self._equity = equity
        peak = self._peak
        if peak is None or equity > peak:
            self._peak = peak = equity
            self._peak_g.set(equity)
        # No meaningful drawdown from a peak at or below zero; equity below zero caps it at 1.
        drawdown = min((peak - equity) / peak, 1.0) if peak > 0.0 else 0.0
        if drawdown != self._dd:
            self._dd = drawdown
            self._dd_g.set(drawdown)
        if drawdown > self._max_dd:
            self._max_dd = drawdown
            self._max_dd_g.set(drawdown)

    # -- round trips and win rate ------------------------------------------------------

    def record_round_trip(self, won: bool | None = None) -> bool:
        """Count a closed round trip; with won=True/False also update the win/loss tally and win rate."""
        try:
            if won is None:
                self._round_trips.inc()
            elif won is True or won is False:
                with self._lock:
                    if won:
                        self._wins += 1.0
                    else:
                        self._losses += 1.0
                    self._round_trips.inc()
                    self._win_rate_g.set(self._wins / (self._wins + self._losses))
            else:
                return self._slow("record_round_trip",
                                  lambda: self.record_round_trip(as_flag(won, "won")))
        except Exception:
            return self._slow("record_round_trip", None)
        self._last_event = self._clock()
        return True

    def record_win_rate(self, wins: float, losses: float) -> bool:
        """Set trading_win_rate_ratio = wins / (wins + losses) (0 while both are 0); replaces the tally."""
        try:
            w = as_number(wins, "wins", non_negative=True)
            lo = as_number(losses, "losses", non_negative=True)
        except Refused as refused:
            return self._drops.drop(refused.reason, "record_win_rate", refused.why)
        try:
            with self._lock:
                self._wins, self._losses = w, lo
                self._win_rate_g.set(w / (w + lo) if w + lo > 0.0 else 0.0)
        except Exception:
            return self._slow("record_win_rate", None)
        self._last_event = self._clock()
        return True

    # -- counters by closed label ----------------------------------------------------

    def record_trade(self, trade_type: str) -> bool:
        """Count an executed trade: trade_type is entry or exit."""
        try:
            self._trades[trade_type].inc()
        except Exception:
            return self._slow("record_trade", lambda: self._closed_refusal(names.TRADES, "trade_type", trade_type))
        self._last_event = self._clock()
        return True

    def record_guard_trigger(self, guard_type: str) -> bool:
        """Count a risk guard trigger: guard_type is exchange, route, symbol or global."""
        try:
            self._guards[guard_type].inc()
        except Exception:
            return self._slow("record_guard_trigger",
                              lambda: self._closed_refusal(names.GUARD_TRIGGERS, "guard_type", guard_type))
        self._last_event = self._clock()
        return True

    def record_exit_reason(self, reason: str) -> bool:
        """Count a position exit: take_profit, stop_loss, time_limit or spread_reversal."""
        try:
            self._exits[reason].inc()
        except Exception:
            return self._slow("record_exit_reason", lambda: self._closed_refusal(names.EXITS, "reason", reason))
        self._last_event = self._clock()
        return True

    def record_alert(self, severity: str, source: str) -> bool:
        """Count an alert the bot raised: severity P0..P3, source the raising component (open set)."""
        try:
            self._alerts[(severity, source)].inc()
        except Exception:
            return self._slow("record_alert", lambda: self._new_alert_source(severity, source))
        self._last_event = self._clock()
        return True

    def _new_alert_source(self, severity: object, source: object) -> bool:
        spec = self._catalog.metric(names.BOT_ALERTS)
        closed_value(severity, spec.label("severity"), "severity")
        open_value(source, "source")
        if self._bot is None:
            raise LookupError
        # A new source gets all its severities at once (at 0), so rate() works from the first alert.
        self._remember(self._alerts, names.BOT_ALERTS, "source")
        metric = self._metrics[names.BOT_ALERTS]
        for value in spec.label("severity").values:
            self._alerts.setdefault((value, source), metric.labels(*self._bot, value, source))
        return self.record_alert(severity, source)

    def _closed_refusal(self, metric: str, label: str, value: object) -> bool:
        closed_value(value, self._catalog.metric(metric).label(label), label)
        raise LookupError  # a valid value that found no child: the bot labels are not bound yet

    # -- gauges ----------------------------------------------------------------------

    def record_loop_latency(self, seconds: float) -> bool:
        """Observe one trading-loop iteration's duration in seconds."""
        if seconds.__class__ is float and 0.0 <= seconds < INF:
            try:
                self._loop_latency.observe(seconds)
            except Exception:
                return self._slow("record_loop_latency", None)
            self._last_event = self._clock()
            return True
        return self._slow("record_loop_latency",
                          lambda: self.record_loop_latency(as_number(seconds, "seconds", non_negative=True)))

    def set_active_positions(self, count: int) -> bool:
        """Set trading_active_positions."""
        cls = count.__class__
        if (cls is int or cls is float) and -INF < count < INF:
            try:
                self._active_positions.set(count)
            except Exception:
                return self._slow("set_active_positions", None)
            self._last_event = self._clock()
            return True
        return self._slow("set_active_positions",
                          lambda: self.set_active_positions(as_number(count, "count")))

    def set_risk_metrics(self, sharpe: float | None = None, calmar: float | None = None,
                         var95_usd: float | None = None, cvar95_usd: float | None = None) -> bool:
        """Set any of Sharpe, Calmar, VaR 95 and CVaR 95 (USD); None leaves a gauge as it is.

        Each value is checked on its own: a bad one is dropped, the good ones are applied.
        """
        applied = True
        for key, value in (("sharpe", sharpe), ("calmar", calmar),
                           ("var95_usd", var95_usd), ("cvar95_usd", cvar95_usd)):
            if value is None:
                continue
            try:
                number = as_number(value, key)
            except Refused as refused:
                applied = self._drops.drop(refused.reason, "set_risk_metrics", refused.why)
                continue
            try:
                self._risk[key].set(number)
            except Exception:
                applied = self._slow("set_risk_metrics", None)
                continue
            self._last_event = self._clock()
        return applied
