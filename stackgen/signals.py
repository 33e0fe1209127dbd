"""Signal keys -> series names: the one seam between alert templates and metric names.

Alert families (stackgen/alerts/families.yaml) never name a metric: they name a signal
key (`drawdown`, `loop_latency`, `loop_latency_quantile`, ...), and this function says
which series carries it for a given stack. Today every key maps to the house metric of
stackgen/conventions.py; a signal registry (bot profiles) can map keys per stack instead,
without touching a template.
"""
from __future__ import annotations

from stackgen import conventions as n

# Raw metrics the built-in families read (keys are the conventions constants, lowercased).
METRIC_KEYS = (
    "drawdown", "win_rate", "round_trips", "daily_pnl", "loop_latency", "http_requests", "http_duration",
    "rate_limiter", "fx_valid_sources", "fx_median", "fx_source_rate", "fx_source_connected", "fx_last_message",
    "websocket_connections",
)
# Series the built-in recording rules write (level:metric:operations).
RECORDED_KEYS = (
    "loop_latency_quantile", "http_latency_quantile", "http_error_ratio", "rate_limited_rate",
    "fx_source_age", "fx_source_deviation",
)


def signal_names(stack) -> dict[str, str]:
    """Every signal key of `stack` with the series name it resolves to.

    Called with the validated Stack wherever rules, tests and checks are built (engine.py);
    `stack` may be None where no stack exists yet (tests of the declarations themselves)."""
    del stack  # today the names are fixed; a profile/registry may choose them per stack
    return {key: getattr(n, key.upper()) for key in METRIC_KEYS + RECORDED_KEYS}
