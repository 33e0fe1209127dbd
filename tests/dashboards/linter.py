"""Grafana's dashboard-linter rules, ported to Python (no Go toolchain here).

Source: https://github.com/grafana/dashboard-linter, lint/rule_*.go at commit 4d0844b (read through
the repository mirror); each check below names the rule it ports and keeps its panel-type lists,
its messages' substance and its quirks, except where a comment says otherwise:

- template-job/-instance: upstream wants `allValue: ".+"`. Ours is `.*` on purpose (All must also
  match series without the label: an ALERTS series of TargetAbsent has no instance); both pass.
- template-label-promql: upstream parses the whole argument list of label_values(...) as PromQL;
  we parse its selector (the first argument), which is what Grafana runs.
- target-counter-agg: upstream tests the selector's *text* for a `_total` suffix, so any selector
  with matchers (all of ours) passes; we test the metric name, which is stricter, and allow the
  cumulative totals a panel means to show (COUNTER_TOTALS_OK).
- Only errors are reported: upstream's warnings (a variable's label such as 'Job', the datasource
  variable's 'Data source') are not failures there either.
- The LogQL rules do not apply (no Loki datasource).
"""
from __future__ import annotations

import re

import promql_parser

# Panel types, as lint/constants.go names them.
SINGLESTAT, GRAPH, TABLE_OLD, TIMESERIES, STAT, GAUGE = "singlestat", "graph", "table-old", "timeseries", "stat", \
    "gauge"
_TITLE_TYPES = (STAT, SINGLESTAT, GRAPH, TABLE_OLD, TIMESERIES, GAUGE)
_DATASOURCE_TYPES = (SINGLESTAT, GRAPH, TABLE_OLD, TIMESERIES)
_QUERY_TYPES = (SINGLESTAT, GAUGE, TABLE_OLD, STAT, "state-timeline", TIMESERIES)   # panelHasQueries
_TEMPLATED_DS = ("$datasource", "${datasource}")
_TEMPLATED_DS_JOB = _TEMPLATED_DS + ("$prometheus_datasource", "${prometheus_datasource}")
_LABEL_FUNCS = ("label_names", "label_values", "metrics", "query_result")
_TEMPLATED_LABEL = re.compile(r"([a-z_]+)\((.+)\)")
# Grafana's global variables, by the sample values lint/variables.go gives them (durations shortened:
# the Rust parser refuses the upstream ones; any duration no query writes does).
RATE_INTERVAL = "7777777ms"
_GLOBALS = {"__rate_interval": RATE_INTERVAL, "__interval": "4867856ms", "__interval_ms": "7781188786",
            "__range_ms": "6737667980", "__range_s": "9397795485", "__range": "6069770ms", "__auto": "12345ms"}
_VARIABLE = re.compile(r"\$(\w+)|\$\{(\w+)(?::\w+)?\}|\[\[(\w+)(?::\w+)?\]\]")
# Units from lint/rule_panel_units.go (Grafana's valueFormats categories).
VALID_UNITS = frozenset("""
none string short percent percentunit humidity dB hex0x hex sci locale pixel accMS2 accFS2 accG degree radian
grad arcmin arcsec areaM2 areaF2 areaMI2 flops mflops gflops tflops pflops eflops zflops yflops ppm conppb
conngm3 conngNm3 conμgm3 conμgNm3 conmgm3 conmgNm3 congm3 congNm3 conmgdL conmmolL currencyUSD currencyGBP
currencyEUR currencyJPY currencyRUB currencyUAH currencyBRL currencyDKK currencyISK currencyNOK currencySEK
currencyCZK currencyCHF currencyPLN currencyBTC currencymBTC currencyμBTC currencyZAR currencyINR currencyKRW
currencyIDR currencyPHP currencyVND bytes decbytes bits decbits kbytes deckbytes mbytes decmbytes gbytes
decgbytes tbytes dectbytes pbytes decpbytes pps binBps Bps binbps bps KiBs Kibits KBs Kbits MiBs Mibits MBs
Mbits GiBs Gibits GBs Gbits TiBs Tibits TBs Tbits PiBs Pibits PBs Pbits dateTimeAsIso
dateTimeAsIsoNoDateIfToday dateTimeAsUS dateTimeAsUSNoDateIfToday dateTimeAsLocal dateTimeAsLocalNoDateIfToday
dateTimeAsSystem dateTimeFromNow watt kwatt megwatt gwatt mwatt Wm2 voltamp kvoltamp voltampreact
kvoltampreact watth watthperkg kwatth kwattm amph kamph mamph joule ev amp kamp mamp volt kvolt mvolt dBm ohm
kohm Mohm farad µfarad nfarad pfarad ffarad henry mhenry µhenry lumens flowgpm flowcms flowcfs flowcfm litreh
flowlpm flowmlpm lux forceNm forcekNm forceN forcekN Hs KHs MHs GHs THs PHs EHs massmg massg masslb masskg
masst lengthmm lengthin lengthft lengthm lengthkm lengthmi pressurembar pressurebar pressurekbar pressurepa
pressurehpa pressurekpa pressurehg pressurepsi radbq radci radgy radrad radsv radmsv radusv radrem radexpckg
radr radsvh radmsvh radusvh rotrpm rothz rotrads rotdegs celsius fahrenheit kelvin hertz ns µs ms s m h d
dtdurationms dtdurations dthms dtdhms timeticks clockms clocks cps ops reqps rps wps iops cpm opm rpm wpm mps
mpm velocityms velocitykmh velocitymph velocityknot mlitre litre m3 Nm3 dm3 gallons bool bool_yes_no
bool_on_off""".split())
# Counters shown as cumulative totals on purpose: the seeds' "Outliers Removed (Total)" gauge and
# "Round trips" stat (completed since the bot started).
COUNTER_TOTALS_OK = frozenset({"fx_outliers_removed_total", "trading_round_trips_total"})


