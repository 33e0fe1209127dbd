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

import re

from stackgen import conventions as n
from stackgen import promql
from stackgen.alerts import engine, links
from stackgen.alerts.engine import fleet_host_label, target_labels
from stackgen.alerts.model import Rule
from stackgen.model.profiles import Bot, Mapping, Profile, heartbeat_seconds
from stackgen.model.stack import Stack
from stackgen.render.output import to_yaml
from stackgen.signals import registry
from stackgen.render.alert_rules import rule_document

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


def _suffixes(m: Mapping) -> str:
    if m.transform == "summary":
        return "(_sum|_count)"
    if registry()[m.signal].type == "histogram":
        return "(_bucket|_sum|_count)"
    return ""


def relabel_configs(profile: Profile, path_label: str = "path") -> list[dict]:
    """Scrape-time rewrites, in order: folds, label renames, metric renames.

    A rename onto `path` means the signal's route label: the spec's api.path_label."""
    out: list[dict] = []
    for fold in profile.folds:
        out.append({"source_labels": ["__name__"], "regex": fold.pattern, "target_label": fold.label,
                    "replacement": fold.value})
        out.append({"source_labels": ["__name__"], "regex": fold.pattern, "target_label": "__name__",
                    "replacement": fold.name})
    for m in profile.maps:
        if m.transform not in ("rename", "summary"):
            continue
        name = re.escape(m.source) + _suffixes(m)
        for old, new in m.labels:
            if new == "path" and "{path}" in {label.name for label in registry()[m.signal].labels}:
                new = path_label
            if new == old:
                continue
            out.append({"source_labels": ["__name__", old], "regex": f"{name};(.+)", "target_label": new,
                        "replacement": "${2}" if _suffixes(m) else "${1}"})
            out.append({"source_labels": ["__name__"], "regex": name, "target_label": old, "replacement": ""})
        target = m.target
        if target != m.source:
            out.append({"source_labels": ["__name__"], "regex": name, "target_label": "__name__",
                        "replacement": f"{target}${{1}}" if _suffixes(m) else target})
    return out


def _jobs(stack: Stack, profile: Profile) -> list[Bot]:
    return [b for b in stack.bots if b.profile.name == profile.name]


def _job_matcher(bots: list[Bot]) -> str:
    names = sorted(b.name for b in bots)
    return f'job="{names[0]}"' if len(names) == 1 else f'job=~"{"|".join(names)}"'


def mapping_rules(profile: Profile, bots: list[Bot]) -> list[tuple[Mapping, Rule]]:
    job = _job_matcher(bots)
    out = []
    for m in profile.maps:
        source = f"{profile.stored_name(m.source)}{{{job}}}"
        if m.transform == "scale":
            out.append((m, Rule(record=m.target, expr=f"{source} * {m.scale!r}")))
        elif m.transform == "age":
            out.append((m, Rule(record=m.target, expr=f"time() - {source}")))
        elif m.transform == "summary":
            out.append((m, Rule(record=n.QUANTILE_SERIES[m.signal],
                                expr=f'{m.source}{{{job}, quantile=~".+"}}')))
    return out


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
    metric = f"{bot.profile.stored_name(hb.metric)}{{{job}}}"
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
    maps = mapping_rules(bot.profile, _jobs(stack, bot.profile))
    native = promql.selected_metrics(rule.expr)
    also = [r.record for _, r in maps if set(promql.selected_metrics(r.expr)) & set(native)]
    return links.link(stack, rule, links.recorded_exprs(r for _, r in maps), also)


def groups(stack: Stack, profile: Profile) -> list[tuple[str, list[Rule]]]:
    bots = _jobs(stack, profile)
    out = []
    records = [rule for _, rule in mapping_rules(profile, bots)]
    if records:
        out.append((f"profile-{profile.name}.mapping", records))
    out.append((f"profile-{profile.name}.deadman", [deadman_rule(stack, bot) for bot in bots]))
    return out


def recorded_series(stack: Stack) -> dict[str, tuple[str, ...]]:
    """Series the profile rules record, with the labels they carry besides job and instance."""
    out: dict[str, set[str]] = {}
    for profile in stack.profiles:
        for m, rule in mapping_rules(profile, _jobs(stack, profile)):
            signal = registry()[m.signal]
            labels = set(signal.label_names(stack.api.path_label)) | ({"quantile"} if m.summary else set())
            out.setdefault(rule.record, set()).update(labels)
    return {k: tuple(sorted(v)) for k, v in out.items()}


