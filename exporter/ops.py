"""Trading-operations calls: orders, venues, market data, clock, trading state, risk limits. Declared as data.

Each call is one row of CALLS: the label arguments it takes, and for each value argument the signal it
feeds and how (set, a 0/1 flag, inc, observe, or a one-hot over a closed label's values). Each row's
method is compiled from the row (see source()); the sidecar's event types (events.py) and the catalog
check (names.FEEDS) are derived from the same rows, so a new signal is a row here plus its entry in
stackgen/data/signals.yaml.

Like every call of the exporter, these never raise: a bad value or label is dropped and counted in
exporter_dropped_updates_total{reason}; open label values are bounded by max_label_values per metric.
"""
from __future__ import annotations

import inspect
import json
import math
import sys
import textwrap
from dataclasses import dataclass
from functools import cached_property
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

    @cached_property
    def params(self) -> tuple[str, ...]:
        """Its parameters in order: the label arguments, then the value arguments."""
        return self.labels + tuple(f.argument for f in self.feeds if f.argument)

    @cached_property
    def optional(self) -> frozenset[str]:
        return frozenset(f.argument for f in self.feeds if f.optional)


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
    """Mixin of BotMetrics; relies on its _bot, _clock, _catalog, _lock, _metrics, _remember() and _slow()."""

    def _unbind_ops(self) -> None:
        # per row of CALLS: label values (one label: the value itself) -> the row's series, one per feed
        self._ops_series: list[dict] = [{} for _ in CALLS]

    def _ops_new(self, call: Call, given: tuple, more: tuple, named: dict) -> bool:
        """The slow path: first use of these label values, or a call the fast path could not apply as it came
        (arguments by name, conversions, drops). Checks the labels, binds the series, checks every value, applies."""
        try:
            labels, values = _bind(call, given, more, named)
        except TypeError as exc:
            raise Refused(names.BAD_TYPE, str(exc)) from None
        if call.bot and self._bot is None:
            raise LookupError("not bound")
        checked = tuple(self._ops_label(call, name, value) for name, value in zip(call.labels, labels, strict=True))
        cache = self._ops_series[CALLS.index(call)]
        children = cache.get(_key(checked))
        if children is None:
            if call.labels:
                self._remember(cache, call.feeds[0].metric, "(" + ", ".join(call.labels) + ")")
            children = tuple(self._ops_child(call, feed, checked) for feed in call.feeds)
            cache[_key(checked)] = children
            for key in call.zero:
                self._ops_zero(_SIGNALS[key], dict(zip(call.labels, checked, strict=True)))
        cache.setdefault(_key(labels), children)    # as passed, when that differs (an int code, a str subclass)
        # every value checked first, so a bad one leaves every series of the call as it was
        good = [None if value is None else _check(feed, value, self._catalog)
                for feed, value in zip(call.feeds, values, strict=True)]
        for feed, child, value in sorted(zip(call.feeds, children, good, strict=True),
                                        key=lambda row: _order(row[0])):
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


class _Missing:
    """The default of a required argument the caller left out (the fast path's checks all fail on it)."""

    def __repr__(self) -> str:
        return "<missing>"


_NO = _Missing()


def _key(labels: tuple):
    """How a row's cache is keyed: no labels (), one label its value, more a tuple (what the fast path builds)."""
    return labels[0] if len(labels) == 1 else labels


def _bind(call: Call, given: tuple, more: tuple, named: dict) -> tuple[tuple, tuple]:
    """(label arguments, value arguments per feed) of a call from its parameters as bound (_NO: not given;
    None: an optional value left out), the extra positional arguments and the arguments by name left over;
    TypeError when they do not fit. Optional values default to None."""
    params = call.params
    if more:
        raise TypeError(f"takes {len(params)} arguments ({', '.join(params)}), got {len(params) + len(more)}")
    optional = call.optional
    bound = {p: v for p, v in zip(params, given, strict=True) if v is not _NO and not (v is None and p in optional)}
    for key, value in named.items():
        if key not in params or key in bound:
            raise TypeError(f"unexpected or repeated argument {key!r}")
        bound[key] = value
    missing = [p for p in params if p not in bound and p not in optional]
    if missing:
        raise TypeError(f"missing argument {missing[0]!r}")
    values = tuple(bound.get(f.argument) if f.argument else 1.0 for f in call.feeds)
    return tuple(bound[p] for p in call.labels), values


def _order(feed: Feed) -> int:
    """Sort key of a call's updates: an observation first, the one update the store may refuse (a histogram
    sum beyond the float range), so a refused call leaves its other series as they were."""
    return 0 if feed.op == "observe" else 1


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


def _put(feed: Feed, child, value, clock) -> None:
    """Apply a checked value (None: nothing, or the time for `now`)."""
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


