"""API alerts: latency per route (p99 critical, p95 warning), 5xx share, rate limiting."""
from __future__ import annotations

from stackgen import conventions as n
from stackgen.alerts import testdata as td
from stackgen.alerts.common import alert_rule, assemble, expected, percent
from stackgen.alerts.humanize import humanize, humanize_duration, humanize_percentage
from stackgen.alerts.model import AlertCase, Rule, RuleFile, selector
from stackgen.model.stack import Stack

QUANTILES = ("0.5", "0.95", "0.99")
_TARGET = {"job": "api", "instance": "api-1:8000"}


def build(stack: Stack) -> RuleFile:
    path = stack.api.path_label
    records = [Rule(record=n.HTTP_LATENCY_QUANTILE, labels=(("quantile", q),), output_labels=(path, "quantile"),
                    expr=f"histogram_quantile({q}, sum by (job, instance, {path}, le) "
                         f"(rate({n.HTTP_DURATION}_bucket[5m])))") for q in QUANTILES]
    all_requests = f"sum by (job, instance) (rate({n.HTTP_REQUESTS}[5m]))"
    # "or ... * 0" keeps the ratio at 0 (not absent) while no request failed.
    records.append(Rule(record=n.HTTP_ERROR_RATIO, expr=(
        f'(sum by (job, instance) (rate({n.HTTP_REQUESTS}{{status=~"5.."}}[5m])) or {all_requests} * 0)'
        f" / {all_requests}")))
    records.append(Rule(record=n.RATE_LIMITED_RATE, expr=(
        f'sum by (job, instance) (rate({n.RATE_LIMITER}{{status="limited"}}[5m]))')))
    return assemble(stack, "api", records, (_latency, _errors, _rate_limiting))


def _latency(stack: Stack):
    lat = stack.alerts.api_latency
    metric = stack.catalog.get(n.HTTP_DURATION)
    if not lat or metric is None or metric.type != "histogram":
        return None
    path = stack.api.path_label
    who = f"{{{{ $labels.{path} }}}} on {{{{ $labels.instance }}}}"
    rules = []
    for severity, q, threshold in (("critical", "0.99", lat.p99_seconds), ("warning", "0.95", lat.p95_seconds)):
        rules.append(alert_rule(
            stack, n.ALERT_API_LATENCY, f'{n.HTTP_LATENCY_QUANTILE}{{quantile="{q}"}} > {threshold!r}',
            lat.for_, severity,
            summary=f"API p{q[2:]} latency of {{{{ $labels.{path} }}}} is {{{{ $value | humanizeDuration }}}}",
            description=f"Requests to {who} take {{{{ $value | humanizeDuration }}}} at the "
                        f"{q[2:]}th percentile, over {humanize_duration(threshold)}.",
            spec_path=("alerts", "api_latency", f"p{q[2:]}_seconds")))
    critical_rule, warning_rule = rules
    silent, pending, firing, samples = td.timing(lat.for_, earliest=td.STEP)
    slow_lo, slow_hi = td.bucket_above(metric.buckets, max(lat.p99_seconds, lat.p95_seconds))
    fast_lo, fast_hi = td.bucket_below(metric.buckets, min(lat.p99_seconds, lat.p95_seconds))
    slow, fast = {**_TARGET, path: "/orders"}, {**_TARGET, path: "/health"}
    case = AlertCase("api latency: a slow route fires p99 (critical) and p95 (warning); a fast route stays silent")
    for labels, upper in ((slow, slow_hi), (fast, fast_hi)):
        case.series += td.histogram_series(n.HTTP_DURATION, {**labels, "method": "GET"}, metric.buckets,
                                           upper, 120, samples)
    p99 = td.quantile_in_bucket(0.99, slow_lo, slow_hi)
    p95 = td.quantile_in_bucket(0.95, slow_lo, slow_hi)
    if silent:
        case.silent(silent, n.ALERT_API_LATENCY)
        case.pending(pending, n.ALERT_API_LATENCY, [{**slow, "quantile": "0.99", "severity": "critical"},
                                                   {**slow, "quantile": "0.95", "severity": "warning"}])
    case.fires(firing, n.ALERT_API_LATENCY,
               expected(critical_rule, {**slow, "quantile": "0.99"}, humanize_duration(p99)),
               expected(warning_rule, {**slow, "quantile": "0.95"}, humanize_duration(p95)))
    return rules, case


