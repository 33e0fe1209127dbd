"""The one error type of the generator: says where (file, line, field path) and what."""


class SpecError(Exception):
    """A problem with the spec. Printed by the CLI as one line, never as a traceback."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 path: str | None = None, missing: bool = False):
        self.message = message
        self.file = file
        self.line = line
        self.path = path
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
