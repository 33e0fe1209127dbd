"""Typed access to spec values. Every check raises SpecError naming file, line and field path."""
from __future__ import annotations

import difflib
import math
import re
from urllib.parse import urlsplit

from stackgen.errors import SpecError, SpecErrors, listed, shown
from stackgen.spec.loader import Lines, _dotted

# At most 12 digits per unit: longer numbers are refused by the pattern, before int() sees them.
_DURATION = re.compile(r"^((\d{1,12})y)?((\d{1,12})w)?((\d{1,12})d)?((\d{1,12})h)?((\d{1,12})m)?((\d{1,12})s)?"
                       r"((\d{1,12})ms)?$")
_DURATION_UNITS = (365 * 86400, 7 * 86400, 86400, 3600, 60, 1, 0.001)
# Prometheus and Alertmanager hold durations in int64 nanoseconds (time.Duration): ~292 years.
MAX_DURATION = 290 * 365 * 86400
# Whole numbers beyond int64 are refused (Go's parsers, and float precision, end there).
MAX_INT = 2**63 - 1
_TEMPLATE = re.compile(r"\{\{|\}\}")
_URL_FORBIDDEN = re.compile(r"[\s\x00-\x1f\x7f\"<>\\^`{|}]")
_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


def _type_name(value) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"boolean {value!r}".lower()
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__} {shown(value)}"


def parse_duration(text: str) -> float | None:
    """Seconds of a Prometheus duration such as 1h30m, or None when it is not one."""
    match = _DURATION.match(text) if isinstance(text, str) and text else None
    if not match:
        return None
    amounts = match.groups()[1::2]
    return sum(int(a) * unit for a, unit in zip(amounts, _DURATION_UNITS, strict=True) if a)


