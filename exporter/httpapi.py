"""HTTP API calls: requests and latency by route, WebSockets, rate limiter, orders, open positions,
realized PnL by symbol.

The route label is named by the catalog's path_label (path, or handler for
stacks that follow prometheus-fastapi-instrumentator). Pass route templates
(/orders/{order_id}), never raw URLs: every distinct value is a new series.
"""
from __future__ import annotations

from exporter import names
from exporter.checks import Num, Refused, as_flag, closed_value, open_value, status_code


class HttpMetrics:
    """Mixin of BotMetrics; relies on its _clock, _metrics, _remember() and _slow() (idioms as in topn.py)."""

    def _unbind_http(self) -> None:
        # Nested dicts keyed by the values as passed (two or three lookups of cached string
        # hashes are cheaper than building and hashing a tuple key on every call).
        self._http = {}            # method -> path -> status -> (request counter, duration histogram)
        self._http_keys = 0        # how many (method, path, status) as passed are cached
        self._http_by_labels = {}  # normalised (method, path, status) -> the same pair
        self._orders = {}          # side -> status -> exchange -> child
        self._order_exchanges: set[str] = set()
        self._open_positions = {}  # symbol -> child
        self._realized_pnl = {}    # symbol -> child
        self._rate_limit = {}      # limited (bool) -> child
        self._websockets = None

    def _bind_http(self) -> None:
        self._unbind_http()
        self._websockets = self._metrics[names.WEBSOCKETS].labels()  # its only series
        limiter = self._metrics[names.RATE_LIMITER]
        values = self._catalog.metric(names.RATE_LIMITER).label("status").values
        if "limited" not in values or "allowed" not in values:
            raise ValueError(f"catalog: {names.RATE_LIMITER} `status` values must include allowed and limited")
        self._rate_limit = {True: limiter.labels("limited"), False: limiter.labels("allowed")}
        spec = self._catalog.metric(names.ORDERS)
        self._orders = {side: {status: {} for status in spec.label("status").values}
                        for side in spec.label("side").values}

    def observe_http_request(self, method: str, path: str, status: int | str, seconds: float) -> bool:
        """Count a served request and observe its duration; path is the route template."""
        try:
            ok = (seconds.__class__ is float or seconds.__class__ is int) and seconds - seconds == 0 and seconds >= 0
        except Exception:
            ok = False
        if ok:
            try:
                requests, duration = self._http[method][path][status]
            except Exception:
                return self._slow("observe_http_request", self._new_http_route, method, path, status,
                                  Num("seconds", seconds, non_negative=True))
            try:
                duration.observe(seconds)  # first: a Decimal fails here, before anything is counted
            except Exception:
                if seconds.__class__ is float:
                    return self._slow("observe_http_request", None)
            else:
                requests.inc()
                self._fresh = True
                return True
        return self._slow("observe_http_request", self.observe_http_request, method, path, status,
                          Num("seconds", seconds, non_negative=True))

    def _new_http_route(self, method, path, status, seconds) -> bool:
        labels = (open_value(method, "method").upper(), open_value(path, self._catalog.path_label),
                  status_code(status))
        pair = self._http_by_labels.get(labels)
        if pair is None:
            self._remember(self._http_by_labels, names.HTTP_REQUESTS,
                           f"(method, {self._catalog.path_label}, status)")
            pair = (self._metrics[names.HTTP_REQUESTS].labels(*labels),
                    self._metrics[names.HTTP_DURATION].labels(*labels[:2]))
            self._http_by_labels[labels] = pair
        # The key as passed ("get", 200) and the normalised one may differ; both map to the same children.
        if self._http_keys >= 4 * self._max_label_values:  # the same routes passed in many spellings
            raise Refused(names.UNKNOWN_LABEL_VALUE, f"{names.HTTP_REQUESTS}: more than "
                          f"{4 * self._max_label_values} distinct (method, path, status) arguments")
        self._http.setdefault(method, {}).setdefault(path, {})[status] = pair
        self._http_keys += 1
        return self.observe_http_request(method, path, status, seconds)

    def set_websocket_connections(self, n: int) -> bool:
        """Set http_websocket_connections, the WebSockets open now."""
        try:
            if (n.__class__ is float or n.__class__ is int) and n - n == 0:
                self._websockets.set(n)
                self._fresh = True
                return True
        except Exception:
            if n.__class__ is float:  # unbound (before init_metrics): converting cannot help
                return self._slow("set_websocket_connections", None)
        return self._slow("set_websocket_connections", self.set_websocket_connections, Num("n", n))

    def record_rate_limit(self, limited: bool) -> bool:
        """Count a request seen by the rate limiter: limited=True, or False when allowed."""
        try:
            self._rate_limit[limited].inc()
        except Exception:
            return self._slow("record_rate_limit", self._rate_limit_retry, limited)
        self._fresh = True
        return True

    def _rate_limit_retry(self, limited) -> bool:
        flag = as_flag(limited, "limited")
        if not self._rate_limit:
            raise LookupError  # not bound yet
        return self.record_rate_limit(flag)

    def record_order(self, side: str, status: str, exchange: str) -> bool:
        """Count an order: side buy/sell, final status filled/rejected/cancelled, exchange (open set)."""
        try:
            self._orders[side][status][exchange].inc()
        except Exception:
            return self._slow("record_order", self._new_order_exchange, side, status, exchange)
        self._fresh = True
        return True

    def _new_order_exchange(self, side, status, exchange) -> bool:
        spec = self._catalog.metric(names.ORDERS)
        side = closed_value(side, spec.label("side"), "side")
        status = closed_value(status, spec.label("status"), "status")
        exchange = open_value(exchange, "exchange")
        metric = self._metrics[names.ORDERS]
        # A new exchange gets every side x status at once (at 0), so ratios and rate() work at once.
        if not self._orders:
            raise LookupError("not bound")
        self._remember(self._order_exchanges, names.ORDERS, "exchange")
        self._order_exchanges.add(exchange)
        for s, by_status in self._orders.items():
            for st, children in by_status.items():
                children.setdefault(exchange, metric.labels(s, st, exchange))
        return self.record_order(side, status, exchange)

    def set_open_positions(self, symbol: str, count: int) -> bool:
        """Set api_open_positions{symbol}."""
        try:
            if (count.__class__ is float or count.__class__ is int) and count - count == 0:
                self._open_positions[symbol].set(count)
                self._fresh = True
                return True
        except KeyError:  # a new symbol, or not bound yet
            return self._slow("set_open_positions", self._new_symbol, symbol, Num("count", count))
        except Exception:
            if count.__class__ is float:  # the count is fine: the symbol is not (unhashable)
                return self._slow("set_open_positions", self._new_symbol, symbol, Num("count", count))
        return self._slow("set_open_positions", self.set_open_positions, symbol, Num("count", count))

    def _new_symbol(self, symbol, count) -> bool:
        symbol = open_value(symbol, "symbol")
        self._remember(self._open_positions, names.OPEN_POSITIONS, "symbol")
        self._open_positions[symbol] = self._metrics[names.OPEN_POSITIONS].labels(symbol)
        return self.set_open_positions(symbol, count)

    def set_realized_pnl(self, symbol: str, usd: float) -> bool:
        """Set api_realized_pnl_usd{symbol}: profit and loss of the symbol's closed positions, in USD."""
        try:
            if (usd.__class__ is float or usd.__class__ is int) and usd - usd == 0:
                self._realized_pnl[symbol].set(usd)
                self._fresh = True
                return True
        except KeyError:  # a new symbol, or not bound yet
            return self._slow("set_realized_pnl", self._new_pnl_symbol, symbol, usd)
        except Exception:
            if usd.__class__ is float:  # the amount is fine: the symbol is not (unhashable)
                return self._slow("set_realized_pnl", self._new_pnl_symbol, symbol, usd)
        return self._slow("set_realized_pnl", self.set_realized_pnl, symbol, Num("usd", usd))

    def _new_pnl_symbol(self, symbol, usd) -> bool:
        symbol = open_value(symbol, "symbol")
        self._remember(self._realized_pnl, names.REALIZED_PNL, "symbol")
        self._realized_pnl[symbol] = self._metrics[names.REALIZED_PNL].labels(symbol)
        return self.set_realized_pnl(symbol, usd)
