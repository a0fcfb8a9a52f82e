"""Building fix edits for Python files: add a keyword argument, insert a statement after an import."""

from __future__ import annotations

import libcst as cst

from mlrules.model import Edit


def add_keyword(ctx, call: cst.Call, text: str) -> Edit:
    """Append ``text`` (``name=value``) as the last argument of ``call``, in its own style.

    A call whose arguments are one per line gets the new argument on a new line with the same
    indentation; otherwise ``, name=value`` is inserted before the closing parenthesis.
    """
    lines = ctx.source.lines
    if not call.args:
        start, end = ctx.offsets(call)
        close = ctx.source.text.rfind(")", start, end)
        return Edit(close, close, text)
    last = call.args[-1]
    last_start, last_end = ctx.offsets(last.value)
    first_start, _ = ctx.offsets(call.args[0].value)
    if lines.position(first_start).row != lines.position(last_start).row or _multiline_args(ctx, call):
        row = lines.position(last_start).row
        line = lines.line(row)
        indent = line[: len(line) - len(line.lstrip())]
        comma = last.comma
        if isinstance(comma, cst.Comma):
            # trailing comma already there: put the new argument after it, on its own line
            comma_end = ctx.source.text.find(",", last_end) + 1
            return Edit(comma_end, comma_end, "\n" + indent + text + ",")
        return Edit(last_end, last_end, ",\n" + indent + text)
    comma = last.comma
    if isinstance(comma, cst.Comma):
        comma_end = ctx.source.text.find(",", last_end) + 1
        return Edit(comma_end, comma_end, " " + text)
    return Edit(last_end, last_end, ", " + text)


def _multiline_args(ctx, call: cst.Call) -> bool:
    start, _ = ctx.offsets(call)
    first_start, _ = ctx.offsets(call.args[0].value)
    lines = ctx.source.lines
    return lines.position(start).row != lines.position(first_start).row


def module_import_statement(ctx, module: str) -> cst.CSTNode | None:
    """The first module-level ``import <module>`` statement (``import mlflow``), or None."""
    for stmt in ctx.module.body:
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if isinstance(small, cst.Import) and any(
                    (cst.helpers.get_full_name_for_node(a.name) == module and a.asname is None) for a in small.names
                ):
                    return stmt
    return None


def insert_after_statement(ctx, stmt: cst.CSTNode, text: str) -> Edit:
    """Insert ``text`` as a new line after the (single-line) statement ``stmt``."""
    if isinstance(stmt, cst.SimpleStatementLine):
        stmt = stmt.body[-1]  # the line's range would include its newline
    _, end = ctx.offsets(stmt)
    lines = ctx.source.lines
    row = lines.position(end).row
    line_end = lines.line_end(row)
    return Edit(line_end, line_end, "\n" + text)


def first_import_insertion(ctx, text: str) -> Edit:
    """Insert ``text`` after the last top-of-file import (or at the top, after docstring/header)."""
    body = ctx.module.body
    last_import = None
    for stmt in body:
        if isinstance(stmt, cst.SimpleStatementLine) and all(isinstance(s, (cst.Import, cst.ImportFrom)) for s in stmt.body):
            last_import = stmt
            continue
        if last_import is not None:
            break
    if last_import is not None:
        return insert_after_statement(ctx, last_import, text)
    if body:
        start, _ = ctx.offsets(body[0])
        return Edit(start, start, text + "\n")
    return Edit(len(ctx.source.text), len(ctx.source.text), text + "\n")
