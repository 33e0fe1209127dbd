"""FX multi-source calls: per-source quote, freshness, connection and outliers; median and fallback.

Sources are an open label set (source="okx"): children are created the first
time a source is seen and cached, so later calls are a dict lookup plus .set().
"""
from __future__ import annotations

from exporter import names
from exporter.checks import INF, as_flag, as_number, open_value


class FxMetrics:
    """Mixin of BotMetrics; relies on its _clock, _metrics, _remember() and _slow()."""

    def _unbind_fx(self) -> None:
        self._fx_rate, self._fx_ts, self._fx_connected, self._fx_outliers = {}, {}, {}, {}
        self._fx_median = self._fx_valid = self._fx_fallback = None

    def _bind_fx(self) -> None:
        self._unbind_fx()
        self._fx_median = self._metrics[names.FX_MEDIAN]
        self._fx_valid = self._metrics[names.FX_VALID_SOURCES]
        self._fx_fallback = self._metrics[names.FX_FALLBACK]

    def _fx_child(self, cache: dict, metric: str, source: object):
        """Create (once) the child of `metric` for a new source; also its outlier counter at 0.

        Only the counter is created ahead: a rate or timestamp of 0 would read as a
        100 % deviation or a stale feed, so those appear with the first real value.
        """
        source = open_value(source, "source")
        if source not in self._fx_outliers:
            self._remember(self._fx_outliers, names.FX_OUTLIERS, "source")
            self._fx_outliers[source] = self._metrics[names.FX_OUTLIERS].labels(source)
        if source not in cache:
            self._remember(cache, metric, "source")
            cache[source] = self._metrics[metric].labels(source)
        return source

    def record_fx_quote(self, source: str, rate: float, timestamp: float | None = None) -> bool:
        """Set fx_source_rate{source} and its last-message time (now, or the message's own timestamp)."""
        if rate.__class__ is float and -INF < rate < INF and (
                timestamp is None or (timestamp.__class__ is float and -INF < timestamp < INF)):
            try:
                rate_child = self._fx_rate[source]
                ts_child = self._fx_ts[source]
            except Exception:
                return self._slow("record_fx_quote", lambda: self._new_quote_source(source, rate, timestamp))
            now = self._clock()
            rate_child.set(rate)
            ts_child.set(now if timestamp is None else timestamp)
            self._last_event = now
            return True
        return self._slow("record_fx_quote", lambda: self.record_fx_quote(
            source, as_number(rate, "rate"), None if timestamp is None else as_number(timestamp, "timestamp")))

    def _new_quote_source(self, source, rate, timestamp) -> bool:
        self._fx_child(self._fx_rate, names.FX_RATE, source)
        self._fx_child(self._fx_ts, names.FX_LAST_MESSAGE, source)
        return self.record_fx_quote(source, rate, timestamp)

    def set_fx_source_connected(self, source: str, connected: bool) -> bool:
        """Set fx_source_connected{source} to 1 or 0."""
        if connected is True or connected is False:
            try:
                child = self._fx_connected[source]
            except Exception:
                return self._slow("set_fx_source_connected", lambda: self._fx_retry(
                    self._fx_connected, names.FX_CONNECTED, source,
                    lambda: self.set_fx_source_connected(source, connected)))
            child.set(1.0 if connected else 0.0)
            self._last_event = self._clock()
            return True
        return self._slow("set_fx_source_connected",
                          lambda: self.set_fx_source_connected(source, as_flag(connected, "connected")))

    def record_fx_outlier(self, source: str) -> bool:
        """Count a quote from `source` rejected as an outlier."""
        try:
            self._fx_outliers[source].inc()
        except Exception:
            return self._slow("record_fx_outlier", lambda: self._fx_retry(
                self._fx_outliers, names.FX_OUTLIERS, source, lambda: self.record_fx_outlier(source)))
        self._last_event = self._clock()
        return True

    def _fx_retry(self, cache, metric, source, again) -> bool:
        self._fx_child(cache, metric, source)
        return again()

    def set_fx_median(self, rate: float) -> bool:
        """Set fx_median_rate, the aggregated USDT/USD rate."""
        return self._set_plain(self._fx_median, "set_fx_median", "rate", rate)

    def set_fx_valid_sources(self, n: int) -> bool:
        """Set fx_valid_sources, the number of sources feeding the median."""
        return self._set_plain(self._fx_valid, "set_fx_valid_sources", "n", n)

    def set_fx_fallback(self, active: bool) -> bool:
        """Set fx_http_fallback_active to 1 while the aggregator polls HTTP instead of live feeds."""
        if active is True or active is False:
            try:
                self._fx_fallback.set(1.0 if active else 0.0)
            except Exception:
                return self._slow("set_fx_fallback", None)
            self._last_event = self._clock()
            return True
        return self._slow("set_fx_fallback", lambda: self.set_fx_fallback(as_flag(active, "active")))

    def _set_plain(self, gauge, call: str, what: str, value) -> bool:
        """Set an unlabelled gauge (shared by the FX and API setters)."""
        cls = value.__class__
        if (cls is float or cls is int) and -INF < value < INF:
            try:
                gauge.set(value)
            except Exception:
                return self._slow(call, None)
            self._last_event = self._clock()
            return True
        return self._slow(call, lambda: self._set_plain(gauge, call, what, as_number(value, what)))
