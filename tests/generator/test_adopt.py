"""`generate.py init` and `--probe`, in-process, on expositions of real trading bots not written for
this repository (tests/fixtures/expositions/others/) and on the seeds'."""
from __future__ import annotations

import copy

import pytest
import yaml

import generate
from stackgen import adopt
from stackgen.load import load_stack
from tests.conftest import ROOT
from tests.generator.test_profiles import BASE

OTHERS = ROOT / "tests" / "fixtures" / "expositions" / "others"
SEEDS = ROOT / "tests" / "fixtures" / "expositions"


def _maps(name: str, folder=OTHERS) -> tuple[dict[str, dict], adopt.Proposal]:
    proposal = adopt.propose(adopt.read_exposition(str(folder / f"{name}.prom")), "p")
    return {m["signal"]: m for m in proposal.profile["map"]}, proposal


def test_init_proposes_names_types_units_and_says_what_it_cannot_map():
    maps, proposal = _maps("hummingbot-funding-arbitrage")
    assert maps["equity"] == {"signal": "equity", "from": "hummingbot_portfolio_value_usd"}
    assert maps["order_latency"]["from"] == "hummingbot_order_fill_latency_seconds"
    assert maps["orders"]["from"] == "hummingbot_orders_created_total"          # a counter: its served name
    why = dict(proposal.unmapped)
    assert why["hummingbot_pnl_realized_usd_total"] == "pnl: a counter, signal pnl (trading_pnl_usd) a gauge"
    maps, proposal = _maps("bitpin-trader")
    assert maps["http_requests"] == {"signal": "http_requests", "from": "proxy_requests_total",
                                     "labels": {"status_code": "status"}}
    assert "a Summary without quantiles" in dict(proposal.unmapped)["calc_duration"]
    maps, proposal = _maps("trading-bot-ultimate")
    assert set(maps) == {"equity", "pnl", "trades"}
    assert proposal.profile["heartbeat"] == {"metric": "trading_cycle", "kind": "counter"}
    assert "a gauge, signal loop_latency a histogram" in dict(proposal.unmapped)["bot_latency"]


def test_init_folds_per_exchange_names_reads_summaries_ages_and_percentages():
    maps, proposal = _maps("d80-fx", SEEDS)
    assert proposal.profile["fold"] == [{"pattern": "cross_fx_multi_source_([a-z0-9]+)_(age|connected|rate)",
                                         "name": "cross_fx_multi_source_$2", "label": "source", "value": "$1"}]
    assert maps["fx_last_message"] == {"signal": "fx_last_message", "from": "cross_fx_multi_source_age", "age": True}
    maps, proposal = _maps("d77-topn", SEEDS)
    assert maps["loop_latency"] == {"signal": "loop_latency", "from": "arb_topn_loop_latency_seconds", "summary": True}
    assert maps["cpu_usage"]["scale"] == 0.01                           # _percent
    assert maps["win_rate"]["scale"] == 0.01                            # 0..100 by its values: flagged for review
    assert any("arb_topn_win_rate" in note for note in proposal.review)


def test_init_writes_a_spec_that_loads_and_prints_its_coverage(tmp_path, capsys):
    out = tmp_path / "bot.yaml"
    code = generate.main(["init", "--from", str(OTHERS / "trading-bot-ultimate.prom"), "--out", str(out),
                          "--bot", "ultimate", "--target", "10.0.0.7:9900"])
    stdout = capsys.readouterr().out
    assert code == 0, stdout
    assert "bot ultimate (profile ultimate-profile): alerts " in stdout and "not mapped: bot_latency" in stdout
    stack = load_stack(out)
    assert [b.name for b in stack.bots] == ["ultimate"]
    assert "drawdown" in yaml.safe_load(out.read_text())["alerts"]       # derived from the balance alone


def test_init_reads_openmetrics_text(tmp_path):
    from prometheus_client import CollectorRegistry, Counter, Gauge
    from prometheus_client.openmetrics.exposition import generate_latest
    registry = CollectorRegistry()
    Gauge("mm_equity_usd", "Equity", registry=registry).set(1000)
    Counter("mm_fills", "Fills", ["side"], registry=registry).labels("buy").inc(3)
    path = tmp_path / "bot.om.txt"
    path.write_bytes(generate_latest(registry))
    maps = {m["signal"]: m for m in adopt.propose(adopt.read_exposition(str(path)), "p").profile["map"]}
    assert maps["equity"]["from"] == "mm_equity_usd" and maps["trades"]["from"] == "mm_fills_total"


