"""What a bot profile becomes in Prometheus, and the promtool tests that prove it.

- `relabel_configs(profile)`: the bot job's `metric_relabel_configs` (folds of per-exchange names
  into a label, label renames, renames onto signal names), visible in prometheus.yml;
- rules/profile-<name>.rules.yml: recording rules for value transforms (percent -> ratio,
  ms -> s, age -> timestamp, Summary quantiles -> the recorded quantile series the alerts read),
  reading the bot's native series, which stay intact; and each bot's dead man's switch
  (BotStopped: its heartbeat stopped advancing, or its target is down or gone);
- rules/tests/profile-<name>.test.yml: per mapping, the native series in and the signal out; per
  bot, a stopped heartbeat (or a down target) fires BotStopped and a live one stays silent.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass

from stackgen import conventions as n
from stackgen import promql
from stackgen.alerts import engine, links
from stackgen.alerts.engine import fleet_host_label, target_labels
from stackgen.alerts.rules import Rule, rule_document, selector
from stackgen.model.profiles import Bot, Fold, Mapping, Profile, heartbeat_seconds
from stackgen.model.stack import Stack
from stackgen.signals import registry

ALERT_BOT_STOPPED = "BotStopped"
# What BotStopped means and the first steps (docs/runbook.md), like the alert families' guide.
GUIDE = {ALERT_BOT_STOPPED: (
    "A bot's dead man's switch: its heartbeat (a last-loop timestamp, or a counter that advances every "
    "loop, as its profile names it) stopped advancing, or its target is down or gone. The bot may still "
    "answer /metrics while its trading loop hangs.",
    ("Check the bot's process and logs: a hung loop, a deadlock or an exception the loop swallowed.",
     "If the target is down, see TargetDown; if it is gone, check the bot entry in the spec.",
     "Restart the bot only after saving its logs; check open positions by hand meanwhile."))}
_STEP = 15                         # seconds between test samples
_INSTANCE = "bot-1:9100"


def rules_file(profile: Profile) -> str:
    return f"{n.RULES_DIR}/profile-{profile.name}.rules.yml"


def tests_file(profile: Profile) -> str:
    return f"{n.RULE_TESTS_DIR}/profile-{profile.name}.test.yml"


def _suffixes(m: Mapping) -> tuple[str, ...]:
    """The series a mapping's signal has besides its base name (histograms, Summaries' _sum/_count)."""
    if m.transform == "summary":
        return ("_sum", "_count")
    if registry()[m.signal].type == "histogram":
        return ("_bucket", "_sum", "_count")
    return ("",)


def route_label(m: Mapping, label: str, path_label: str) -> str:
    """A rename onto `path` means the signal's route label: the spec's api.path_label."""
    return path_label if label == "path" and "{path}" in {x.name for x in registry()[m.signal].labels} else label


def fold_of(profile: Profile, metric: str) -> tuple[Fold, str] | None:
    """The fold that produces `metric`, and its pattern narrowed to the native names folding into it."""
    for fold in profile.folds:
        narrowed = _narrow(fold, metric)
        if narrowed is not None:
            return fold, narrowed
    return None


def _narrow(fold: Fold, metric: str) -> str | None:
    # The name template as a regex over folded names ('x_$2' -> 'x_(?P<g2>.+)'): which group values give `metric`.
    parts = re.split(r"\$\{?(\d+)\}?", fold.name)
    seen: set[str] = set()
    template = ""
    for i, part in enumerate(parts):
        if i % 2 == 0:
            template += re.escape(part)
        else:            # a group used twice must match the same text twice
            template += f"(?P=g{part})" if part in seen else f"(?P<g{part}>.+?)"
            seen.add(part)
    found = re.fullmatch(template, metric)
    if found is None:
        return None
    pattern = fold.pattern
    for key, value in found.groupdict().items():
        pattern, body = _replace_group(pattern, int(key[1:]), re.escape(value))
        if body is None or not re.fullmatch(body, value):
            return None          # the fold never gives this value: `metric` is not one of its names
    return pattern


def _replace_group(pattern: str, number: int, body: str) -> tuple[str, str | None]:
    """The regex with its capturing group `number` matching `body` only (the group itself kept: $n still
    refer), and the group's own body (None: no such group)."""
    count, i, stack = 0, 0, []
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if c == "[":            # a character class: skip to its closing bracket
            i = pattern.index("]", i + 2 if pattern[i + 1:i + 2] in ("]", "^") else i + 1) + 1
            continue
        if c == "(":
            capturing = not pattern.startswith("(?", i) or pattern.startswith(("(?P<", "(?<"), i)
            count += capturing
            stack.append((i, capturing and count == number))
        elif c == ")":
            opened, target = stack.pop()
            if target:
                head = pattern[opened:pattern.index(">", opened) + 1] if pattern.startswith("(?", opened) else "("
                return pattern[:opened] + head + body + ")" + pattern[i + 1:], pattern[opened + len(head):i]
        i += 1
    return pattern, None


