"""Bad specs: each fails with a message naming file, line and field, no traceback, nothing written."""
from __future__ import annotations

import re

import pytest

from tests.conftest import ROOT, run_generate

SPEC_TEXT = (ROOT / "spec.yaml").read_text()


def _set(path, value):
    def edit(data):
        node = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return edit


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


def _receiver(name, kind, key, value):
    def edit(data):
        for r in data["alertmanager"]["receivers"]:
            if r["name"] == name:
                r[kind][key] = value
    return edit


# (id, edit of the parsed spec, regex the error line must match)
CASES = [
    ("wrong version", _set(["version"], "tradingmon/v2"),
     r"version: unsupported spec version 'tradingmon/v2' \(expected 'tradingmon/v1'\)"),
    ("unknown key with suggestion", lambda d: d["global"].update(scrape_intervl="15s"),
     r"global\.scrape_intervl: unknown key .*did you mean 'scrape_interval'\?"),
    ("ratio out of range", _set(["alerts", "drawdown", "warning"], 1.5),
     r"alerts\.drawdown\.warning: must be above 0 and at most 1 \(got 1\.5\)"),
    ("critical below warning", _set(["alerts", "drawdown", "critical"], 0.01),
     r"alerts\.drawdown\.critical: must be above warning \(0\.05\), got 0\.01"),
    ("bad duration", _set(["alerts", "drawdown", "for"], "5 minutes"),
     r"alerts\.drawdown\.for: expected a Prometheus duration such as 30s, 5m or 1h30m, got str '5 minutes'"),
    ("timeout longer than interval", _set(["global", "scrape_timeout"], "30s"),
     r"global\.scrape_timeout: must not be longer than scrape_interval \(15s\), got 30s"),
    ("wrong type", _set(["scrape", "jobs", 0, "targets"], "exporter:9100"),
     r"scrape\.jobs\[0\]\.targets: expected a list, got str 'exporter:9100'"),
    ("target without port", _set(["scrape", "jobs", 0, "targets"], ["exporter"]),
     r"scrape\.jobs\[0\]\.targets\[0\]: 'exporter' is not a valid target \(host:port\)"),
    ("counter without _total", _metric("trading_round_trips_total", name="trading_round_trips"),
     r"metrics\.topn\[\d+\]\.name: counter 'trading_round_trips' must end in _total"),
    ("gauge named _total", _metric("trading_pnl_usd", name="trading_pnl_usd_total"),
     r"only counters may end in _total; 'trading_pnl_usd_total' is a gauge"),
    ("histogram without buckets", _metric("trading_loop_latency_seconds", buckets=None),
     r"metrics\.topn\[\d+\]: histogram 'trading_loop_latency_seconds' needs buckets"),
    ("unit suffix", _metric("trading_equity_usd", unit="seconds"),
     r"a metric in seconds must be named \.\._seconds \(got 'trading_equity_usd'\)"),
    # Signals are always in the catalog (stackgen/data/signals.yaml); the spec may refine one, not retype it.
    ("signal redeclared with another type", _metric("trading_loop_latency_seconds", type="gauge", buckets=None),
     r"metrics\.topn\[\d+\]\.type: 'trading_loop_latency_seconds' is the signal 'loop_latency', a histogram"),
    ("panel on a metric missing from the catalog",
     lambda d: d["dashboards"][0]["rows"][0]["panels"][0].update(queries=[{"expr": "nowhere_metric"}]),
     r"metric 'nowhere_metric' is not in the metric catalog"),
    ("alert on a label missing from the catalog", _metric("fx_source_rate", labels=["venue"]),
     r"recording rule source:fx_source_deviation_bps: its result does not carry label 'source' "
     r"\(it carries: bot, instance, job, venue\)"),
    ("latency threshold outside the buckets", _set(["alerts", "loop_latency", "p99_seconds"], 5),
     r"alerts\.loop_latency\.p99_seconds: must lie within the buckets of trading_loop_latency_seconds"),
    ("path label not in the catalog", _set(["api", "path_label"], "handler"),
     r"api\.path_label: label 'handler' is not a label of http_requests_total"),
    ("inline secret", _receiver("telegram-oncall", "telegram", "bot_token", "123456:ABC"),
     r"alertmanager\.receivers\[0\]\.telegram\.bot_token: secrets are never written in the spec"),
    ("telegram token from a file", _receiver("telegram-oncall", "telegram", "bot_token", {"file": "/run/t"}),
     r"telegram\.bot_token\.file: cannot come from a file: Alertmanager 0\.25 has no bot_token_file"),
    ("slack url from env", _receiver("slack-trading", "slack", "api_url", {"env": "SLACK_URL"}),
     r"slack\.api_url\.env: cannot come from the environment: .*api_url_file"),
    ("unknown receiver", lambda d: d["alertmanager"]["routes"][1].update(receivers=["pagerduty"]),
     r"alertmanager\.routes\[1\]\.receivers\[0\]: unknown receiver 'pagerduty'"),
    ("window ends before it starts", lambda d: d["alertmanager"]["maintenance_windows"][0].update(end="01:00"),
     r"maintenance_windows\[0\]\.end: must be after start \(02:00\), got 01:00"),
    ("duplicate metric", lambda d: d["metrics"]["fx"].append(dict(d["metrics"]["fx"][0])),
     r"metric 'fx_valid_sources' is declared twice \(also in metrics\.fx\)"),
]

