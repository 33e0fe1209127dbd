"""The one error type of the generator: says where (file, line, field path) and what."""
from __future__ import annotations

import re

# An error is one readable line: what it echoes of the input is cut, never the whole attack.
SHOWN_CHARS = 60
LISTED_ITEMS = 12
MAX_MESSAGE = 900
# A quoted run this long in a message is an echoed value (every list we print is cut shorter by listed()).
_LONG_QUOTED = re.compile(r"'(?:[^'\\\n]|\\.){240,}'|\"(?:[^\"\\\n]|\\.){240,}\"")


def shown(value) -> str:
    """repr() of a value, cut to a short prefix with its length when long."""
    text = repr(value)
    if len(text) <= SHOWN_CHARS:
        return text
    size = f"{len(value):,} chars" if isinstance(value, str) else f"{len(text):,} chars as written"
    return f"{text[:SHOWN_CHARS - 5]}...' ({size})"


def listed(items, limit: int = LISTED_ITEMS) -> str:
    """Choices joined with ', ', the first `limit` of them and "and N more"."""
    items = [str(x) for x in items]
    head = ", ".join(x if len(x) <= SHOWN_CHARS else shown(x) for x in items[:limit])
    return head + (f" and {len(items) - limit:,} more" if len(items) > limit else "")


def _cut(message: str) -> str:
    """The net under every message: what a terminal would act on escaped (control bytes of a hostile
    input), long quoted echoes cut, then the whole line bounded."""
    if not message.isprintable():
        message = "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)
    message = _LONG_QUOTED.sub(lambda m: f"{m.group(0)[:SHOWN_CHARS - 5]}...{m.group(0)[0]} "
                                         f"({len(m.group(0)) - 2:,} chars)", message)
    if len(message) > MAX_MESSAGE:
        message = message[:MAX_MESSAGE] + f"... ({len(message) - MAX_MESSAGE:,} more chars)"
    return message


class SpecError(Exception):
    """A problem with the spec. Printed by the CLI as one line, never as a traceback."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 path: str | None = None, missing: bool = False):
        self.message = _cut(message)
        self.file = file
        self.line = line
        self.path = path if path is None or len(path) <= MAX_MESSAGE // 3 else _cut(path[:MAX_MESSAGE // 3]) + "..."
        self.missing = missing      # a required key is absent: reading may go on to find the others
        super().__init__(str(self))

    @property
    def errors(self) -> tuple["SpecError", ...]:
        return (self,)

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = self.file + (f":{self.line}" if self.line else "") + ": "
        field = f"{self.path}: " if self.path else ""
        return f"{where}{field}{self.message}"


class SpecErrors(SpecError):
    """Several problems found in one run (every missing required key at once), one line each."""

    def __init__(self, errors: list[SpecError]):
        flat = [e for error in errors for e in error.errors]
        self._errors = tuple(flat)
        first = flat[0]
        super().__init__(first.message, file=first.file, line=first.line, path=first.path,
                         missing=all(e.missing for e in flat))

    @property
    def errors(self) -> tuple[SpecError, ...]:
        return self._errors

    def __str__(self) -> str:
        return "\n".join(SpecError.__str__(e) for e in self._errors)


class Gather:
    """Reads parts of the spec one after another, so that one run reports every missing required
    key: a part missing keys is noted and skipped (its result is None); any other error ends the
    reading, reported after the missing keys found so far."""

    def __init__(self):
        self.found: list[SpecError] = []

    def run(self, read, *args):
        try:
            return read(*args)
        except SpecError as exc:
            if not exc.missing:
                raise (SpecErrors(self.found + [exc]) if self.found else exc) from None
            self.found.append(exc)
            return None

    def done(self) -> None:
        if self.found:
            raise SpecErrors(self.found) if len(self.found) > 1 else self.found[0]