def expand(expr: str) -> str:
    """lint/variables.go expandVariables: variables outside double-quoted strings by sample values
    (globals by theirs, the dashboard's by their name); inside strings, kept."""
    parts = expr.split('"')
    for i in range(0, len(parts), 2):
        parts[i] = _VARIABLE.sub(lambda m: _GLOBALS.get(next(g for g in m.groups() if g), next(
            g for g in m.groups() if g)), parts[i])
    return '"'.join(parts)


def _panels(dashboard: dict) -> list[dict]:
    out = []
    for panel in dashboard.get("panels", []):
        out.append(panel)
        out.extend(panel.get("panels", []))       # a collapsed row holds its panels
    return out


def _walk(node, parents=()):
    """(node, parents) of every node of a parsed expression."""
    pending = [(node, tuple(parents))]
    while pending:
        node, parents = pending.pop()
        yield node, parents
        kind = type(node).__name__
        children = []
        if kind == "MatrixSelector":
            children = [node.vector_selector]
        elif kind == "Call":
            children = list(node.args)
        elif kind == "AggregateExpr":
            children = [node.expr] + ([node.param] if node.param is not None
                                      and not isinstance(node.param, (int, float, str)) else [])
        elif kind == "BinaryExpr":
            children = [node.lhs, node.rhs]
        elif kind in ("ParenExpr", "UnaryExpr", "SubqueryExpr"):
            children = [node.expr]
        pending.extend((c, parents + (node,)) for c in children)


def _datasource_uid(thing: dict) -> str:
    ds = thing.get("datasource")
    return ds.get("uid", "") if isinstance(ds, dict) else (ds or "")


def lint(dashboard: dict) -> list[str]:
    """Every rule's complaints about one dashboard, as 'rule: where: what'."""
    out: list[str] = []
    title = dashboard.get("title", "?")
    templates = dashboard.get("templating", {}).get("list", [])
    datasources = [t for t in templates if t.get("type") == "datasource"]

    def error(rule: str, message: str) -> None:
        out.append(f"{rule}: dashboard {title!r}: {message}")

    # template-datasource-rule
    if not datasources:
        error("template-datasource-rule", "does not have a templated data source")
    for ds in datasources:
        uid_ok = {f"{ds.get('query', '').lower()}_datasource"} | ({"datasource"} if len(datasources) == 1 else set())
        if ds.get("name") not in uid_ok:
            error("template-datasource-rule", f"templated data source variable named {ds.get('name')!r}")
    prometheus = bool(datasources) and datasources[0].get("query") == "prometheus"
    # template-job-rule, template-instance-rule
    for name in ("job", "instance") if prometheus else ():
        rule = f"template-{name}-rule"
        template = next((t for t in templates if t.get("name") == name), None)
        if template is None:
            error(rule, f"is missing the {name} template")
            continue
        if _datasource_uid(template) not in _TEMPLATED_DS_JOB:
            error(rule, f"{name} template should use datasource '$datasource'")
        if template.get("type") != "query":
            error(rule, f"{name} template should be a Prometheus query")
        if not template.get("multi"):
            error(rule, f"{name} template should be a multi select")
        if template.get("allValue") not in (".+", ".*"):
            error(rule, f"{name} template allValue should be '.+', is {template.get('allValue')!r}")
    for template in (t for t in templates if t.get("type") == "query"):
        # template-label-promql-rule
        query = template.get("query")
        query = query.get("query", "") if isinstance(query, dict) else (query or "")
        tokens = _TEMPLATED_LABEL.fullmatch(query.strip())
        if prometheus:
            if tokens is None or tokens.group(1) not in _LABEL_FUNCS:
                error("template-label-promql-rule", f"template {template.get('name')!r}: invalid query {query!r}")
            else:
                selector = tokens.group(2).rsplit(",", 1)[0] if tokens.group(1) == "label_values" \
                    and "," in tokens.group(2) else tokens.group(2)
                try:
                    promql_parser.parse(expand(selector))
                except ValueError as exc:
                    error("template-label-promql-rule", f"template {template.get('name')!r}: {exc}")
        # template-on-time-change-reload-rule
        if template.get("refresh") != 2:
            error("template-on-time-change-reload-rule", f"variable {template.get('name')!r} refresh is "
                  f"{template.get('refresh')!r}, should be 2 (on time range change)")
    # uneditable-dashboard
    if dashboard.get("editable"):
        error("uneditable-dashboard", "is editable, it should be set to 'editable: false'")
    for panel in _panels(dashboard):
        out.extend(_lint_panel(dashboard, panel, prometheus))
    return out


