"""Adopting a bot from its own /metrics: `generate.py init` (propose a profile and a short spec) and
`generate.py --probe` (check a spec's profiles against what a bot really serves).

Both read an exposition (a URL, or a saved Prometheus text or OpenMetrics file) with the
prometheus_client parsers. The proposal follows data: which names feed which signal
(data/init_hints.yaml), which suffix is which unit and scale (data/units.yaml), and the signals'
own types and labels (data/signals.yaml).
"""
from __future__ import annotations

import math
import re
import time
import urllib.request
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib import resources

import yaml

from stackgen import units
from stackgen.errors import SpecError, shown
from stackgen.model.profiles import Mapping, Profile
from stackgen.signals import registry

TIMEOUT = 10.0


@dataclass
class Family:
    name: str
    type: str                                   # counter, gauge, histogram, summary, info, stateset, unknown
    help: str = ""
    samples: list[tuple[str, dict[str, str], float]] = field(default_factory=list)

    @property
    def labels(self) -> set[str]:
        return {k for _, labels, _ in self.samples for k in labels} - {"le", "quantile"}

    def values(self, name: str | None = None) -> list[float]:
        return [v for n, _, v in self.samples if n == (name or self.name)]


# Prometheus' own default body_size_limit is unlimited; a bot's /metrics this big is an accident or an attack.
MAX_EXPOSITION = 64 << 20


def read_exposition(source: str) -> dict[str, Family]:
    """The metric families a bot serves, by name (counters by their name without _total, as the parsers give)."""
    if re.match(r"^https?://", source):
        request = urllib.request.Request(source, headers={"Accept": "text/plain;version=0.0.4"})
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:   # noqa: S310 - the user's URL
                data = response.read(MAX_EXPOSITION + 1)
        except OSError as exc:
            raise SpecError(f"{source}: cannot read the bot's metrics: {exc}") from None
    else:
        try:
            with open(source, "rb") as handle:
                data = handle.read(MAX_EXPOSITION + 1)
        except OSError as exc:
            raise SpecError(f"{source}: cannot read: {exc.strerror}") from None
    if len(data) > MAX_EXPOSITION:
        raise SpecError(f"{source}: more than {MAX_EXPOSITION >> 20} MiB: not one bot's /metrics")
    text = data.decode("utf-8", "replace")     # what is not UTF-8 the parser then names, escaped
    try:
        if re.search(r"^# EOF\s*$", text, re.M):
            from prometheus_client.openmetrics.parser import text_string_to_metric_families
        else:
            from prometheus_client.parser import text_string_to_metric_families
        parsed = list(text_string_to_metric_families(text))
    except ValueError as exc:
        raise SpecError(f"{source}: not a Prometheus text or OpenMetrics exposition: {shown(str(exc))}") from None
    out: dict[str, Family] = {}
    for fam in parsed:
        if fam.name.endswith("_created") and fam.type == "gauge":
            continue                    # prometheus_client's creation times: not the bot's own metrics
        out[fam.name] = Family(fam.name, fam.type, fam.documentation,
                               [(s.name, dict(s.labels), float(s.value)) for s in fam.samples])
    return _typed_histograms(out)


def _typed_histograms(families: dict[str, Family]) -> dict[str, Family]:
    """Untyped x_bucket{le} + x_sum + x_count (an exposition without TYPE lines) as one histogram x, and
    an untyped x_total as the counter x."""
    out = dict(families)
    for name, fam in families.items():
        if fam.type == "unknown" and name.endswith("_total"):
            out[name[: -len("_total")]] = Family(name[: -len("_total")], "counter", fam.help, out.pop(name).samples)
            continue
        base = name[: -len("_bucket")]
        if fam.type == "unknown" and name.endswith("_bucket") and all("le" in lb for _, lb, _ in fam.samples):
            parts = [out.pop(n) for n in (name, f"{base}_sum", f"{base}_count")
                     if n in out and out[n].type == "unknown"]
            out[base] = Family(base, "histogram", fam.help, [s for part in parts for s in part.samples])
    return out


def exposed_names(families: dict[str, Family]) -> dict[str, Family]:
    """Every series name served (x_total, x_bucket, x_sum, x_count ...) -> its family."""
    return {name: fam for fam in families.values() for name, _, _ in fam.samples}


