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


MAX_SHOWN = 60  # characters of a refused value quoted in a log line


def show(value: object) -> str:
    """repr() of a refused value for a log line: bounded, ASCII, and never raising."""
    try:
        text = ascii(value)
    except Exception:
        text = f"<{type(value).__name__} whose repr() fails>"
    return text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN] + f"...({len(text)} chars)"


def as_number(value: object, what: str, non_negative: bool = False) -> float:
    """A finite plain float from any real number; everything else is refused with a reason.

    bools, strings, complex numbers and other non-real objects are bad_type; NaN, +-inf
    and numbers beyond the float range (10**400) are not_finite. The result is always an
    exact `float`, so prometheus_client only ever sees finite Python floats from here.
    """
    if value is None or isinstance(value, (bool, str, bytes, complex)):
        raise Refused(names.BAD_TYPE, f"{what}={show(value)} is not a real number")
    try:
        number = float(value)  # type: ignore[arg-type]
    except OverflowError:
        raise Refused(names.NOT_FINITE, f"{what}={show(value)} is beyond the float range") from None
    except Exception:  # TypeError, ValueError, or whatever a hostile __float__ raises
        raise Refused(names.BAD_TYPE, f"{what}={show(value)} is not a real number") from None
    if number.__class__ is not float:
        number = float.__float__(number)  # a float subclass returned by __float__
    if not math.isfinite(number):
        raise Refused(names.NOT_FINITE, f"{what}={show(value)} is not finite")
    if non_negative and number < 0:
        raise Refused(names.NEGATIVE_DELTA, f"{what}={show(value)} is negative")
    return number


def as_optional_number(value: object, what: str) -> float | None:
    return None if value is None else as_number(value, what)


def as_flag(value: object, what: str) -> bool:
    """True/False, or the ints 1/0 (what a C or Rust bot writes)."""
    if value is True or value is False:
        return value
    if type(value) is int and value in (0, 1):
        return bool(value)
    raise Refused(names.BAD_TYPE, f"{what}={show(value)} is not a bool")


def as_text(value: object, what: str) -> str:
    """A plain `str` that encodes as UTF-8, from a str (or a str subclass such as a StrEnum member).

    The exposition is UTF-8: a lone surrogate ("\\ud800") accepted here would make every
    later render fail, so it is refused before a series is created. Subclasses are reduced
    to their plain string, so no overridden __str__/__eq__/__hash__ reaches prometheus_client.
    """
    if not isinstance(value, str):
        raise Refused(names.BAD_TYPE, f"{what}={show(value)} is not a string")
    text = str.__str__(value)
    if len(text) > MAX_LABEL_VALUE_LENGTH:
        raise Refused(names.UNKNOWN_LABEL_VALUE,
                      f"{what} is {len(text)} characters long (limit {MAX_LABEL_VALUE_LENGTH})")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise Refused(names.UNKNOWN_LABEL_VALUE, f"{what}={show(text)} is not valid UTF-8 "
                          f"(a lone surrogate)") from None
    return text


def closed_value(value: object, label: LabelSpec, what: str) -> str:
    text = as_text(value, what)
    if text not in label.values:
        raise Refused(names.UNKNOWN_LABEL_VALUE,
                      f"{what}={show(text)} is not one of {', '.join(label.values)}")
    return text


def open_value(value: object, what: str) -> str:
    """A label value from an open set: a non-empty UTF-8 string of bounded length."""
    text = as_text(value, what)
    if not text:
        raise Refused(names.UNKNOWN_LABEL_VALUE, f"{what} is empty")
    return text


def status_code(value: object, what: str = "status") -> str:
    """An HTTP status as its 3-digit label value; accepts 200 or "200"."""
    if isinstance(value, int) and not isinstance(value, bool):
        code = int.__int__(value)  # HTTPStatus members too, without calling an overridden __int__
    elif isinstance(value, str) and 0 < len(value) <= 3 and value.isascii() and value.isdigit():
        code = int(value)
    else:
        raise Refused(names.BAD_TYPE, f"{what}={show(value)} is not a status code")
    if not 100 <= code <= 599:
        raise Refused(names.UNKNOWN_LABEL_VALUE, f"{what}={show(value)} is not an HTTP status (100..599)")
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
