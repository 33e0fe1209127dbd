"""Hostile specs: every one ends in the one-line error (no traceback, no crash, no hang) and
leaves the generated files byte for byte as they were. A table of known attacks, then a
property-based fuzzer (hypothesis) that mutates a small fixture spec.

The generator runs in-process (fast), through generate.main as the CLI runs it, without the
promtool/amtool judgement of the rendered files: tests/real_tools/test_hostile_specs_tools.py
runs the fuzzer and the largest spec again with the real tools judging.
"""
from __future__ import annotations

import os
import re
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings

from stackgen.pipeline import render_spec
from tests.generator.hostile import SEED, Workspace, is_refusal, jobs, mutated_spec, run, sub


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Workspace:
    return Workspace.create(tmp_path_factory.mktemp("hostile"))


LAUGHS = ("a: &a [x, x, x, x, x, x, x, x, x, x]\n"
          + "".join(f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(9)))

# (id, spec text, regex the one error line must match after "error: <spec>:")
CASES = [
    ("50,000-deep list", SEED + "extra: " + "[" * 50_000 + "]" * 50_000 + "\n",
     r"\d+: nested more than 64 levels deep"),
    ("billion laughs", LAUGHS + SEED, r"\d+: \w\[\d+\]: the spec holds more than 250,000 values once its aliases"),
    ("recursive alias", sub("version: tradingmon/v1", "version: tradingmon/v1\nx: &r [*r]"),
     r"3: x\[0\]: alias \*r refers to the value that contains it"),
    ("undefined alias", sub("project: fuzz", "project: *nothing"), r"\d+: .*(alias|anchor)"),
    ("merge key", sub("  cluster: local", "  <<: {cluster: local}"),
     r"\d+: global: YAML merge keys \(<<\) are not supported"),
    ("400-digit integer", sub("chat_id: -100123", "chat_id: " + "9" * 400),
     r"\d+: alertmanager\.receivers\[0\]\.telegram\.chat_id: expected a number of at most 19 digits"),
    ("5000-digit integer", sub("warning: 0.05", "warning: " + "9" * 5000), r"\d+: alerts\.drawdown\.warning: "),
    ("non-UTF-8 bytes", sub("project: fuzz", "project: fu\udcffzz").encode("utf-8", "surrogateescape"),
     r"4: not valid UTF-8: byte 0xff"),
    ("control character", sub("project: fuzz", "project: fu\x07zz"), r"4: YAML error: character U\+0007"),
    ("labels: 5", sub("      labels:\n        bot: demo", "      labels: 5"),
     r"\d+: scrape\.jobs\[0\]\.labels: expected a mapping, got int 5"),
    ("{{ in runbook_url", sub("https://example.com/runbook.md", "https://example.com/{{ .x }}"),
     r"\d+: global\.runbook_url: runbook URL must not contain template braces"),
    ('" in a matcher value', sub("match: {severity: critical}", "match: {severity: 'crit\"ical'}"),
     r"\d+: alertmanager\.routes\[0\]\.match\.severity: a matcher value must not contain '\"'"),
    ("\\ in a matcher value", sub("match: {severity: critical}", "match: {severity: 'crit\\ical'}"),
     r"\d+: alertmanager\.routes\[0\]\.match\.severity: a matcher value must not contain"),
    ("window end 24:30", sub('end: "03:00"', 'end: "24:30"'),
     r"\d+: alertmanager\.maintenance_windows\[0\]\.end: '24:30' is not a valid time of day"),
    ("window start 24:00", sub('start: "02:00"', 'start: "24:00"'), r"\d+: .*start: 24:00 can only end a window"),
    ("unknown time zone", sub("Europe/Paris", "Mars/Olympus"), r"\d+: .*location: unknown time zone 'Mars/Olympus'"),
    ("time zone path", sub("Europe/Paris", "../../etc/passwd"), r"\d+: .*location: .* is not an IANA time zone"),
    ("duplicate window", sub("  maintenance_windows:\n", "  maintenance_windows:\n    - {name: weekly, weekdays: "
                              "[monday], start: '01:00', end: '02:00', mute_alerts: [TargetDown]}\n"),
     r"\d+: alertmanager\.maintenance_windows\[1\]\.name: maintenance window 'weekly' is declared twice"),
    ("chat_id: 0", sub("chat_id: -100123", "chat_id: 0"), r"\d+: .*chat_id: chat_id must not be 0"),
    ("webhook without host", sub("http://127.0.0.1:5001/alerts", "http://"), r"\d+: .*webhook\.url: expected an"),
    ("webhook with a space", sub("http://127.0.0.1:5001/alerts", "'http://a b/'"),
     r"\d+: .*webhook\.url: webhook URL must not contain ' '"),
    ("webhook port 99999", sub("http://127.0.0.1:5001/alerts", "http://127.0.0.1:99999/x"),
     r"\d+: .*webhook\.url: malformed webhook URL"),
    ("duration 300y", sub("repeat_interval: 4h", "repeat_interval: 300y"),
     r"\d+: alertmanager\.repeat_interval: must be at most 290y \(got 300y\)"),
    ("retention 100000y", sub("retention: 15d", "retention: 100000y"),
     r"\d+: global\.retention: must be at most 100y \(got 100000y\)"),
    ("5000-digit duration", sub("retention: 15d", "retention: " + "9" * 5000 + "d"),
     r"\d+: global\.retention: expected a Prometheus duration"),
    ("base-60 1:20", sub("chat_id: -100123", "chat_id: 1:20"), r"\d+: .*chat_id: '1:20' is read as a base-60 number"),
    ("octal 010", sub("chat_id: -100123", "chat_id: 0100123"), r"\d+: .*chat_id: '0100123' is read as an octal"),
    ("yes as boolean", sub("self_monitoring: true", "self_monitoring: yes"),
     r"\d+: scrape\.self_monitoring: 'yes' is read as true by YAML 1\.1"),
    ("on as a key", sub("  cluster: local", "  cluster: local\n  on: 1"), r"\d+: global: 'on' is read as true"),
    ("target port 99999", sub('"bot:9100"', '"bot:99999"'), r"\d+: .*targets\[0\]: port must be between 1 and 65535"),
    ("python tag", sub("project: fuzz", "project: !!python/object:os.system x"), r"\d+: global\.project: bad value"),
    ("two documents", SEED + "---\na: 1\n", r"\d+: expected one YAML document"),
    ("duplicate group_by", sub("group_by: [alertname, job]", "group_by: [alertname, job, job]"),
     r"\d+: alertmanager\.group_by\[2\]: label 'job' is listed twice"),
    ("1,001 scrape jobs", jobs(1000), r"\d+: scrape\.jobs: at most 1000 scrape jobs \(got 1001\)"),
    ("10,001 scrape jobs", jobs(10_000), r"\d+: scrape\.jobs: at most 1000 scrape jobs \(got 10001\)"),
    ("64 KB project name", sub("project: fuzz", "project: '" + "X" * 65_536 + "'"),
     r"\d+: global\.project: 'XXXX.{0,60} \(65,536 chars\) is not a valid"),
    ("1,000-char unknown key", sub("  cluster: local", "  cluster: local\n  " + "k" * 1000 + ": 1"),
     r"\d+: global\.k+\.\.\.: unknown key \(expected one of: .*\)$"),
    ("64 KB severity", sub("    severity: critical", "    severity: " + "c" * 65_536),
     r"\d+: alerts\.target_down\.severity: expected one of critical, warning, info, "
     r"got str 'ccc.{0,60}\(65,536 chars\)"),
    ("1,000 receivers, a route to none", sub("      receivers: [chat, hook]", "      receivers: [nobody]").replace(
        "  routes:\n", "".join(f"    - name: r{i}\n      webhook: {{url: 'http://127.0.0.1:5001/{i}'}}\n"
                               for i in range(1000)) + "  routes:\n", 1),
     r"\d+: .*unknown receiver 'nobody' \(declared: [^)]* and 990 more\)"),
    ("64 KB PromQL", sub("count(up == 0) or on() vector(0)", "up{job='" + "j" * 65_536 + "'} +"),
     r"\d+: .*"),
    ("PromQL nested 200 deep", sub("count(up == 0) or on() vector(0)", "(" * 200 + "up" + ")" * 200),
     r"\d+: .*nested 200 brackets deep"),
]


