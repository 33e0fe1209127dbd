"""Load YAML keeping the line of every value, so errors can say where they are.

The spec comes from a pull request, so it is read defensively: the parser's event stream is
turned into plain values without recursion, under limits on size, nesting depth and alias
expansion (a "billion laughs" document is refused after a bounded amount of work), and the
YAML 1.1 readings that surprise people (`1:20` as 80, `010` as 8, `on` as true, `<<` merge
keys) are refused with the way to write what was meant.
"""
from __future__ import annotations

import copy
import re
from pathlib import Path

import yaml

from stackgen.errors import SpecError

# Maps a field path such as ("alerts", "drawdown", "warning") to its 1-based line.
Lines = dict[tuple, int]

MAX_BYTES = 4 * 1024 * 1024        # the shipped spec is ~50 kB; 10,000 scrape jobs ~1 MB
MAX_DEPTH = 64                     # the spec nests ~8 deep
MAX_VALUES = 250_000               # values after alias expansion
MAX_SCALAR_CHARS = 65_536          # one string (help texts and descriptions are < 1 kB)

# libyaml's parser is a state machine (no recursion) and about ten times faster where built in.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_STR_TAG = "tag:yaml.org,2002:str"
# Plain scalars that YAML 1.1 (PyYAML) reads differently from YAML 1.2 and from most readers.
_SEXAGESIMAL = re.compile(r"^[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?$")
_LEADING_ZERO = re.compile(r"^[-+]?0[0-9_]+$")
_CORE_BOOL = ("true", "false")
_MAX_DIGITS = 1000   # Python refuses to read integers over 4300 digits; the model allows 19


