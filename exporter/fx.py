"""FX multi-source calls: per-source quote, freshness, connection and outliers; median and fallback.

Sources are an open label set (source="okx"): children are created the first
time a source is seen and cached, so later calls are a dict lookup plus .set().
"""
from __future__ import annotations

from exporter import names
from exporter.checks import Flag, Num, open_value


class FxMetrics:
    """Mixin of BotMetrics; relies on its _clock, _metrics, _remember() and _slow().

    Hot-path idioms as in topn.py: `x - x == 0` for "a finite number", failures go to _slow().
    """

    def _unbind_fx(self) -> None:
        self._fx_quotes = {}      # source -> (rate child, last-message child)
        self._fx_connected = {}   # source -> child
        self._fx_outliers = {}    # source -> child
        self._fx_median = self._fx_valid = self._fx_fallback = None

    def _bind_fx(self) -> None:
        self._unbind_fx()
        # the only series of each unlabelled family (its .labels()): no delegation on the hot path
        self._fx_median = self._metrics[names.FX_MEDIAN].labels()
        self._fx_valid = self._metrics[names.FX_VALID_SOURCES].labels()
        self._fx_fallback = self._metrics[names.FX_FALLBACK].labels()

    def _fx_source(self, source: object) -> str:
        """Check a new source and create its outlier counter at 0.

        Only the counter is created ahead: a rate or timestamp of 0 would read as a
        100 % deviation or a stale feed, so those appear with the first real value.
        """
        source = open_value(source, "source")
        if source not in self._fx_outliers:
            self._remember(self._fx_outliers, names.FX_OUTLIERS, "source")
            self._fx_outliers[source] = self._metrics[names.FX_OUTLIERS].labels(source)
        return source

    def record_fx_quote(self, source: str, rate: float, timestamp: float | None = None) -> bool:
        """Set fx_source_rate{source} and its last-message time (now, or the message's own timestamp)."""
        if ((rate.__class__ is float or rate.__class__ is int) and rate - rate == 0
                and (timestamp is None or ((timestamp.__class__ is float or timestamp.__class__ is int)
                                           and timestamp - timestamp == 0))):
            try:
                rate_child, stamp_child = self._fx_quotes[source]
            except Exception:
                # Values converted first: a refused one must not leave a new source's series behind.
                return self._slow("record_fx_quote", self._new_quote_source, source, Num("rate", rate),
                                  Num("timestamp", timestamp, optional=True))
            if rate.__class__ is int or timestamp.__class__ is int:
                try:  # both converted before either is set: a huge int fails here, changing nothing
                    rate = float(rate)
                    timestamp = None if timestamp is None else float(timestamp)
                except OverflowError:
                    return self._slow("record_fx_quote", self.record_fx_quote, source, Num("rate", rate),
                                      Num("timestamp", timestamp, optional=True))
            rate_child.set(rate)
            stamp_child.set(self._clock() if timestamp is None else timestamp)
            self._fresh = True
            return True
        return self._slow("record_fx_quote", self.record_fx_quote, source, Num("rate", rate),
                          Num("timestamp", timestamp, optional=True))

    def _new_quote_source(self, source, rate, timestamp) -> bool:
        source = self._fx_source(source)
        self._remember(self._fx_quotes, names.FX_RATE, "source")
        self._fx_quotes[source] = (self._metrics[names.FX_RATE].labels(source),
                                   self._metrics[names.FX_LAST_MESSAGE].labels(source))
        return self.record_fx_quote(source, rate, timestamp)

    def set_fx_source_connected(self, source: str, connected: bool) -> bool:
        """Set fx_source_connected{source} to 1 or 0."""
        if connected is True or connected is False:
            try:
                child = self._fx_connected[source]
            except Exception:
                return self._slow("set_fx_source_connected", self._new_connected_source, source, connected)
            child.set(1.0 if connected else 0.0)
            self._fresh = True
            return True
        return self._slow("set_fx_source_connected", self.set_fx_source_connected,
                          source, Flag("connected", connected))

    def _new_connected_source(self, source, connected) -> bool:
        source = self._fx_source(source)
        self._remember(self._fx_connected, names.FX_CONNECTED, "source")
        self._fx_connected[source] = self._metrics[names.FX_CONNECTED].labels(source)
        return self.set_fx_source_connected(source, connected)

    def record_fx_outlier(self, source: str) -> bool:
        """Count a quote from `source` rejected as an outlier."""
        try:
            self._fx_outliers[source].inc()
        except Exception:
            return self._slow("record_fx_outlier", self._new_outlier_source, source)
        self._fresh = True
        return True

    def _new_outlier_source(self, source) -> bool:
        return self.record_fx_outlier(self._fx_source(source))

    def set_fx_median(self, rate: float) -> bool:
        """Set fx_median_rate, the aggregated USDT/USD rate."""
        try:
            if (rate.__class__ is float or rate.__class__ is int) and rate - rate == 0:
                self._fx_median.set(rate)
                self._fresh = True
                return True
        except Exception:
            if rate.__class__ is float:  # unbound (before init_metrics): converting cannot help
                return self._slow("set_fx_median", None)
        return self._slow("set_fx_median", self.set_fx_median, Num("rate", rate))

    def set_fx_valid_sources(self, n: int) -> bool:
        """Set fx_valid_sources, the number of sources feeding the median."""
        try:
            if (n.__class__ is float or n.__class__ is int) and n - n == 0:
                self._fx_valid.set(n)
                self._fresh = True
                return True
        except Exception:
            if n.__class__ is float:  # unbound (before init_metrics): converting cannot help
                return self._slow("set_fx_valid_sources", None)
        return self._slow("set_fx_valid_sources", self.set_fx_valid_sources, Num("n", n))

    def set_fx_fallback(self, active: bool) -> bool:
        """Set fx_http_fallback_active to 1 while the aggregator polls HTTP instead of live feeds."""
        if active is True or active is False:
            try:
                self._fx_fallback.set(1.0 if active else 0.0)
            except Exception:
                return self._slow("set_fx_fallback", None)
            self._fresh = True
            return True
        return self._slow("set_fx_fallback", self.set_fx_fallback, Flag("active", active))