def native_expr(profile: Profile, metric: str, job: str) -> str:
    """The bot's own series that appear as `metric` after its folds: a selector, or a label_replace over
    the per-exchange names (the native series are left as they are)."""
    found = fold_of(profile, metric)
    if found is None:
        return f"{metric}{{{job}}}"
    fold, pattern = found
    quoted = json.dumps(pattern)     # a PromQL string: Go escapes, as JSON's
    return f'label_replace({{__name__=~{quoted}, {job}}}, "{fold.label}", "{fold.value}", "__name__", {quoted})'


def _relabelled(m: Mapping, expr: str, path_label: str) -> str:
    """Label renames as label_replace: the signal's label set, the old label dropped."""
    for old, new in m.labels:
        new = route_label(m, new, path_label)
        if new != old:
            expr = f'label_replace(label_replace({expr}, "{new}", "$1", "{old}", "(.+)"), "{old}", "", "{old}", ".*")'
    return expr


def in_place(profile: Profile, m: Mapping) -> bool:
    """The bot's metric already has its signal's name: it is read as scraped (a recorded copy would count twice)."""
    return m.source == m.target and fold_of(profile, m.source) is None


def relabel_configs(profile: Profile, path_label: str = "path") -> list[dict]:
    """Scrape-time rewrites: only label copies onto a series that already has its signal's name.

    Every other mapping is a recording rule (mapping_rules), so the bot's own series keep their names
    and labels; a copy (not a rename) keeps the bot's label beside the signal's."""
    out: list[dict] = []
    for m in profile.maps:
        if not in_place(profile, m) or m.transform not in ("rename", "summary"):
            continue
        suffixes = [s for s in _suffixes(m) if s]
        name = re.escape(m.source) + (f"({'|'.join(suffixes)})" if suffixes else "")
        for old, new in m.labels:
            new = route_label(m, new, path_label)
            if new != old:
                out.append({"source_labels": ["__name__", old], "regex": f"{name};(.+)", "target_label": new,
                            "replacement": "${2}" if suffixes else "${1}"})
    return out


def _jobs(stack: Stack, profile: Profile) -> list[Bot]:
    return [b for b in stack.bots if b.profile.name == profile.name]


def _job_matcher(bots: list[Bot]) -> str:
    names = sorted(b.name for b in bots)
    if not names:
        return 'job=""'
    return f'job="{names[0]}"' if len(names) == 1 else f'job=~"{"|".join(names)}"'


@dataclass(frozen=True)
class MappingRule:
    mapping: Mapping
    rule: Rule
    native: str          # the bot's metric the rule reads (after folds), for its promtool test


def mapping_rules(stack: Stack, profile: Profile) -> list[MappingRule]:
    """One recording rule per signal series a mapping feeds, reading the bot's native series."""
    job = _job_matcher(_jobs(stack, profile))
    path_label = stack.api.path_label
    out = []
    for m in profile.maps:
        # Series the profile leaves out of the signal (an HTTP library's own /metrics and health probes).
        sel = job + "".join(f', {label}!~{json.dumps(regex)}' for label, regex in m.exclude)
        if m.transform == "summary":
            out.append(MappingRule(m, Rule(record=n.QUANTILE_SERIES[m.signal],
                                           expr=f'{m.source}{{{sel}, quantile=~".+"}}'), m.source))
        native = native_expr(profile, m.source, sel)
        if m.transform == "scale":
            out.append(MappingRule(m, Rule(record=m.target, expr=f"{native} * {m.scale!r}"), m.source))
        elif m.transform == "age":
            out.append(MappingRule(m, Rule(record=m.target, expr=f"time() - {native}"), m.source))
        elif not in_place(profile, m):
            for suffix in _suffixes(m):
                expr = _relabelled(m, native_expr(profile, m.source + suffix, sel), path_label)
                out.append(MappingRule(m, Rule(record=m.target + suffix, expr=expr), m.source + suffix))
    return out


