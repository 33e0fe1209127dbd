"""The catalog metrics each exporter call feeds, with the type and labels the code expects.

Names come from exporter/signals.json, generated from stackgen/data/signals.yaml; this table only says which call feeds
which metric, so a catalog that drifted from the code fails at start-up with a
message naming the metric (see BotMetrics), not with a KeyError in a trading loop.
"""
from __future__ import annotations

import json
from importlib import resources

# Signal key -> metric name, generated from stackgen/data/signals.yaml (the one place names live).
_SIGNALS: dict[str, str] = json.loads(
    resources.files(__package__).joinpath("signals.json").read_text(encoding="utf-8"))["signals"]

BOT = "{bot}"    # stands for the catalog's `bot` label set (env, universe, strategy)
PATH = "{path}"  # stands for the catalog's path_label (path, or handler)

# -- TopN ----------------------------------------------------------------------
PNL = _SIGNALS["pnl"]
DAILY_PNL = _SIGNALS["daily_pnl"]
EQUITY = _SIGNALS["equity"]
EQUITY_PEAK = _SIGNALS["equity_peak"]
DRAWDOWN = _SIGNALS["drawdown"]
MAX_DRAWDOWN = _SIGNALS["max_drawdown"]
WIN_RATE = _SIGNALS["win_rate"]
ROUND_TRIPS = _SIGNALS["round_trips"]
TRADES = _SIGNALS["trades"]
LOOP_LATENCY = _SIGNALS["loop_latency"]
GUARD_TRIGGERS = _SIGNALS["guard_triggers"]
BOT_ALERTS = _SIGNALS["bot_alerts"]
EXITS = _SIGNALS["exits"]
ACTIVE_POSITIONS = _SIGNALS["active_positions"]
SHARPE = _SIGNALS["sharpe"]
CALMAR = _SIGNALS["calmar"]
VAR95 = _SIGNALS["var95"]
CVAR95 = _SIGNALS["cvar95"]
MEMORY_USAGE = _SIGNALS["memory_usage"]
CPU_USAGE = _SIGNALS["cpu_usage"]

# -- FX --------------------------------------------------------------------------
FX_VALID_SOURCES = _SIGNALS["fx_valid_sources"]
FX_MEDIAN = _SIGNALS["fx_median"]
FX_OUTLIERS = _SIGNALS["fx_outliers"]
FX_CONNECTED = _SIGNALS["fx_source_connected"]
FX_RATE = _SIGNALS["fx_source_rate"]
FX_LAST_MESSAGE = _SIGNALS["fx_last_message"]
FX_FALLBACK = _SIGNALS["fx_fallback"]

# -- HTTP API ----------------------------------------------------------------------
HTTP_REQUESTS = _SIGNALS["http_requests"]
HTTP_DURATION = _SIGNALS["http_duration"]
WEBSOCKETS = _SIGNALS["websocket_connections"]
RATE_LIMITER = _SIGNALS["rate_limiter"]
ORDERS = _SIGNALS["orders"]
OPEN_POSITIONS = _SIGNALS["open_positions"]
REALIZED_PNL = _SIGNALS["realized_pnl"]
ORDER_LATENCY = _SIGNALS["order_latency"]   # fed by ops.py's rows (FEEDS there)

# -- the exporter itself -------------------------------------------------------------
DROPPED = _SIGNALS["dropped"]
EVENTS = _SIGNALS["events"]
LAST_EVENT = _SIGNALS["last_event"]

# Why an update was dropped: the closed value set of DROPPED's `reason` label.
NEGATIVE_DELTA = "negative_delta"
NOT_FINITE = "not_finite"
UNKNOWN_LABEL_VALUE = "unknown_label_value"
BAD_TYPE = "bad_type"
DROP_REASONS = (NEGATIVE_DELTA, NOT_FINITE, UNKNOWN_LABEL_VALUE, BAD_TYPE)
EVENT_RESULTS = ("applied", "malformed")

# metric -> (type, labels); BOT and PATH are resolved against the catalog.
FEEDS: dict[str, tuple[str, tuple[str, ...]]] = {
    PNL: ("gauge", (BOT,)),
    DAILY_PNL: ("gauge", (BOT,)),
    EQUITY: ("gauge", (BOT,)),
    EQUITY_PEAK: ("gauge", (BOT,)),
    DRAWDOWN: ("gauge", (BOT,)),
    MAX_DRAWDOWN: ("gauge", (BOT,)),
    WIN_RATE: ("gauge", (BOT,)),
    ROUND_TRIPS: ("counter", (BOT,)),
    TRADES: ("counter", (BOT, "trade_type")),
    LOOP_LATENCY: ("histogram", (BOT,)),
    GUARD_TRIGGERS: ("counter", (BOT, "guard_type")),
    BOT_ALERTS: ("counter", (BOT, "severity", "source")),
    EXITS: ("counter", (BOT, "reason")),
    ACTIVE_POSITIONS: ("gauge", (BOT,)),
    SHARPE: ("gauge", (BOT,)),
    CALMAR: ("gauge", (BOT,)),
    VAR95: ("gauge", (BOT,)),
    CVAR95: ("gauge", (BOT,)),
    MEMORY_USAGE: ("gauge", (BOT,)),
    CPU_USAGE: ("gauge", (BOT,)),
    FX_VALID_SOURCES: ("gauge", ()),
    FX_MEDIAN: ("gauge", ()),
    FX_OUTLIERS: ("counter", ("source",)),
    FX_CONNECTED: ("gauge", ("source",)),
    FX_RATE: ("gauge", ("source",)),
    FX_LAST_MESSAGE: ("gauge", ("source",)),
    FX_FALLBACK: ("gauge", ()),
    HTTP_REQUESTS: ("counter", ("method", PATH, "status")),
    HTTP_DURATION: ("histogram", ("method", PATH)),
    WEBSOCKETS: ("gauge", ()),
    RATE_LIMITER: ("counter", ("status",)),
    ORDERS: ("counter", ("side", "status", "exchange")),
    OPEN_POSITIONS: ("gauge", ("symbol",)),
    REALIZED_PNL: ("gauge", ("symbol",)),
    DROPPED: ("counter", ("reason",)),
    EVENTS: ("counter", ("result",)),
    LAST_EVENT: ("gauge", ()),
}
