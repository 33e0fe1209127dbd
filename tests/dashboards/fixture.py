"""A small fixture spec for the panel-type and alert-link tests: the shipped catalog and alerts, and one
dashboard of our own (so the tests do not depend on the shipped dashboards' panels or numbers)."""
from __future__ import annotations

import copy

FIXTURE_UID = "fleet_view_d1"   # an underscore: Grafana allows it
EXTERNAL_URL = "https://grafana.example.com:3443/"

DASHBOARD = {
    "uid": FIXTURE_UID,
    "title": "Fleet view",
    "folder": "fixtures",
    "description": "Every panel type once, for the tests.",
    "variables": [
        {"label": "cluster", "metric": "http_requests_total"},
        {"label": "job", "metric": "http_requests_total"},
        {"label": "instance", "metric": "http_requests_total"},
    ],
    "rows": [
        {"title": "Figures", "height": 5, "panels": [
            {"title": "Orders today", "type": "stat", "time": "24h",
             "description": "Orders in the last 24 hours, whatever the dashboard's range says.",
             "queries": [{"expr": "sum(increase(api_orders_total{<filters>}[$__range]))"}]},
            {"title": "Error ratio", "type": "stat",
             "description": "Share of 5xx responses; red from the ApiErrorRateHigh threshold.",
             "queries": [{"expr": 'sum(rate(http_requests_total{<filters>, status=~"5.."}[$__rate_interval])) / '
                                  "sum(rate(http_requests_total{<filters>}[$__rate_interval]))"}],
             "unit": "percentunit",
             "thresholds": [{"color": "green"}, {"color": "red", "from": "alerts.api_errors.ratio"}]},
        ]},
        {"title": "Shares", "panels": [
            {"title": "Orders by side", "type": "piechart", "donut": True,
             "description": "Buy and sell orders in the selected range, one slice per side.",
             "queries": [{"expr": "sum by (side) (increase(api_orders_total{<filters>}[$__range]))",
                          "legend": "{{side}}"}]},
            {"title": "Positions by symbol", "type": "table",
             "description": "Open positions and realized PnL per symbol, one row per symbol.",
             "queries": [{"expr": "sum by (symbol) (api_open_positions{<filters>})", "legend": "Positions"},
                         {"expr": "sum by (symbol) (api_realized_pnl_usd{<filters>})", "legend": "PnL"}]},
            {"title": "Orders by exchange", "type": "barchart", "x": "exchange", "stack": True,
             "description": "Orders in the selected range per exchange, buy and sell stacked.",
             "queries": [{"expr": 'sum by (exchange) (increase(api_orders_total{<filters>, side="buy"}[$__range]))',
                          "legend": "buy"},
                         {"expr": 'sum by (exchange) (increase(api_orders_total{<filters>, side="sell"}'
                                  "[$__range]))", "legend": "sell"}]},
        ]},
        {"title": "Over time", "panels": [
            {"title": "Request duration", "type": "heatmap", "histogram": "http_request_duration_seconds",
             "description": "Request durations over time, one row per histogram bucket."},
            {"title": "Requests", "type": "timeseries",
             "description": "Requests per second by status code over the selected range.",
             "rate": {"counter": "http_requests_total", "by": ["status"]}},
            {"title": "Rate limited", "type": "timeseries",
             "description": "Requests the rate limiter refused, per second, over time.",
             "queries": [{"expr": 'sum(rate(api_rate_limiter_requests_total{<filters>, status="limited"}'
                                  "[$__rate_interval]))"}]},
        ]},
        {"title": "More figures", "panels": [
            {"title": "Open positions gauge", "type": "gauge", "max": 100,
             "description": "Open positions now, against a scale of 100.",
             "queries": [{"expr": "sum(api_open_positions{<filters>})"}]},
            {"title": "Open positions by symbol", "type": "bargauge",
             "description": "Open positions now, one bar per symbol.",
             "queries": [{"expr": "sum by (symbol) (api_open_positions{<filters>})", "legend": "{{symbol}}"}]},
            {"title": "Holding positions", "type": "state-timeline",
             "description": "Whether positions were open, over time.",
             "queries": [{"expr": "sum(api_open_positions{<filters>}) > bool 0"}]},
        ]},
    ],
}


def fixture_spec(data: dict) -> None:
    """Edit a copy of the shipped spec: only the fixture dashboard, in its own folder."""
    data["grafana"]["folders"] = [{"name": "fixtures", "title": "Fixtures"}]
    data["grafana"]["home_dashboard"] = FIXTURE_UID
    data["grafana"]["external_url"] = EXTERNAL_URL
    data["dashboards"] = [copy.deepcopy(DASHBOARD)]
