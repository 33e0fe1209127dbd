"""Prometheus exporter for trading bots: the in-process API, built from the generated catalog.

    import exporter
    exporter.init_metrics("paper", "top20", "topn_arb")
    exporter.start_metrics_server(9100)
    exporter.record_trade("entry")

Every metric name, type, help text and label comes from exporter/catalog.json
(generated from spec.yaml). No call raises into the caller: bad values are
dropped and counted in exporter_dropped_updates_total{reason}. See docs/exporter.md.
"""
from exporter.api import (default_metrics, get_metrics_text, init_metrics, observe_http_request,
                          record_alert, record_cpu_usage, record_exit_reason, record_fx_outlier, record_fx_quote,
                          record_guard_trigger, record_loop_latency, record_memory_usage, record_order, record_pnl,
                          record_rate_limit, record_round_trip, record_trade, record_win_rate, reset_metrics,
                          set_active_positions, set_equity, set_fx_fallback, set_fx_median,
                          set_fx_source_connected, set_fx_valid_sources, set_open_positions, set_realized_pnl,
                          set_risk_metrics,
                          set_websocket_connections, start_metrics_server, stop_metrics_server)
from exporter.api import (record_market_data, record_order_latency, record_rate_limit_ban, set_balance,
                          set_clock_skew, set_exchange_connected, set_kill_switch, set_position, set_rate_limit,
                          set_trading_state)
from exporter.catalog import ExporterCatalog, CatalogError, load_catalog
from exporter.metrics import BotMetrics

__all__ = [
    "BotMetrics", "ExporterCatalog", "CatalogError", "load_catalog", "default_metrics",
    "init_metrics", "start_metrics_server", "stop_metrics_server", "get_metrics_text", "reset_metrics",
    "record_pnl", "set_equity", "record_trade", "record_round_trip", "record_win_rate",
    "record_loop_latency", "record_guard_trigger", "record_alert", "record_exit_reason",
    "set_active_positions", "set_risk_metrics", "record_memory_usage", "record_cpu_usage",
    "record_fx_quote", "set_fx_source_connected", "record_fx_outlier", "set_fx_median",
    "set_fx_valid_sources", "set_fx_fallback",
    "observe_http_request", "set_websocket_connections", "record_rate_limit", "record_order",
    "set_open_positions", "set_realized_pnl",
    "record_order_latency", "set_exchange_connected", "record_market_data", "set_clock_skew", "set_trading_state",
    "set_kill_switch", "set_rate_limit", "record_rate_limit_ban", "set_position", "set_balance",
]
