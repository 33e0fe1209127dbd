"""promtool tests of the SLO and money-budget alerts, for every window pair.

Each test plays a scenario in Python (events per step for an objective, the signal's value per step
for a money budget), works out what every window records at every evaluation, and expects exactly
the alerts the windows imply, at the evaluation they imply. An SLI on a signal or catalog metric is
fed its own native series (counters, histogram buckets), so the recording rules are under test too;
a raw PromQL SLI and a money budget are fed the recorded window series. The scenarios:
- a burn over the pair's rate fires the pair at the evaluation the long window crosses it (silent one
  step before); once the burn stops, the short window resets the alert while the long one still burns;
- a short spike that the short window sees but the long window does not stays silent;
- (objectives) a quiet period with fewer than `min_events` events stays silent even at 100 % errors.
A ticket pair's burn is the slow burn: below every page rate, it tickets. Each pair's test runs at its
own step (a fifth of its short window), in rules/tests/slo-<step>.test.yml.
The rules that record the windows from native series get their own tests (native series in, ratio out).
"""
from __future__ import annotations

import math
import re

from stackgen import conventions as n
from stackgen.alerts import engine
from stackgen.alerts import testdata as td
from stackgen.alerts.rules import AlertCase, Expected, Rule
from stackgen.alerts.slo import (events_name, exhaustion_name, ratio_name, seconds, selector, slo_labels,
                                 windows)
from stackgen.model.slos import Budget, Objective, Window
from stackgen.model.stack import Stack

TRAFFIC = 1000.0       # events per step in the busy scenarios