# -- promtool tests ---------------------------------------------------------------------------
def _selector(name: str, labels: dict[str, str]) -> str:
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{name}{{{inner}}}"


def _mapping_test(m: Mapping, rule: Rule, bot: Bot) -> dict:
    base = {"job": bot.name, "instance": _INSTANCE}
    if m.transform == "summary":
        native = {**base, "quantile": "0.99"}
        value, expected = 0.02, 0.02
    elif m.transform == "age":
        native = {**base, "source": "okx"} if "source" in registry()[m.signal].label_names() else base
        value, expected = 12.0, 60.0 - 12.0        # evaluated at 1m: time() is 60
    else:
        native = base
        value, expected = 55.0, 55.0 * m.scale
    return {
        "name": f"{m.signal}: {m.transform} of {m.source} (the bot's own series) gives {rule.record}",
        "interval": f"{_STEP}s",
        "input_series": [{"series": _selector(m.source, native), "values": f"{value!r}x8"}],
        "promql_expr_test": [{"eval_time": "1m", "expr": rule.record,
                              "exp_samples": [{"labels": _selector(rule.record, native), "value": expected}]}],
    }


def _deadman_test(stack: Stack, bot: Bot, others: list[Bot]) -> dict:
    hb = bot.profile.heartbeat
    seconds = heartbeat_seconds(bot)
    steps = int((seconds + _for_seconds(bot)) // _STEP) + 6
    first, *rest = _host_scopes(stack, bot.name)
    stopped = {"job": bot.name, "instance": _INSTANCE, **first}
    live = {"job": bot.name, "instance": "bot-2:9100", **first}
    series = [{"series": _selector("up", stopped), "values": f"1x{steps}"},
              {"series": _selector("up", live), "values": f"1x{steps}"}]
    # The bot on its other agent hosts is alive throughout (else their absent() terms fire too).
    elsewhere = [{"job": bot.name, "instance": _INSTANCE, **scope} for scope in rest]
    series += [{"series": _selector("up", labels), "values": f"1x{steps}"} for labels in elsewhere]
    moving = ""
    if hb is None:
        series[0]["values"] = f"0x{steps}"
        what = "a target that is down fires; a live one stays silent"
    else:
        name = bot.profile.stored_name(hb.metric)
        if hb.kind == "timestamp":
            stuck, moving = "0x{0}".format(steps), f"0+{_STEP}x{steps}"
        elif hb.kind == "age":
            stuck, moving = f"0+{_STEP}x{steps}", f"1x{steps}"
        else:
            stuck, moving = f"7x{steps}", f"0+1x{steps}"
        series += [{"series": _selector(name, stopped), "values": stuck},
                   {"series": _selector(name, live), "values": moving}]
        series += [{"series": _selector(name, labels), "values": moving} for labels in elsewhere]
        what = f"a heartbeat ({hb.metric}) that stopped fires; one that advances stays silent"
    # The profile's other bots are alive throughout (else their absent() branch fires too).
    for other in others:
        for scope in _host_scopes(stack, other.name):
            labels = {"job": other.name, "instance": _INSTANCE, **scope}
            series.append({"series": _selector("up", labels), "values": f"1x{steps}"})
            if hb is not None:
                series.append({"series": _selector(other.profile.stored_name(hb.metric), labels), "values": moving})
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


def render(stack: Stack) -> dict[str, str]:
    files = {}
    for profile in stack.profiles:
        bots = _jobs(stack, profile)
        rule_groups = groups(stack, profile)
        files[rules_file(profile)] = to_yaml(
            {"groups": [{"name": name, "rules": [rule_document(r) for r in rules]} for name, rules in rule_groups]},
            stack.source)
        tests = [_mapping_test(m, rule, bots[0]) for m, rule in mapping_rules(profile, bots)]
        tests += [_deadman_test(stack, bot, [b for b in bots if b is not bot]) for bot in bots]
        files[tests_file(profile)] = to_yaml({
            "rule_files": [f"../profile-{profile.name}.rules.yml"],
            "evaluation_interval": f"{_STEP}s",
            "group_eval_order": [name for name, _ in rule_groups],
            "tests": tests,
        }, stack.source)
    return files
