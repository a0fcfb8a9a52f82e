"""A fast, non-recursive walk over a libcst tree.

``CSTNode.visit`` rebuilds every node on the way back up (the same machinery serves
transformers), which costs about as much as parsing. Rules only read, so mlrules walks the
dataclass fields directly, skips pure-whitespace fields, and never recurses in Python (deeply
nested code cannot exhaust the stack).
"""

from __future__ import annotations

import dataclasses
from typing import Iterator

import libcst as cst

# Fields that hold only whitespace, punctuation or tokens: never an expression or statement.
_SKIP_FIELDS = frozenset(
    {
        "lpar", "rpar", "comma", "semicolon", "leading_lines", "lines_after_decorators", "header",
        "footer", "trailing_whitespace", "newline", "default_indent", "default_newline", "colon",
        "dot", "equal", "star_tok", "whitespace_before", "whitespace_after", "first_line",
        "empty_lines", "indent", "whitespace", "lbracket", "rbracket", "lbrace", "rbrace",
        "whitespace_before_colon", "whitespace_after_colon", "whitespace_after_at",
        "whitespace_after_def", "whitespace_after_class", "whitespace_before_params",
        "whitespace_after_star", "whitespace_after_param", "whitespace_after_arg",
        "whitespace_before_arg", "whitespace_after_func", "whitespace_before_args",
        "whitespace_after_import", "whitespace_after_from", "whitespace_before_import",
        "whitespace_after_as", "whitespace_before_as", "whitespace_after_with", "whitespace_after_for",
        "whitespace_before_in", "whitespace_after_in", "whitespace_after_if", "whitespace_before_if",
        "whitespace_after_else", "whitespace_before_else", "whitespace_after_lambda",
        "whitespace_after_await", "whitespace_after_yield", "whitespace_after_del",
        "whitespace_after_global", "whitespace_after_nonlocal", "whitespace_after_return",
        "whitespace_after_raise", "whitespace_after_assert", "whitespace_after_except",
        "whitespace_after_while", "whitespace_after_elif", "whitespace_after_async",
        "whitespace_before_expression", "whitespace_after_expression", "whitespace_after_walrus",
        "whitespace_before_walrus", "whitespace_before_from", "whitespace_after_from",
        "whitespace_before_from_in", "start", "end", "prefix",
    }
)

_FIELDS: dict[type, tuple[str, ...]] = {}


def child_fields(node_type: type) -> tuple[str, ...]:
    fields = _FIELDS.get(node_type)
    if fields is None:
        fields = tuple(
            f.name
            for f in dataclasses.fields(node_type)
            if f.name not in _SKIP_FIELDS and not f.name.startswith("whitespace")
        )
        _FIELDS[node_type] = fields
    return fields


_NODE_TYPES: dict[type, bool] = {}


def is_node(value: object) -> bool:
    """``isinstance(value, cst.CSTNode)``, without the cost of an ABC check per call."""
    kind = type(value)
    found = _NODE_TYPES.get(kind)
    if found is None:
        found = _NODE_TYPES[kind] = isinstance(value, cst.CSTNode)
    return found


_GETTERS: dict[type, tuple] = {}


def _getter(node_type: type) -> tuple:
    """(attrgetter of the child fields, whether it returns a tuple of them)."""
    import operator

    fields = child_fields(node_type)
    found = _GETTERS[node_type] = (operator.attrgetter(*fields) if fields else None, len(fields) > 1)
    return found


def child_list(node: cst.CSTNode) -> list[cst.CSTNode]:
    """``list(children(node))``, faster (the shared index calls it for every node)."""
    node_type = type(node)
    found = _GETTERS.get(node_type)
    if found is None:
        found = _getter(node_type)
    get, many = found
    if get is None:
        return []
    values = get(node) if many else (get(node),)
    out: list[cst.CSTNode] = []
    kinds = _NODE_TYPES
    for value in values:
        kind = type(value)
        if kind is tuple or kind is list:
            for item in value:
                item_kind = type(item)
                ok = kinds.get(item_kind)
                if ok is None:
                    ok = kinds[item_kind] = isinstance(item, cst.CSTNode)
                if ok:
                    out.append(item)
        else:
            ok = kinds.get(kind)
            if ok is None:
                ok = kinds[kind] = isinstance(value, cst.CSTNode)
            if ok:
                out.append(value)
    return out


def children(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """Child nodes in source order (whitespace-only fields skipped)."""
    for name in child_fields(type(node)):
        value = getattr(node, name)
        if isinstance(value, cst.CSTNode):
            yield value
        elif isinstance(value, (tuple, list)):
            for item in value:
                if isinstance(item, cst.CSTNode):
                    yield item


def walk(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """Every node below ``node`` (included), depth-first in source order."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        kids = list(children(current))
        kids.reverse()
        stack.extend(kids)
