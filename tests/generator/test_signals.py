"""The signal registry is the one place metric names are written in code."""
from __future__ import annotations

import ast
import json

from stackgen import conventions as n
from stackgen.conventions import signal_names
from stackgen.signals import registry
from tests.conftest import ROOT

CODE_DIRS = ("stackgen", "exporter", "stackctl")


def _string_literals(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value


def test_no_signal_metric_name_is_written_in_python_code():
    # A few keys equal their metric name (fx_valid_sources): a key is how code refers to a signal.
    names = {s.name for s in registry().signals} - {s.key for s in registry().signals}
    found = []
    for folder in CODE_DIRS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for line, text in _string_literals(path):
                if text in names:
                    found.append(f"{path.relative_to(ROOT)}:{line}: {text}")
    assert not found, "metric names belong in stackgen/data/signals.yaml:\n" + "\n".join(found)


def test_conventions_and_exporter_take_names_from_the_registry():
    names = signal_names()
    assert n.DRAWDOWN == names["drawdown"] and n.FX_LAST_MESSAGE == names["fx_last_message"]
    exported = json.loads((ROOT / n.EXPORTER_SIGNALS).read_text())["signals"]
    assert exported == {signal.key: signal.name for signal in registry().signals}
    from exporter import names as exporter_names
    assert exporter_names.PNL == names["pnl"] and exporter_names.LAST_EVENT == names["last_event"]


def test_signal_keys_the_alert_families_use_exist():
    keys = set(signal_names())
    assert {"drawdown", "win_rate", "round_trips", "daily_pnl", "loop_latency", "http_requests", "http_duration",
            "rate_limiter", "fx_valid_sources", "fx_median", "fx_source_rate", "fx_source_connected",
            "fx_last_message"} <= keys


def test_every_signal_name_follows_the_naming_rules():
    suffix = {"seconds": "_seconds", "bytes": "_bytes", "ratio": "_ratio", "usd": "_usd"}
    for s in registry().signals:
        assert (s.type == "counter") == s.name.endswith("_total"), s.name
        stem = s.name.removesuffix("_total")
        assert not s.unit or stem.endswith(suffix[s.unit]), s.name
        assert (s.type == "histogram") == bool(s.buckets), s.name


def test_a_signal_with_an_unknown_key_is_rejected():
    import pytest

    from stackgen.signals import parse_registry
    with pytest.raises(ValueError, match=r"signal x: unknown key\(s\) by source\. \(a comma in a flow mapping"):
        parse_registry({"signals": [{"key": "x", "name": "x_total", "type": "counter", "domain": "d",
                                     "help": "Quotes", "by source.": None}]})


def test_the_spec_catalog_is_only_a_refinement_of_the_signals(tmp_path, spec_data):
    """spec.yaml without `metrics:` renders the same catalog: the signals are the catalog."""
    import copy

    import yaml

    from stackgen.load import load_stack
    data = copy.deepcopy(spec_data)
    data.pop("metrics")
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with_spec = load_stack(ROOT / "spec.yaml").catalog
    without = load_stack(path).catalog
    assert [(m.name, m.type, m.help, m.labels, m.buckets) for m in with_spec.metrics if m.exported] == \
        [(m.name, m.type, m.help, m.labels, m.buckets) for m in without.metrics if m.exported]