@pytest.mark.parametrize("spec_text, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_hostile_spec_ends_in_one_line(workspace, spec_text, expected):
    spec = workspace.base / "bad.yaml"
    code, stdout, stderr, seconds = run(spec_text, spec, workspace.out)
    assert code == 2, stderr
    assert stderr.count("\n") == 1 and "Traceback" not in stderr
    assert len(stderr.encode()) <= 1024, f"{len(stderr.encode()):,} bytes"
    assert re.match(rf"error: {re.escape(str(spec))}:?{expected}", stderr), stderr
    assert workspace.unchanged()
    assert seconds < 10


def test_999_scrape_jobs_are_fine(workspace, tmp_path):
    """The RecursionError of 1,000 jobs (a 1,000-term `or` chain in TargetAbsent) is gone."""
    code, _, stderr, _ = run(jobs(998), workspace.base / "jobs.yaml", tmp_path / "out")
    assert code == 0, stderr
    assert "job997" in (tmp_path / "out" / "rules" / "platform.rules.yml").read_text()


# -- the fuzzer ----------------------------------------------------------------------------------

# STACKGEN_FUZZ_EXAMPLES=N for a longer run.
FUZZ_EXAMPLES = int(os.environ.get("STACKGEN_FUZZ_EXAMPLES", "100"))


@settings(max_examples=FUZZ_EXAMPLES, deadline=timedelta(seconds=10), database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(spec_text=mutated_spec())
def test_fuzzed_specs_end_in_one_line_or_render(workspace, spec_text):
    code, _, stderr, _ = run(spec_text, workspace.base / "fuzz.yaml", workspace.out)
    assert code in (0, 2)
    assert "Traceback" not in stderr
    if code == 2:
        assert is_refusal(stderr), stderr[:3000]
        assert workspace.unchanged()
    else:
        workspace.restore()   # accepted: the seed's outputs back for the next example


def test_plain_anchors_and_aliases_still_work(workspace, tmp_path):
    """The defensive reader keeps YAML's ordinary reuse: an alias renders what the written-out value renders."""
    aliased = sub("  group_by: [alertname, job]", "  group_by: &grouping [alertname, job]")
    route_end = "      repeat_interval: 1h\n"
    aliased = aliased.replace(route_end, route_end + "      group_by: *grouping\n", 1)
    written = SEED.replace(route_end, route_end + "      group_by: [alertname, job]\n", 1)
    rendered = {}
    for name, text in (("specs-a", aliased), ("specs-w", written)):
        (tmp_path / name).mkdir()
        spec = tmp_path / name / "spec.yaml"
        spec.write_text(text)
        rendered[name] = render_spec(spec, str(spec))[1]
    assert sorted(rendered["specs-a"]) == sorted(rendered["specs-w"])
    for rel, text in rendered["specs-a"].items():
        # Headers name the spec's path, the one intended difference.
        assert text.replace("specs-a", "specs-w") == rendered["specs-w"][rel], rel
    # An error inside an alias names the path it is used at and the line the bad value is written on.
    bad = aliased.replace("&grouping [alertname, job]", "&grouping [alertname, job, job]")
    code, _, stderr, _ = run(bad, workspace.base / "bad-alias.yaml", tmp_path / "b")
    line = bad.splitlines().index("  group_by: &grouping [alertname, job, job]") + 1
    assert code == 2
    assert f"bad-alias.yaml:{line}: alertmanager.routes[0].group_by[2]: label 'job' is listed twice" in stderr


# -- numbers past int64 or float, in every numeric field -------------------------------------------

HUGE = ("1" + "0" * 450, "-" + "9" * 451, "1.7e308", "2e308")


def _one_line_refusal(workspace, text: str, name: str) -> str:
    code, _, stderr, _ = run(text, workspace.base / f"{name}.yaml", workspace.out)
    assert code in (0, 2) and "Traceback" not in stderr, stderr
    if code == 0:
        workspace.restore()
        return ""
    assert is_refusal(stderr), stderr[:3000]
    assert workspace.unchanged()
    return stderr


def _family_number_fields():
    from stackgen.alerts.families import families
    return [(key, spec.name) for key, fam in sorted(families().items())
            for spec in fam.fields if spec.type == "number"]


@pytest.mark.parametrize("family, field", _family_number_fields(), ids=lambda x: str(x))
def test_huge_number_in_any_family_field_is_one_line(workspace, family, field):
    """Every numeric field of every family goes through the one bounded reader (int64, finite)."""
    for value in HUGE:
        if family == "drawdown":   # the seed sets it: change that one field in place
            fields = {"warning": "0.05", "critical": "0.10", "for": "5m", field: value}
            block = "".join(f"    {k}: {v}\n" for k, v in fields.items())
            text = sub("    warning: 0.05\n    critical: 0.10\n    for: 5m\n", block)
        else:
            text = sub("alerts:\n", f"alerts:\n  {family}:\n    {field}: {value}\n")
        stderr = _one_line_refusal(workspace, text, "huge-family")
        if value.lstrip("-").isdigit():
            # a whole number of 451 digits is never a valid threshold
            assert "at most 19 digits" in stderr or "required" in stderr or "unknown" in stderr, stderr


_NUMERIC_LINE = re.compile(r"^(\s*(?:- )?[A-Za-z_]+:\s*)-?\d+(?:\.\d+)?\s*$")


@pytest.mark.parametrize("index", [i for i, line in enumerate(SEED.splitlines()) if _NUMERIC_LINE.match(line)])
def test_huge_number_in_any_numeric_line_is_one_line(workspace, index):
    lines = SEED.splitlines()
    head = _NUMERIC_LINE.match(lines[index]).group(1)
    for value in HUGE:
        lines[index] = head + value
        _one_line_refusal(workspace, "\n".join(lines) + "\n", "huge-line")


@pytest.mark.parametrize("where", ["mappings: [{value: %s, text: x}]", "min: %s", "max: %s",
                                   "thresholds: [{color: green}, {color: red, from: %s}]"])
def test_huge_number_in_a_panel_is_one_line(workspace, where):
    for value in HUGE:
        text = sub("            decimals: 0\n", f"            decimals: 0\n            {where % value}\n")
        if where.startswith("thresholds"):
            text = text.replace("            thresholds: [{color: green}, {color: red, from: 1}]\n", "", 1)
        _one_line_refusal(workspace, text, "huge-panel")