def derived_rules(stack: Stack, profile: Profile) -> list[Rule]:
    """The derived signals of the profile's bots, in order (a later rule reads an earlier one's result);
    an entry on the bot's day, once per utc_offset among them."""
    bots = _jobs(stack, profile)
    out = []
    for entry in profile.derived:
        groups = sorted({b.utc_offset for b in bots}) if "{utc_offset}" in entry.expr else [None]
        for offset in groups:
            job = _job_matcher([b for b in bots if offset is None or b.utc_offset == offset])
            out.append(Rule(record=registry()[entry.key].name, expr=_expand(entry, job, offset)))
    return out


def _expand(entry, job: str, offset: int | None) -> str:
    def value(ref: str) -> str:
        if ref == "utc_offset":
            return str(offset)
        return f"{registry()[entry.key if ref == 'self' else ref].name}{{{job}}}"
    return re.sub(r"\{(\w+)\}", lambda g: value(g[1]), entry.expr)


def _host_scopes(stack: Stack, job: str) -> list[dict[str, str]]:
    """The extra labels of each place a job is scraped: one per agent host that runs it, or none."""
    host_label = fleet_host_label(stack)
    hosts = [h.name for h in stack.remote_write.hosts if job in h.jobs] if host_label else []
    return [{host_label: h} for h in hosts] or [{}]


def _heartbeat_condition(stack: Stack, bot: Bot) -> str:
    hb = bot.profile.heartbeat
    by = target_labels(stack)
    job = f'job="{bot.name}"'
    # absent() per agent host that runs the bot (as TargetAbsent): one host losing it is not hidden by another.
    absent = " or ".join("absent(up{" + ", ".join([job] + [f'{k}="{v}"' for k, v in scope.items()]) + "})"
                         for scope in _host_scopes(stack, bot.name))
    down = f"up{{{job}}} == 0 or {absent}"
    if hb is None:
        return down
    metric = f"{hb.metric}{{{job}}}"
    seconds = heartbeat_seconds(bot)
    if hb.kind == "timestamp":
        stale = f"time() - max by ({by}) ({metric}) > {seconds:g}"
    elif hb.kind == "age":
        stale = f"max by ({by}) ({metric}) > {seconds:g}"
    else:
        stale = f"max by ({by}) (changes({metric}[{bot.heartbeat.max_age}])) == 0"
    return f"({stale}) or {down}"


def deadman_rule(stack: Stack, bot: Bot) -> Rule:
    hb = bot.profile.heartbeat
    what = (f"its heartbeat ({hb.metric}) has not advanced for {bot.heartbeat.max_age}, or its target is down or gone"
            if hb else "its target is down or gone (its profile has no heartbeat metric)")
    rule = Rule(alert=ALERT_BOT_STOPPED, expr=_heartbeat_condition(stack, bot), for_=bot.heartbeat.for_,
                labels=(("severity", bot.heartbeat.severity),),
                annotations=(("description",
                              f"Bot {{{{ $labels.job }}}} (profile {bot.profile.name}) stopped: {what}."),
                             ("runbook_url", f"{stack.glob.runbook_url}#{ALERT_BOT_STOPPED.lower()}"),
                             ("summary", "Bot {{ $labels.job }} stopped")))
    # Its `dashboard` link: the panel showing the heartbeat (as the signal it maps to) or the target's up.
    maps = [mr.rule for mr in mapping_rules(stack, bot.profile)]
    native = promql.selected_metrics(rule.expr)
    also = [r.record for r in maps if set(promql.selected_metrics(r.expr)) & set(native)]
    return links.link(stack, rule, links.recorded_exprs(maps), also)


def groups(stack: Stack, profile: Profile) -> tuple[tuple[str, tuple[Rule, ...]], ...]:
    """The profile's rule groups, built once per Stack (its rule file, its PrometheusRule and the
    remote-write filter all read them)."""
    return stack.once(f"profile_groups/{profile.name}", lambda s: _groups(s, profile))


def _groups(stack: Stack, profile: Profile) -> tuple[tuple[str, tuple[Rule, ...]], ...]:
    bots = _jobs(stack, profile)
    out = []
    records = tuple(mr.rule for mr in mapping_rules(stack, profile))
    if records:
        out.append((f"profile-{profile.name}.mapping", records))
    derived = tuple(derived_rules(stack, profile))
    if derived:
        out.append((f"profile-{profile.name}.derived", derived))
    out.append((f"profile-{profile.name}.deadman", tuple(deadman_rule(stack, bot) for bot in bots)))
    return tuple(out)


