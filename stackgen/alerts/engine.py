"""Rules and promtool tests from the family declarations (families.yaml) and the spec's values.

One generic builder: a family's rules are its templates rendered with its spec values and
the stack's signal names; its test is its recipe (input series, instances that must fire)
evaluated with the same values. Timing (silent before `for`, pending, firing after) and the
exact labels and annotations every firing instance must carry are derived here, once.
"""
from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from urllib.parse import quote_plus

from stackgen import promql
from stackgen.alerts import families as fam
from stackgen.alerts import testdata as td
from stackgen.alerts.humanize import humanize, humanize_duration, humanize_percentage, printf
from stackgen.alerts.rules import AlertCase, Expected, Rule, selector
from stackgen.model.stack import Stack
from stackgen.conventions import signal_names


def runbook_url(stack: Stack, alert: str) -> str:
    return f"{stack.glob.runbook_url}#{alert.lower()}"


def scrape_job_names(stack: Stack) -> list[str]:
    names = [job.name for job in stack.scrape.jobs]
    if stack.scrape.self_monitoring:
        names = ["prometheus", "alertmanager"] + names
    return names


def fleet_host_label(stack: Stack) -> str:
    """The external label that tells agent hosts apart in the shared store; empty without agent hosts."""
    rw = stack.remote_write
    return rw.host_label if rw is not None and rw.hosts else ""


def target_labels(stack: Stack) -> str:
    """The labels that name one scrape target, for `by (...)` and `on (...)` clauses: job and instance,
    and the host label when agent hosts write into a shared store (two hosts may scrape the same
    address, 127.0.0.1:9100 on each; without the host their series would be summed or matched together).
    On a Prometheus whose series carry no host label the extra name groups nothing."""
    host = fleet_host_label(stack)
    return ", ".join(("job", "instance") + ((host,) if host else ()))


def absent_targets(stack: Stack) -> list[dict[str, str]]:
    """The label sets TargetAbsent checks, one absent() each. Without agent hosts: one per scrape job.
    With agent hosts (rules run on the shared store): the stack's own jobs no host runs, unscoped, then
    one per (host, job) the spec assigns, so a host that does not scrape a job never reports it absent
    and a host losing a job is named even while another host still scrapes that job."""
    jobs = scrape_job_names(stack)
    host_label = fleet_host_label(stack)
    if not host_label:
        return [{"job": job} for job in jobs]
    hosts = stack.remote_write.hosts
    assigned = {job for host in hosts for job in host.jobs}
    return ([{"job": job} for job in jobs if job not in assigned]
            + [{"job": job, host_label: host.name} for host in hosts for job in host.jobs])


def alertmanager_peers(stack: Stack) -> int:
    """How many Alertmanagers the cluster should hold: alertmanager_ha's instances, else the one."""
    ha = stack.alertmanager_ha
    return len(ha.instances) if ha is not None else 1


def base_context(stack: Stack) -> dict:
    """What every template sees: signal keys -> series names, the route label, the scrape jobs, the
    label sets TargetAbsent checks, and the fleet's host label (empty on a single host)."""
    return {**signal_names(stack), "path_label": stack.api.path_label, "jobs": scrape_job_names(stack),
            "absent_targets": absent_targets(stack), "host_label": fleet_host_label(stack),
            "target_labels": target_labels(stack), "am_peers": alertmanager_peers(stack)}


def family_context(stack: Stack, family: fam.Family, values: dict) -> dict:
    ctx = base_context(stack)
    ctx.update({k: v for k, v in values.items() if k != "for"})
    return ctx


# -- recording rules ----------------------------------------------------------------------------
def record_rules(stack: Stack, spec: fam.RecordSpec) -> list[Rule]:
    with fam.declared(spec.origin, "expr"):
        return _record_rules(stack, spec)


def _record_rules(stack: Stack, spec: fam.RecordSpec) -> list[Rule]:
    ctx = base_context(stack)
    name = ctx[spec.key]
    labels = tuple(fam.render(label, ctx) for label in spec.labels)
    if not spec.each:
        return [Rule(record=name, expr=fam.render(spec.expr, ctx), output_labels=labels)]
    (each_label, values), = spec.each
    return [Rule(record=name, labels=((each_label, value),), output_labels=labels + (each_label,),
                 expr=fam.render(spec.expr, {**ctx, each_label: value})) for value in values]


_KEY_USE = re.compile(r"<<\s*(\w+)")


def used_records(texts) -> set[str]:
    """Recorded-series keys the templates name."""
    records = fam.catalog().records
    found: set[str] = set()
    pending = [k for text in texts for k in _KEY_USE.findall(text) if k in records]
    while pending:
        key = pending.pop()
        if key not in found:
            found.add(key)
            pending += [k for k in _KEY_USE.findall(records[key].expr) if k in records]
    return found


