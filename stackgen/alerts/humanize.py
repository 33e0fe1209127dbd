"""Python twins of the Prometheus template functions the annotations use.

The generated tests assert annotations byte for byte, so the expected text must be
formatted exactly as Prometheus (Go) formats it.
"""
from __future__ import annotations

import math


def go_g(value: float, digits: int = 4) -> str:
    """Go's %.<digits>g (same as C's, which Python follows, but Go writes e+06 as e+06 too)."""
    return f"%.{digits}g" % value


def humanize(value: float) -> str:
    if value == 0 or math.isnan(value) or math.isinf(value):
        return go_g(value)
    if abs(value) >= 1:
        prefix = ""
        for p in ("k", "M", "G", "T", "P", "E", "Z", "Y"):
            if abs(value) < 1000:
                break
            prefix = p
            value /= 1000
        return go_g(value) + prefix
    return _small(value)


def _small(value: float) -> str:
    """A value below 1 with an SI prefix (0.25 -> 250m), as Prometheus' humanize functions write it."""
    prefix = ""
    for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(value) >= 1:
            break
        prefix = p
        value *= 1000
    return go_g(value) + prefix


def humanize_percentage(value: float) -> str:
    return go_g(value * 100) + "%"


def humanize_duration(value: float) -> str:
    if math.isnan(value) or math.isinf(value):
        return go_g(value)
    if value == 0:
        return "0s"
    if abs(value) >= 1:
        sign = "-" if value < 0 else ""
        v = abs(value)
        seconds = int(v)
        days, seconds = divmod(seconds, 86400)
        hours, seconds = divmod(seconds, 3600)
        minutes, seconds = divmod(seconds, 60)
        if days:
            return f"{sign}{days}d {hours}h {minutes}m {seconds}s"
        if hours:
            return f"{sign}{hours}h {minutes}m {seconds}s"
        if minutes:
            return f"{sign}{minutes}m {seconds}s"
        return f"{sign}{go_g(v)}s"
    return _small(value) + "s"


def printf(fmt: str, value: float) -> str:
    return fmt % value


def duration(seconds: float) -> str:
    """Seconds as a Prometheus duration (1h30m, 45s, 2m)."""
    seconds = int(round(seconds))
    if seconds == 0:
        return "0s"
    out = ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        amount, seconds = divmod(seconds, size)
        if amount:
            out += f"{amount}{unit}"
    return out