def recorded_series(stack: Stack) -> dict[str, tuple[str, ...]]:
    """Series the profile rules record, with the labels they carry besides job and instance."""
    out: dict[str, set[str]] = {}
    for profile in stack.profiles:
        for mr in mapping_rules(stack, profile):
            m, rule = mr.mapping, mr.rule
            labels = set(registry()[m.signal].with_path_label(stack.api.path_label).label_names)
            labels |= {"quantile"} if rule.record == n.QUANTILE_SERIES.get(m.signal) else set()
            labels |= {"le"} if rule.record.endswith("_bucket") else set()
            out.setdefault(rule.record, set()).update(labels)
        for entry in profile.derived:
            signal = registry()[entry.key]
            out.setdefault(signal.name, set()).update(signal.with_path_label(stack.api.path_label).label_names)
    return {k: tuple(sorted(v)) for k, v in out.items()}


# -- promtool tests ---------------------------------------------------------------------------
def _example_name(pattern: str) -> str:
    """One name the regex matches (its first alternative, one repetition): a native per-exchange name."""
    from re import _parser   # the standard library's own regex parser (sre_parse)
    def walk(items) -> str:
        out = []
        for op, arg in items:
            kind = str(op)
            if kind == "LITERAL":
                out.append(chr(arg))
            elif kind == "IN":
                first = arg[0] if str(arg[0][0]) != "NEGATE" else arg[1]
                out.append(chr(first[1][0] if str(first[0]) == "RANGE" else first[1]))
            elif kind in ("MAX_REPEAT", "MIN_REPEAT"):
                out.append(walk(arg[2]) * max(1, arg[0]))
            elif kind == "SUBPATTERN":
                out.append(walk(arg[-1]))
            elif kind == "BRANCH":
                out.append(walk(arg[1][0]))
            elif kind == "ANY":
                out.append("x")
        return "".join(out)
    return walk(_parser.parse(pattern))


def _mapping_test(profile: Profile, mr: MappingRule, bot: Bot, path_label: str) -> dict:
    m, rule = mr.mapping, mr.rule
    native = {"job": bot.name, "instance": _INSTANCE, **{old: f"v-{old}" for old, _ in m.labels}}
    name = mr.native
    if rule.record == n.QUANTILE_SERIES.get(m.signal):
        native["quantile"] = "0.99"
    if name.endswith("_bucket"):
        native["le"] = "0.5"
    out = dict(native)
    for old, new in m.labels:
        out[route_label(m, new, path_label)] = out.pop(old)
    found = fold_of(profile, name)
    if found is not None:
        fold, pattern = found
        name = _example_name(pattern)
        out[fold.label] = re.sub(pattern, re.sub(r"\$\{?(\d+)\}?", r"\\\1", fold.value), name)
    value = 12.0
    expected = {"scale": value * (m.scale or 1), "age": 60.0 - value}.get(m.transform, value)   # at 1m time() is 60
    # A series the profile leaves out (its label matches `exclude`) is served too, and recorded not.
    left_out = [{"series": selector(name, {**native, label: _example_name(regex)}), "values": "99x8"}
                for label, regex in m.exclude]
    return {
        "name": f"{m.signal}: {m.transform} of {mr.native} (the bot's own series) gives {rule.record}"
                + (f", leaving out {', '.join(f'{k}=~{v!r}' for k, v in m.exclude)}" if m.exclude else ""),
        "interval": f"{_STEP}s",
        "input_series": [{"series": selector(name, native), "values": f"{value!r}x8"}] + left_out,
        "promql_expr_test": [
            {"eval_time": "1m", "expr": rule.record,
             "exp_samples": [{"labels": selector(rule.record, out), "value": expected}]},
            # The bot's own series is still there, under its own name and labels.
            {"eval_time": "1m", "expr": selector(name, {**native, **{label: "" for label, _ in m.exclude}}),
             "exp_samples": [{"labels": selector(name, native), "value": value}]}],
    }


def _derived_test(profile: Profile, entry, bot: Bot) -> dict:
    """The entry's own case (signals.yaml), on this profile's bot; an input the profile feeds itself (not
    derived here) holds the value its derivation's case expects."""
    base = {"job": bot.name, "instance": _INSTANCE}
    given = dict(entry.series)
    if entry.midnight is not None:     # the values start `midnight` steps before the bot's first local 00:00
        start = ((-bot.utc_offset) % 86400) // _STEP - entry.midnight
        start += 86400 // _STEP if start < 0 else 0
        given = {k: f"_x{start} {v}" if start else v for k, v in given.items()}
    steps = max(sum(int(w.split("x")[1]) + 1 if w.startswith("_x") else 1 for w in v.split()) for v in given.values())
    here = {d.key for d in profile.derived}
    cases = {d.key: dict(d.expect) for d in registry().derived}
    for key in entry.inputs:
        if key not in given and key not in here:
            given[key] = f"{cases[key][key]!r}x{steps - 1}"
    at = f"{(steps - 1) * _STEP}s"
    return {
        "name": f"derived {entry.key}: {entry.about}",
        "interval": f"{_STEP}s",
        "input_series": [{"series": selector(registry()[k].name, base), "values": v} for k, v in given.items()
                         if k not in here],
        "promql_expr_test": [{"eval_time": at, "expr": selector(registry()[k].name, {"job": bot.name}),
                              "exp_samples": [{"labels": selector(registry()[k].name, base), "value": value}]}
                             for k, value in entry.expect],
    }


