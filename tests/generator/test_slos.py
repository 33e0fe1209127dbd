"""The `slos:` section on the generator tests' small spec: rules named as sloth names them, one alert per
window pair, tests per pair that follow the windows, a dashboard, and one-line errors for bad input.
promtool itself runs these tests in tests/real_tools/test_slos_tools.py."""
from __future__ import annotations

import yaml

from stackgen import conventions as n
from stackgen.alerts.rulesets import rule_files
from tests.generator import fixture

ORDER_ACK = {"objective": 99.5, "description": "orders acknowledged in time",
             "sli": {"latency": {"signal": "order_latency", "below": 0.1}}}
AVAILABILITY = {"objective": 99.9, "sli": {"events": {"signal": "http_requests", "bad": {"status": "5.."}}},
                "min_events": 50}
LOSS = {"signal": "daily_pnl", "limit": -500}


def with_slos(**section):
    def edit(data):
        data["slos"] = section
    return edit


def two_slos_and_a_budget(data):
    data["slos"] = {"objectives": {"order-ack": ORDER_ACK, "api-availability": AVAILABILITY},
                    "budgets": {"daily-loss": LOSS}}


def _slo_file(stack):
    return next(f for f in rule_files(stack) if f.domain == "slo")


def test_records_carry_sloths_names_and_labels():
    stack, files = fixture.render(two_slos_and_a_budget)
    rules = yaml.safe_load(files["rules/slo.rules.yml"])["groups"][0]["rules"]
    records = {(r["record"], r["labels"].get("sloth_slo"), r["labels"].get("sloth_window")) for r in rules}
    for window in ("5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d"):
        assert ("slo:sli_error:ratio_rate" + window, "order-ack", window) in records
    for name in (n.SLO_OBJECTIVE, n.SLO_ERROR_BUDGET, n.SLO_BUDGET_REMAINING, n.SLO_PERIOD_BURN):
        assert (name, "api-availability", None) in records
    ratio = next(r for r in rules
                 if r["record"] == "slo:sli_error:ratio_rate5m" and r["labels"]["sloth_slo"] == "order-ack")
    assert ratio["labels"]["sloth_id"] == f"{stack.glob.project}-order-ack"
    assert 'trading_order_latency_seconds_bucket{le="0.1"}[5m]' in ratio["expr"]
    budget = [r for r in rules if r["record"].startswith("budget:")]
    assert {r["record"] for r in budget} == {n.BUDGET_REMAINING, "budget:exhaustion_seconds:deriv5m",
                                            "budget:exhaustion_seconds:deriv30m", "budget:exhaustion_seconds:deriv1h",
                                            "budget:exhaustion_seconds:deriv6h"}


def test_one_alert_per_window_pair_with_the_workbook_rates_and_the_guard():
    stack = fixture.stack_of(two_slos_and_a_budget)
    alerts = [r for r in _slo_file(stack).alerts if r.alert == "ApiAvailabilityBudgetBurn"]
    pairs = [(dict(r.labels)["sloth_severity"], dict(r.labels)["sloth_window"]) for r in alerts]
    assert pairs == [("page", "1h"), ("page", "6h"), ("ticket", "1d"), ("ticket", "3d")]
    assert "/ 0.001 > 14.4" in alerts[0].expr and "slo:sli_error:ratio_rate5m" in alerts[0].expr
    assert "slo:sli_events:rate1h" in alerts[0].expr and ">= 50" in alerts[0].expr
    loss = [r for r in _slo_file(stack).alerts if r.alert == "DailyLossBudgetBurn"]
    assert [dict(r.labels)["severity"] for r in loss] == ["critical", "warning"]
    assert "< 7200" in loss[0].expr
    assert "at this pace the limit is gone in {{ $value | humanizeDuration }}" in dict(loss[0].annotations)["summary"]


def test_every_pair_has_a_burn_a_spike_and_a_quiet_test_at_the_expected_times():
    stack = fixture.stack_of(two_slos_and_a_budget)
    cases = _slo_file(stack).cases
    for long in ("1h", "6h", "1d", "3d"):
        names = [c.name for c in cases if c.name.startswith("SLO order-ack") and f" {long}/" in c.name]
        assert len(names) == 3, names
    page = next(c for c in cases if c.name.startswith("SLO order-ack, page 1h/5m at 14.4x"))
    # A 23.04x burn after a calm hour: the 1h window crosses 14.4x once 14.4/23.04 of it burned (37.5m).
    assert "from 1h fires at 1h38m (not at 1h37m)" in page.name
    silent, firing, reset = page.alert_checks
    assert not [e for e in silent[2] if e.labels["sloth_window"] == "1h"]
    # The longer windows hold only this test's few hours (all of it counts): they fire too, as they would.
    assert [e.labels["sloth_window"] for e in firing[2]][0] == "1h"
    assert firing[2][0].annotations["summary"].startswith("SLO order-ack burns its error budget 14.")
    assert not [e for e in reset[2] if e.labels["sloth_window"] == "1h"]
    # The evidence beside the silence: the long window still burns over 14.4x when the short one reset it.
    expr, samples = page.expr_checks[0][1:]
    assert expr.endswith("/ 0.005 > bool 14.4") and "ratio_rate1h" in expr and samples[0][1] == 1.0
    # The signal SLI is fed its own series: the histogram's buckets, not the recorded windows.
    assert any(s.startswith("trading_order_latency_seconds_bucket{") for s, _ in page.series)
    assert not any(s.startswith("slo:") for s, _ in page.series)
    quiet = next(c for c in cases if c.name.startswith("SLO order-ack, page 1h/5m: a quiet"))
    assert quiet.alert_checks[0][2] == [] and quiet.expr_checks[0][2][0][1] == 1.0
    assert any(c.name.startswith("budget daily-loss, page 1h/5m within 2h") for c in cases)
    brief = next(c for c in cases if c.name.startswith("budget daily-loss, page 1h/5m: a brief loss"))
    assert brief.expr_checks[0][1].endswith("< bool 7200") and all(not found for _, _, found in brief.alert_checks)