def step(w: Window) -> int:
    """Seconds between samples for a pair: the largest divisor of both windows up to a fifth of the short."""
    common = math.gcd(seconds(w.long), seconds(w.short))
    return next(d for d in range(seconds(w.short) // 5, 0, -1) if common % d == 0)


def steps(w: Window) -> tuple[int, int, int]:
    """(seconds per step, steps in the long window, steps in the short window) of a pair's tests."""
    dt = step(w)
    return dt, seconds(w.long) // dt, seconds(w.short) // dt


def values(series: list[float | None]) -> str:
    """promtool's notation, runs folded (`0.5x9`), missing samples as `_`."""
    out, i = [], 0
    while i < len(series):
        j = i
        while j + 1 < len(series) and series[j + 1] == series[i]:
            j += 1
        if series[i] is None:     # `_xN` is N missing samples, `vxN` is N + 1 samples of v
            out.append("_" if j == i else f"_x{j - i + 1}")
        elif math.isinf(series[i]):     # promtool reads `infx3` as a name: write each one
            out += [repr(series[i])] * (j - i + 1)
        else:
            out.append(repr(series[i]) if j == i else f"{series[i]!r}x{j - i}")
        i = j + 1
    return " ".join(out)


# -- objectives ------------------------------------------------------------------------------------
class Events:
    """Counters of all and of error events, sampled every `dt` seconds from 0. With `native`, a test
    writes the SLI's own series and the windows are what its recording rules compute from them;
    without, a test writes the recorded window series themselves (raw PromQL SLIs)."""

    def __init__(self, dt: int, native: "Native | None" = None):
        self.dt, self.total, self.errors, self.native = dt, [0.0], [0.0], native

    def add(self, steps: int, per_step: float, error_share: float) -> None:
        for _ in range(steps):
            self.total.append(self.total[-1] + per_step)
            self.errors.append(self.errors[-1] + per_step * error_share)

    @property
    def steps(self) -> int:
        return len(self.total) - 1

    def window(self, j: int, window: str) -> tuple[float | None, float | None]:
        """(error ratio, events per second) that the window's rules record at step j (None: no sample).
        rate() over counters from 0 does not extrapolate, so both are exact differences."""
        m = seconds(window) // self.dt
        i0 = max(0, j - m)
        if j - i0 < 1:
            return None, None
        if self.native is not None:
            return self.native.window(self, i0, j, seconds(window))
        total = self.total[j] - self.total[i0]
        events = total / seconds(window)
        if total <= 0:
            return None, events
        return (self.errors[j] - self.errors[i0]) / total, events


def _objective_firing(o: Objective, ev: Events, j: int) -> list[Window]:
    firing = []
    for w in o.windows:
        long, events = ev.window(j, w.long)
        short, _ = ev.window(j, w.short)
        if long is None or short is None:
            continue
        if long / o.budget > w.burn and short / o.budget > w.burn and events * seconds(w.long) >= o.min_events:
            firing.append(w)
    return firing


def _objective_case(name: str, o: Objective, ev: Events, rules: dict[Window, Rule]) -> AlertCase:
    case = AlertCase(name, interval=td.at(ev.dt), evaluation=td.at(ev.dt))
    if ev.native is not None:
        case.series += ev.native.series(ev)
        return case
    labels = slo_labels(o)
    for w in windows(o):
        points = [ev.window(j, w) for j in range(ev.steps + 1)]
        at = {**labels, n.SLO_WINDOW_LABEL: w}
        case.series.append((td.selector(ratio_name(w), at), values([p[0] for p in points])))
        case.series.append((td.selector(events_name(w), at), values([p[1] for p in points])))
    return case


def _expect_objective(case: AlertCase, o: Objective, ev: Events, j: int, rules: dict[Window, Rule]) -> None:
    found = []
    for w in _objective_firing(o, ev, j):
        value = ev.window(j, w.long)[0] / o.budget
        found.append(engine.expected(rules[w], {**slo_labels(o), n.SLO_WINDOW_LABEL: w.long}, value))
    case.fires(td.at(j * ev.dt), o.alert, *found)


def _show(case: AlertCase, o: Objective, ev: Events, j: int, window: str, burn: float) -> None:
    """Assert that the window burns over `burn` at step j: the evidence that only the pair's other window,
    or the guard, kept the alert quiet."""
    if not ev.window(j, window)[0] / o.budget > burn:
        raise ValueError(f"{o.name}: the {window} window was to burn over {burn:g}x at {td.at(j * ev.dt)}")
    labels = {**slo_labels(o), n.SLO_WINDOW_LABEL: window}
    case.expr_checks.append((td.at(j * ev.dt), f"{selector(ratio_name(window), o)} / {o.budget!r} > bool {burn!r}",
                             [(td.selector("", labels), 1.0)]))


def _first(o: Objective, ev: Events, w: Window, start: int) -> int | None:
    return next((j for j in range(start, ev.steps + 1) if w in _objective_firing(o, ev, j)), None)


def objective_cases(o: Objective, rules: list[Rule], native: "Native | None" = None) -> list[AlertCase]:
    by_window = dict(zip(o.windows, rules, strict=True))
    cases = []
    for w in o.windows:
        dt, long, short = steps(w)
        b = o.budget
        kind = "slow burn" if w.severity == "ticket" else "burn"
        # A burn of 1.6 times the pair's rate after a calm long window: fires once the long window crosses
        # it, 1/1.6 of the long window later (37.5 of 60 steps: never on a step, so no tie in floats).
        share = min(1.0, 1.6 * w.burn * b)
        ev = Events(dt, native)
        ev.add(long, TRAFFIC, 0.0)
        ev.add(4 * long, TRAFFIC, share)
        fired = _first(o, ev, w, long)
        if fired is None:
            raise ValueError(f"{o.name}: a {share / b:g}x burn never fires the {w.long}/{w.short} pair")
        ev = Events(dt, native)
        ev.add(long, TRAFFIC, 0.0)
        ev.add(fired - long + short, TRAFFIC, share)
        stop = ev.steps
        ev.add(short + 2, TRAFFIC, 0.0)
        reset = stop + short + 1
        case = _objective_case(
            f"SLO {o.name}, {w.severity} {w.long}/{w.short} at {w.burn:g}x: a {kind} of {share / b:g}x from "
            f"{td.at(long * dt)} fires at {td.at(fired * dt)} (not at {td.at((fired - 1) * dt)}); stopped at "
            f"{td.at(stop * dt)}, the short window resets it by {td.at(reset * dt)}", o, ev, by_window)
        for j in (fired - 1, fired, reset):
            _expect_objective(case, o, ev, j, by_window)
        if ev.window(reset, w.long)[0] / b > w.burn:
            _show(case, o, ev, reset, w.long, w.burn)
        cases.append(case)
        # A spike the short window sees over the rate but the long window does not.
        spike = min(w.burn * b * math.sqrt(long / short), (1 + w.burn * b) / 2)
        ev = Events(dt, native)
        ev.add(long, TRAFFIC, 0.0)
        ev.add(short, TRAFFIC, spike)
        end = ev.steps
        ev.add(short + 1, TRAFFIC, 0.0)
        case = _objective_case(f"SLO {o.name}, {w.severity} {w.long}/{w.short}: a {td.at(short * dt)} spike of "
                               f"{spike / b:.3g}x stays silent (the long window stays under {w.burn:g}x)",
                               o, ev, by_window)
        for j in (end, ev.steps):
            _expect_objective(case, o, ev, j, by_window)
        _show(case, o, ev, end, w.short, w.burn)
        cases.append(case)
        # Too few events in the long window: silent even at 100 % errors.
        ev = Events(dt, native)
        ev.add(long + 1, o.min_events / (2 * (long + 1)), 1.0)
        case = _objective_case(f"SLO {o.name}, {w.severity} {w.long}/{w.short}: a quiet {w.long} with fewer than "
                               f"{o.min_events} events stays silent at 100 % errors", o, ev, by_window)
        _expect_objective(case, o, ev, long, by_window)
        _show(case, o, ev, long, w.long, w.burn)
        cases.append(case)
    return cases


def metadata_case(o: Objective) -> AlertCase:
    """The objective's metadata series, and the budget left after a steady burn of a known share."""
    share = 2.0 ** math.floor(math.log2(o.budget / 2))     # a power of two: its mean over time is exact
    samples = 60
    labels = slo_labels(o)
    at = {**labels, n.SLO_WINDOW_LABEL: windows(o)[0]}
    case = AlertCase(f"SLO {o.name}: objective, budget and the budget left after {share / o.budget:.3g}x "
                     "of steady burn", evaluation=td.STEP_TEXT)
    case.series.append((td.selector(ratio_name(windows(o)[0]), at), td.constant(share, samples)))
    when = td.at(samples * td.STEP)
    expect = {n.SLO_OBJECTIVE: o.objective / 100, n.SLO_ERROR_BUDGET: o.budget,
              n.SLO_TIME_PERIOD: seconds(o.period) / 86400, n.SLO_PERIOD_BURN: share / o.budget,
              n.SLO_BUDGET_REMAINING: 1 - share / o.budget}
    for name, value in expect.items():
        case.expr_checks.append((when, selector(name, o), [(td.selector(name, labels), value)]))
    return case


# -- the rules that record the windows, from native series -----------------------------------------------
_WORD = re.compile(r"^[A-Za-z0-9_.:+-]*$")


def _matching(pattern: str) -> str | None:
    """A label value the anchored regex matches (a literal, or dots as digits: 5.. -> 500)."""
    for candidate in (pattern, pattern.replace(".", "0")):
        if _WORD.match(candidate) and re.fullmatch(pattern, candidate):
            return candidate
    return None


class Native:
    """An SLI's own series for given counters, and what its recording rules compute from them: the same
    float operations Prometheus does (rate() over counters from 0, windows on samples: the difference
    over the window's seconds; sum() of two series; the ratio), so the expected values are exact."""

    def __init__(self, o: Objective, metric, base: dict[str, str], picked: dict[str, str]):
        self.o, self.metric, self.base, self.picked = o, metric, base, picked

    def _counters(self, ev: Events) -> tuple[list[float], list[float]]:
        """(the series the SLI's matchers pick, the other series) for events; (le bucket, _count) for latency."""
        good = [t - e for t, e in zip(ev.total, ev.errors, strict=True)]
        if self.o.sli.kind == "latency":
            return good, ev.total
        return (ev.errors, good) if self.o.sli.kind == "bad" else (good, ev.errors)

    def series(self, ev: Events) -> list[tuple[str, str]]:
        name, (first, second) = self.metric.name, self._counters(ev)
        if self.o.sli.kind == "latency":
            slow = _next(self.metric, self.o.sli.below)    # the error events fall in the bucket after it
            out = []
            for bound in (*self.metric.buckets, math.inf):
                le = "+Inf" if bound == math.inf else repr(float(bound))
                counts = second if bound >= slow else first if bound >= self.o.sli.below else [0.0] * len(first)
                out.append((td.selector(f"{name}_bucket", {**self.base, "le": le}), values(counts)))
            return out + [(td.selector(f"{name}_count", self.base), values(second))]
        other = {label: "other" for label in self.picked}
        return [(td.selector(name, {**self.base, **self.picked}), values(first)),
                (td.selector(name, {**self.base, **other}), values(second))]

    def window(self, ev: Events, i0: int, j: int, span: int) -> tuple[float | None, float | None]:
        first, second = self._counters(ev)
        a, b = (first[j] - first[i0]) / span, (second[j] - second[i0]) / span
        if self.o.sli.kind == "latency":
            total, error = b, b - a
        else:
            total = a + b
            error = a if self.o.sli.kind == "bad" else total - a
        return (error / total if total > 0 else None), total


def native(stack: Stack, o: Objective) -> Native | None:
    """How tests write the SLI's own series; None for raw PromQL, or matchers no plain value satisfies."""
    sli = o.sli
    if sli.kind == "raw":
        return None
    metric = stack.catalog.get(sli.metric)
    base = {label.name: (label.values[0] if label.values else "a") for label in metric.labels}
    base.update({"job": "app", "instance": "app:9100"})
    for label, pattern in o.matchers:
        value = _matching(pattern)
        if value is None:
            return None
        base[label] = value
    picked = {label: _matching(p) for label, p in sli.picked}
    if None in picked.values() or any(re.fullmatch(p, "other") for _, p in sli.picked):
        return None
    return Native(o, metric, base, picked)


def sli_case(o: Objective, sli: Native) -> AlertCase:
    """Native series in, the base window's ratio (1/4) and event rate out."""
    window = windows(o)[0]
    ev = Events(td.STEP, sli)
    ev.add(20, 64.0, 0.25)
    case = AlertCase(f"SLO {o.name}: the {window} ratio of error events, from {sli.metric.name}",
                     evaluation=td.STEP_TEXT)
    case.series += sli.series(ev)
    labels = {**slo_labels(o), n.SLO_WINDOW_LABEL: window}
    ratio, events = ev.window(10, window)
    for record, value in ((ratio_name(window), ratio), (events_name(window), events)):
        case.expr_checks.append((td.at(10 * td.STEP), f"round(1000000 * {selector(record, o)})",
                                 [(td.selector("", labels), float(round(1_000_000 * value)))]))
    return case


def _next(metric, below: float) -> float:
    """The bucket bound after `below` (where the slow observations fall)."""
    later = [b for b in metric.buckets if b > below]
    return later[0] if later else math.inf


# -- money budgets ----------------------------------------------------------------------------------
class Path:
    """A budget's signal sampled every `dt` seconds: how far it moved toward its limit."""

    def __init__(self, b: Budget, dt: int):
        self.b, self.dt, self.spent = b, dt, [0.0]

    def move(self, steps: int, per_step: float) -> None:
        for _ in range(steps):
            self.spent.append(self.spent[-1] + per_step)

    @property
    def steps(self) -> int:
        return len(self.spent) - 1

    def projected(self, j: int, window: str) -> float | None:
        """Seconds until the limit at the window's pace (deriv(): the least-squares slope), as recorded.
        The tests feed these values, so floats do: promtool compares what it is given."""
        m = seconds(window) // self.dt
        points = [(k * self.dt, self.spent[k]) for k in range(max(0, j - m), j + 1)]
        left = abs(self.b.limit) - self.spent[j]
        if len(points) < 2 or left <= 0:
            return None
        mean_t = sum(t for t, _ in points) / len(points)
        mean_v = sum(v for _, v in points) / len(points)
        slope = (sum((t - mean_t) * (v - mean_v) for t, v in points)
                 / sum((t - mean_t) ** 2 for t, _ in points))
        # Not being spent (pace clamped at 0): the limit is infinitely far.
        return left / slope if slope > 1e-12 else math.inf


def _budget_labels(b: Budget) -> dict[str, str]:
    return {**{label: "a" for label in b.labels}, "job": "bot", "instance": "bot-1:9100", n.BUDGET_LABEL: b.name}


def _budget_firing(b: Budget, path: Path, j: int) -> list[tuple[Window, float]]:
    out = []
    for w in b.windows:
        long, short = path.projected(j, w.long), path.projected(j, w.short)
        if long is not None and short is not None and long < seconds(w.within) and short < seconds(w.within):
            out.append((w, long))
    return out


def _budget_case(name: str, b: Budget, path: Path) -> AlertCase:
    case = AlertCase(name, interval=td.at(path.dt), evaluation=td.at(path.dt))
    for w in sorted({x for win in b.windows for x in (win.long, win.short)}, key=seconds):
        case.series.append((td.selector(exhaustion_name(w), _budget_labels(b)),
                            values([path.projected(j, w) for j in range(path.steps + 1)])))
    return case


def _expect_budget(case: AlertCase, b: Budget, path: Path, j: int, rules: dict[Window, Rule]) -> None:
    found = [engine.expected(rules[w], _budget_labels(b), value) for w, value in _budget_firing(b, path, j)]
    case.fires(td.at(j * path.dt), b.alert, *found)


def budget_cases(b: Budget, rules: list[Rule]) -> list[AlertCase]:
    by_window = dict(zip(b.windows, rules, strict=True))
    cases = []
    for w in b.windows:
        dt, long, short = steps(w)
        pace = abs(b.limit) * dt / seconds(w.within)     # the whole budget gone in `within`
        path = Path(b, dt)
        path.move(long, 0.0)
        path.move(seconds(w.within) // dt, pace)
        fired = next((j for j in range(long, path.steps + 1) if w in dict(_budget_firing(b, path, j))), None)
        if fired is None:
            raise ValueError(f"budget {b.name}: a loss spending it within {w.within} never fires {w.long}/{w.short}")
        path = Path(b, dt)
        path.move(long, 0.0)
        path.move(fired - long + short, pace)
        stop = path.steps
        path.move(short + 2, 0.0)
        reset = stop + short + 1
        case = _budget_case(
            f"budget {b.name}, {w.severity} {w.long}/{w.short} within {w.within}: a loss that spends the budget in "
            f"{w.within} from {td.at(long * dt)} fires at {td.at(fired * dt)} (not at {td.at((fired - 1) * dt)}); "
            f"stopped at {td.at(stop * dt)}, the short window resets it by {td.at(reset * dt)}", b, path)
        for j in (fired - 1, fired, reset):
            _expect_budget(case, b, path, j, by_window)
        cases.append(case)
        # A brief loss: the short window projects the limit within the pair's time, the long window does not.
        for share in (0.02, 0.05, 0.1, 0.2, 0.3):
            path = Path(b, dt)
            path.move(long, 0.0)
            path.move(2, abs(b.limit) * share / 2)
            path.move(short + 1, 0.0)
            end = long + 2
            near, far = path.projected(end, w.short), path.projected(end, w.long)
            if near is not None and near < seconds(w.within) and (far is None or far >= seconds(w.within)):
                break
        else:
            continue     # no brief loss tells the windows apart for this pair
        case = _budget_case(f"budget {b.name}, {w.severity} {w.long}/{w.short}: a brief loss of {share:.0%} of the "
                            f"budget stays silent (the {w.short} pace would spend it within {w.within}, the "
                            f"{w.long} pace would not)", b, path)
        for j in (end, path.steps):
            _expect_budget(case, b, path, j, by_window)
        selector = f'{exhaustion_name(w.short)}{{{n.BUDGET_LABEL}="{b.name}"}}'
        case.expr_checks.append((td.at(end * dt), f"{selector} < bool {seconds(w.within)}",
                                 [(td.selector("", _budget_labels(b)), 1.0)]))
        cases.append(case)
    return cases


def budget_record_case(b: Budget) -> AlertCase:
    """Native signal in (a steady move toward the limit), remaining budget and projected seconds out."""
    labels = {**{label: "a" for label in b.labels}, "job": "bot", "instance": "bot-1:9100"}
    per_step = abs(b.limit) / 100
    case = AlertCase(f"budget {b.name}: remaining budget and time to the limit of a steady move, from {b.signal}",
                     evaluation=td.STEP_TEXT)
    case.series.append((td.selector(b.signal, labels), f"0{'-' if b.falling else '+'}{per_step!r}x30"))
    when = td.at(10 * td.STEP)
    out = {**labels, n.BUDGET_LABEL: b.name}
    shortest = min((x for win in b.windows for x in (win.long, win.short)), key=seconds)
    expect = {n.BUDGET_REMAINING: 0.9, exhaustion_name(shortest): 0.9 * 100 * td.STEP}
    for record, value in expect.items():
        case.expr_checks.append((when, f'round(1000 * {record}{{{n.BUDGET_LABEL}="{b.name}"}})',
                                 [(td.selector("", out), float(round(1000 * value)))]))
    return case


def cases(stack: Stack, alerts: list[Rule]) -> list[AlertCase]:
    out: list[AlertCase] = []
    for o in stack.slos.objectives:
        sli = native(stack, o)
        out += objective_cases(o, [r for r in alerts if r.alert == o.alert], sli)
        out.append(metadata_case(o))
        if sli is not None:
            out.append(sli_case(o, sli))
    for b in stack.slos.budgets:
        out += budget_cases(b, [r for r in alerts if r.alert == b.alert])
        out.append(budget_record_case(b))
    return out


__all__ = ["cases", "Expected"]