# -- alerting rules -------------------------------------------------------------------------------
def check_buckets(stack: Stack, family: fam.Family, values: dict) -> None:
    """A quantile threshold outside the histogram's buckets can never be told apart from its neighbours."""
    names = signal_names(stack)
    for spec in family.fields:
        if not spec.within_buckets:
            continue
        name, value = names[spec.within_buckets], values[spec.name]
        metric = stack.catalog.get(name)
        if metric is None or metric.type != "histogram":
            continue   # reported with the alert's expression, naming the missing metric
        if not metric.buckets[0] <= value < metric.buckets[-1]:
            raise stack.error(("alerts", family.key, spec.name), f"must lie within the buckets of {name} "
                              f"({metric.buckets[0]:g}..{metric.buckets[-1]:g}), got {value:g}")


def family_rules(stack: Stack, family: fam.Family, values: dict) -> list[Rule]:
    check_buckets(stack, family, values)
    ctx = family_context(stack, family, values)
    rules = []
    for i, spec in enumerate(family.rules):
        with fam.declared(family.origin, "rules", i):
            rules.append(_family_rule(stack, family, values, ctx, spec))
    return rules


def _family_rule(stack: Stack, family: fam.Family, values: dict, ctx: dict, spec: dict) -> Rule:
    local = dict(ctx)
    for name, text in (spec.get("let") or {}).items():
        local[name] = fam.evaluate(text, local)
    severity = fam.render(spec["severity"], local)
    local["severity"] = severity
    alert = spec.get("alert", family.alert)
    annotations = {
        "summary": fam.render(spec.get("summary", family.summary), local),
        "description": fam.render(spec.get("description", family.description), local),
        "runbook_url": runbook_url(stack, alert),
    }
    path = ("alerts", family.key) + ((spec["field"],) if "field" in spec else ())
    return Rule(expr=fam.render(spec["expr"], local), alert=alert, for_=values.get("for", ""),
                labels=(("severity", severity),), annotations=tuple(sorted(annotations.items())),
                spec_path=path)


# -- per-bot (env, strategy) overrides: one rule set per distinct set of values ----------------------------
def scopes(config) -> list[tuple[str, dict, list[tuple[str, str, str]]]]:
    """(scope name, values, matchers) for the family's own values and each override. Each scope's rules
    carry matchers that keep it to its series: an override's label value, minus the series a more
    specific override takes; the family's own values get every series no override takes."""
    from stackgen.model.alerts import OVERRIDE_LABELS
    overrides = config.overrides
    if not overrides:
        return [("", dict(config.values), [])]

    def excluding(found) -> list[tuple[str, str, str]]:
        by_label: dict[str, list[str]] = {}
        for o in found:
            by_label.setdefault(o.label, []).append(_regex_literal(o.value))
        return [(label, "!~", "|".join(values)) for label, values in by_label.items()]

    out = [("", dict(config.values), excluding(overrides))]
    for o in overrides:
        rank = OVERRIDE_LABELS.index(o.label)
        wins = [other for other in overrides if OVERRIDE_LABELS.index(other.label) < rank]
        out.append((o.name, dict(o.values), [(o.label, "=~", _regex_literal(o.value))] + excluding(wins)))
    return out


def _regex_literal(value: str) -> str:
    """A label value as a regex matching only itself, written inside a double-quoted PromQL string: the
    regex's metacharacters escaped, then the string's own escapes (backslashes doubled, quotes and
    control characters escaped as JSON does, which PromQL's Go-style strings read the same way)."""
    regex = re.sub(r"([.^$*+?()\[\]{}|\\])", r"\\\1", value)
    return json.dumps(regex, ensure_ascii=False)[1:-1]


def scoped(rules: list[Rule], matchers: list[tuple[str, str, str]]) -> list[Rule]:
    """The rules with each matcher added to every selector of their expressions."""
    from dataclasses import replace
    out = []
    for rule in rules:
        expr = rule.expr
        for label, op, value in matchers:
            expr = promql.add_matcher(expr, label, value, op)
        out.append(replace(rule, expr=expr))
    return out


def scope_series_labels(labels: dict[str, str], own: set[str], scope: tuple, where: tuple) -> dict[str, str]:
    """A test series' labels moved into one scope (see scopes()): the override's label value on every
    series, and a value no more specific override matches elsewhere. `own`: the labels the recipe's series
    set themselves (an override cannot match on those: they tell the test's series apart)."""
    name, config, stack = scope
    labels = dict(labels)
    taken: dict[str, set[str]] = {}
    for o in config.overrides:
        taken.setdefault(o.label, set()).add(o.value)
    mine = name.split("=", 1) if name else None
    if mine is not None:
        if mine[0] in own:
            raise stack.error(where, f"the generated tests of this family tell their series apart by "
                              f"{mine[0]!r}: match on another label (job, env, ...) for an override")
        labels[mine[0]] = mine[1]
    for label, values in taken.items():
        if (mine is None or label != mine[0]) and labels.get(label) in values:
            labels[label] = labels[label] + "-other"
    return labels


