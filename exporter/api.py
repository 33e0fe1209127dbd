"""The module-level API bot authors call: thin delegates to one default BotMetrics.

The functions are the default instance's bound methods, so a call costs the
same as calling BotMetrics directly (no extra Python frame on the hot path).
The instance is created unbound at import (nothing is registered anywhere
until init_metrics() runs).
"""
from __future__ import annotations

import logging
import threading

from prometheus_client import CollectorRegistry

from exporter.metrics import BotMetrics
from exporter.server import MetricsServer

log = logging.getLogger("exporter")

_DEFAULT = BotMetrics()
_server: MetricsServer | None = None
_server_lock = threading.Lock()


def default_metrics() -> BotMetrics:
    """The BotMetrics behind the module-level functions."""
    return _DEFAULT


def init_metrics(env: str, universe: str, strategy: str, registry: CollectorRegistry | None = None) -> None:
    """Create the catalog's metrics and bind the bot labels; idempotent (see BotMetrics.init_metrics).

    registry=None: prometheus_client's default REGISTRY on the first call, the same registry afterwards.
    """
    _DEFAULT.init_metrics(env, universe, strategy, registry)


def start_metrics_server(port: int = 9100, addr: str = "0.0.0.0") -> MetricsServer:
    """Serve /metrics and /health from a background thread; idempotent.

    The first call binds the port; later calls return the running server (and log a
    warning if they asked for another address). Raises OSError with a clear message
    when the port is taken: that is a start-up error, not a trading-loop one.
    """
    global _server
    with _server_lock:
        if _server is not None and _server.running:
            if (_server.requested_port, _server.requested_addr) != (port, addr):
                log.warning("start_metrics_server(%s, %r): already serving on %s; ignoring the new address",
                            port, addr, _server.url)
            return _server
        server = MetricsServer(lambda: _DEFAULT.registry, _DEFAULT, port=port, addr=addr)
        server.start()
        _server = server
        return server


def stop_metrics_server() -> None:
    """Stop the server start_metrics_server() started (if any)."""
    global _server
    with _server_lock:
        if _server is not None:
            _server.stop()
            _server = None


def get_metrics_text() -> str:
    """What /metrics would serve right now, as text ("" before init_metrics())."""
    return _DEFAULT.get_metrics_text()


def reset_metrics() -> None:
    """Every value back to 0 and per-source/route series removed; the bot labels stay bound."""
    _DEFAULT.reset_metrics()


# Hot-path calls: the default instance's bound methods (see BotMetrics for each one's contract).
record_pnl = _DEFAULT.record_pnl
set_equity = _DEFAULT.set_equity
record_trade = _DEFAULT.record_trade
record_round_trip = _DEFAULT.record_round_trip
record_win_rate = _DEFAULT.record_win_rate
record_loop_latency = _DEFAULT.record_loop_latency
record_guard_trigger = _DEFAULT.record_guard_trigger
record_alert = _DEFAULT.record_alert
record_exit_reason = _DEFAULT.record_exit_reason
set_active_positions = _DEFAULT.set_active_positions
set_risk_metrics = _DEFAULT.set_risk_metrics
record_memory_usage = _DEFAULT.record_memory_usage
record_cpu_usage = _DEFAULT.record_cpu_usage

record_fx_quote = _DEFAULT.record_fx_quote
set_fx_source_connected = _DEFAULT.set_fx_source_connected
record_fx_outlier = _DEFAULT.record_fx_outlier
set_fx_median = _DEFAULT.set_fx_median
set_fx_valid_sources = _DEFAULT.set_fx_valid_sources
set_fx_fallback = _DEFAULT.set_fx_fallback

observe_http_request = _DEFAULT.observe_http_request
set_websocket_connections = _DEFAULT.set_websocket_connections
record_rate_limit = _DEFAULT.record_rate_limit
record_order = _DEFAULT.record_order
set_open_positions = _DEFAULT.set_open_positions
set_realized_pnl = _DEFAULT.set_realized_pnl

# Trading operations (rows of exporter/ops.py): orders, venues, market data, clock, trading state, risk limits.
record_order_latency = _DEFAULT.record_order_latency
set_exchange_connected = _DEFAULT.set_exchange_connected
record_market_data = _DEFAULT.record_market_data
set_clock_skew = _DEFAULT.set_clock_skew
set_trading_state = _DEFAULT.set_trading_state
set_kill_switch = _DEFAULT.set_kill_switch
set_rate_limit = _DEFAULT.set_rate_limit
record_rate_limit_ban = _DEFAULT.record_rate_limit_ban
set_position = _DEFAULT.set_position
set_balance = _DEFAULT.set_balance
