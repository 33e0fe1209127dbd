"""catalog.json loading: the packaged file, and bad catalogs failing with a message naming the field."""
from __future__ import annotations

import copy
import json

import pytest

from exporter.catalog import CatalogError, load_catalog, parse_catalog
from exporter.metrics import BotMetrics

from .conftest import ROOT


@pytest.fixture(scope="module")
def document() -> dict:
    return json.loads((ROOT / "exporter" / "catalog.json").read_text())


def test_packaged_catalog_loads_with_the_spec_metrics(spec):
    catalog = load_catalog()
    spec_names = [m["name"] for domain in ("topn", "fx", "api", "exporter") for m in spec["metrics"][domain]]
    assert [m.name for m in catalog.metrics] == spec_names
    assert catalog.path_label == spec["api"]["path_label"]
    assert catalog.bot_labels == ("env", "universe", "strategy")
    trades = catalog.metric("trading_trades_total")
    assert trades.type == "counter"
    assert trades.label("trade_type").values == ("entry", "exit")
    assert catalog.metric("trading_loop_latency_seconds").buckets[0] == 0.0001


def test_load_from_a_path(tmp_path, document):
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(document))
    assert load_catalog(path).metric("fx_median_rate").type == "gauge"


def test_missing_and_invalid_files_are_named(tmp_path):
    with pytest.raises(CatalogError, match=r"nope\.json: cannot read"):
        load_catalog(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{\n  \"metrics\": [,]\n}")
    with pytest.raises(CatalogError, match=r"bad\.json:2: not valid JSON"):
        load_catalog(bad)


def _edit(document, change):
    edited = copy.deepcopy(document)
    change(edited)
    return edited


def _metric(document, name):
    return next(m for m in document["metrics"] if m["name"] == name)


@pytest.mark.parametrize("change, message", [
    (lambda d: d.pop("path_label"), r"path_label: must be a non-empty string"),
    (lambda d: d.update(metrics=[]), r"metrics: must be a non-empty list"),
    (lambda d: _metric(d, "fx_median_rate").update(type="summary"),
     r"metrics\[\d+\] \(fx_median_rate\)\.type: must be one of counter, gauge, histogram \(got 'summary'\)"),
    (lambda d: _metric(d, "trading_round_trips_total").update(name="trading_round_trips"),
     r"\(trading_round_trips\)\.name: a counter's name must end in _total"),
    (lambda d: _metric(d, "trading_loop_latency_seconds").update(buckets=[1, 0.5]),
     r"\(trading_loop_latency_seconds\)\.buckets: must be in increasing order"),
    (lambda d: _metric(d, "fx_median_rate").update(buckets=[1]), r"only histograms have buckets"),
    (lambda d: d["metrics"].append(copy.deepcopy(d["metrics"][0])), r"trading_pnl_usd is listed twice"),
])
def test_bad_catalogs_fail_naming_the_field(document, change, message):
    with pytest.raises(CatalogError, match=message):
        parse_catalog(_edit(document, change), "catalog.json")


@pytest.mark.parametrize("change, message", [
    (lambda d: d["metrics"].remove(_metric(d, "trading_exits_total")),
     r"metric trading_exits_total is fed by the exporter but missing from the catalog"),
    (lambda d: _metric(d, "trading_active_positions").update(type="counter", name="trading_active_positions"),
     r"trading_active_positions"),
    (lambda d: _metric(d, "fx_source_rate")["labels"].append({"name": "pair", "values": []}),
     r"fx_source_rate has labels \[source, pair\] in the catalog, but the exporter feeds \[source\]"),
    (lambda d: d.update(path_label="handler"),
     r"http_requests_total has labels \[method, path, status\] in the catalog, but the exporter feeds "
     r"\[method, handler, status\]"),
])
def test_catalog_that_drifted_from_the_code_fails_at_start_up(document, change, message):
    with pytest.raises(CatalogError, match=message):
        BotMetrics(catalog=parse_catalog(_edit(document, change), "catalog.json"))


def test_handler_as_path_label_is_honoured(document, registry):
    def rename(d):
        d["path_label"] = "handler"
        for name in ("http_requests_total", "http_request_duration_seconds"):
            for label in _metric(d, name)["labels"]:
                if label["name"] == "path":
                    label["name"] = "handler"
    m = BotMetrics(registry, catalog=parse_catalog(_edit(document, rename)), process_collectors=False)
    assert m.observe_http_request("GET", "/orders", 200, 0.01)
    assert 'http_requests_total{handler="/orders",method="GET",status="200"} 1.0' in m.get_metrics_text()