def _errors(stack: Stack):
    e = stack.alerts.api_errors
    if not e:
        return None
    rule = alert_rule(
        stack, n.ALERT_API_ERRORS, f"{n.HTTP_ERROR_RATIO} > {e.ratio!r}", e.for_, e.severity,
        summary="{{ $value | humanizePercentage }} of requests to {{ $labels.job }} fail with 5xx",
        description="{{ $labels.job }} on {{ $labels.instance }} answers {{ $value | humanizePercentage }} "
                    f"of its requests with a 5xx status, above {percent(e.ratio)}.",
        spec_path=("alerts", "api_errors"))
    silent, pending, firing, samples = td.timing(e.for_, earliest=td.STEP)
    path = stack.api.path_label
    case = AlertCase("api errors: a 5xx share over the threshold fires; a small share stays silent")
    total = 1000.0
    bad_share, good_share = min(1.0, e.ratio * 2), e.ratio / 2
    for instance, share in (("api-1:8000", bad_share), ("api-2:8000", good_share)):
        base = {"job": "api", "instance": instance, "method": "GET", path: "/orders"}
        case.series.append((selector(n.HTTP_REQUESTS, {**base, "status": "500"}),
                            td.growing(total * share, samples)))
        case.series.append((selector(n.HTTP_REQUESTS, {**base, "status": "200"}),
                            td.growing(total * (1 - share), samples)))
    if silent:
        case.silent(silent, n.ALERT_API_ERRORS)
        case.pending(pending, n.ALERT_API_ERRORS, [{"job": "api", "instance": "api-1:8000", "severity": e.severity}])
    case.fires(firing, n.ALERT_API_ERRORS,
               expected(rule, {"job": "api", "instance": "api-1:8000"}, humanize_percentage(bad_share)))
    return [rule], case


def _rate_limiting(stack: Stack):
    r = stack.alerts.rate_limiting
    if not r:
        return None
    rule = alert_rule(
        stack, n.ALERT_RATE_LIMITING, f"{n.RATE_LIMITED_RATE} > {r.limited_per_second!r}", r.for_, r.severity,
        summary="{{ $labels.job }} rate-limits {{ $value | humanize }} requests/s",
        description=f"The rate limiter of {{{{ $labels.job }}}} on {{{{ $labels.instance }}}} rejects "
                    f"{{{{ $value | humanize }}}} requests per second, more than {r.limited_per_second:g}/s.",
        spec_path=("alerts", "rate_limiting"))
    silent, pending, firing, samples = td.timing(r.for_, earliest=td.STEP, latest=td.RATE_FULL)
    busy, calm = r.limited_per_second * 2, r.limited_per_second / 2
    case = AlertCase("rate limiting: more limited requests/s than allowed fires; fewer stays silent")
    for instance, per_second in (("api-1:8000", busy), ("api-2:8000", calm)):
        labels = {"job": "api", "instance": instance}
        case.series.append((selector(n.RATE_LIMITER, {**labels, "status": "limited"}),
                            td.growing(per_second * td.STEP, samples)))
        case.series.append((selector(n.RATE_LIMITER, {**labels, "status": "allowed"}),
                            td.growing(1000.0, samples)))
    if silent:
        case.silent(silent, n.ALERT_RATE_LIMITING)
        case.pending(pending, n.ALERT_RATE_LIMITING, [{"job": "api", "instance": "api-1:8000", "severity": r.severity}])
    case.fires(firing, n.ALERT_RATE_LIMITING,
               expected(rule, {"job": "api", "instance": "api-1:8000"}, humanize(busy)))
    return [rule], case