# -- probe -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Finding:
    index: int
    mapping: Mapping
    verdict: str          # found, missing, out of range, wrong type
    detail: str

    @property
    def ok(self) -> bool:
        return self.verdict == "found"

    def line(self) -> str:
        return f"  map[{self.index}] {self.mapping.signal} <- {self.mapping.source}: {self.verdict}: {self.detail}"


def _native_names(profile: Profile, metric: str, served: dict[str, Family]) -> list[str]:
    """The served names that appear as `metric` after the profile's folds."""
    from stackgen.render.builders.profile_rules import fold_of
    found = fold_of(profile, metric)
    if found is None:
        return [metric] if metric in served else []
    return sorted(n for n in served if re.fullmatch(found[1], n))


def _series_name(m: Mapping) -> str:
    signal = registry()[m.signal]
    if m.summary:
        return m.source
    return m.source + ("_bucket" if signal.type == "histogram" else "")


def probe_mapping(profile: Profile, index: int, m: Mapping, served: dict[str, Family], now: float) -> Finding:
    signal = registry()[m.signal]
    names = _native_names(profile, _series_name(m), served)
    if not names:
        close = [n for n in served if n.startswith(m.source[: max(4, len(m.source) // 2)])][:3]
        return Finding(index, m, "missing", f"the bot serves no {_series_name(m)}"
                       + (f" (similar: {', '.join(close)})" if close else ""))
    fam = served[names[0]]
    kind = "summary" if m.summary else signal.type
    fits = {"counter": ("counter", "gauge", "unknown"), "gauge": ("gauge", "unknown"),
            "histogram": ("histogram",), "summary": ("summary",)}[kind]
    if fam.type not in fits:
        return Finding(index, m, "wrong type",
                       f"{fam.name} is a {fam.type}, signal {m.signal} ({signal.name}) a {kind}")
    values = [v for n in names for v in fam.values(n)] if kind in ("counter", "gauge") else []
    problem = _out_of_range(m, signal, values, now)
    if problem:
        return Finding(index, m, "out of range", problem)
    shown = f", values {min(values):g}..{max(values):g}" if values else ""
    count = sum(len(served[n].values(n)) or 1 for n in names)
    return Finding(index, m, "found", f"{fam.type}, {len(names)} name(s), {count} series{shown}")


def _out_of_range(m: Mapping, signal, values: list[float], now: float) -> str | None:
    scaled = [v * (m.scale or 1.0) for v in values if not math.isnan(v)]
    if not scaled:
        return None
    if signal.unit == "ratio" and signal.key != "cpu_usage":
        bad = [v for v in scaled if not 0 <= v <= 1]
        if bad:
            return (f"{bad[0]:g} is not a ratio 0..1 (signal {signal.key} is {signal.name}"
                    + (f", after scale {m.scale:g})" if m.scale else ")")
                    + ("; an amount in USD? map it to equity or pnl, whose drawdown is derived" if abs(bad[0]) > 100
                       else ""))
    if signal.type == "counter" and any(v < 0 for v in scaled):
        return f"{min(scaled):g} is negative, signal {signal.key} is a counter"
    if signal.name.endswith("_timestamp_seconds"):
        ages = [(now - v) if not m.age else v for v in scaled]
        if any(a < -86400 or a > 366 * 86400 for a in ages):
            return (f"{scaled[0]:g} is no Unix time near now" if not m.age else f"{scaled[0]:g} s is no plausible age")
    return None


def probe(stack, served: dict[str, Family], bot_name: str | None = None) -> tuple[list[str], bool]:
    """Per mapping of each bot's profile: found, missing, out of range or of the wrong type; then the
    coverage the bot really gets (only what was found). Lines, and whether everything was found."""
    from stackgen import coverage
    names = exposed_names(served)
    bots = [b for b in stack.bots if bot_name in (None, b.name)]
    if not bots:
        raise SpecError(f"no bot {bot_name!r} in the spec (bots: {', '.join(b.name for b in stack.bots) or 'none'})")
    lines, ok, now = [], True, time.time()
    for bot in bots:
        findings = [probe_mapping(bot.profile, i, m, names, now) for i, m in enumerate(bot.profile.maps)]
        hb = bot.profile.heartbeat
        lines.append(f"bot {bot.name} (profile {bot.profile.name}): {sum(f.ok for f in findings)}/{len(findings)} "
                     "mappings found")
        lines += [f.line() for f in findings]
        if hb is not None and hb.metric not in names:
            lines.append(f"  heartbeat {hb.metric}: missing: the bot serves no such series (BotStopped would fire)")
            ok = False
        ok &= all(f.ok for f in findings)
        real = replace(bot, profile=replace(bot.profile, maps=tuple(f.mapping for f in findings if f.ok)))
        lines += ["  with what it serves: " + line.lstrip() for line in coverage.bot_coverage(stack, real).lines()[:2]]
    return lines, ok


# -- init ------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _hints() -> dict:
    return yaml.safe_load(resources.files("stackgen").joinpath("data", "init_hints.yaml").read_text(encoding="utf-8"))


@dataclass
class Proposal:
    profile: dict
    mapped: list[tuple[str, str]] = field(default_factory=list)      # (metric, signal)
    unmapped: list[tuple[str, str]] = field(default_factory=list)    # (metric, why)
    review: list[str] = field(default_factory=list)                  # guesses to check


def _stem(name: str) -> str:
    """A family's name without its unit suffix (a family name has no _total, _bucket ... of its own)."""
    unit = units.unit_of(name)
    return name[: -len(unit.suffix)] if unit and name.endswith(unit.suffix) else name


def _folds(families: dict[str, Family]) -> tuple[list[dict], dict[str, str]]:
    """Per-exchange names (x_okx_rate, x_binance_rate) -> one fold each; folded name of every such family."""
    exchanges = "|".join(_hints()["exchanges"])
    found: dict[tuple[str, str], set[str]] = {}
    for name in families:
        g = re.match(rf"^(.*?)_({exchanges})_(.+)$", name)
        if g:
            found.setdefault((g[1], g[2]), set()).add(g[3])
    by_prefix: dict[str, set[str]] = {}
    for (prefix, _), tails in found.items():
        by_prefix.setdefault(prefix, set()).update(tails)
    folds, renamed = [], {}
    for prefix, tails in sorted(by_prefix.items()):
        pattern = f"{prefix}_([a-z0-9]+)_({'|'.join(sorted(tails))})"
        folds.append({"pattern": pattern, "name": f"{prefix}_$2", "label": "source", "value": "$1"})
        for name in families:
            g = re.fullmatch(pattern, name)
            if g:
                renamed[name] = f"{prefix}_{g[2]}"
    return folds, renamed


def _fits(fam: Family, signal) -> tuple[bool, dict, str]:
    """Whether the family can feed the signal, the mapping's extra keys, and why not."""
    extra: dict = {}
    if signal.type == "histogram":
        if fam.type == "summary":
            from stackgen import conventions
            if signal.key not in conventions.QUANTILE_SERIES:
                return False, {}, f"a Summary, and only {', '.join(conventions.QUANTILE_SERIES)} take Summary quantiles"
            if not any("quantile" in labels for _, labels, _ in fam.samples):
                return False, {}, "a Summary without quantiles (only _sum and _count): no latency quantile to read"
            extra["summary"] = True
        elif fam.type != "histogram":
            return False, {}, f"a {fam.type}, signal {signal.key} a histogram"
    elif signal.type == "gauge" and fam.type not in ("gauge", "unknown"):
        return False, {}, f"a {fam.type}, signal {signal.key} ({signal.name}) a gauge"
    elif signal.type == "counter" and fam.type not in ("counter", "gauge", "unknown"):
        return False, {}, f"a {fam.type}, signal {signal.key} a counter"
    unit = units.unit_of(fam.name)
    if unit is not None and signal.unit and unit.scale != 1:
        if signal.type == "histogram":
            return False, {}, f"a histogram in {unit.words}: its buckets cannot be rescaled"
        extra["scale"] = unit.scale
    problem = units.contradiction(fam.name, signal, extra.get("scale"))
    if problem:
        return False, {}, problem
    return True, extra, ""


def propose(families: dict[str, Family], name: str) -> Proposal:
    folds, folded = _folds(families)
    # Folded families are matched once, under their folded name.
    candidates: dict[str, Family] = {}
    for fam in families.values():
        candidates.setdefault(folded.get(fam.name, fam.name), fam)
    profile: dict = {"name": name, "title": f"{name} (proposed by generate.py init; review every line)",
                     "source": "generate.py init from the bot's /metrics"}
    if folds:
        profile["fold"] = folds
    maps, used, result = [], set(), Proposal(profile)
    reasons: dict[str, list[str]] = {}
    for metric, fam in candidates.items():
        # The parsers name a counter's family without its _total; the profile names the served series.
        source = metric + "_total" if fam.type == "counter" and f"{fam.name}_total" in exposed_names({fam.name: fam}) \
            else metric
        stem = _stem(metric)
        for hint in _hints()["hints"]:
            key = hint["signal"]
            if key in used or not re.search(hint["pattern"], stem):
                continue
            signal = registry()[key]
            ok, extra, why = _fits(fam, signal)
            if not ok:
                reasons.setdefault(metric, []).append(f"{key}: {why}")
                continue
            values = [v for _, _, v in fam.samples if not math.isnan(v)]
            if signal.unit == "ratio" and "scale" not in extra and values and 1 < max(values) <= 100:
                extra["scale"] = 0.01      # a ratio signal, values above 1: a percentage (say so in the review)
                result.review.append(f"{source} -> {key}: values up to {max(values):g}, read as percent (scale 0.01)")
            entry = {"signal": key, "from": source, **extra}
            renames = {old: new for old, new in hint.get("labels", {}).items() if old in fam.labels
                       and new not in fam.labels}
            if renames and not extra:
                entry["labels"] = renames
            if key == "fx_last_message" and not re.search(r"timestamp|_time$", stem):
                entry["age"] = True
            maps.append(entry)
            used.add(key)
            result.mapped.append((source, key))
            break
        else:
            why = "; ".join(reasons.get(metric, [])) or "no signal's name pattern matches (data/init_hints.yaml)"
            result.unmapped.append((source, why))
    heartbeat = _heartbeat(candidates)
    if heartbeat:
        profile["heartbeat"] = heartbeat
    if not maps:
        raise SpecError("init: no metric of the exposition maps onto a signal; nothing to propose (unmapped: "
                        + ", ".join(m for m, _ in result.unmapped[:10]) + ")")
    profile["map"] = maps
    profile["notes"] = ([f"review: {note}" for note in result.review]
                        + [f"{metric}: {why}" for metric, why in result.unmapped])
    return result


def _heartbeat(candidates: dict[str, Family]) -> dict | None:
    for hint in _hints()["heartbeat"]:
        for metric, fam in candidates.items():
            if fam.type in ("gauge", "counter", "unknown") and re.search(hint["pattern"], units.base_name(metric)):
                served = metric + "_total" if fam.type == "counter" else metric
                return {"metric": served, "kind": hint["kind"]}
    return None


def spec_document(proposal: Proposal, bot: str, target: str, metrics_path: str) -> dict:
    """A spec for review: the proposed profile, one bot, every alert family at its defaults (pruned to
    the fed ones by the caller), a webhook receiver to replace, one dashboard of what the bot feeds."""
    panels = [{"title": key.replace("_", " "), "type": "timeseries", "description": f"{key}, from the bot's {metric}",
               "queries": [{"expr": _panel_expr(key)}]} for metric, key in proposal.mapped]
    bot_entry = {"name": bot, "profile": proposal.profile["name"], "targets": [target]}
    if metrics_path != "/metrics":
        bot_entry["metrics_path"] = metrics_path
    from stackgen.alerts.families import families
    return {
        "version": "tradingmon/v1",
        "global": {"project": bot, "cluster": "local", "environment": "paper", "scrape_interval": "15s",
                   "scrape_timeout": "10s", "evaluation_interval": "15s", "retention": "15d",
                   "runbook_url": "https://github.com/your-org/trading-bot-monitoring/blob/main/docs/runbook.md"},
        "scrape": {"self_monitoring": True},
        "profiles": [proposal.profile],
        "bots": [bot_entry],
        "api": {"path_label": "path"},
        "alerts": {name: True if family.switch else {} for name, family in families().items()},
        "alertmanager": {"resolve_timeout": "5m", "group_by": ["alertname", "job", "instance"], "group_wait": "30s",
                         "group_interval": "5m", "repeat_interval": "4h", "default_receiver": "review-me",
                         "receivers": [{"name": "review-me", "webhook": {"url": "http://127.0.0.1:5001/alerts"}}],
                         "routes": [{"match": {"severity": "critical"}, "receivers": ["review-me"]}]},
        "grafana": {"prometheus_uid": "prometheus", "alertmanager_uid": "alertmanager",
                    "folders": [{"name": "bots", "title": "Bots"}], "home_dashboard": f"{bot}-overview"},
        "dashboards": [{"uid": f"{bot}-overview", "title": f"{bot} overview", "folder": "bots",
                        "description": "What the bot feeds, one panel per signal (generated by init).",
                        "rows": [{"title": "Signals", "panels": panels}]}],
    }


def _panel_expr(key: str) -> str:
    signal = registry()[key]
    if signal.type == "histogram":
        return f"histogram_quantile(0.99, sum by (job, instance, le) (rate({signal.name}_bucket[$__rate_interval])))"
    if signal.type == "counter":
        return f"sum by (job, instance) (rate({signal.name}[$__rate_interval]))"
    return f"sum by (job, instance) ({signal.name})"


def bot_name(source: str) -> str:
    """A job name for the bot behind `source`: a URL's host name up to its first dot, a file's stem.
    An address says nothing of the bot (127.0.0.1, localhost, [::1]): then its port does (bot-9100)."""
    import ipaddress
    from pathlib import PurePath
    from urllib.parse import urlsplit
    if re.match(r"^https?://", source):
        parts = urlsplit(source)
        try:
            host, port = parts.hostname or "", parts.port
        except ValueError:                  # a port that is not a number: the host alone
            host, port = parts.hostname or "", None
        try:
            ipaddress.ip_address(host)
            address = True
        except ValueError:
            address = host in ("", "localhost")
        stem = (f"bot-{port}" if port else "") if address else host.split(".")[0]
    else:
        stem = PurePath(source).stem
    return re.sub(r"[^a-z0-9-]+", "-", stem.lower()).strip("-")[:63].strip("-") or "my-bot"


def init(source: str, out, bot: str | None = None, target: str | None = None) -> tuple[list[str], dict]:
    """Read the exposition, propose a profile, write a spec for review (the alert families the bot
    feeds, at their defaults). The lines to print (mapped, not mapped and why, coverage), and the spec."""
    from pathlib import Path

    from stackgen import coverage
    from stackgen.load import load_stack
    families = read_exposition(source)
    url = re.match(r"^https?://([^/]+)(/.*)?$", source)
    name = bot or bot_name(source)
    proposal = propose(families, f"{name}-profile")
    document = spec_document(proposal, name, target or (url[1] if url else "127.0.0.1:8000"),
                             (url[2] or "/metrics") if url else "/metrics")
    out = Path(out)
    header = (f"# Proposed by `generate.py init --from {source}`: review every mapping (and the receiver), then\n"
              "# `.venv/bin/python generate.py --spec <this file>`.\n"
              "# Metrics it could not map are the profile's notes.\n")
    out.write_text(header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True), encoding="utf-8")
    stack = load_stack(out)
    (report,) = [b for b in coverage.report(stack) if b.bot.name == name]
    fed = {i.name for i in report.alerts if i.fed}
    from stackgen.alerts.families import families as all_families
    document["alerts"] = {key: value for key, value in document["alerts"].items()
                          if set(all_families()[key].alert_names) & fed}
    out.write_text(header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True), encoding="utf-8")
    stack = load_stack(out)
    (report,) = [b for b in coverage.report(stack) if b.bot.name == name]
    lines = [f"read {len(families)} metric families from {source}"]
    lines += [f"  mapped: {metric} -> {key} ({registry()[key].name})" for metric, key in proposal.mapped]
    lines += [f"  review: {note}" for note in proposal.review]
    lines += [f"  not mapped: {metric}: {why}" for metric, why in proposal.unmapped]
    if "heartbeat" in proposal.profile:
        hb = proposal.profile["heartbeat"]
        lines.append(f"  heartbeat: {hb['metric']} ({hb['kind']})")
    lines += [line for line in report.lines() if not line.startswith("  note: ")]   # the notes: not mapped, above
    lines.append(f"wrote {out} (profile {proposal.profile['name']}, bot {name}): review it, then "
                 f"`.venv/bin/python generate.py --spec {out}`")
    return lines, document
