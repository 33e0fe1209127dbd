"""TopN arbitrage calls: PnL, equity and drawdown, win rate, trades, latency, guards, alerts, exits, risk.

Every series carries the bot labels (env, universe, strategy); children are
bound once in init_metrics(), so the hot path is a dict lookup or an attribute
read followed by the series' .inc()/.set()/.observe() (store.py).

Hot-path idioms (see docs/exporter.md, "Performance"):
- `(x.__class__ is float or x.__class__ is int) and x - x == 0`: a plain float that
  is finite, or a plain int. Nothing else (bool, complex, Decimal, numpy, str, a
  hostile object) reaches a stored series from the fast path; it goes to the slow
  path, which converts it to a finite float or refuses it. A plain int beyond the
  float range makes the series' `value * 1.0` (or its sum) raise before any value
  changes, and also ends in the slow path (refused as not_finite).
- Anything unusual (an unbound child, a bad value, a Decimal) raises or fails a
  test and goes to self._slow(), which converts, retries or counts the drop.
- Compound state (equity/peak/drawdown, the win tally, the UTC day) is guarded by
  self._lock (the lock of every stored series too), taken with acquire()/release():
  measurably cheaper than `with`; under it the series' values are written directly.
"""
from __future__ import annotations

from exporter import names
from exporter.checks import Flag, Num, closed_value, open_value

DAY = 86400.0