def load_yaml(path: Path, display_name: str | None = None) -> tuple[object, Lines]:
    """Parse one YAML document; return its plain Python value and the line of every path."""
    name = display_name or str(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise SpecError(f"cannot read the spec: {exc.strerror or exc}", file=name) from None
    if len(data) > MAX_BYTES:
        raise SpecError(f"the spec is larger than {MAX_BYTES // (1024 * 1024)} MiB", file=name)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise SpecError(f"not valid UTF-8: byte 0x{data[exc.start]:02x} (save the file as UTF-8)",
                        file=name, line=line) from None
    return parse_yaml(text, name)


def parse_yaml(text: str, name: str) -> tuple[object, Lines]:
    if len(text) > MAX_BYTES:
        raise SpecError(f"the spec is larger than {MAX_BYTES // (1024 * 1024)} MiB", file=name)
    loader = _Loader(text)
    try:
        return _Builder(loader, name).build()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise SpecError(f"YAML syntax error: {problem}", file=name, line=line) from None
    except yaml.reader.ReaderError as exc:
        line = text[:exc.position].count("\n") + 1 if isinstance(exc.position, int) else None
        char = exc.character if isinstance(exc.character, int) else ord(str(exc.character or "?")[0])
        raise SpecError(f"YAML error: character U+{char:04X} is not allowed ({exc.reason})", file=name,
                        line=line) from None
    except yaml.YAMLError as exc:
        raise SpecError(f"YAML error: {' '.join(str(exc).split())}", file=name) from None
    finally:
        loader.dispose()


class _Frame:
    __slots__ = ("value", "path", "anchor", "log_start", "key", "key_line", "count_start")

    def __init__(self, value, path, anchor, log_start, count_start):
        self.value = value
        self.path = path
        self.anchor = anchor
        self.log_start = log_start
        self.count_start = count_start
        self.key = _NO_KEY
        self.key_line = 0


_NO_KEY = object()


class _Builder:
    """Events -> plain values and lines, iteratively, within the limits above."""

    def __init__(self, loader, name: str):
        self.loader = loader
        self.name = name
        self.constructor = yaml.SafeLoader("")
        self.lines: Lines = {}
        self.log: list[tuple[tuple, int]] = []      # (path, line) in order, to copy lines under aliases
        self.anchors: dict[str, tuple[object, list[tuple[tuple, int]], int]] = {}
        self.open_anchors: set[str] = set()
        self.stack: list[_Frame] = []
        self.count = 0
        self.tags: dict[tuple[str, tuple], str] = {}

    def error(self, message: str, event, path: tuple | None = None) -> SpecError:
        return SpecError(message, file=self.name, line=event.start_mark.line + 1,
                         path=_dotted(path) if path else None)

    def build(self):
        loader = self.loader
        root = _NO_KEY
        documents = 0
        while True:
            event = loader.get_event()
            if isinstance(event, yaml.StreamEndEvent):
                break
            if isinstance(event, yaml.DocumentStartEvent):
                documents += 1
                if documents > 1:
                    raise self.error("expected one YAML document, found another ('---')", event)
                continue
            if isinstance(event, (yaml.StreamStartEvent, yaml.DocumentEndEvent)):
                continue
            done, value = self.feed(event)
            if done:
                root = value
        if root is _NO_KEY or root is None:
            raise SpecError("the spec is empty", file=self.name)
        return root, self.lines

    # -- one event -----------------------------------------------------------------------------
    def feed(self, event) -> tuple[bool, object]:
        """Handle one event; (True, value) when the root value is complete."""
        if isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            frame = self.stack.pop()
            if frame.anchor is not None:
                self.open_anchors.discard(frame.anchor)
                base = len(frame.path)
                self.anchors[frame.anchor] = (frame.value, [(p[base:], line) for p, line in self.log[frame.log_start:]],
                                              self.count - frame.count_start)
            return self.attach(frame.value, event, completed=True)
        parent = self.stack[-1] if self.stack else None
        is_key = parent is not None and isinstance(parent.value, dict) and parent.key is _NO_KEY
        path = self.child_path(parent)
        if isinstance(event, yaml.AliasEvent):
            return self.alias(event, path, is_key)
        self.count += 1
        if self.count > MAX_VALUES:
            raise self.error(f"the spec holds more than {MAX_VALUES:,} values (aliases expanded); "
                             "it is refused", event)
        if isinstance(event, yaml.ScalarEvent):
            value = self.scalar(event, path, is_key)
            if event.anchor is not None:
                self.anchors[event.anchor] = (value, [((), event.start_mark.line + 1)], 1)
            if not is_key:
                self.record(path, event)
            return self.attach(value, event)
        if is_key:
            raise SpecError("mapping keys must be plain strings", file=self.name,
                            line=event.start_mark.line + 1, path=_dotted(parent.path) or None)
        if len(self.stack) >= MAX_DEPTH:
            raise self.error(f"nested more than {MAX_DEPTH} levels deep; the spec is refused", event)
        mapping = isinstance(event, yaml.MappingStartEvent)
        if event.tag not in (None, "!", _MAP_TAG if mapping else _SEQ_TAG):
            raise self.error(f"YAML tag {event.tag!r} is not supported", event, path)
        self.record(path, event)
        frame = _Frame({} if mapping else [], path, event.anchor, len(self.log) - 1, self.count - 1)
        if event.anchor is not None:
            self.open_anchors.add(event.anchor)
        self.stack.append(frame)
        return False, None

    def child_path(self, parent: _Frame | None) -> tuple:
        if parent is None:
            return ()
        if isinstance(parent.value, list):
            return parent.path + (len(parent.value),)
        return parent.path + (parent.key,) if parent.key is not _NO_KEY else parent.path

    def record(self, path: tuple, event) -> None:
        line = event.start_mark.line + 1
        self.lines[path] = line
        self.log.append((path, line))

    def alias(self, event, path: tuple, is_key: bool) -> tuple[bool, object]:
        anchor = event.anchor
        if anchor in self.open_anchors:
            raise self.error(f"alias *{anchor} refers to the value that contains it (recursive alias)", event,
                             path)
        if anchor not in self.anchors:
            raise self.error(f"alias *{anchor} has no anchor &{anchor} before it", event, path)
        value, lines, size = self.anchors[anchor]
        self.count += size
        if self.count > MAX_VALUES:
            raise self.error(f"the spec holds more than {MAX_VALUES:,} values once its aliases are expanded "
                             f"(*{anchor} repeats {size:,}); it is refused", event, path)
        if is_key:
            if isinstance(value, (dict, list)):
                raise self.error("mapping keys must be plain strings", event, self.stack[-1].path)
            return self.attach(value, event)
        for rel, line in lines:
            self.lines[path + rel] = event.start_mark.line + 1 if not rel else line
            self.log.append((path + rel, self.lines[path + rel]))
        return self.attach(copy.deepcopy(value), event)

    def attach(self, value, event, completed: bool = False) -> tuple[bool, object]:
        if not self.stack:
            return True, value
        parent = self.stack[-1]
        if isinstance(parent.value, list):
            parent.value.append(value)
        elif parent.key is _NO_KEY:
            if not isinstance(value, str):
                raise SpecError(f"mapping keys must be strings, got {value!r}", file=self.name,
                                line=event.start_mark.line + 1, path=_dotted(parent.path) or None)
            if value in parent.value:
                raise SpecError(f"duplicate key {value!r}", file=self.name, line=event.start_mark.line + 1,
                                path=_dotted(parent.path) or None)
            parent.key = value
            parent.key_line = event.start_mark.line + 1
        else:
            parent.value[parent.key] = value
            parent.key = _NO_KEY
        return False, None

    def scalar(self, event, path: tuple, is_key: bool):
        text = event.value

        def where():   # only for an error: the dotted path costs more than the rest for a plain string
            return _dotted(self.stack[-1].path if is_key else path) or None
        line = event.start_mark.line + 1
        if len(text) > MAX_SCALAR_CHARS:
            raise SpecError(f"a value longer than {MAX_SCALAR_CHARS:,} characters is refused", file=self.name,
                            line=line, path=where())
        tag = event.tag
        if tag is None or tag == "!":
            # The resolver's answer depends on the text and `implicit` only; a spec repeats its keys
            # and values (name, expr, targets) thousands of times at scale.
            tag = self.tags.get((text, event.implicit))
            if tag is None:
                tag = self.tags[text, event.implicit] = self.loader.resolve(yaml.ScalarNode, text, event.implicit)
        if tag == _MERGE_TAG:
            raise SpecError("YAML merge keys (<<) are not supported: write the keys out", file=self.name,
                            line=line, path=where())
        plain = not event.style and event.implicit[0]
        if plain and tag != _STR_TAG:          # only booleans and numbers surprise
            surprise = _yaml11_surprise(text, tag)
            if surprise:
                raise SpecError(surprise, file=self.name, line=line, path=where())
        if tag == "tag:yaml.org,2002:int" and sum(c.isdigit() for c in text) > _MAX_DIGITS:
            raise SpecError(f"expected a number of at most 19 digits, got one of {sum(c.isdigit() for c in text)} "
                            "digits", file=self.name, line=line, path=where())
        if tag == _STR_TAG:
            return text            # what SafeConstructor.construct_yaml_str returns for it
        node = yaml.ScalarNode(tag, text, event.start_mark, event.end_mark, event.style)
        try:
            return self.constructor.construct_object(node)
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or str(exc)
            raise SpecError(f"bad value: {' '.join(str(problem).split())}", file=self.name, line=line,
                            path=where()) from None
        except (ValueError, OverflowError, TypeError) as exc:
            raise SpecError(f"bad value {text[:40]!r}: {' '.join(str(exc).split())[:120]}", file=self.name,
                            line=line, path=where()) from None


def _yaml11_surprise(text: str, tag: str) -> str | None:
    """A message when a plain scalar means something else under YAML 1.1 than it looks like."""
    if tag == "tag:yaml.org,2002:bool" and text.lower() not in _CORE_BOOL:
        meaning = "true" if text.lower() in ("yes", "on", "y") else "false"
        return (f"{text!r} is read as {meaning} by YAML 1.1: write true or false, "
                f"or quote it (\"{text}\") for a string")
    if tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float"):
        if _SEXAGESIMAL.match(text):
            return (f"{text!r} is read as a base-60 number by YAML 1.1: quote it (\"{text}\") "
                    "for a time or a string")
        if _LEADING_ZERO.match(text):
            return (f"{text!r} is read as an octal number by YAML 1.1: drop the leading zero, "
                    f"or quote it (\"{text}\") for a string")
        if "_" in text:
            return f"{text!r}: digit separators (_) read differently across YAML versions; write the number plainly"
        if text.lstrip("+-").lower().startswith("0b"):
            return f"{text!r} is read as a binary number by YAML 1.1: write it in decimal"
    return None


def _dotted(path: tuple) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
