"""Building blocks for generated promtool tests: timing, label sets, histogram series."""
from __future__ import annotations

import math

from stackgen.alerts.humanize import duration
from stackgen.alerts.rules import selector
from stackgen.spec.fields import parse_duration

STEP = 60            # seconds between input samples and between evaluations in the tests
STEP_TEXT = "1m"


def seconds(text: str) -> int:
    return int(parse_duration(text))


def at(total_seconds: float) -> str:
    return duration(max(0, total_seconds))


def timing(for_: str, earliest: int = 0, latest: int | None = None) -> tuple[str, str, str, int]:
    """Check times for an alert whose condition starts holding between `earliest` and `latest`
    seconds: (silent check, pending check, firing check, samples needed).

    The silent check falls before `for` can have elapsed; the pending check is given only where
    the condition surely holds by then (else ""); the firing check falls after `for` surely elapsed.
    """
    latest = earliest if latest is None else latest
    # promtool evaluates every STEP: keep every check on an evaluation, whatever `for` says (90s).
    earliest = earliest // STEP * STEP
    latest = -(-latest // STEP) * STEP
    hold = seconds(for_) if for_ else 0
    steps = -(-hold // STEP) * STEP       # `for` rounded up to whole steps
    silent = earliest + steps - STEP
    silent_at = at(silent) if hold >= STEP and silent >= 0 else ""
    pending_at = silent_at if silent_at and silent >= latest else ""
    firing = latest + steps + STEP
    return silent_at, pending_at, at(firing), firing // STEP + 5


# rate(x[5m]) divides by the whole range: over a steady counter it reaches its full value
# only once the range is covered by samples.
RATE_FULL = 6 * STEP


def constant(value: float, samples: int) -> str:
    return f"{value!r}x{samples}"


def growing(per_step: float, samples: int) -> str:
    return f"0+{per_step!r}x{samples}"


def histogram_series(metric: str, labels: dict[str, str], buckets: tuple[float, ...],
                     upper: float, per_step: float, samples: int) -> list[tuple[str, str]]:
    """Cumulative bucket series for `per_step` observations per step, all in the bucket whose upper
    bound is `upper` (math.inf for the +Inf bucket), plus _count and _sum."""
    out = []
    for bound in list(buckets) + [math.inf]:
        le = "+Inf" if bound == math.inf else _le(bound)
        filled = bound >= upper
        values = growing(per_step, samples) if filled else constant(0.0, samples)
        out.append((selector(f"{metric}_bucket", {**labels, "le": le}), values))
    mid = upper if upper != math.inf else buckets[-1]
    out.append((selector(f"{metric}_count", labels), growing(per_step, samples)))
    out.append((selector(f"{metric}_sum", labels), growing(per_step * mid, samples)))
    return out


def _le(bound: float) -> str:
    # prometheus_client writes bucket bounds with Python's repr of floats ("0.1", "1.0").
    return repr(float(bound))


def bucket_above(buckets: tuple[float, ...], threshold: float) -> tuple[float, float]:
    """(lower, upper) of the first bucket lying wholly at or above the threshold."""
    for i, bound in enumerate(buckets):
        if bound >= threshold:
            upper = buckets[i + 1] if i + 1 < len(buckets) else math.inf
            return bound, upper
    return buckets[-1], math.inf


def bucket_below(buckets: tuple[float, ...], threshold: float) -> tuple[float, float]:
    """(lower, upper) of the highest bucket lying wholly at or below the threshold."""
    lower = 0.0
    chosen = (0.0, buckets[0])
    for bound in buckets:
        if bound > threshold:
            break
        chosen = (lower, bound)
        lower = bound
    return chosen


def quantile_in_bucket(q: float, lower: float, upper: float) -> float:
    """What histogram_quantile returns when every observation lies in (lower, upper]."""
    if upper == math.inf:
        return lower
    return lower + (upper - lower) * q