class TopNMetrics:
    """Mixin of BotMetrics; relies on its _clock, _lock, _drops, _metrics and _slow()."""

    def _unbind_topn(self) -> None:
        # None children make the hot path fail over to _slow(), which reports "before init_metrics()".
        self._pnl = self._daily = self._equity_g = self._peak_g = None
        self._dd_g = self._max_dd_g = self._win_rate_g = self._round_trips = None
        self._loop_latency = self._active_positions = None
        self._sharpe = self._calmar = self._var95 = self._cvar95 = None
        self._memory = self._cpu = None
        self._trades, self._guards, self._exits, self._alerts = {}, {}, {}, {}
        self._alert_sources: set[str] = set()
        self._reset_topn_state()

    def _reset_topn_state(self) -> None:
        self._equity = None      # no equity reported yet: drawdown stays 0
        self._peak = None
        self._dd = 0.0
        self._max_dd = 0.0
        self._tally = (0.0, 0.0)  # (wins, losses) of record_round_trip(won=...)
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
        self._sharpe, self._calmar = child(names.SHARPE), child(names.CALMAR)
        self._var95, self._cvar95 = child(names.VAR95), child(names.CVAR95)
        self._memory, self._cpu = child(names.MEMORY_USAGE), child(names.CPU_USAGE)
        self._trades = closed(names.TRADES, "trade_type")
        self._guards = closed(names.GUARD_TRIGGERS, "guard_type")
        self._exits = closed(names.EXITS, "reason")
        # severity -> source -> child. Nested dicts, not (severity, source) keys: two lookups
        # of cached string hashes are cheaper than building and hashing a tuple per call.
        self._alerts = {v: {} for v in self._catalog.metric(names.BOT_ALERTS).label("severity").values}
        self._alert_sources = set()

    def _roll_day(self, now: float) -> None:
        """Start a new UTC day for trading_daily_pnl_usd (caller holds self._lock)."""
        if self._day_end and self._daily is not None:
            self._daily.set(0.0)
        self._day_end = (now // DAY + 1.0) * DAY

    # -- PnL, equity, drawdown ---------------------------------------------------------

    def record_pnl(self, delta_usd: float) -> bool:
        """Add a realised PnL delta to trading_pnl_usd and today's trading_daily_pnl_usd; moves equity."""
        try:
            ok = (delta_usd.__class__ is float or delta_usd.__class__ is int) and delta_usd - delta_usd == 0
        except Exception:
            ok = False
        if ok:
            now = self._clock()
            lock = self._lock
            lock.acquire()
            try:
                if now >= self._day_end:
                    self._roll_day(now)
                # Every sum is checked before anything is stored: one that would leave the float range
                # (two record_pnl(1e308)) is refused as a whole and every gauge keeps its last value.
                # The series are written directly: every writer of them holds self._lock (store.py).
                pnl_g, daily_g = self._pnl, self._daily
                pnl, daily = pnl_g.value + delta_usd, daily_g.value + delta_usd
                equity = self._equity
                if equity is not None:
                    equity += delta_usd
                if pnl - pnl == 0 and daily - daily == 0 and (equity is None or equity - equity == 0):
                    pnl_g.value, daily_g.value = pnl, daily
                    if equity is not None:
                        self._apply_equity(equity)
                    failed = False
                else:
                    failed = None  # the sum overflows
            except Exception:
                failed = True  # not bound yet, or an int beyond the float range
            finally:
                lock.release()
            if failed is False:
                self._fresh = True
                return True
            if failed is None:
                return self._overflow("record_pnl", f"delta_usd={delta_usd!r}", "trading_pnl_usd or the equity")
            if delta_usd.__class__ is float:
                return self._slow("record_pnl", None)
        return self._slow("record_pnl", self.record_pnl, Num("delta_usd", delta_usd))

    def set_equity(self, equity_usd: float) -> bool:
        """Set trading_equity_usd; tracks the peak, drawdown = (peak - equity) / peak and the max drawdown."""
        try:
            ok = (equity_usd.__class__ is float or equity_usd.__class__ is int) and equity_usd - equity_usd == 0
        except Exception:
            ok = False
        if ok:
            lock = self._lock
            lock.acquire()
            try:
                self._apply_equity(equity_usd)
                failed = False
            except Exception:
                failed = True
            finally:
                lock.release()
            if not failed:
                self._fresh = True
                return True
            if equity_usd.__class__ is float:
                return self._slow("set_equity", None)
        return self._slow("set_equity", self.set_equity, Num("equity_usd", equity_usd))

    def _apply_equity(self, equity: float) -> None:
        # Caller holds self._lock; the series are written directly (their only writers hold it too).
        equity = equity * 1.0  # an int as a float; one beyond the float range raises here, before any store
        self._equity_g.value = equity
        self._equity = equity
        peak = self._peak
        if peak is None or equity > peak:
            self._peak = peak = equity
            self._peak_g.value = equity
        # No meaningful drawdown from a peak at or below zero; equity below zero caps it at 1.
        if peak > 0.0:
            drawdown = (peak - equity) / peak
            if drawdown > 1.0:
                drawdown = 1.0
        else:
            drawdown = 0.0
        if drawdown != self._dd:
            self._dd = drawdown
            self._dd_g.value = drawdown
            if drawdown > self._max_dd:
                self._max_dd = drawdown
                self._max_dd_g.value = drawdown

    # -- round trips and win rate ------------------------------------------------------

    def record_round_trip(self, won: bool | None = None) -> bool:
        """Count a closed round trip; with won=True/False also update the win/loss tally and win rate."""
        if won is None:
            try:
                self._round_trips.inc()
            except Exception:
                return self._slow("record_round_trip", None)
        elif won is True or won is False:
            lock = self._lock
            lock.acquire()
            try:
                wins, losses = self._tally
                if won:
                    wins += 1.0
                else:
                    losses += 1.0
                self._round_trips.value += 1.0  # under self._lock, as every increment (store.py)
                self._win_rate_g.value = wins / (wins + losses)
                self._tally = (wins, losses)
                failed = False
            except Exception:
                failed = True
            finally:
                lock.release()
            if failed:
                return self._slow("record_round_trip", None)
        else:
            return self._slow("record_round_trip", self.record_round_trip, Flag("won", won))
        self._fresh = True
        return True

    def record_win_rate(self, wins: float, losses: float) -> bool:
        """Set trading_win_rate_ratio = wins / (wins + losses) (0 while both are 0).

        For bots that keep their own counts (a rolling window, say). It does not touch the
        tally record_round_trip(won=...) keeps: use one way or the other for the win rate.
        """
        try:
            if ((wins.__class__ is float or wins.__class__ is int)
                    and (losses.__class__ is float or losses.__class__ is int)):
                total = wins + losses  # finite exactly when both are (short of overflow)
                if total - total == 0 and wins >= 0 and losses >= 0:
                    self._win_rate_g.set(wins / total if total else 0.0)
                    self._fresh = True
                    return True
        except Exception:
            if wins.__class__ is float and losses.__class__ is float:  # unbound: converting cannot help
                return self._slow("record_win_rate", None)
        return self._slow("record_win_rate", self._win_rate_checked,
                          Num("wins", wins, non_negative=True), Num("losses", losses, non_negative=True))

    def _win_rate_checked(self, wins: float, losses: float) -> bool:
        """The slow path of record_win_rate: two finite floats >= 0 whose sum may overflow (1e308 + 1e308)."""
        half = wins * 0.5 + losses * 0.5
        self._win_rate_g.set(wins * 0.5 / half if half else 0.0)
        self._fresh = True
        return True

    # -- counters by closed label ----------------------------------------------------

    def record_trade(self, trade_type: str) -> bool:
        """Count an executed trade: trade_type is entry or exit."""
        try:
            self._trades[trade_type].inc()
        except Exception:
            return self._slow("record_trade", self._closed_retry, self.record_trade, names.TRADES, "trade_type",
                              trade_type)
        self._fresh = True
        return True

    def record_guard_trigger(self, guard_type: str) -> bool:
        """Count a risk guard trigger: guard_type is exchange, route, symbol or global."""
        try:
            self._guards[guard_type].inc()
        except Exception:
            return self._slow("record_guard_trigger", self._closed_retry, self.record_guard_trigger,
                              names.GUARD_TRIGGERS, "guard_type", guard_type)
        self._fresh = True
        return True

    def record_exit_reason(self, reason: str) -> bool:
        """Count a position exit: take_profit, stop_loss, time_limit or spread_reversal."""
        try:
            self._exits[reason].inc()
        except Exception:
            return self._slow("record_exit_reason", self._closed_retry, self.record_exit_reason, names.EXITS,
                              "reason", reason)
        self._fresh = True
        return True

    def record_alert(self, severity: str, source: str) -> bool:
        """Count an alert the bot raised: severity P0..P3, source the raising component (open set)."""
        try:
            self._alerts[severity][source].inc()
        except Exception:
            return self._slow("record_alert", self._new_alert_source, severity, source)
        self._fresh = True
        return True

    def _new_alert_source(self, severity: object, source: object) -> bool:
        spec = self._catalog.metric(names.BOT_ALERTS)
        severity = closed_value(severity, spec.label("severity"), "severity")
        source = open_value(source, "source")
        if self._bot is None:
            raise LookupError("not bound")
        # A new source gets all its severities at once (at 0), so rate() works from the first alert.
        self._remember(self._alert_sources, names.BOT_ALERTS, "source")
        self._alert_sources.add(source)
        metric = self._metrics[names.BOT_ALERTS]
        for value, children in self._alerts.items():
            children.setdefault(source, metric.labels(*self._bot, value, source))
        return self.record_alert(severity, source)

    def _closed_retry(self, call, metric: str, label: str, value: object) -> bool:
        text = closed_value(value, self._catalog.metric(metric).label(label), label)
        if text is not value:  # a str subclass (a StrEnum member): its plain string finds the child
            return call(text)
        raise LookupError("not bound")  # a valid value that found no child: the bot labels are not bound yet

    # -- latency and gauges --------------------------------------------------------------

    def record_loop_latency(self, seconds: float) -> bool:
        """Observe one trading-loop iteration's duration in seconds."""
        try:
            if (seconds.__class__ is float or seconds.__class__ is int) and seconds - seconds == 0 and seconds >= 0:
                self._loop_latency.observe(seconds)  # a Decimal fails in here before anything is counted
                self._fresh = True
                return True
        except Exception:
            if seconds.__class__ is float:  # unbound (before init_metrics): converting cannot help
                return self._slow("record_loop_latency", None)
        return self._slow("record_loop_latency", self.record_loop_latency,
                          Num("seconds", seconds, non_negative=True))

    def set_active_positions(self, count: int) -> bool:
        """Set trading_active_positions."""
        try:
            if (count.__class__ is float or count.__class__ is int) and count - count == 0:
                self._active_positions.set(count)
                self._fresh = True
                return True
        except Exception:
            if count.__class__ is float:  # unbound (before init_metrics): converting cannot help
                return self._slow("set_active_positions", None)
        return self._slow("set_active_positions", self.set_active_positions, Num("count", count))

    def set_risk_metrics(self, sharpe: float | None = None, calmar: float | None = None,
                         var95_usd: float | None = None, cvar95_usd: float | None = None) -> bool:
        """Set any of Sharpe, Calmar, VaR 95 and CVaR 95 (USD); None leaves a gauge as it is.

        Each value is checked on its own: a bad one is dropped, the good ones are applied.
        Returns True only when every value given was applied.
        """
        try:  # the common case, every given value a plain finite number, without a helper call per value
            if sharpe is not None:
                if not ((sharpe.__class__ is float or sharpe.__class__ is int) and sharpe - sharpe == 0):
                    raise ValueError
                self._sharpe.set(sharpe)
            if calmar is not None:
                if not ((calmar.__class__ is float or calmar.__class__ is int) and calmar - calmar == 0):
                    raise ValueError
                self._calmar.set(calmar)
            if var95_usd is not None:
                if not ((var95_usd.__class__ is float or var95_usd.__class__ is int) and var95_usd - var95_usd == 0):
                    raise ValueError
                self._var95.set(var95_usd)
            if cvar95_usd is not None:
                if not ((cvar95_usd.__class__ is float or cvar95_usd.__class__ is int)
                        and cvar95_usd - cvar95_usd == 0):
                    raise ValueError
                self._cvar95.set(cvar95_usd)
        except Exception:
            # Something odd (NaN, a string, an unbound gauge): every given value again, the careful
            # way; setting a good one twice is harmless, and each bad one is counted exactly once.
            applied = True
            for what, value, gauge in (("sharpe", sharpe, self._sharpe), ("calmar", calmar, self._calmar),
                                       ("var95_usd", var95_usd, self._var95),
                                       ("cvar95_usd", cvar95_usd, self._cvar95)):
                if value is not None:
                    applied = self._set_risk(gauge, what, value) and applied
            return applied
        self._fresh = True
        return True

    def _set_risk(self, gauge, what: str, value: float) -> bool:
        """One risk gauge, checked: the slow path of set_risk_metrics()."""
        try:
            if (value.__class__ is float or value.__class__ is int) and value - value == 0:
                gauge.set(value)
                self._fresh = True
                return True
        except Exception:
            if value.__class__ is float:  # unbound (before init_metrics): converting cannot help
                return self._slow("set_risk_metrics", None)
        return self._slow("set_risk_metrics", self._set_risk, gauge, what, Num(what, value))

    # -- bot-reported resources (D77-1 API) ----------------------------------------------

    def record_memory_usage(self, bytes: float) -> bool:  # noqa: A002 - the D77-1 API's argument name
        """Set trading_memory_usage_bytes: the memory the bot itself uses (its RSS, say), in bytes.

        Bot-reported: in sidecar mode the exporter's process_resident_memory_bytes describes
        the exporter, not the bot.
        """
        try:
            if (bytes.__class__ is float or bytes.__class__ is int) and bytes - bytes == 0 and bytes >= 0:
                self._memory.set(bytes)
                self._fresh = True
                return True
        except Exception:
            if bytes.__class__ is float:  # unbound (before init_metrics): converting cannot help
                return self._slow("record_memory_usage", None)
        return self._slow("record_memory_usage", self.record_memory_usage, Num("bytes", bytes, non_negative=True))

    def record_cpu_usage(self, percent: float) -> bool:
        """Set trading_cpu_usage_ratio from the bot's CPU use in percent of one core (psutil's cpu_percent()).

        Stored as a ratio (50 % -> 0.5; above 1 on several cores), as Prometheus units go.
        """
        try:
            if (percent.__class__ is float or percent.__class__ is int) and percent - percent == 0 and percent >= 0:
                self._cpu.set(percent / 100.0)
                self._fresh = True
                return True
        except Exception:
            if percent.__class__ is float:  # unbound (before init_metrics): converting cannot help
                return self._slow("record_cpu_usage", None)
        return self._slow("record_cpu_usage", self.record_cpu_usage, Num("percent", percent, non_negative=True))