# -- the fast path: one method per row, generated from it ----------------------------------------------
#
# A generic method (arguments as a tuple, a loop over the feeds, a test and an update per op) cost 1.5-2 us a
# call, 2-5x a raw prometheus_client child. Each row's method is therefore compiled from its row, the way
# dataclasses builds __init__: its own parameters, one dict lookup of the label values, and each feed's test
# and update below written out in line. Whatever a test lets through applies as it is (a finite float, an
# int within the float range, a known state), so nothing raises between the first update and the last;
# anything else (a new label value, an argument by name, a Decimal, a bad value) goes to _ops_new. The
# only update that may still refuse is an observation whose sum would leave the float range; it comes first.
# The parameters are positional-only with *_more and **_named behind them, so no call, however wrong its
# arguments, raises a TypeError into the bot: _ops_new binds them and drops what does not fit.

_NUMBER = "({v}.__class__ is float and {v} - {v} == 0 or {v}.__class__ is int and -_MAX <= {v} <= _MAX)"
_POSITIVE = "({v}.__class__ is float and 0.0 <= {v} < _INF or {v}.__class__ is int and 0 <= {v} <= _MAX)"
FAST: dict[str, tuple[str, str]] = {   # op -> (test of the value v, update of its series s)
    "set": (_POSITIVE, "{s}.set({v})"),
    "signed": (_NUMBER, "{s}.set({v})"),
    "now": (f"({{v}} is None or {_POSITIVE})", "{s}.set(self._clock() if {v} is None else {v})"),
    "flag": ("({v} is True or {v} is False or {v}.__class__ is int and ({v} == 0 or {v} == 1))",
             "{s}.set(1.0 if {v} else 0.0)"),
    "onehot": ("({v}.__class__ is str and {v} in {s})",
               "for _state, _series in {s}.items():\n    _series.set(1.0 if _state == {v} else 0.0)"),
    # a counter's +1 written out under the lock every writer of the store holds (store.py): one Python call
    # less; a finite value plus one stays finite, so the store's overflow check has nothing to refuse
    "inc": ("", "_lock = self._lock\n_lock.acquire()\ntry:\n    {s}.value += 1.0\nfinally:\n    _lock.release()"),
    "observe": (_POSITIVE, "{s}.observe({v})"),
}


def source(call: Call) -> str:
    """The Python source of a row's method (compiled once at import)."""
    labels, series = call.labels, [f"_s{i}" for i in range(len(call.feeds))]
    optional = call.optional
    params = [p + ("=None" if p in optional else "=_NO") for p in call.params]
    key = labels[0] if len(labels) == 1 else "(" + "".join(label + ", " for label in labels) + ")"
    tests, updates = [], []
    for feed, s in sorted(zip(call.feeds, series, strict=True), key=lambda row: _order(row[0])):
        test, update = FAST[feed.op]
        test, update = test.format(v=feed.argument, s=s), update.format(v=feed.argument, s=s)
        if feed.optional and feed.op != "now":  # None leaves the series as it is
            test = f"({feed.argument} is None or {test})"
            update = f"if {feed.argument} is not None:\n" + textwrap.indent(update, "    ")
        if test:
            tests.append(test)
        updates.append(update)
    index, args = CALLS.index(call), "".join(p + ", " for p in call.params)
    body = textwrap.indent("\n".join(updates), " " * 16)
    # an argument by name takes its parameter's place when that was left out; what is left goes to _ops_new
    by_name = "".join(f"        if {p!r} in _named and {p} is {'None' if p in optional else '_NO'}:\n"
                      f"            {p} = _named.pop({p!r})\n" for p in call.params)
    return (f"def {call.name}(self, {', '.join(params)}, /, *_more, **_named):\n"
            f"    if _named and not _more:\n"
            f"{by_name}"
            f"    if not (_more or _named):\n"
            f"        try:\n"
            f"            {''.join(s + ', ' for s in series)}= self._ops_series[{index}][{key}]\n"
            f"            if {' and '.join(tests) or 'True'}:\n"
            f"{body}\n"
            f"                self._fresh = True\n"
            f"                return True\n"
            f"        except Exception:\n"
            f"            pass\n"
            f"    return self._slow({call.name!r}, self._ops_new, _CALLS[{index}], "
            f"({args}), _more, _named)\n")


def _method(call: Call):
    scope = {"_NO": _NO, "_CALLS": CALLS, "_INF": math.inf, "_MAX": sys.float_info.max}
    exec(compile(source(call), f"<exporter.ops {call.name}>", "exec"), scope)   # noqa: S102 - our own rows
    method = scope[call.name]
    method.__qualname__ = f"OpsMetrics.{call.name}"
    method.__module__ = __name__
    optional = call.optional
    method.__signature__ = inspect.Signature(
        [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
        + [inspect.Parameter(p, inspect.Parameter.POSITIONAL_OR_KEYWORD, **({"default": None} if p in optional else {}))
           for p in call.params])
    shown = [p + ("=None" if p in optional else "") for p in call.params]
    method.__doc__ = f"{call.name}({', '.join(shown)}): {call.doc}"
    return method


for _call in CALLS:
    setattr(OpsMetrics, _call.name, _method(_call))

__all__ = ["CALLS", "FEEDS", "OpsMetrics"]
