"""Simple constant propagation for string values inside one file.

Known: string literals, implicit concatenation, ``+`` of known parts, f-strings (each
placeholder kept as ``{name}``), and names assigned exactly once in the function or at module
level. ``dbutils.widgets.get("x")`` is a value whose text is unknown but whose widget name is
known. Everything else is unknown (``None``): rules never report on unknown values.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

import libcst as cst

from mlrules.analysis.index import FileIndex, dotted_name

_MAX_DEPTH = 8


@dataclass(frozen=True)
class StringValue:
    text: str  # literal text; each unknown part written as "{name}"
    placeholders: int = 0  # how many unknown parts the text holds
    widget: str | None = None  # set when the value is dbutils.widgets.get(<widget>)

    @property
    def fully_known(self) -> bool:
        return self.placeholders == 0 and self.widget is None


def string_value(
    expr: cst.BaseExpression | None, index: FileIndex, scope: cst.FunctionDef | None, _depth: int = 0
) -> StringValue | None:
    if expr is None or _depth > _MAX_DEPTH:
        return None
    if isinstance(expr, cst.SimpleString):
        value = _literal(expr.value)
        return StringValue(value) if isinstance(value, str) else None
    if isinstance(expr, cst.ConcatenatedString):
        return _join([string_value(expr.left, index, scope, _depth + 1), string_value(expr.right, index, scope, _depth + 1)])
    if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.Add):
        return _join([string_value(expr.left, index, scope, _depth + 1), string_value(expr.right, index, scope, _depth + 1)])
    if isinstance(expr, cst.FormattedString):
        return _fstring(expr, index, scope, _depth)
    if isinstance(expr, cst.Name):
        values = index.values_of(expr.value, scope)
        if values is None or len(values) != 1 or values[0] is None:
            return None
        if expr.value in index.imports:
            return None
        # a module-level name read in a function: the module value
        owner = scope if scope is not None and expr.value in index.bindings.get(scope, {}) else None
        return string_value(values[0], index, owner, _depth + 1)
    if isinstance(expr, cst.Call):
        widget = widget_name(expr)
        if widget is not None:
            return StringValue("{" + widget + "}", 1, widget)
    return None


def widget_name(call: cst.Call) -> str | None:
    """``x`` for ``dbutils.widgets.get("x")`` / ``getArgument("x")`` with a literal name."""
    dotted = dotted_name(call.func)
    if dotted not in ("dbutils.widgets.get", "getArgument", "dbutils.widgets.getArgument"):
        return None
    if not call.args or call.args[0].keyword is not None:
        return None
    arg = call.args[0].value
    if isinstance(arg, cst.SimpleString):
        value = _literal(arg.value)
        return value if isinstance(value, str) else None
    return None


def _literal(text: str) -> object:
    """``ast.literal_eval`` of a string literal (None when it fails). A plain one-line quoted
    string without escapes is its own text: no compile needed (most literals are)."""
    quote = text[:1]
    if quote in ("'", '"') and len(text) >= 2 and text[-1] == quote and "\\" not in text and not text.startswith(quote * 3):
        inner = text[1:-1]
        if quote not in inner and "\n" not in inner and "\r" not in inner and "\x00" not in inner:
            return inner
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return None


def _join(parts: list[StringValue | None]) -> StringValue | None:
    if any(p is None for p in parts):
        return None
    return StringValue("".join(p.text for p in parts), sum(p.placeholders + (1 if p.widget else 0) for p in parts))


def _fstring(expr: cst.FormattedString, index: FileIndex, scope, depth: int) -> StringValue | None:
    text: list[str] = []
    placeholders = 0
    for part in expr.parts:
        if isinstance(part, cst.FormattedStringText):
            text.append(part.value.replace("{{", "{").replace("}}", "}"))
            continue
        inner = string_value(part.expression, index, scope, depth + 1) if isinstance(part, cst.FormattedStringExpression) else None
        if inner is not None and inner.fully_known and part.format_spec is None and part.conversion is None:
            text.append(inner.text)
            continue
        name = dotted_name(part.expression) if isinstance(part, cst.FormattedStringExpression) else None
        text.append("{" + (name or "…") + "}")
        placeholders += 1
    return StringValue("".join(text), placeholders)