def _lint_panel(dashboard: dict, panel: dict, prometheus: bool) -> list[str]:
    out: list[str] = []
    kind = panel.get("type")
    where = f"dashboard {dashboard.get('title')!r}, panel {panel.get('title')!r}"

    def error(rule: str, message: str) -> None:
        out.append(f"{rule}: {where}: {message}")

    if kind in _DATASOURCE_TYPES and _datasource_uid(panel) not in _TEMPLATED_DS:       # panel-datasource-rule
        error("panel-datasource-rule", f"does not use a templated datasource, uses {_datasource_uid(panel)!r}")
    if kind in _TITLE_TYPES:
        if not panel.get("title") or not panel.get("description"):                      # panel-title-description
            error("panel-title-description-rule", "has missing title or description")
        if "targets" not in panel:                                                       # panel-no-targets-rule
            error("panel-no-targets-rule", "has no targets")
        _units(panel, error)
    if kind not in _QUERY_TYPES or not prometheus:
        return out
    for target in panel.get("targets", []):
        expr = target.get("expr", "")
        try:                                                                             # target-promql-rule
            tree = promql_parser.parse(expand(expr))
        except ValueError as exc:
            error("target-promql-rule", f"invalid PromQL query {expr!r}: {exc}")
            continue
        for node, parents in _walk(tree):
            node_kind = type(node).__name__
            if node_kind == "MatrixSelector" and parents:                                # target-rate-interval-rule
                call = parents[-1]
                if type(call).__name__ == "Call" and call.func.name in ("rate", "irate") \
                        and node.range.total_seconds() != _seconds(RATE_INTERVAL):
                    error("target-rate-interval-rule", f"invalid PromQL query {expr!r}: should use $__rate_interval")
            if node_kind != "VectorSelector":
                continue
            matchers = list(node.matchers.matchers)
            for label in ("job", "instance"):                                           # target-job/-instance-rule
                if not any(m.name == label and str(m.op).endswith(".Re") and m.value == f"${label}" for m in matchers):
                    error(f"target-{label}-rule", f"invalid PromQL query {expr!r}: selector {node.name!r} has no "
                          f"{label}=~\"${label}\" matcher")
            if (node.name or "").endswith("_total") and node.name not in COUNTER_TOTALS_OK:  # target-counter-agg
                ok = len(parents) >= 2 and type(parents[-1]).__name__ == "MatrixSelector" \
                    and type(parents[-2]).__name__ == "Call" and parents[-2].func.name in ("rate", "irate", "increase")
                if not ok:
                    error("target-counter-agg-rule", f"counter metric {node.name!r} is not aggregated with rate, "
                          "irate, or increase")
    return out


def _seconds(duration: str) -> float:
    return int(duration.removesuffix("ms")) / 1000


def _units(panel: dict, error) -> None:
    """panel-units-rule: a valid unit, unless the panel maps values to text or a stat shows a field."""
    if panel.get("type") == STAT and (panel.get("options", {}).get("reduceOptions", {}).get("fields") or ""):
        return
    config = panel.get("fieldConfig") or {}
    unit = ""
    for override in config.get("overrides", []):
        for prop in override.get("properties", []):
            if prop.get("id") == "mappings" and prop.get("value") is not None:
                return
            if prop.get("id") == "unit":
                unit = prop.get("value", "")
    if "mappings" in config.get("defaults", {}) and config["defaults"]["mappings"] is not None:
        return
    unit = unit or config.get("defaults", {}).get("unit", "")
    if unit not in VALID_UNITS:
        error("panel-units-rule", f"has no or invalid units defined: {unit!r}")
