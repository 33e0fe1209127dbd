"""Bad specs: each fails with one line naming file, line and field (expected vs got), in-process.

Cases are small edits of the tests' own spec (testdata/base.yaml). One generate.py subprocess
checks what a user sees from the command line: one line on stderr, exit 2, nothing written;
the missing-file case runs generate.main in-process.
"""
from __future__ import annotations

import re

import pytest

import generate
from tests.conftest import run_generate
from tests.generator.fixture import BASE, base_text, error_of, setter

FREE_FORM = {
    "expr": "sum by (job, instance) (rate(http_requests_total{status=~'5..'}[5m])) > 1",
    "for": "1m", "summary": "s", "description": "d",
}


def _metric(metric_name, **changes):
    def edit(data):
        for metrics in data["metrics"].values():
            if isinstance(metrics, list):
                for m in metrics:
                    if m["name"] == metric_name:
                        m.update(changes)
                        for key, value in list(m.items()):
                            if value is None:
                                del m[key]
    return edit


def _alert(name, body):
    return lambda d: d["alerts"].update({name: body})


def _tests(silent: bool, firing: bool):
    checks = ([{"eval_time": "1m", "exp_alerts": []}] if silent else []) + \
             ([{"eval_time": "5m", "exp_alerts": [{"exp_labels": {"job": "api", "instance": "a"}}]}] if firing else [])
    return [{"input_series": [{"series": "http_requests_total{status='500'}", "values": "0+100x10"}],
             "alert_rule_test": checks}]


def _record(**body):
    base = {"record": "job:http_requests:rate5m", "expr": "sum by (job) (rate(http_requests_total[5m]))",
            "tests": [{"input_series": [], "promql_expr_test": [
                {"expr": "job:http_requests:rate5m", "eval_time": "5m", "exp_samples": []}]}]}
    base.update(body)
    return lambda d: d.update(recording_rules=[{k: v for k, v in base.items() if v is not None}])


def _panel_from(ref):
    def edit(data):
        data["dashboards"][0]["rows"][0]["panels"][0]["thresholds"][1]["from"] = ref
    return edit


