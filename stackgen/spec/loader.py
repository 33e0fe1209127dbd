"""Load YAML keeping the line of every value, so errors can say where they are."""
from __future__ import annotations

from pathlib import Path

import yaml

from stackgen.errors import SpecError

# Maps a field path such as ("alerts", "drawdown", "warning") to its 1-based line.
Lines = dict[tuple, int]


def load_yaml(path: Path, display_name: str | None = None) -> tuple[object, Lines]:
    """Parse one YAML document; return its plain Python value and the line of every path."""
    name = display_name or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"cannot read the spec: {exc.strerror}", file=name) from None
    return parse_yaml(text, name)


# libyaml's loader builds the same nodes (with marks) about ten times faster where it is built in.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_yaml(text: str, name: str) -> tuple[object, Lines]:
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise SpecError(f"YAML syntax error: {problem}", file=name, line=line) from None
    except yaml.YAMLError as exc:
        raise SpecError(f"YAML error: {exc}", file=name) from None
    finally:
        loader.dispose()
    if root is None:
        raise SpecError("the spec is empty", file=name)
    lines: Lines = {}
    constructor = yaml.SafeLoader("")
    value = _convert(root, (), lines, constructor, name)
    return value, lines


def _convert(node, path: tuple, lines: Lines, constructor, name: str):
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        result = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise SpecError("mapping keys must be plain strings", file=name,
                                line=key_node.start_mark.line + 1, path=_dotted(path))
            key = constructor.construct_object(key_node)
            if key in result:
                raise SpecError(f"duplicate key {key!r}", file=name,
                                line=key_node.start_mark.line + 1, path=_dotted(path))
            result[key] = _convert(value_node, path + (key,), lines, constructor, name)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, path + (i,), lines, constructor, name)
                for i, item in enumerate(node.value)]
    try:
        return constructor.construct_object(node)
    except yaml.YAMLError as exc:
        raise SpecError(f"bad value: {exc}", file=name, line=node.start_mark.line + 1,
                        path=_dotted(path)) from None


def _dotted(path: tuple) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