def scope_title(family: fam.Family, name: str, values: dict) -> str:
    """What a scope's test name says: whose values, and the numbers (the per-bot thresholds, readable)."""
    if not name:
        return ""
    shown = ", ".join(f"{k} {fam.cite(family.field_spec(k), v)}" for k, v in values.items())
    return f"[{name}: {shown}] "


# -- expected alerts --------------------------------------------------------------------------------
_LABEL = re.compile(r"\{\{ \$labels\.(\w+) \}\}")
_WITH = re.compile(r"\{\{ with \$labels\.(\w+) \}\}(.*?)\{\{ end \}\}")
_VALUE = re.compile(r'\{\{ \$value(?: \| (\w+)(?: "([^"]*)")?)? \}\}')


def value_text(func: str | None, arg: str | None, value: float) -> str:
    """The value as Prometheus' template function prints it (Python twins, see humanize.py)."""
    if func == "humanize":
        return humanize(value)
    if func == "humanizePercentage":
        return humanize_percentage(value)
    if func == "humanizeDuration":
        return humanize_duration(value)
    if func == "printf" and arg:
        return printf(arg, value)
    if func is None:
        return _go_float(value)
    raise ValueError(f"no Python twin for template function {func!r}")


def _go_float(value: float) -> str:
    """A plain {{ $value }}: Go's fmt %v of a float64 (shortest digits; exponent form below 1e-4 and
    from 1e+06 on, as strconv's 'g' with shortest precision decides)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "0"
    sign, digits, exponent = Decimal(repr(abs(float(value)))).normalize().as_tuple()
    text = "".join(map(str, digits))
    point = len(text) + exponent            # where the decimal point goes
    minus = "-" if value < 0 else ""
    if point - 1 < -4 or point - 1 >= 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        power = point - 1
        return f"{minus}{mantissa}e{'-' if power < 0 else '+'}{abs(power):02d}"
    if point <= 0:
        return f"{minus}0.{'0' * -point}{text}"
    if point >= len(text):
        return f"{minus}{text}{'0' * (point - len(text))}"
    return f"{minus}{text[:point]}.{text[point:]}"


def _with_label(match: re.Match, labels: dict[str, str]) -> str:
    """`{{ with $labels.x }}...{{ . | urlquery }}...{{ end }}` as Go's text/template renders it: nothing when
    the label is missing or empty, else the body with `.` the value (urlquery = Go's url.QueryEscape)."""
    value = labels.get(match.group(1), "")
    return match.group(2).replace("{{ . | urlquery }}", quote_plus(value, safe="")) if value else ""


def expected(rule: Rule, labels: dict[str, str], value: float | None) -> Expected:
    """The alert instance Prometheus must produce for a series with these labels and value."""
    annotations = {}
    for key, text in rule.annotations:
        text = _WITH.sub(lambda m: _with_label(m, labels), text)
        text = _LABEL.sub(lambda m: labels[m.group(1)], text)
        if _VALUE.search(text) and value is None:
            raise ValueError(f"{rule.alert}: {key} prints $value; the test recipe gives no value")
        text = _VALUE.sub(lambda m: value_text(m.group(1), m.group(2), value), text)
        if "{{" in text:
            raise ValueError(f"{rule.alert}: unrendered template in {key}: {text}")
        annotations[key] = text
    return Expected({**labels, **dict(rule.labels)}, annotations)


# -- tests ------------------------------------------------------------------------------------------
def _helpers(stack: Stack) -> dict:
    names = signal_names(stack)

    def buckets(key: str) -> tuple[float, ...]:
        metric = stack.catalog.get(names[key])
        return tuple(metric.buckets) if metric is not None else ()

    return {
        "const": lambda v: td.constant(v, 0),      # replaced per test (needs the sample count)
        "STEP": td.STEP, "RATE_FULL": td.RATE_FULL, "buckets": buckets,
        "bucket_above": td.bucket_above, "bucket_below": td.bucket_below,
        "quantile_in_bucket": lambda q, bucket: td.quantile_in_bucket(q, bucket[0], bucket[1]),
        "ceil_div": lambda a, b: -(-int(a) // int(b)), "inf": math.inf,
    }


def _labels(spec: dict | str | None, ctx: dict) -> dict[str, str]:
    """Labels of a recipe: a mapping of templates, or an expression that yields a mapping."""
    if isinstance(spec, str):
        spec = fam.evaluate(spec, ctx)
    return {fam.render(str(k), ctx): fam.render(str(v), ctx) for k, v in (spec or {}).items()}


def family_case(stack: Stack, family: fam.Family, values: dict, rules: list[Rule],
                index: promql.SeriesIndex, scope: tuple | None = None) -> AlertCase:
    """The family's promtool test for these values. `scope`: (override name, FamilyConfig) when the family
    has overrides: the series are moved into that scope (scope_series_labels)."""
    with fam.declared(family.origin, "test"):
        return _family_case(stack, family, values, rules, index, scope)


def _family_case(stack: Stack, family: fam.Family, values: dict, rules: list[Rule],
                 index: promql.SeriesIndex, scope: tuple | None) -> AlertCase:
    recipe = family.test
    names = signal_names(stack)
    ctx = {**family_context(stack, family, values), **_helpers(stack)}
    for name, text in (recipe.get("let") or {}).items():
        ctx[name] = fam.evaluate(text, ctx)
    active = recipe.get("active") or {}
    earliest = int(fam.evaluate(active.get("earliest", 0), ctx))
    latest = int(fam.evaluate(active["latest"], ctx)) if "latest" in active else None
    silent, pending, firing, samples = td.timing(values.get("for", ""), earliest=earliest, latest=latest)
    if "at" in recipe:
        silent = pending = ""
        times = list(recipe["at"])
        samples = max(td.seconds(t) for t in times) // td.STEP + 5
    else:
        times = [firing]
    ctx.update(samples=samples, firing=td.seconds(firing),
               const=lambda v: f"{float(v)!r}x{samples}", grow=lambda v: f"0+{float(v)!r}x{samples}",
               fall=lambda v: f"{float(v) * samples!r}-{float(v)!r}x{samples}")   # down to 0, never below
    common = _labels(recipe.get("labels"), ctx)
    title = scope_title(family, scope[0], values) if scope else ""
    case = AlertCase(title + " ".join(str(recipe["name"]).split()))
    by_id: dict[str, dict[str, str]] = {}
    for spec in recipe.get("series") or ():
        items = fam.evaluate(spec["each"], ctx) if "each" in spec else [None]
        for item in items:
            local = {**ctx, "item": item}
            own = _labels(spec.get("labels"), local)
            labels = {**common, **own}
            if scope and scope[1].overrides:
                own_keys = {k for s2 in recipe.get("series") or () for k in (s2.get("labels") or {})
                            if isinstance(s2.get("labels"), dict)}
                labels = scope_series_labels(labels, own_keys, (scope[0], scope[1], stack),
                                             ("alerts", family.key, "overrides"))
            if "histogram" in spec:
                metric = stack.catalog.get(names[spec["histogram"]])
                upper = fam.evaluate(spec["upper"], local)
                per_step = fam.evaluate(spec.get("per_step", 60), local)
                case.series += td.histogram_series(metric.name, labels, metric.buckets, upper, per_step, samples)
            else:
                case.series.append((selector(fam.render(spec["metric"], local), labels),
                                    fam.render(spec["values"], local)))
            if "id" in spec:
                by_id[fam.render(str(spec["id"]), local)] = labels

    def rule_for(spec: dict) -> Rule:
        alert = spec.get("alert", family.alert)
        candidates = [r for r in rules if r.alert == alert
                      and ("severity" not in spec or dict(r.labels)["severity"] == spec["severity"])]
        if len(candidates) != 1:
            raise ValueError(f"{family.key}: test expects {spec}, which names {len(candidates)} rules")
        return candidates[0]

    def instance(spec: dict, expr: str) -> dict[str, str]:
        labels: dict[str, str] = {}
        if "series" in spec:
            carried = promql.output_labels(expr, index) or frozenset()
            labels = {k: v for k, v in by_id[spec["series"]].items() if k in carried}
        labels.update(_labels(spec.get("labels"), ctx))
        return labels

    fires: dict[str, list[Expected]] = {}
    pendings: dict[str, list[dict[str, str]]] = {}
    for spec in recipe.get("fires") or ():
        rule = rule_for(spec)
        labels = instance(spec, rule.expr)
        value = float(fam.evaluate(spec["value"], ctx)) if "value" in spec else None
        fires.setdefault(rule.alert, []).append(expected(rule, labels, value))
        pendings.setdefault(rule.alert, []).append({**labels, **dict(rule.labels)})
    alerts = list(dict.fromkeys(r.alert for r in rules))
    if silent:
        for alert in alerts:
            case.silent(silent, alert)
        for alert in alerts:
            case.pending(pending, alert, pendings.get(alert, []))
    for when in times:
        for alert in alerts:
            case.fires(when, alert, *fires.get(alert, []))
    for spec in recipe.get("samples") or ():
        expr = fam.render(spec["expr"], ctx)
        labels = instance(spec, expr)
        name = promql.parse(expr).name
        case.expr_checks.append((firing, expr, [(selector(name, labels), float(fam.evaluate(spec["value"], ctx)))]))
    return case