# (id, edit of the parsed spec, regex the error line must match)
CASES = [
    ("wrong version", setter(["version"], "tradingmon/v2"),
     r"version: unsupported spec version 'tradingmon/v2' \(expected 'tradingmon/v1'\)"),
    ("unknown key with suggestion", lambda d: d["global"].update(scrape_intervl="15s"),
     r"global\.scrape_intervl: unknown key .*did you mean 'scrape_interval'\?"),
    ("ratio out of range", setter(["alerts", "drawdown", "warning"], 1.5),
     r"alerts\.drawdown\.warning: must be above 0 and below 1 \(got 1\.5\)"),
    ("ratio at its open bound", setter(["alerts", "api_errors", "ratio"], 1),
     r"alerts\.api_errors\.ratio: must be above 0 and below 1 \(got 1\)"),
    ("critical below warning", setter(["alerts", "drawdown", "critical"], 0.1),
     r"alerts\.drawdown\.critical: must be above warning \(0\.2\), got 0\.1"),
    ("critical_below not below warning_below", setter(["alerts", "fx_sources", "critical_below"], 3),
     r"alerts\.fx_sources\.critical_below: must be below warning_below \(3\), got 3"),
    ("bad duration", setter(["alerts", "drawdown", "for"], "5 minutes"),
     r"alerts\.drawdown\.for: expected a Prometheus duration such as 30s, 5m or 1h30m, got str '5 minutes'"),
    ("duration beyond what the tests can prove", setter(["alerts", "drawdown", "for"], "8d"),
     r"alerts\.drawdown\.for: must be at most 7d \(got 8d\)"),
    ("duration beyond what the tools accept", setter(["alerts", "drawdown", "for"], "300y"),
     r"alerts\.drawdown\.for: must be at most 290y \(got 300y\)"),
    ("window beyond its maximum", setter(["alerts", "win_rate", "window"], "2d"),
     r"alerts\.win_rate\.window: must be at most 1d \(got 2d\)"),
    ("infinite threshold", setter(["alerts", "rate_limiting", "limited_per_second"], float("inf")),
     r"alerts\.rate_limiting\.limited_per_second: expected a number, got float inf"),
    ("not a number", setter(["alerts", "fx_deviation", "max_bps"], float("nan")),
     r"alerts\.fx_deviation\.max_bps: expected a number, got float nan"),
    ("whole number expected", setter(["alerts", "fx_sources", "warning_below"], 2.5),
     r"alerts\.fx_sources\.warning_below: expected a whole number, got 2\.5"),
    ("positive loss limit", setter(["alerts", "daily_loss", "limit_usd"], 100),
     r"alerts\.daily_loss\.limit_usd: must be at least -1e\+09 and below 0 \(got 100\)"),
    ("unknown severity", setter(["alerts", "loop_latency", "severity"], "page"),
     r"alerts\.loop_latency\.severity: expected one of critical, warning, info, got str 'page'"),
    ("unknown family with suggestion", lambda d: d["alerts"].update(drawdwn={"for": "1m"}),
     r"alerts\.drawdwn: unknown alert family .*did you mean 'drawdown'\?"),
    ("unknown field of a family", setter(["alerts", "drawdown", "warn"], 0.1),
     r"alerts\.drawdown\.warn: unknown key \(expected one of: critical, for, overrides, warning\)"),
    ("watchdog is a switch", setter(["alerts", "watchdog"], {"for": "1m"}),
     r"alerts\.watchdog: expected true or false, got a mapping"),
    ("timeout longer than interval", setter(["global", "scrape_timeout"], "30s"),
     r"global\.scrape_timeout: must not be longer than scrape_interval \(15s\), got 30s"),
    ("wrong type", setter(["scrape", "jobs", 0, "targets"], "exporter:9100"),
     r"scrape\.jobs\[0\]\.targets: expected a list, got str 'exporter:9100'"),
    ("target without port", setter(["scrape", "jobs", 0, "targets"], ["exporter"]),
     r"scrape\.jobs\[0\]\.targets\[0\]: 'exporter' is not a valid target \(host:port\)"),
    ("counter without _total", _metric("trading_round_trips_total", name="trading_round_trips"),
     r"metrics\.topn\[\d+\]\.name: counter 'trading_round_trips' must end in _total"),
    ("histogram without buckets", _metric("trading_loop_latency_seconds", buckets=None),
     r"metrics\.topn\[\d+\]: histogram 'trading_loop_latency_seconds' needs buckets"),
    ("unit suffix", _metric("trading_daily_pnl_usd", unit="seconds"),
     r"a metric in seconds must be named \.\._seconds \(got 'trading_daily_pnl_usd'\)"),
    # Signals are always in the catalog (stackgen/data/signals.yaml); the spec may refine one, not retype it.
    ("signal redeclared with another type", _metric("trading_loop_latency_seconds", type="gauge", buckets=None),
     r"metrics\.topn\[\d+\]\.type: 'trading_loop_latency_seconds' is the signal 'loop_latency', a histogram"),
    ("panel on a metric missing from the catalog",
     lambda d: d["dashboards"][0]["rows"][0]["panels"][0].update(queries=[{"expr": "nowhere_metric"}]),
     r"metric 'nowhere_metric' is not in the metric catalog"),
    ("alert on a label missing from the catalog", _metric("fx_source_rate", labels=["venue"]),
     r"recording rule source:fx_source_deviation_bps: its result does not carry label 'source' "
     r"\(it carries: bot, instance, job, venue\)"),
    ("latency threshold outside the buckets", setter(["alerts", "loop_latency", "p99_seconds"], 5),
     r"alerts\.loop_latency\.p99_seconds: must lie within the buckets of trading_loop_latency_seconds "
     r"\(0\.001\.\.1\), got 5"),
    ("path label not in the catalog", setter(["api", "path_label"], "handler"),
     r"api\.path_label: label 'handler' is not a label of http_requests_total"),
    ("inline secret", lambda d: d["alertmanager"]["receivers"][0]["telegram"].update(bot_token="123:ABC"),
     r"alertmanager\.receivers\[0\]\.telegram\.bot_token: secrets are never written in the spec"),
    ("unknown receiver", lambda d: d["alertmanager"]["routes"][1].update(receivers=["pagerduty"]),
     r"alertmanager\.routes\[1\]\.receivers\[0\]: unknown receiver 'pagerduty'"),
    ("window ends before it starts", lambda d: d["alertmanager"]["maintenance_windows"][0].update(end="01:00"),
     r"maintenance_windows\[0\]\.end: must be after start \(02:00\), got 01:00"),
    # -- panels citing thresholds
    ("panel cites an unknown field", _panel_from("alerts.loop_latency.p98"),
     r"thresholds\[1\]\.from: alerts\.loop_latency has no field 'p98' \(it has: p99_seconds, for, severity\)"),
    ("panel cites the python spelling", _panel_from("alerts.loop_latency.for_"),
     r"thresholds\[1\]\.from: alerts\.loop_latency has no field 'for_'"),
    ("panel cites an unknown family", _panel_from("alerts.nope.x"),
     r"thresholds\[1\]\.from: alert family 'nope' is not known"),
    # -- alerts of the user's own
    ("free-form alert without a firing case", _alert("ErrorsHigh", {**FREE_FORM, "tests": _tests(True, False)}),
     r"alerts\.ErrorsHigh\.tests: free-form alert ErrorsHigh needs a firing case"),
    ("free-form alert without a silent case", _alert("ErrorsHigh", {**FREE_FORM, "tests": _tests(False, True)}),
     r"alerts\.ErrorsHigh\.tests: free-form alert ErrorsHigh needs a silent case \(exp_alerts: \[\]\)"),
    ("free-form alert on an unknown metric",
     _alert("ErrorsHigh", {**FREE_FORM, "expr": "rate(nope_total[5m]) > 1", "tests": _tests(True, True)}),
     r"alerts\.ErrorsHigh\.expr: alert ErrorsHigh: metric 'nope_total' is not in the metric catalog"),
    ("free-form alert that does not parse",
     _alert("ErrorsHigh", {**FREE_FORM, "expr": "rate(http_requests_total[5m] > 1", "tests": _tests(True, True)}),
     r"alerts\.ErrorsHigh\.expr: alert ErrorsHigh: PromQL does not parse"),
    ("threshold alert with both sides",
     _alert("SourceDown", {"metric": "fx_source_connected", "above": 1, "below": 0, "for": "1m",
                           "summary": "s", "description": "d"}),
     r"alerts\.SourceDown: a threshold alert needs exactly one of above or below \(got above, below\)"),
    ("threshold alert on a counter",
     _alert("ManyRequests", {"metric": "http_requests_total", "above": 1, "for": "1m", "summary": "s",
                             "description": "d"}),
     r"alerts\.ManyRequests\.metric: a threshold alert reads a gauge; http_requests_total is a counter"),
    ("threshold alert printing a label its result lacks",
     _alert("SourceDown", {"metric": "fx_source_connected", "below": 1, "by": ["job"], "for": "1m",
                           "summary": "{{ $labels.source }} down", "description": "d"}),
     r"alerts\.SourceDown\.below: alert SourceDown: its result does not carry label 'source' \(it carries: job"),
    ("alert of one's own named like a built-in", _alert("TargetDown", {**FREE_FORM, "tests": _tests(True, True)}),
     r"alerts\.TargetDown: TargetDown is the alert of the built-in family 'target_down'"),
    ("free-form test series without values",
     _alert("ErrorsHigh", {**FREE_FORM, "tests": [{"input_series": [{"series": "up"}],
                                                   "alert_rule_test": _tests(True, True)[0]["alert_rule_test"]}]}),
     r"alerts\.ErrorsHigh\.tests\[0\]\.input_series\[0\]: missing required key 'values'"),
    ("alert of one's own neither kind", _alert("Mine", {"for": "1m"}),
     r"alerts\.Mine: an alert of your own needs `metric` with `above` or `below`"),
    ("recording rule name without levels", _record(record="http_rate"),
     r"recording_rules\[0\]\.record: 'http_rate' is not a level:metric:operations name"),
    ("recording rule without an expression test", _record(tests=[{"input_series": [], "promql_expr_test": []}]),
     r"recording_rules\[0\]\.tests\[0\]\.promql_expr_test: expected at least 1 item"),
]