def _probe_spec(tmp_path, maps: list[dict]):
    data = copy.deepcopy(BASE)
    data["profiles"] = [{"name": "mine", "map": maps}]
    data["bots"] = [{"name": "mine", "profile": "mine", "targets": ["mine:9900"]}]
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_probe_reports_found_missing_out_of_range_and_wrong_type_per_mapping(tmp_path, capsys):
    spec = _probe_spec(tmp_path, [
        {"signal": "equity", "from": "hummingbot_portfolio_value_usd"},
        {"signal": "pnl", "from": "hummingbot_pnl_realized_usd_total"},            # a counter into a gauge
        {"signal": "drawdown", "from": "hummingbot_rate_limit_tokens_remaining"},   # fine by name, not by value
        {"signal": "order_latency", "from": "hummingbot_order_fil_latency_seconds"},   # a typo
    ])
    code = generate.main(["--spec", str(spec), "--probe", str(OTHERS / "hummingbot-funding-arbitrage.prom")])
    lines = capsys.readouterr().out.splitlines()
    assert code == 1
    assert lines[0] == "bot mine (profile mine): 1/4 mappings found"
    assert lines[1].startswith("  map[0] equity <- hummingbot_portfolio_value_usd: found: gauge, 1 name(s), 1 series")
    assert lines[2] == ("  map[1] pnl <- hummingbot_pnl_realized_usd_total: wrong type: hummingbot_pnl_realized_usd is "
                        "a counter, signal pnl (trading_pnl_usd) a gauge")
    assert lines[3] == ("  map[2] drawdown <- hummingbot_rate_limit_tokens_remaining: out of range: 1150 is not a "
                        "ratio 0..1 (signal drawdown is trading_drawdown_ratio); an amount in USD? map it to equity or "
                        "pnl, whose drawdown is derived")
    assert lines[4].startswith("  map[3] order_latency <- hummingbot_order_fil_latency_seconds: missing: the bot "
                               "serves no hummingbot_order_fil_latency_seconds_bucket (similar: ")
    # Coverage with only what it serves: the order-latency and PnL alerts are not fed.
    assert any(line.startswith("  with what it serves: bot mine (profile mine): alerts ") for line in lines)


def test_probe_flags_an_equity_gauge_in_usd_mapped_into_a_ratio(tmp_path, capsys):
    spec = _probe_spec(tmp_path, [{"signal": "drawdown", "from": "trading_balance"}])
    code = generate.main(["--spec", str(spec), "--probe", str(OTHERS / "trading-bot-ultimate.prom")])
    out = capsys.readouterr().out
    assert code == 1
    assert ("map[0] drawdown <- trading_balance: out of range: 10432.2 is not a ratio 0..1 (signal drawdown is "
            "trading_drawdown_ratio); an amount in USD? map it to equity or pnl, whose drawdown is derived") in out


# Hostile expositions: a file that is not text, terminal escapes, a huge line. One line, escaped, short;
# nothing written.
HOSTILE_EXPOSITIONS = {
    "random bytes": bytes(range(256)) * 12,
    "terminal escapes": b"x_total 1\n\x1b[31mred 2\n\x07",
    "a 70 KB label value": b'x_total{a="' + b"b" * 70_000 + b'"} 1\n' + b"\xff\n",
}


def test_a_hostile_exposition_is_one_escaped_line_and_writes_nothing(tmp_path, capsys):
    for name, data in HOSTILE_EXPOSITIONS.items():
        source, out = tmp_path / "metrics", tmp_path / "bot.yaml"
        source.write_bytes(data)
        code = generate.main(["init", "--from", str(source), "--out", str(out)])
        stderr = capsys.readouterr().err
        assert code == 2, name
        assert stderr.startswith("error: ") and stderr.count("\n") == 1, (name, stderr[:300])
        assert stderr[:-1].isprintable() and len(stderr.encode()) <= 1024, (name, stderr[:300])
        assert not out.exists(), name


@pytest.mark.parametrize("source, name", [
    ("http://127.0.0.1:9100/metrics", "bot-9100"),      # an address names nothing: its port does
    ("http://localhost:8000/metrics", "bot-8000"),
    ("http://[::1]:9464/metrics", "bot-9464"),
    ("http://127.0.0.1/metrics", "my-bot"),
    ("http://mm-bot.trading.internal:9100/metrics", "mm-bot"),
    ("https://Grid_Bot:443/m", "grid-bot"),
    ("http://bot:notaport/metrics", "bot"),
    ("saved/hummingbot.prom", "hummingbot"),
    ("/tmp/exposition.txt", "exposition"),
    ("???", "my-bot"),
])
def test_init_names_the_bot_after_its_host_or_file(source, name):
    assert adopt.bot_name(source) == name