def test_tests_run_at_a_fifth_of_the_short_window_in_their_own_files():
    _, files = fixture.render(two_slos_and_a_budget)
    for name, step in (("slo.test.yml", "1m"), ("slo-6m.test.yml", "6m"), ("slo-24m.test.yml", "24m"),
                       ("slo-1h12m.test.yml", "1h12m")):
        document = yaml.safe_load(files[f"rules/tests/{name}"])
        assert document["evaluation_interval"] == step
        assert document["rule_files"] == ["../slo.rules.yml"]


def test_the_error_budget_dashboard_and_the_runbook():
    stack, files = fixture.render(two_slos_and_a_budget)
    board = next(d for d in stack.dashboards if d.uid == n.SLO_DASHBOARD_UID)
    assert [r.title for r in board.rows][0] == "SLO order-ack: 99.5 % over 30d"
    exprs = [q.expr for p in board.panels for q in p.queries]
    assert 'slo:period_error_budget_remaining:ratio{sloth_id="fixture-order-ack"}' in " ".join(exprs) or \
        any(n.SLO_BUDGET_REMAINING in e for e in exprs)
    assert any(path.endswith(f"{n.SLO_DASHBOARD_UID}.json") for path in files)
    runbook = files[n.RUNBOOK]
    assert "## OrderAckBudgetBurn" in runbook and "## DailyLossBudgetBurn" in runbook


def test_raw_promql_slis_use_sloths_window_placeholder():
    raw = {"objective": 99, "sli": {"events": {
        "error_query": 'sum(rate(http_requests_total{status=~"5.."}[{{.window}}]))',
        "total_query": "sum(rate(http_requests_total[{{.window}}]))"}}}
    stack, files = fixture.render(with_slos(objectives={"raw-api": raw}))
    assert "sum(rate(http_requests_total[6h]))" in files["rules/slo.rules.yml"]
    assert not any(c.name.startswith("SLO raw-api: the 5m ratio") for c in _slo_file(stack).cases)


def test_a_budget_limit_may_cite_an_alert_threshold():
    drawdown = {"signal": "drawdown", "limit": "alerts.drawdown.critical"}
    stack = fixture.stack_of(with_slos(budgets={"drawdown": drawdown}))
    assert stack.slos.budgets[0].limit == stack.alerts.drawdown["critical"]
    assert not stack.slos.budgets[0].falling


def test_bad_slos_fail_with_one_line_naming_the_field():
    cases = [
        (with_slos(objectives={"x": {**ORDER_ACK, "objective": 100}}),
         "slos.objectives.x.objective: must be below 100"),
        (with_slos(objectives={"x": {**ORDER_ACK, "sli": {"latency": {"signal": "order_latency", "below": 0.2}}}}),
         "slos.objectives.x.sli.latency.below: must be a bucket bound of trading_order_latency_seconds"),
        (with_slos(objectives={"x": {**ORDER_ACK, "sli": {"latency": {"signal": "nope", "below": 0.1}}}}),
         "slos.objectives.x.sli.latency.signal: unknown signal 'nope'"),
        (with_slos(objectives={"x": {**ORDER_ACK, "sli": {"events": {"signal": "http_requests",
                                                                       "bad": {"stat": "5.."}}}}}),
         "slos.objectives.x.sli.events.bad: http_requests_total has no label 'stat'"),
        (with_slos(objectives={"x": {**ORDER_ACK, "objective": 90}}),
         "slos.objectives.x.objective: a burn rate of 14.4"),
        (with_slos(objectives={"x": {**ORDER_ACK, "windows": [{"severity": "page", "burn": 2, "long": "5m",
                                                              "short": "1h"}]}}),
         "slos.objectives.x.windows[0].short: the short window must be shorter than the long one"),
        (with_slos(objectives={"x": {"objective": 99, "sli": {"events": {"error_query": "sum(rate(up[5m]))",
                                                                           "total_query": "sum(rate(up[5m]))"}}}}),
         "slos.objectives.x.sli.events.error_query: must contain the window placeholder {{.window}}"),
        (with_slos(objectives={"x": {**ORDER_ACK, "window": "2d"}}),
         "slos.objectives.x.window: a long window of 3d needs an SLO window longer than it (window: 2d)"),
        (with_slos(budgets={"d": {"signal": "daily_pnl", "limit": 0}}), "slos.budgets.d.limit: must not be 0"),
        (with_slos(budgets={"d": {"signal": "round_trips", "limit": -5}}), "slos.budgets.d.signal: expected a gauge"),
        (with_slos(), "slos: declare at least one of objectives or budgets"),
        (with_slos(windows=[{"severity": "page", "burn": 10, "long": "1h", "short": "5m"},
                            {"severity": "page", "burn": 5, "long": "60m", "short": "10m"}],
                   objectives={"x": ORDER_ACK}),
         "slos.windows[1].long: a page pair on the long window 60m is declared twice"),
        (with_slos(budgets={f"b{i}": LOSS for i in range(101)}), "slos.budgets: at most 100 entries (got 101)"),
    ]
    for edit, expected in cases:
        message = fixture.error_of(edit)
        assert expected in message, message
        assert message.startswith("spec.yaml:") and "\n" not in message