def _deadman_test(stack: Stack, bot: Bot, others: list[Bot]) -> dict:
    hb = bot.profile.heartbeat
    seconds = heartbeat_seconds(bot)
    steps = int((seconds + _for_seconds(bot)) // _STEP) + 6
    first, *rest = _host_scopes(stack, bot.name)
    stopped = {"job": bot.name, "instance": _INSTANCE, **first}
    live = {"job": bot.name, "instance": "bot-2:9100", **first}
    series = [{"series": selector("up", stopped), "values": f"1x{steps}"},
              {"series": selector("up", live), "values": f"1x{steps}"}]
    # The bot on its other agent hosts is alive throughout (else their absent() terms fire too).
    elsewhere = [{"job": bot.name, "instance": _INSTANCE, **scope} for scope in rest]
    series += [{"series": selector("up", labels), "values": f"1x{steps}"} for labels in elsewhere]
    moving = ""
    if hb is None:
        series[0]["values"] = f"0x{steps}"
        what = "a target that is down fires; a live one stays silent"
    else:
        name = hb.metric
        if hb.kind == "timestamp":
            stuck, moving = "0x{0}".format(steps), f"0+{_STEP}x{steps}"
        elif hb.kind == "age":
            stuck, moving = f"0+{_STEP}x{steps}", f"1x{steps}"
        else:
            stuck, moving = f"7x{steps}", f"0+1x{steps}"
        series += [{"series": selector(name, stopped), "values": stuck},
                   {"series": selector(name, live), "values": moving}]
        series += [{"series": selector(name, labels), "values": moving} for labels in elsewhere]
        what = f"a heartbeat ({hb.metric}) that stopped fires; one that advances stays silent"
    # The profile's other bots are alive throughout (else their absent() branch fires too).
    for other in others:
        for scope in _host_scopes(stack, other.name):
            labels = {"job": other.name, "instance": _INSTANCE, **scope}
            series.append({"series": selector("up", labels), "values": f"1x{steps}"})
            if hb is not None:
                series.append({"series": selector(hb.metric, labels), "values": moving})
    rule = deadman_rule(stack, bot)
    annotations = engine.expected(rule, stopped, None).annotations
    at = int(((seconds + _for_seconds(bot)) // _STEP + 4) * _STEP)
    return {
        "name": f"{bot.name}: {what}",
        "interval": f"{_STEP}s",
        "input_series": series,
        "alert_rule_test": [{"eval_time": f"{at}s", "alertname": ALERT_BOT_STOPPED, "exp_alerts": [
            {"exp_labels": {**stopped, "severity": bot.heartbeat.severity}, "exp_annotations": annotations}]}],
    }


def _for_seconds(bot: Bot) -> float:
    from stackgen.spec.fields import parse_duration
    return parse_duration(bot.heartbeat.for_) or 0.0


def documents(stack: Stack) -> dict[str, dict]:
    """rules/profile-<name>.rules.yml and its test file, per profile, as data (render/profile_rules.py
    writes them)."""
    files = {}
    for profile in stack.profiles:
        bots = _jobs(stack, profile)
        rule_groups = groups(stack, profile)
        files[rules_file(profile)] = {
            "groups": [{"name": name, "rules": [rule_document(r) for r in rules]} for name, rules in rule_groups]}
        tests = [_mapping_test(profile, mr, bots[0], stack.api.path_label) for mr in mapping_rules(stack, profile)]
        tests += [_derived_test(profile, entry, bots[0]) for entry in profile.derived]
        tests += [_deadman_test(stack, bot, [b for b in bots if b is not bot]) for bot in bots]
        files[tests_file(profile)] = {
            "rule_files": [f"../profile-{profile.name}.rules.yml"],
            "evaluation_interval": f"{_STEP}s",
            "group_eval_order": [name for name, _ in rule_groups],
            "tests": tests,
        }
    return files