# (id, text edit of spec.yaml, regex) for errors only raw text can make.
TEXT_CASES = [
    ("yaml syntax error", lambda t: t.replace("  cluster: local\n", "  cluster: [local\n"),
     r"^error: [^:]*spec\.yaml:\d+: YAML syntax error"),
    ("duplicate key", lambda t: t.replace("  cluster: local\n", "  cluster: local\n  cluster: prod\n"),
     r"spec\.yaml:\d+: global: duplicate key 'cluster'"),
    ("empty file", lambda t: "", r"spec\.yaml: the spec is empty"),
]


@pytest.fixture
def previous_outputs(tmp_path):
    """An output tree from the good spec, and a snapshot of its bytes."""
    out = tmp_path / "out"
    assert run_generate("--out", str(out)).returncode == 0
    snapshot = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    return out, snapshot


def _assert_clean_failure(result, pattern, out, snapshot):
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert re.search(pattern, lines[0]), lines[0]
    assert "spec.yaml" in lines[0]
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == snapshot


@pytest.mark.parametrize("edit,pattern", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_spec_fails_clearly_and_writes_nothing(edit, pattern, edited_spec, previous_outputs):
    out, snapshot = previous_outputs
    result = run_generate("--spec", str(edited_spec(edit)), "--out", str(out))
    _assert_clean_failure(result, pattern, out, snapshot)
    assert re.search(r"spec\.yaml:\d+: ", result.stderr), "the line number is missing"


@pytest.mark.parametrize("edit,pattern", [c[1:] for c in TEXT_CASES], ids=[c[0] for c in TEXT_CASES])
def test_bad_spec_text_fails_with_its_line(edit, pattern, tmp_path, previous_outputs):
    out, snapshot = previous_outputs
    spec = tmp_path / "spec.yaml"
    spec.write_text(edit(SPEC_TEXT))
    result = run_generate("--spec", str(spec), "--out", str(out))
    _assert_clean_failure(result, pattern, out, snapshot)


def test_syntax_error_names_the_right_line(tmp_path):
    text = SPEC_TEXT.replace("  cluster: local\n", "  cluster: [local\n")
    spec = tmp_path / "spec.yaml"
    spec.write_text(text)
    result = run_generate("--spec", str(spec), "--out", str(tmp_path / "out"))
    line = int(re.search(r"spec\.yaml:(\d+):", result.stderr).group(1))
    broken = text.splitlines().index("  cluster: [local") + 1
    assert broken <= line <= broken + 2, result.stderr


def test_missing_spec_file(tmp_path):
    result = run_generate("--spec", str(tmp_path / "nope.yaml"), "--out", str(tmp_path))
    assert result.returncode == 2
    assert "nope.yaml: cannot read the spec: No such file or directory" in result.stderr


def test_field_errors_point_at_the_line_of_the_field(tmp_path, previous_outputs):
    out, _ = previous_outputs
    text = SPEC_TEXT.replace("    warning: 0.05            # ratio 0..1", "    warning: 1.5")
    spec = tmp_path / "spec.yaml"
    spec.write_text(text)
    result = run_generate("--spec", str(spec), "--out", str(out))
    expected = text.splitlines().index("    warning: 1.5") + 1
    assert f"spec.yaml:{expected}: alerts.drawdown.warning:" in result.stderr
