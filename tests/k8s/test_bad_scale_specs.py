"""Bad scale-out sections (kubernetes, remote_write, alertmanager_ha): one line naming file, line and field."""
from __future__ import annotations

import re

import pytest

from stackgen.errors import SpecError
from stackgen.load import load_stack
from tests.conftest import run_generate


def _rw(**changes):
    def edit(data):
        data["remote_write"]["enabled"] = True
        data["remote_write"].update(changes)
    return edit


def _k8s(**changes):
    def edit(data):
        data["kubernetes"].update(changes)
    return edit


def _workload(**changes):
    def edit(data):
        data["kubernetes"]["workloads"][0].update(changes)
        for key in [k for k, v in data["kubernetes"]["workloads"][0].items() if v is None]:
            del data["kubernetes"]["workloads"][0][key]
    return edit


def _ha(instances):
    def edit(data):
        data["alertmanager_ha"].update(enabled=True, instances=instances)
    return edit


CASES = [
    ("service without port", _workload(port=None), r"kubernetes\.workloads\[0\]: missing required key 'port'"),
    ("pod with port", _workload(kind="pod"), r"kubernetes\.workloads\[0\]\.port: only for kind service"),
    ("bad kind", _workload(kind="deployment"), r"kubernetes\.workloads\[0\]\.kind: expected one of service, pod"),
    ("bad label key", _k8s(rule_selector_labels={"bad key!": "x"}),
     r"kubernetes\.rule_selector_labels\.bad key!: 'bad key!' is not a valid Kubernetes label key"),
    ("label value not a string", _k8s(rule_selector_labels={"release": 1}),
     r"kubernetes\.rule_selector_labels\.release: expected a Kubernetes label value .*got 1"),
    ("empty rule selector", _k8s(rule_selector_labels={}), r"kubernetes\.rule_selector_labels: must not be empty"),
    ("bad namespace", _k8s(namespace="Monitoring"), r"kubernetes\.namespace: 'Monitoring' is not a valid namespace"),
    ("inline password", _rw(auth={"basic_auth": {"username": "u", "password": "hunter2"}}),
     r"remote_write\.auth\.basic_auth\.password: credentials are read from files only"),
    ("token from env", _rw(auth={"bearer_token": {"env": "TOKEN"}}),
     r"remote_write\.auth\.bearer_token: credentials are read from files only"),
    ("two auths", _rw(auth={"bearer_token": {"file": "/a"}, "sigv4": {"region": "eu-west-1"}}),
     r"remote_write\.auth: give exactly one of"),
    ("sigv4 secret key", _rw(auth={"sigv4": {"region": "eu-west-1", "secret_key": "x"}}),
     r"remote_write\.auth\.sigv4\.secret_key: keys are never written in the spec"),
    ("credentials over http", _rw(url="http://mimir.example.com/api/v1/push"),
     r"remote_write\.url: credentials over plain http"),
    ("prometheus 4", _rw(prometheus_version=4), r"remote_write\.prometheus_version: expected one of 2, 3, got int 4"),
    ("host label reserved", _rw(host_label="cluster"),
     r"remote_write\.host_label: 'cluster' is already an external label"),
    ("duplicate host", _rw(hosts=[{"name": "a", "jobs": ["exporter"]}, {"name": "a", "jobs": ["exporter"]}]),
     r"remote_write\.hosts\[1\]\.name: host 'a' is listed twice"),
    ("host with unknown job", _rw(hosts=[{"name": "a", "jobs": ["topn-bot"]}]),
     r"remote_write\.hosts\[0\]\.jobs\[0\]: no enabled scrape job 'topn-bot'"),
    ("target for a job the host does not run", _rw(hosts=[{"name": "a", "jobs": ["exporter"],
                                                           "targets": {"other": ["x:1"]}}]),
     r"remote_write\.hosts\[0\]\.targets\.other: unknown key"),
    ("queue shards", _rw(queue={"min_shards": 5, "max_shards": 2}),
     r"remote_write\.queue\.min_shards: must not be above max_shards \(2\), got 5"),
    ("one alertmanager", _ha([{"web": "a:9093", "cluster": "a:9094"}]),
     r"alertmanager_ha\.instances: expected at least 2 item\(s\), got 1"),
    ("shared address", _ha([{"web": "a:9093", "cluster": "a:9094"}, {"web": "b:9093", "cluster": "a:9094"}]),
     r"alertmanager_ha\.instances\[1\]\.cluster: a:9094 is used twice"),
    ("enabled without url", lambda d: d.update(remote_write={"enabled": True}),
     r"remote_write: missing required key 'url'"),
    ("unknown section key", _k8s(rule_selector={"a": "b"}), r"kubernetes\.rule_selector: unknown key .*did you mean"),
]


@pytest.mark.parametrize("edit,pattern", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_scale_out_section_is_one_line_with_file_line_and_field(edited_spec, edit, pattern):
    path = edited_spec(edit)
    with pytest.raises(SpecError) as info:
        load_stack(path)
    message = str(info.value)
    assert "\n" not in message
    assert re.match(r"^spec\.yaml:\d+: ", message), message
    assert re.search(pattern, message), message


def test_a_disabled_section_needs_nothing_else(edited_spec):
    def minimal(data):
        data["remote_write"] = {"enabled": False}
        data["alertmanager_ha"] = {"enabled": False}
        data["kubernetes"] = {"enabled": False}
    stack = load_stack(edited_spec(minimal))
    assert stack.remote_write is None and stack.alertmanager_ha is None and stack.kubernetes is None


def test_the_cli_prints_it_as_one_line_and_writes_nothing(edited_spec, tmp_path):
    out = tmp_path / "out"
    case = next(c for c in CASES if "basic_auth" in c[2] and "password" in c[2])
    result = run_generate("--spec", str(edited_spec(case[1])), "--out", str(out))
    assert result.returncode == 2 and result.stdout == ""
    assert re.fullmatch(r"error: \S+spec\.yaml:\d+: remote_write\.auth\.basic_auth\.password: .*\n", result.stderr)
    assert "hunter2" not in result.stderr
    assert not out.exists()


def test_a_workload_follows_its_job_off_with_it_not_an_error(edited_spec):
    """Removing (or disabling) a job its k8s workload names leaves the workload out, with a note."""
    stack = load_stack(edited_spec(_workload(job="nope")))
    assert stack.kubernetes is not None and "nope" not in {w.job for w in stack.kubernetes.workloads}
    assert any(re.search(r"spec\.yaml:\d+: kubernetes\.workloads\[0\]\.job: no enabled scrape job 'nope': its "
                         r"workload is left out", note) for note in stack.notes), stack.notes
