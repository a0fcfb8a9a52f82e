"""Which widgets a task's notebook reads and declares, through its ``%run`` includes.

Built on ``notebook_facts`` (one parse per notebook, shared with every rule); notebooks that
the run did not load (only some files given) are read from disk by the bundle model.
NB006 (widget-not-supplied) and NB007 (unused-base-parameter) use it.
"""

from __future__ import annotations

import ast
import os
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from mlrules.sources.limits import quiet_ast

if TYPE_CHECKING:
    from mlrules.project.bundle_model import BundleModel
    from mlrules.project.notebook_facts import NotebookFacts, WidgetRead

# `dbutils` or `dbutils.widgets` handed to a helper: reads we cannot see
_DBUTILS_PASSED = re.compile(r"[(,=]\s*dbutils(?:\.widgets)?\s*[,)\n]")
_BINDINGS = re.compile(r"getCurrentBindings|getAll\s*\(")
_MAX_RUN_DEPTH = 8


@dataclass
class WidgetUse:
    facts: "NotebookFacts"
    reads: set[str] = field(default_factory=set)  # literal names read (notebook and %run includes)
    declared: set[str] = field(default_factory=set)  # literal names declared with a default
    other_text: list[str] = field(default_factory=list)  # non-Python cells (%sql ...) of all of them
    dynamic: bool = False  # some read is by an unknown name, or dbutils escapes to a helper
    complete: bool = True  # every %run include was found and parsed

    @property
    def own_reads(self) -> list["WidgetRead"]:
        """Literal reads without a default in the notebook itself."""
        return [r for r in self.facts.widget_reads if r.name is not None and not r.has_default]

    def mentions(self, name: str) -> bool:
        """``name`` appears as a word in a non-Python cell (``${name}``, ``:name``, ``getArgument('name')``)."""
        pattern = re.compile(r"(?<![\w])" + re.escape(name) + r"(?![\w])")
        return any(pattern.search(text) for text in self.other_text)

    @cached_property
    def _protected_rows(self) -> list[tuple[int, int]]:
        """Row ranges of ``try:`` bodies that have an ``except`` handler."""
        try:
            tree = quiet_ast(self.facts.source.code)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return []
        out = []
        for node in ast.walk(tree):
            if isinstance(node, ast.Try) and node.handlers and node.body:
                out.append((node.body[0].lineno, node.body[-1].end_lineno or node.body[-1].lineno))
        return out

    def where(self, read: "WidgetRead") -> str:
        """``path:row`` of a read (``path:cell N:row`` for ``.ipynb``), for messages."""
        source = self.facts.source
        row = self.facts.span(read.node).start.row
        cell = source.cell_at_row(row) if source.kind == "ipynb" else None
        if cell is not None:
            return f"{source.path}:cell {cell.number}:{row - cell.start_row + 1}"
        return f"{source.path}:{row}"

    def protected(self, read: "WidgetRead") -> bool:
        """The read is inside a ``try`` with a handler (a missing widget is handled)."""
        if not self._protected_rows:
            return False
        row = self.facts.span(read.node).start.row
        return any(start <= row <= end for start, end in self._protected_rows)


def widget_use(model: "BundleModel", abs_path: str) -> WidgetUse | None:
    """Widget use of the notebook at ``abs_path`` (None when it cannot be parsed as Python)."""
    cache = model.__dict__.setdefault("_widget_use", {})
    key = os.path.normpath(abs_path)
    if key not in cache:
        cache[key] = _build(model, key)
    return cache[key]


def _build(model: "BundleModel", abs_path: str) -> WidgetUse | None:
    facts = model.facts(abs_path)
    if facts is None or not facts.parsed:
        return None
    use = WidgetUse(facts)
    _collect(model, facts, abs_path, use, set(), 0)
    return use


def _collect(model: "BundleModel", facts: "NotebookFacts", abs_path: str, use: WidgetUse, visiting: set[str], depth: int) -> None:
    visiting.add(abs_path)
    source = facts.source
    use.reads |= facts.read_widget_names
    use.declared |= facts.declared_widget_names
    use.dynamic |= facts.reads_dynamic_widget or facts.declares_dynamic_widget
    use.dynamic |= bool(_DBUTILS_PASSED.search(source.code) or _BINDINGS.search(source.code))
    for cell in source.cells:
        if cell.kind == "magic" and cell.magic not in ("md", "md-sandbox", "run", "pip"):
            use.other_text.append(source.text[cell.start : cell.end])
    if facts.has_unmodelled_run:
        use.complete = False  # `%run -m x`, an unquoted path with a space: the include is unknown
    for target in facts.run_targets:
        if not target.is_relative:
            use.complete = False
    for _target, found in facts.resolved_runs():
        if found is None or depth >= _MAX_RUN_DEPTH:
            use.complete = False
            continue
        child_path = os.path.normpath(os.path.abspath(found))
        if child_path in visiting:
            continue
        child = model.facts(child_path)
        if child is None or not child.parsed:
            use.complete = False
            continue
        _collect(model, child, child_path, use, visiting, depth + 1)
