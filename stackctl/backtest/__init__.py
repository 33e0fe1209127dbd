"""Backtest: replay the spec's rules over recorded history and say how often each alert would have paged.

source (the user's Prometheus or VictoriaMetrics) --copy--> scratch VictoriaMetrics --vmalert -replay-->
ALERTS and recorded series in the same scratch store --> episodes, notifications, report, timelines.
Why this engine (vmalert's replay mode) is in docs/backtest.md.
"""
