"""Trading-operations calls: orders, venues, market data, clock, trading state, risk limits. Declared as data.

Each call is one row of CALLS: the label arguments it takes, and for each value argument the signal it
feeds and how (set, a 0/1 flag, inc, observe, or a one-hot over a closed label's values). One generic
method serves every row; the sidecar's event types (events.py) and the catalog check (names.FEEDS) are
derived from the same rows, so a new signal is a row here plus its entry in stackgen/data/signals.yaml.

Like every call of the exporter, these never raise: a bad value or label is dropped and counted in
exporter_dropped_updates_total{reason}; open label values are bounded by max_label_values per metric.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources

from exporter import names
from exporter.checks import Refused, as_flag, as_number, closed_value, open_value

_SIGNALS: dict[str, str] = json.loads(
    resources.files(__package__).joinpath("signals.json").read_text(encoding="utf-8"))["signals"]

# How a value argument feeds its signal (and the metric type that takes it).
OPS = {"set": "gauge", "flag": "gauge", "signed": "gauge", "now": "gauge", "onehot": "gauge",
       "inc": "counter", "observe": "histogram"}


@dataclass(frozen=True)
class Feed:
    argument: str                  # the value argument ("" for inc: counts one)
    signal: str                    # signal key (stackgen/data/signals.yaml)
    op: str                        # one of OPS
    fixed: tuple[tuple[str, str], ...] = ()   # labels this feed sets itself (ledger="bot")
    optional: bool = False         # None leaves the series as it is

    @property
    def metric(self) -> str:
        return _SIGNALS[self.signal]


@dataclass(frozen=True)
class Call:
    name: str
    event: str                     # the sidecar's event type
    doc: str
    labels: tuple[str, ...]        # label arguments, first, in call order
    feeds: tuple[Feed, ...]
    bot: bool = False              # its series carry the bot labels (needs init_metrics())
    zero: tuple[str, ...] = ()     # counters (signal keys) whose series for these labels it creates at 0


CALLS: tuple[Call, ...] = (
    Call("record_order_latency", "order_latency", "Observe one order's submit-to-acknowledgement time, in seconds.",
         ("exchange",), (Feed("seconds", "order_latency", "observe"),), bot=True),
    Call("set_exchange_connected", "exchange_status", "Set whether the bot's session with an exchange is up.",
         ("exchange",), (Feed("connected", "exchange_connected", "flag"),)),
    Call("record_market_data", "market_data", "A market-data feed got an update (timestamp: Unix time, default now).",
         ("feed",), (Feed("timestamp", "market_data_last_update", "now", optional=True),)),
    Call("set_clock_skew", "clock_skew", "Set local clock minus a reference clock (an exchange, ntp), in seconds.",
         ("reference",), (Feed("seconds", "clock_skew", "signed"),)),
    Call("set_trading_state", "trading_state", "Set the bot's trading state: active, reducing or halted.",
         (), (Feed("state", "trading_state", "onehot"),), bot=True),
    Call("set_kill_switch", "kill_switch", "Set whether the bot's kill switch is tripped.",
         (), (Feed("active", "kill_switch", "flag"),), bot=True),
    # An exchange's ban counters exist (at 0) from its first usage report: increase() sees the first ban.
    Call("set_rate_limit", "rate_limit_usage", "Set the request weight used on an exchange and its limit per window.",
         ("exchange",), (Feed("used", "rate_limit_used", "set"),
                         Feed("limit", "rate_limit_limit", "set", optional=True)),
         zero=("rate_limit_bans",)),
    Call("record_rate_limit_ban", "rate_limit_ban", "Count a 429 (back off) or 418 (banned) reply of an exchange.",
         ("exchange", "code"), (Feed("", "rate_limit_bans", "inc"),)),
    Call("set_position", "position", "Set a symbol's signed position notional in USD, and its limit.",
         ("symbol",), (Feed("notional_usd", "position_notional", "signed"),
                       Feed("limit_usd", "position_limit", "set", optional=True)), bot=True),
    Call("set_balance", "balance", "Set an asset's balance in USD as the bot books it and as the exchange reports it.",
         ("asset",), (Feed("bot_usd", "balance", "signed", (("ledger", "bot"),), optional=True),
                      Feed("exchange_usd", "balance", "signed", (("ledger", "exchange"),), optional=True)), bot=True),
)

# metric -> (type, labels) for the catalog check at start-up (names.BOT stands for the bot labels).
FEEDS: dict[str, tuple[str, tuple[str, ...]]] = {}
for _call in CALLS:
    for _feed in _call.feeds:
        _labels = ((names.BOT,) if _call.bot else ()) + _call.labels + tuple(k for k, _ in _feed.fixed)
        if _feed.op == "onehot":
            _labels += (_feed.argument,)
        FEEDS[_feed.metric] = (OPS[_feed.op], _labels)


class OpsMetrics:
    """Mixin of BotMetrics; relies on its _bot, _clock, _catalog, _metrics, _remember() and _slow()."""

    def _unbind_ops(self) -> None:
        self._ops_children: dict[str, dict[tuple, tuple]] = {}   # call -> label arguments -> children

    def _ops(self, call: Call, n: int, required: int, arity: int, args: tuple, kwargs: dict) -> bool:
        """The fast path: arguments by position (trailing optional ones may be left out), known label values,
        plain good values; anything else goes to the slow path (names, new label values, conversions, drops)."""
        given = len(args)
        if kwargs or not required <= given <= arity:
            return self._slow(call.name, self._ops_new, call, args, kwargs)
        try:
            children = self._ops_children[call.name][args[:n]]
        except Exception:
            return self._slow(call.name, self._ops_new, call, args, kwargs)
        values = (args[n:] + (None,) * (arity - given)) if arity > n else (None,)
        try:
            for (feed, child), value in zip(children, values, strict=True):   # all checked, then all applied
                if not _fits(feed, child, value):
                    return self._slow(call.name, self._ops_checked, call, children, values)
            for (feed, child), value in zip(children, values, strict=True):
                _put(feed, child, value, self._clock)
        except Exception:
            return self._slow(call.name, self._ops_checked, call, children, values)
        self._fresh = True
        return True

    def _ops_new(self, call: Call, args: tuple, kwargs: dict) -> bool:
        """First use of these label values (or a bad call): check them, bind the children, apply."""
        try:
            labels, values = _bind(call, args, kwargs)
        except TypeError as exc:
            raise Refused(names.BAD_TYPE, str(exc)) from None
        if call.bot and self._bot is None:
            raise LookupError("not bound")
        checked = tuple(self._ops_label(call, name, value) for name, value in zip(call.labels, labels, strict=True))
        cache = self._ops_children.setdefault(call.name, {})
        children = cache.get(checked)
        if children is None:
            if call.labels:
                self._remember(cache, call.feeds[0].metric, "(" + ", ".join(call.labels) + ")")
            children = tuple((feed, self._ops_child(call, feed, checked)) for feed in call.feeds)
            cache[checked] = children
            for key in call.zero:
                self._ops_zero(_SIGNALS[key], dict(zip(call.labels, checked, strict=True)))
        cache.setdefault(labels, children)    # as passed, when that differs (an int code, a str subclass)
        return self._ops_checked(call, children, values)

    def _ops_checked(self, call: Call, children: tuple, values: tuple) -> bool:
        """Check every value first, so a bad one leaves every series of the call as it was."""
        good = [None if value is None else _check(feed, value, self._catalog) for (feed, _), value in
                zip(children, values, strict=True)]
        for (feed, child), value in zip(children, good, strict=True):
            _put(feed, child, value, self._clock)
        self._fresh = True
        return True

    def _ops_label(self, call: Call, name: str, value: object) -> str:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(int.__int__(value))     # a status code given as a number
        label = self._catalog.metric(call.feeds[0].metric).label(name)
        return closed_value(value, label, name) if label.values else open_value(value, name)

    def _ops_zero(self, metric: str, given: dict[str, str]) -> None:
        """Every series of a counter with these label values, its closed labels over all their values."""
        combos: list[tuple[str, ...]] = [()]
        for label in self._catalog.metric(metric).labels:
            choices = (given[label.name],) if label.name in given else label.values
            combos = [c + (v,) for c in combos for v in choices]
        for combo in combos:
            self._metrics[metric].labels(*combo)

    def _ops_child(self, call: Call, feed: Feed, labels: tuple[str, ...]):
        metric = self._metrics[feed.metric]
        values = ((self._bot if call.bot else ()) + labels + tuple(v for _, v in feed.fixed))
        if feed.op != "onehot":
            return metric.labels(*values) if values else metric
        states = self._catalog.metric(feed.metric).label(feed.argument).values
        return {state: metric.labels(*values, state) for state in states}


def _bind(call: Call, args: tuple, kwargs: dict) -> tuple[tuple, tuple]:
    """(label arguments, value arguments) of a call, positional or by name; optional values default to None."""
    params = call.labels + tuple(f.argument for f in call.feeds if f.argument)
    if len(args) > len(params):
        raise TypeError(f"takes {len(params)} arguments ({', '.join(params)}), got {len(args)}")
    given = dict(zip(params, args, strict=False))     # fewer args than params: the rest by name
    for key, value in kwargs.items():
        if key not in params or key in given:
            raise TypeError(f"unexpected or repeated argument {key!r}")
        given[key] = value
    required = call.labels + tuple(f.argument for f in call.feeds if f.argument and not f.optional)
    missing = [p for p in required if p not in given]
    if missing:
        raise TypeError(f"missing argument {missing[0]!r}")
    values = tuple(given.get(f.argument) if f.argument else 1.0 for f in call.feeds)
    return tuple(given[p] for p in call.labels), values


def _check(feed: Feed, value: object, catalog) -> object:
    """A value the feed can apply, or Refused naming what is wrong."""
    if feed.op == "flag":
        return as_flag(value, feed.argument)
    if feed.op == "onehot":
        return closed_value(value, catalog.metric(feed.metric).label(feed.argument), feed.argument)
    if feed.op == "inc":
        return 1.0
    return as_number(value, feed.argument or "value",
                     non_negative=feed.op in ("set", "observe", "now"))


def _fits(feed: Feed, child, value) -> bool:
    """Whether the fast path can apply `value` as it is (no conversion, nothing to drop)."""
    op = feed.op
    if value is None:
        return feed.optional or op == "now" or op == "inc"
    if op == "onehot":
        return value.__class__ is str and value in child
    if op == "flag":
        return value is True or value is False or (value.__class__ is int and (value == 0 or value == 1))
    return ((value.__class__ is float or value.__class__ is int) and value - value == 0
            and (op == "signed" or value >= 0))


def _put(feed: Feed, child, value, clock) -> None:
    """Apply a value that fits (None: nothing, or the time for `now`, or one for `inc`)."""
    op = feed.op
    if op == "inc":
        child.inc()
    elif value is None:
        if op == "now":
            child.set(clock())
    elif op == "onehot":
        for state, c in child.items():
            c.set(1.0 if state == value else 0.0)
    elif op == "flag":
        child.set(1.0 if value else 0.0)
    elif op == "observe":
        child.observe(value)
    else:
        child.set(value)


def _method(call: Call):
    n = len(call.labels)
    arity = n + sum(1 for f in call.feeds if f.argument)
    required = n + sum(1 for f in call.feeds if f.argument and not f.optional)

    def method(self, *args, **kwargs) -> bool:
        return self._ops(call, n, required, arity, args, kwargs)
    params = call.labels + tuple(f.argument + ("=None" if f.optional else "") for f in call.feeds if f.argument)
    method.__name__ = method.__qualname__ = call.name
    method.__doc__ = f"{call.name}({', '.join(params)}): {call.doc}"
    return method


for _call in CALLS:
    setattr(OpsMetrics, _call.name, _method(_call))

__all__ = ["CALLS", "FEEDS", "OpsMetrics"]
