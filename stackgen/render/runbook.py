"""docs/runbook.md: a section per alert (what it means, its rules, what to do)."""
from __future__ import annotations

from dataclasses import dataclass

import jinja2

from stackgen import conventions as n
from stackgen.alerts.model import Rule
from stackgen.alerts.rulesets import rule_files
from stackgen.model.stack import Stack
from stackgen.render import profile_rules

# What each alert means and the operator's first steps. Kept beside the alert names, not in the
# spec: this is the same for every deployment, while thresholds live in the spec.
GUIDE: dict[str, tuple[str, tuple[str, ...]]] = {
    n.ALERT_DRAWDOWN: (
        "Equity has fallen from its running peak by more than the configured share. The exporter keeps "
        "the peak (high-water mark) since the bot started.",
        ("Open the TopN KPIs dashboard: check PnL over time and exit reasons for a run of stop losses.",
         "Compare with the market: a sharp move across the universe points at regime change, not a bug.",
         "At the critical level, pause new entries (or switch the bot to paper) until you know why.")),
    n.ALERT_WIN_RATE: (
        "The share of winning round trips is below the floor while enough round trips happened for the "
        "number to mean something (a quiet hour does not page).",
        ("Check exit reasons: many spread_reversal or time_limit exits mean entries are mistimed.",
         "Check the FX dashboard: a stale or deviating USD rate distorts every spread.",
         "Review recent config or universe changes; roll back if the drop started with one.")),
    n.ALERT_DAILY_LOSS: (
        "Today's PnL (since 00:00 UTC) is below the daily loss limit.",
        ("Stop the bot from opening positions now; this is the limit you chose in calmer times.",
         "Close or hedge open positions according to your risk policy.",
         "Find the losing trades (exit reasons, guard triggers) before restarting tomorrow.")),
    n.ALERT_LOOP_LATENCY: (
        "The 99th percentile of one trading-loop iteration is over budget: the bot reacts late and "
        "quotes go stale before it acts.",
        ("Check CPU and memory of the bot process on the TopN dashboard.",
         "Check exchange/API latency: slow upstream calls inside the loop show here first.",
         "Look for a growing universe or a blocking call added to the loop.")),
    n.ALERT_API_LATENCY: (
        "Requests to one route are slow at a high percentile (p99 critical, p95 warning).",
        ("Open the API performance dashboard: latency by endpoint shows whether one route or all are slow.",
         "Check the process's CPU and the dependencies that route calls (exchange, database).",
         "If one client floods the route, the rate limiter panel shows it.")),
    n.ALERT_API_ERRORS: (
        "Too large a share of requests end with a 5xx status.",
        ("Check the API's logs for the failing route (response status codes panel).",
         "A TargetDown on a dependency, or a recent deploy, is the usual cause; roll back if needed.")),
    n.ALERT_RATE_LIMITING: (
        "The API's rate limiter rejects many requests per second: a client is misbehaving or limits are "
        "too tight for real traffic.",
        ("Find the client (logs, per-route request rate).",
         "Raise the limit only if the traffic is legitimate.")),
    n.ALERT_FX_STALE: (
        "One FX source has sent no message for longer than the maximum age. The median runs on fewer "
        "sources; a silently dead websocket is the usual cause.",
        ("Check the source's connection status on the FX dashboard.",
         "Restart the source's websocket client; the aggregator falls back to HTTP if all die.",
         "Check the exchange's status page for a maintenance window.")),
    n.ALERT_FX_SOURCES: (
        "Fewer valid sources feed the USDT/USD median than the minimum (warning), or none at all "
        "(critical: USD conversion has no live data).",
        ("Check connection status and last-message age per source on the FX dashboard.",
         "At the warning level, make sure the HTTP fallback works; at critical, stop trading on USD values.")),
    n.ALERT_FX_DEVIATION: (
        "One source's quote is far from the median of all sources. Its quotes are likely wrong (bad "
        "feed, wrong pair) or the market is dislocated on that venue.",
        ("Compare the source with the others on the FX dashboard (deviation panel).",
         "If it persists, exclude the source until its feed is fixed.")),
    n.ALERT_TARGET_DOWN: (
        "Prometheus cannot scrape a target: the process is down or its metrics port is unreachable. "
        "Every other alert of that target is inhibited while this one fires.",
        ("Check the process (make status, docker compose ps, or systemctl).",
         "Open http://<target>/metrics from the Prometheus host; check firewalls and port clashes.")),
    n.ALERT_TARGET_ABSENT: (
        "Prometheus has no target at all for a job that should exist: the scrape config lost it.",
        ("Check the job in spec.yaml (enabled, targets) and regenerate.",
         "Check Prometheus' Targets page for config reload errors.")),
    n.ALERT_WATCHDOG: (
        "Always firing, on purpose. It proves the path Prometheus -> Alertmanager -> receiver works. "
        "Route it to a dead man's switch that pages you when it stops arriving.",
        ("Nothing, while it fires. If your dead man's switch says it stopped: check Prometheus, its rule "
         "evaluation, Alertmanager and the receiver, in that order.",)),
}


@dataclass(frozen=True)
class Entry:
    name: str
    anchor: str
    meaning: str
    steps: tuple[str, ...]
    rules: tuple[dict, ...]


def render(stack: Stack) -> dict[str, str]:
    by_alert: dict[str, list[Rule]] = {}
    for rule_file in rule_files(stack):
        for rule in rule_file.alerts:
            by_alert.setdefault(rule.alert, []).append(rule)
    for bot in stack.bots:      # each bot's dead man's switch, from its profile
        by_alert.setdefault(profile_rules.ALERT_BOT_STOPPED, []).append(profile_rules.deadman_rule(stack, bot))
    entries = []
    for name, rules in by_alert.items():
        meaning, steps = GUIDE[name] if name in GUIDE else profile_rules.GUIDE[name]
        entries.append(Entry(name, name.lower(), meaning, steps, tuple(
            {"severity": dict(r.labels)["severity"], "for_": r.for_, "expr": r.expr} for r in rules)))
    env = jinja2.Environment(loader=jinja2.PackageLoader("stackgen", "templates"),
                             keep_trailing_newline=True, trim_blocks=False, autoescape=False)
    text = env.get_template("runbook.md.j2").render(entries=entries, source=stack.source,
                                                    generated_by=n.GENERATED_BY)
    return {n.RUNBOOK: text.rstrip("\n") + "\n"}