@pytest.mark.parametrize("edit,pattern", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_spec_fails_with_file_line_and_field(edit, pattern):
    message = error_of(edit)
    assert re.search(pattern, message), message
    assert re.match(r"spec\.yaml:\d+: ", message), f"the line number is missing: {message}"
    assert "\n" not in message


TEXT_CASES = [
    ("yaml syntax error", lambda t: t.replace("  cluster: test\n", "  cluster: [test\n"),
     r"^spec\.yaml:\d+: YAML syntax error"),
    ("duplicate key", lambda t: t.replace("  cluster: test\n", "  cluster: test\n  cluster: prod\n"),
     r"spec\.yaml:\d+: global: duplicate key 'cluster'"),
    ("empty file", lambda t: "", r"spec\.yaml: the spec is empty"),
]


@pytest.mark.parametrize("edit,pattern", [c[1:] for c in TEXT_CASES], ids=[c[0] for c in TEXT_CASES])
def test_bad_spec_text_fails_with_its_line(edit, pattern):
    message = error_of(text=edit(base_text()))
    assert re.search(pattern, message), message


def test_field_errors_point_at_the_line_of_the_field():
    text = base_text().replace("drawdown: {warning: 0.2,", "drawdown: {warning: 1.5,")
    expected = text.splitlines().index("  drawdown: {warning: 1.5, critical: 0.3, for: 10m}") + 1
    assert error_of(text=text).startswith(f"spec.yaml:{expected}: alerts.drawdown.warning:")


def test_syntax_error_names_the_right_line():
    text = base_text().replace("  cluster: test\n", "  cluster: [test\n")
    line = int(re.match(r"spec\.yaml:(\d+):", error_of(text=text)).group(1))
    broken = text.splitlines().index("  cluster: [test") + 1
    assert broken <= line <= broken + 2


# -- what a user sees from the command line (one subprocess in all) -----------------------------------
def test_cli_prints_one_line_exits_2_and_writes_nothing(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(base_text().replace("drawdown: {warning: 0.2,", "drawdown: {warning: 1.5,"))
    out = tmp_path / "out"
    result = run_generate("--spec", str(spec), "--out", str(out))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert re.match(r"error: \S*spec\.yaml:\d+: alerts\.drawdown\.warning: must be above 0", lines[0])
    assert not out.exists()


def test_cli_missing_spec_file(tmp_path, capsys):
    out = tmp_path / "out"
    assert generate.main(["--spec", str(tmp_path / "nope.yaml"), "--out", str(out)]) == 2
    stdout, stderr = capsys.readouterr()
    assert stdout == ""
    assert stderr == f"error: {tmp_path / 'nope.yaml'}: cannot read the spec: No such file or directory\n"
    assert not out.exists()
    assert BASE.exists()
