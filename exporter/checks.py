"""Slow-path checks for values the hot path could not apply as they came.

The hot path accepts plain floats/ints and known label values without calling
anything here; everything else lands here to be converted (an int, a numpy
float, a Decimal) or refused with a reason and a message naming the value.
"""
from __future__ import annotations

import math

from exporter import names
from exporter.catalog import LabelSpec

MAX_LABEL_VALUE_LENGTH = 128


class Refused(Exception):
    """An update the exporter will not apply: reason is one of names.DROP_REASONS."""

    def __init__(self, reason: str, why: str) -> None:
        super().__init__(why)
        self.reason = reason
        self.why = why


def as_number(value: object, what: str, non_negative: bool = False) -> float:
    """A finite float from any real number; bools and strings are refused as bad_type."""
    if value is None or isinstance(value, (bool, str, bytes)):
        raise Refused(names.BAD_TYPE, f"{what}={value!r} is not a number")
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        raise Refused(names.BAD_TYPE, f"{what}={value!r} is not a number") from None
    if not math.isfinite(number):
        raise Refused(names.NOT_FINITE, f"{what}={value!r} is not finite")
    if non_negative and number < 0:
        raise Refused(names.NEGATIVE_DELTA, f"{what}={value!r} is negative")
    return number


def as_optional_number(value: object, what: str) -> float | None:
    return None if value is None else as_number(value, what)


def as_flag(value: object, what: str) -> bool:
    """True/False, or the ints 1/0 (what a C or Rust bot writes)."""
    if value is True or value is False:
        return value
    if type(value) is int and value in (0, 1):
        return bool(value)
    raise Refused(names.BAD_TYPE, f"{what}={value!r} is not a bool")


def closed_value(value: object, label: LabelSpec, what: str) -> str:
    if not isinstance(value, str):
        raise Refused(names.BAD_TYPE, f"{what}={value!r} is not a string")
    if value not in label.values:
        raise Refused(names.UNKNOWN_LABEL_VALUE,
                      f"{what}={value!r} is not one of {', '.join(label.values)}")
    return value


def open_value(value: object, what: str) -> str:
    """A label value from an open set: a non-empty string of bounded length."""
    if not isinstance(value, str):
        raise Refused(names.BAD_TYPE, f"{what}={value!r} is not a string")
    if not value:
        raise Refused(names.UNKNOWN_LABEL_VALUE, f"{what} is empty")
    if len(value) > MAX_LABEL_VALUE_LENGTH:
        raise Refused(names.UNKNOWN_LABEL_VALUE,
                      f"{what} is {len(value)} characters long (limit {MAX_LABEL_VALUE_LENGTH})")
    return value


def status_code(value: object, what: str = "status") -> str:
    """An HTTP status as its 3-digit label value; accepts 200 or "200"."""
    if isinstance(value, bool):
        raise Refused(names.BAD_TYPE, f"{what}={value!r} is not a status code")
    if isinstance(value, str) and value.isdigit():
        code = int(value)
    elif isinstance(value, int):
        code = value
    else:
        raise Refused(names.BAD_TYPE, f"{what}={value!r} is not a status code")
    if not 100 <= code <= 599:
        raise Refused(names.UNKNOWN_LABEL_VALUE, f"{what}={value!r} is not an HTTP status (100..599)")
    return str(code)


class Num:
    """A numeric argument the slow path converts with as_number() before retrying the call.

    Hot-path methods hand their arguments to BotMetrics._slow() wrapped like this
    instead of in a lambda: a lambda would turn every argument into a closure
    cell, which costs an allocation on every call, not only on the failing ones.
    """

    __slots__ = ("what", "value", "non_negative", "optional")

    def __init__(self, what: str, value: object, non_negative: bool = False, optional: bool = False) -> None:
        self.what, self.value, self.non_negative, self.optional = what, value, non_negative, optional

    def convert(self) -> float | None:
        if self.optional and self.value is None:
            return None
        return as_number(self.value, self.what, self.non_negative)


class Flag:
    """A bool argument the slow path converts with as_flag() before retrying the call."""

    __slots__ = ("what", "value")

    def __init__(self, what: str, value: object) -> None:
        self.what, self.value = what, value

    def convert(self) -> bool:
        return as_flag(self.value, self.what)