def _human_seconds(seconds: float) -> str:
    for unit, size in (("y", 365 * 86400), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def _span(low, high, low_open: bool, high_open: bool) -> str:
    """The allowed range in words: "between 1 and 10", "above 0 and below 1", "at most 5"."""
    if low is not None and high is not None and not (low_open or high_open):
        return f"between {low:g} and {high:g}"
    lower = "" if low is None else f"{'above' if low_open else 'at least'} {low:g}"
    upper = "" if high is None else f"{'below' if high_open else 'at most'} {high:g}"
    return " and ".join(x for x in (lower, upper) if x)


def port_ok(text: str) -> bool:
    """The port of a host:port is 1..65535."""
    port = text.rsplit(":", 1)[-1]
    return port.isdigit() and 1 <= int(port) <= 65535


class Field:
    """One value of the spec with where it came from."""

    def __init__(self, value, path: tuple, lines: Lines, file: str):
        self.value = value
        self.path = path
        self._lines = lines
        self._file = file

    # -- where ---------------------------------------------------------------
    @property
    def where(self) -> str:
        return _dotted(self.path) or "(top level)"

    @property
    def line(self) -> int | None:
        path = self.path
        while path not in self._lines and path:
            path = path[:-1]
        return self._lines.get(path)

    def error(self, message: str, missing: bool = False) -> SpecError:
        return SpecError(message, file=self._file, line=self.line, path=self.where, missing=missing)

    def missing(self, key: str, why: str = "") -> SpecError:
        """A required key is absent (reading goes on to find the others: stackgen.errors.Gather)."""
        return self.error(f"missing required key {key!r}" + (f" ({why})" if why else ""), missing=True)

    def child(self, key, value) -> "Field":
        return Field(value, self.path + (key,), self._lines, self._file)

    def with_value(self, value) -> "Field":
        """This field (its path, lines and file) holding another value: the spec with its defaults filled in."""
        return Field(value, self.path, self._lines, self._file)

    # -- containers ----------------------------------------------------------
    def mapping(self, required: tuple[str, ...] = (), optional: tuple[str, ...] = ()) -> dict[str, "Field"]:
        """The mapping's fields; rejects unknown keys (with a suggestion) and missing required ones."""
        if not isinstance(self.value, dict):
            raise self.error(f"expected a mapping, got {_type_name(self.value)}")
        allowed = set(required) | set(optional)
        for key in self.value:
            if key not in allowed:
                close = difflib.get_close_matches(str(key), sorted(allowed), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise self.child(key, None).error(
                    f"unknown key (expected one of: {listed(sorted(allowed))}){hint}")
        absent = [self.missing(key) for key in required if key not in self.value]
        if absent:
            raise SpecErrors(absent) if len(absent) > 1 else absent[0]
        return {key: self.child(key, value) for key, value in self.value.items()}

    def items(self, *, min_items: int = 0) -> list["Field"]:
        if not isinstance(self.value, list):
            raise self.error(f"expected a list, got {_type_name(self.value)}")
        if len(self.value) < min_items:
            raise self.error(f"expected at least {min_items} item(s), got {len(self.value)}")
        return [self.child(i, v) for i, v in enumerate(self.value)]

    # -- scalars -------------------------------------------------------------
    def string(self, *, pattern: re.Pattern | None = None, what: str = "") -> str:
        if not isinstance(self.value, str) or not self.value:
            raise self.error(f"expected a non-empty string, got {_type_name(self.value)}")
        if pattern is not None and not pattern.match(self.value):
            raise self.error(f"{shown(self.value)} is not a valid {what or 'value'}")
        return self.value

    def name(self, what: str = "Prometheus name") -> str:
        """A Prometheus metric or label name."""
        return self.string(pattern=_NAME, what=f"{what} ([a-zA-Z_][a-zA-Z0-9_]*)")

    def slug(self, what: str = "name") -> str:
        return self.string(pattern=_SLUG, what=f"{what} (lowercase letters, digits, '_', '.', '-')")

    def boolean(self) -> bool:
        if not isinstance(self.value, bool):
            raise self.error(f"expected true or false, got {_type_name(self.value)}")
        return self.value

    def number(self, *, low: float | None = None, high: float | None = None,
               low_open: bool = False, high_open: bool = False, integer: bool = False) -> float:
        """The one bounded number reader: within int64 when whole, finite, and inside [low, high]."""
        value = self.value
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
            raise self.error(f"expected a number of at most 19 digits, got one of {len(str(abs(value)))} digits")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self.error(f"expected a {'whole ' if integer else ''}number, got {_type_name(value)}")
        if integer and value != int(value):
            raise self.error(f"expected a whole number, got {value!r}")
        too_low = low is not None and (value <= low if low_open else value < low)
        too_high = high is not None and (value >= high if high_open else value > high)
        if too_low or too_high:
            raise self.error(f"must be {_span(low, high, low_open, high_open)} (got {value!r})")
        return int(value) if integer else float(value)

    def duration(self, *, minimum: float = 0.0, maximum: float = MAX_DURATION, why: str = "") -> str:
        """A Prometheus duration string, kept as written; rejects anything else."""
        text = self.value
        seconds = parse_duration(text) if isinstance(text, str) else None
        if seconds is None:
            if isinstance(text, str) and len(text) > 40:
                text = text[:40] + "..."
            raise self.error(f"expected a Prometheus duration such as 30s, 5m or 1h30m, "
                             f"got {_type_name(text)}")
        if seconds < minimum:
            raise self.error(f"must be at least {minimum:g}s (got {text})")
        if seconds > maximum:
            limit = why or ("Prometheus and Alertmanager durations end at ~292y" if maximum == MAX_DURATION else "")
            raise self.error(f"must be at most {_human_seconds(maximum)} (got {text})"
                             + (f": {limit}" if limit else ""))
        return text

    def url(self, *, what: str = "URL") -> str:
        """An absolute http(s) URL with a host, as Go's url.Parse and the tools accept it."""
        text = self.string()
        if _TEMPLATE.search(text):
            raise self.error(f"{what} must not contain template braces ({{{{ or }}}}), got {shown(text)}")
        bad = _URL_FORBIDDEN.search(text)
        if bad:
            raise self.error(f"{what} must not contain {bad.group(0)!r} (percent-encode it), got {shown(text)}")
        try:
            parts = urlsplit(text)
            port = parts.port
        except ValueError as exc:
            raise self.error(f"malformed {what} {shown(text)}: {exc}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise self.error(f"expected an http(s) {what} with a host, such as https://example.com/path, "
                             f"got {shown(text)}")
        if port == 0:
            raise self.error(f"port must be between 1 and 65535, got {shown(text)}")
        return text

    def no_template(self, what: str = "value") -> str:
        """A string the tools would read as a Go template: refuse {{ and }}."""
        text = self.string()
        if _TEMPLATE.search(text):
            raise self.error(f"{what} must not contain template braces ({{{{ or }}}}), got {shown(text)}")
        return text

    def one_of(self, choices) -> str:
        if self.value not in choices:
            raise self.error(f"expected one of {listed(choices)}, got {_type_name(self.value)}")
        return self.value
