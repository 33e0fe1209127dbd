"""The one error type of the generator: says where (file, line, field path) and what."""


class SpecError(Exception):
    """A problem with the spec. Printed by the CLI as one line, never as a traceback."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 path: str | None = None):
        self.message = message
        self.file = file
        self.line = line
        self.path = path
        super().__init__(str(self))

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = self.file + (f":{self.line}" if self.line else "") + ": "
        field = f"{self.path}: " if self.path else ""
        return f"{where}{field}{self.message}"
