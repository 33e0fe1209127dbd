"""Parse PromQL and check that every metric and label it names exists.

One checker for alert rules, recording rules and dashboard queries, so a query on a
metric nobody exports ("No data") or a function that does not exist (`decrease`)
fails at generate time instead of on an operator's screen.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

import promql_parser


# Grafana macros that are not PromQL; replaced by a plain duration before parsing.
_GRAFANA_MACRO = re.compile(r"\$\{?__(rate_interval|interval|range)(_ms|_s)?\}?")
_LABEL_FUNCS = {"label_replace": 1, "label_join": 1}   # function -> index of the label it creates


@dataclass(frozen=True)
class SeriesIndex:
    """Series names Prometheus will have, each with the labels it carries."""
    series: dict[str, frozenset[str]]
    implicit: frozenset[str] = field(default_factory=frozenset)

    def with_recorded(self, recorded: dict[str, tuple[str, ...]]) -> "SeriesIndex":
        series = dict(self.series)
        series.update({name: frozenset(labels) for name, labels in recorded.items()})
        return SeriesIndex(series, self.implicit)


# The parser's time and memory grow faster than linearly with nesting and with the number of
# binary operators (3,000 chained `or`: 14 s and 3 GB; 10,000: a crash), so larger expressions
# are refused before parsing. 1,200 operators leave room for TargetAbsent over 1,000 scrape jobs.
MAX_NESTING = 100
MAX_OPERATORS = 1_200
_OPERATOR = re.compile(r"\b(?:or|and|unless)\b|==|!=|>=|<=|[-+*/%^<>]")


@functools.lru_cache(maxsize=8192)   # the same queries recur across dashboards and checks
def parse(expr: str):
    """The AST of a PromQL expression (Grafana macros allowed); raises ValueError."""
    _check_size(expr)
    return promql_parser.parse(_GRAFANA_MACRO.sub("5m", expr))


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')


def _check_size(expr: str) -> None:
    expr = _STRING.sub('""', expr)
    depth = deepest = 0
    for char in expr:
        if char in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in ")]}":
            depth -= 1
    if deepest > MAX_NESTING:
        raise ValueError(f"nested {deepest} brackets deep (at most {MAX_NESTING})")
    operators = len(_OPERATOR.findall(expr))
    if operators > MAX_OPERATORS:
        raise ValueError(f"more than {MAX_OPERATORS} operators ({operators})")


def problems(expr: str, index: SeriesIndex) -> list[str]:
    """What is wrong with the expression; empty when it parses and names only known series and labels."""
    try:
        ast = parse(expr)
    except (ValueError, RuntimeError) as exc:
        return [f"PromQL does not parse: {exc}"]
    found: list[str] = []
    selectors: list[tuple[str, list[str]]] = []
    grouping: list[str] = []
    created: set[str] = set()
    _walk(ast, selectors, grouping, created, found)
    available = set(index.implicit) | created | {"__name__"}
    for name, matcher_labels in selectors:
        if name not in index.series:
            found.append(f"metric {name!r} is not in the metric catalog")
            continue
        labels = index.series[name] | index.implicit
        available |= labels
        for label in matcher_labels:
            if label not in labels and label != "__name__":
                have = ", ".join(sorted(labels)) or "none"
                found.append(f"metric {name!r} has no label {label!r} (it has: {have})")
    for label in grouping:
        if label not in available:
            found.append(f"label {label!r} is not carried by any metric the query reads")
    return list(dict.fromkeys(found))


def _walk(root, selectors, grouping, created, found) -> None:
    """Collect selectors, grouping labels and created labels, depth first, without recursion.

    Without recursion because a spec with many scrape jobs builds long `or` chains, whose
    left-deep trees are deeper than Python's recursion limit.
    """
    pending = [root]
    while pending:
        node = pending.pop()
        kind = type(node).__name__
        children = []
        if kind == "VectorSelector":
            name = node.name
            matchers = list(node.matchers.matchers) + [m for group in node.matchers.or_matchers for m in group]
            if name is None:
                fixed = [m.value for m in matchers if m.name == "__name__" and str(m.op).endswith("Equal")
                         and "Not" not in str(m.op)]
                if not fixed:
                    found.append("a selector must name its metric")
                    continue
                name = fixed[0]
            selectors.append((name, [m.name for m in matchers]))
        elif kind == "MatrixSelector":
            children = [node.vector_selector]
        elif kind == "Call":
            args = list(node.args)
            if node.func.name in _LABEL_FUNCS and len(args) > 1 and type(args[1]).__name__ == "StringLiteral":
                created.add(args[1].val)
            children = args
        elif kind == "AggregateExpr":
            if node.modifier is not None:
                grouping.extend(node.modifier.labels)
            if node.param is not None and not isinstance(node.param, (int, float, str)):
                children.append(node.param)
            children.append(node.expr)
        elif kind == "BinaryExpr":
            modifier = node.modifier
            if modifier is not None:
                if modifier.matching is not None:
                    grouping.extend(modifier.matching.labels)
                grouping.extend(getattr(modifier, "group_labels", None) or [])
            children = [node.lhs, node.rhs]
        elif kind in ("ParenExpr", "UnaryExpr", "SubqueryExpr"):
            children = [node.expr]
        pending.extend(reversed(children))   # visit in source order, as the recursive walk did


# -- which labels a result carries ----------------------------------------------------------
# Used to prove that what a rule promises is true: a recording rule's declared labels, and
# every {{ $labels.x }} an alert's annotations print (a sum() that drops `source` while the
# description prints it renders "<no value>" in the notification).

_KEEP_FIRST_ARG = {"histogram_quantile": 1}      # function -> index of its vector argument
_DROPS = {"histogram_quantile": {"le"}}


def output_labels(expr: str, index: SeriesIndex) -> frozenset[str] | None:
    """The labels every series of the result surely carries (None for a scalar result)."""
    return _labels(parse(expr), index)


def _children(node) -> list:
    """The sub-expressions whose labels decide the labels of node (see _combine)."""
    kind = type(node).__name__
    if kind == "MatrixSelector":
        return [node.vector_selector]
    if kind in ("ParenExpr", "UnaryExpr", "SubqueryExpr", "AggregateExpr"):
        return [node.expr]
    if kind == "BinaryExpr":
        return [node.lhs, node.rhs]
    if kind == "Call":
        func = node.func.name
        args = list(node.args)
        if str(node.func.return_type).endswith("Scalar") or func in ("vector", "absent", "absent_over_time"):
            return []
        return [args[_KEEP_FIRST_ARG.get(func, 0)]] if args else []
    return []


def _labels(root, index: SeriesIndex) -> frozenset[str] | None:
    """Post-order over the tree with an explicit stack (long `or` chains are deeper than recursion allows)."""
    # Children are computed once per node: the parser's objects are fresh on every attribute read.
    values: list[frozenset[str] | None] = []
    stack: list[tuple[object, list | None]] = [(root, None)]
    while stack:
        node, children = stack.pop()
        if children is None:
            children = _children(node)
            stack.append((node, children))
            stack.extend((child, None) for child in reversed(children))
            continue
        taken = values[len(values) - len(children):] if children else []
        del values[len(values) - len(children):]
        values.append(_combine(node, taken, index))
    return values[0]


def _combine(node, child_labels: list, index: SeriesIndex) -> frozenset[str] | None:
    kind = type(node).__name__
    if kind in ("NumberLiteral", "StringLiteral"):
        return None
    if kind == "VectorSelector":
        name = node.name or ""
        return index.series.get(name, frozenset()) | index.implicit
    if kind in ("MatrixSelector", "ParenExpr", "UnaryExpr", "SubqueryExpr"):
        return child_labels[0]
    if kind == "Call":
        func = node.func.name
        args = list(node.args)
        if str(node.func.return_type).endswith("Scalar"):
            return None
        if func == "vector":
            return frozenset()
        if func == "absent" or func == "absent_over_time":
            inner = args[0].vector_selector if type(args[0]).__name__ == "MatrixSelector" else args[0]
            if type(inner).__name__ != "VectorSelector":
                return frozenset()
            return frozenset(m.name for m in inner.matchers.matchers
                             if str(m.op).endswith("Equal") and "Not" not in str(m.op) and m.name != "__name__")
        base = child_labels[0] if child_labels else frozenset()
        if base is None:
            return None
        base = base - _DROPS.get(func, set())
        if func in _LABEL_FUNCS and len(args) > 1 and type(args[1]).__name__ == "StringLiteral":
            base = base | {args[1].val}
        return base
    if kind == "AggregateExpr":
        inner = child_labels[0] or frozenset()
        op = str(node.op)
        if op in ("topk", "bottomk", "limitk", "limit_ratio"):
            return inner
        if node.modifier is None:
            return frozenset()
        labels = frozenset(node.modifier.labels)
        return labels if str(node.modifier.type).endswith("By") else inner - labels
    if kind == "BinaryExpr":
        lhs, rhs = child_labels
        if lhs is None or rhs is None:
            return rhs if lhs is None else lhs
        op = str(node.op)
        modifier = node.modifier
        if op in ("and", "unless"):
            return lhs
        if op == "or":
            return lhs & rhs
        card = str(modifier.card) if modifier is not None else "OneToOne"
        include = frozenset(getattr(modifier, "group_labels", None) or []) if modifier else frozenset()
        if card.endswith("ManyToOne"):
            return lhs | include
        if card.endswith("OneToMany"):
            return rhs | include
        matching = modifier.matching if modifier is not None else None
        if matching is not None and str(matching.type).endswith("Include"):
            return frozenset(matching.labels)
        if matching is not None:
            return lhs - frozenset(matching.labels)
        return lhs
    return frozenset()


@functools.lru_cache(maxsize=4096)
def selected_metrics(expr: str) -> tuple[str, ...]:
    """The series names the expression selects, in order of first appearance (Grafana macros allowed)."""
    selectors: list[tuple[str, list[str]]] = []
    _walk(parse(expr), selectors, [], set(), [])
    return tuple(dict.fromkeys(name for name, _ in selectors))


# -- narrowing a query to one label value ------------------------------------------------------
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_LABEL_LIST_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right"}


def _string_end(expr: str, i: int) -> int:
    """Index just past the string literal starting at expr[i] (", ' or `; backslash escapes in the first two)."""
    quote, end = expr[i], i + 1
    while end < len(expr) and expr[end] != quote:
        end += 2 if expr[end] == "\\" and quote != "`" else 1
    return end + 1


def _closing(expr: str, i: int, close: str) -> int:
    """Index of the `close` that ends the bracket opened before i, string literals skipped."""
    while i < len(expr):
        if expr[i] in "\"'`":
            i = _string_end(expr, i)
        elif expr[i] == close:
            return i
        else:
            i += 1
    raise ValueError(f"unbalanced {close!r}")


def add_matcher(expr: str, label: str, value: str, op: str = "=~", narrow: bool = False) -> str:
    """The expression with `label=~"value"` (or another `op`) added to every selector that has no matcher
    on `label` yet (with `narrow`, to every selector: a second matcher on a label narrows the first).

    A scan over the text (string literals, `{...}` matchers, `[...]` ranges and by/on label lists are
    skipped), then proven by the parser: every selector of the result carries the matcher, and the
    query still reads the same series. Raises ValueError where that cannot be proven."""
    metrics = set(selected_metrics(expr))
    matcher = f'{label}{op}"{value}"'
    has_label = re.compile(rf"(^|[{{,\s]){re.escape(label)}\s*(=|!=|=~|!~)")
    out: list[str] = []
    i, size = 0, len(expr)
    label_list = False                    # the next (...) is a by/on/... label list
    while i < size:
        c = expr[i]
        if c in "\"'`":
            end = _string_end(expr, i)
            out.append(expr[i:end])
            i = end
            continue
        if c in "[{" or (c == "(" and label_list):
            close = {"[": "]", "{": "}", "(": ")"}[c]
            end = _closing(expr, i + 1, close)
            part = expr[i:end + 1]
            if c == "{" and (narrow or not has_label.search(part[1:-1])):      # a bare {__name__="x"} selector
                part = "{" + matcher + (", " if part[1:-1].strip() else "") + part[1:]
            out.append(part)
            label_list = False
            i = end + 1
            continue
        match = _IDENT.match(expr, i) if (c.isalpha() or c in "_:") else None
        if match is None:
            out.append(c)
            i += 1
            continue
        word, i = match.group(0), match.end()
        out.append(word)
        label_list = word in _LABEL_LIST_KEYWORDS
        rest = expr[i:].lstrip()
        if word not in metrics or rest.startswith("("):
            continue
        gap = expr[i:size - len(rest)]
        if rest.startswith("{"):
            end = _closing(expr, size - len(rest) + 1, "}")
            inner = expr[size - len(rest) + 1:end]
            if narrow or not has_label.search(inner):
                inner = matcher + (", " + inner if inner.strip() else "")
            out.append(gap + "{" + inner + "}")
            i = end + 1
        else:
            out.append("{" + matcher + "}")
    result = "".join(out)
    selectors: list[tuple[str, list[str]]] = []
    _walk(parse(result), selectors, [], set(), [])
    if set(selected_metrics(result)) != metrics or any(label not in labels for _, labels in selectors):
        raise ValueError(f"cannot add {matcher} to every selector of {expr}")
    return result
