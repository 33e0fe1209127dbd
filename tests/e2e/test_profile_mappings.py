"""Every mapping of every built-in profile, judged by a real Prometheus: the bot's native series
in, the signal out, and the native series still there under its own name and labels. (The
recording-rule mappings also have generated promtool tests, rules/tests/profile-*.test.yml;
promtool cannot run the label copies of metric_relabel_configs.)

One fake bot per built-in profile serves one native sample per mapping, synthesized from the
profile itself; the D80 per-exchange names come from its seed exposition.
"""
from __future__ import annotations

import copy
import time

import pytest
import yaml

from stackgen.model.profiles import builtin_profiles
from stackgen.signals import registry
from tests.conftest import need_tools, run_generate
from tests.e2e.fakebots import FakeBot, Prometheus
from tests.generator.test_profiles import BASE

pytestmark = pytest.mark.tools

VALUE = 3.0


def native_lines(profile) -> list[str]:
    lines = []
    for m in profile.maps:
        labels = ",".join(f'{old}="v-{old}"' for old, _ in m.labels)
        signal = registry()[m.signal]
        if m.transform == "summary":
            lines += [f'{m.source}{{quantile="0.99"{"," + labels if labels else ""}}} {VALUE}',
                      f"{m.source}_sum{{{labels}}} 1", f"{m.source}_count{{{labels}}} {VALUE}"]
        elif signal.type == "histogram":
            sep = "," if labels else ""
            lines += [f'{m.source}_bucket{{{labels}{sep}le="1"}} {VALUE}',
                      f'{m.source}_bucket{{{labels}{sep}le="+Inf"}} {VALUE}',
                      f"{m.source}_sum{{{labels}}} 1", f"{m.source}_count{{{labels}}} {VALUE}"]
        else:
            lines.append(f"{m.source}{{{labels}}} {VALUE}")
    return lines


def expected(profile) -> list[tuple[str, str, float | None]]:
    """(query, what, value) per mapping: the signal series of this bot, and its value when fixed."""
    from stackgen import conventions as n
    out = []
    for m in profile.maps:
        signal = registry()[m.signal]
        job = f'job="{profile.name}"'
        # A metric already under its signal's name gets the signal's label as a copy (its own label stays).
        kept = m.source == signal.name and not profile.folds
        renamed = "".join(f',{new}="v-{old}",{old}="{"v-" + old if kept else ""}"' for old, new in m.labels)
        if m.transform == "summary":
            out.append((f'{n.QUANTILE_SERIES[m.signal]}{{{job},quantile="0.99"}}', m.signal, VALUE))
            out.append((f"{signal.name}_count{{{job}}}", m.signal, VALUE))
        elif m.transform == "scale":
            out.append((f"{signal.name}{{{job}}}", m.signal, VALUE * m.scale))
        elif m.transform == "age":
            out.append((f"time() - {signal.name}{{{job}}}", m.signal, None))
        elif signal.type == "histogram":
            out.append((f'{signal.name}_bucket{{{job},le="+Inf"{renamed}}}', m.signal, VALUE))
        else:
            out.append((f"{signal.name}{{{job}{renamed}}}", m.signal, VALUE))
    return out


def test_every_builtin_profile_mapping_turns_native_series_into_signals(tmp_path):
    need_tools("prometheus")
    profiles = builtin_profiles()
    bots = {name: FakeBot("d80-fx") if p.folds else FakeBot(lines=native_lines(p)) for name, p in profiles.items()}
    prometheus = None
    try:
        spec = copy.deepcopy(BASE)
        spec["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
        spec["bots"] = [{"name": name, "profile": name, "targets": [bot.target]} for name, bot in bots.items()]
        path = tmp_path / "spec.yaml"
        path.write_text(yaml.safe_dump(spec, sort_keys=False))
        proc = run_generate("--spec", str(path), "--out", str(tmp_path / "tree"))
        assert proc.returncode == 0, proc.stdout + proc.stderr
        prometheus = Prometheus(tmp_path / "tree", tmp_path)
        # The fold's profile serves its seed exposition (its own values, several sources): presence only.
        checks = [(name, query, signal, None if p.folds else value)
                  for name, p in profiles.items() for query, signal, value in expected(p)]
        assert len(checks) >= sum(len(p.maps) for p in profiles.values())
        deadline, failing = time.monotonic() + 30, checks
        while failing and time.monotonic() < deadline:
            time.sleep(1)
            failing = [c for c in failing if not _ok(prometheus, c)]
        assert not failing, "\n".join(f"{name}: {signal}: {query}" for name, query, signal, _ in failing)
        # The fold: one signal series per exchange, told apart by `source`.
        sources = {r["metric"]["source"] for r in prometheus.query('fx_source_rate{job="d80-fx"}')}
        assert sources == {"binance", "okx", "bybit"}
        # ... and the bot's own per-exchange series are still there, under their own names.
        native = {r["metric"]["__name__"] for r in prometheus.query('{__name__=~"cross_fx_multi_source_.*"}')}
        assert {f"cross_fx_multi_source_{s}_{k}" for s in sources for k in ("connected", "rate", "age")} <= native
        # Every other profile's native series too, under its own name and labels.
        gone = [line for name, p in profiles.items() if not p.folds for line in native_lines(p)
                if not prometheus.query(_native_selector(line, name))]
        assert not gone, gone
    finally:
        if prometheus is not None:
            prometheus.stop()
        for bot in bots.values():
            bot.stop()


def _native_selector(line: str, job: str) -> str:
    """A served exposition line as a query for that series of that bot."""
    name, _, rest = line.partition("{")
    labels = rest.rsplit("}", 1)[0]
    return f'{name}{{job="{job}"{"," + labels if labels else ""}}}'


def _ok(prometheus, check) -> bool:
    _, query, _, value = check
    result = prometheus.query(query)
    if value is None:     # present; an age (time() - timestamp) is a plausible number of seconds
        return bool(result) and (not query.startswith("time()") or all(0 <= float(r["value"][1]) < 60
                                                                        for r in result))
    return len(result) == 1 and abs(float(result[0]["value"][1]) - value) < 1e-9
