"""The catalog metrics each exporter call feeds, with the type and labels the code expects.

Names come from the generated catalog; this table only says which call feeds
which metric, so a catalog that drifted from the code fails at start-up with a
message naming the metric (see BotMetrics), not with a KeyError in a trading loop.
"""
from __future__ import annotations

BOT = "{bot}"    # stands for the catalog's `bot` label set (env, universe, strategy)
PATH = "{path}"  # stands for the catalog's path_label (path, or handler)

# -- TopN ----------------------------------------------------------------------
PNL = "trading_pnl_usd"
DAILY_PNL = "trading_daily_pnl_usd"
EQUITY = "trading_equity_usd"
EQUITY_PEAK = "trading_equity_peak_usd"
DRAWDOWN = "trading_drawdown_ratio"
MAX_DRAWDOWN = "trading_max_drawdown_ratio"
WIN_RATE = "trading_win_rate_ratio"
ROUND_TRIPS = "trading_round_trips_total"
TRADES = "trading_trades_total"
LOOP_LATENCY = "trading_loop_latency_seconds"
GUARD_TRIGGERS = "trading_guard_triggers_total"
BOT_ALERTS = "trading_bot_alerts_total"
EXITS = "trading_exits_total"
ACTIVE_POSITIONS = "trading_active_positions"
SHARPE = "trading_sharpe"
CALMAR = "trading_calmar"
VAR95 = "trading_var95_usd"
CVAR95 = "trading_cvar95_usd"
MEMORY_USAGE = "trading_memory_usage_bytes"
CPU_USAGE = "trading_cpu_usage_ratio"

# -- FX --------------------------------------------------------------------------
FX_VALID_SOURCES = "fx_valid_sources"
FX_MEDIAN = "fx_median_rate"
FX_OUTLIERS = "fx_outliers_removed_total"
FX_CONNECTED = "fx_source_connected"
FX_RATE = "fx_source_rate"
FX_LAST_MESSAGE = "fx_source_last_message_timestamp_seconds"
FX_FALLBACK = "fx_http_fallback_active"

# -- HTTP API ----------------------------------------------------------------------
HTTP_REQUESTS = "http_requests_total"
HTTP_DURATION = "http_request_duration_seconds"
WEBSOCKETS = "http_websocket_connections"
RATE_LIMITER = "api_rate_limiter_requests_total"
ORDERS = "api_orders_total"
OPEN_POSITIONS = "api_open_positions"

# -- the exporter itself -------------------------------------------------------------
DROPPED = "exporter_dropped_updates_total"
EVENTS = "exporter_events_total"
LAST_EVENT = "exporter_last_event_timestamp_seconds"

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
    DROPPED: ("counter", ("reason",)),
    EVENTS: ("counter", ("result",)),
    LAST_EVENT: ("gauge", ()),
}
