"""The rule framework: what a rule declares, what it sees, how it reports.

A rule is a class in its own module under ``mlrules/rules/<family>/``. Its docstring is its
``mlrules explain`` page; ``valid``/``invalid`` hold examples that the test suite runs.
Rules never write files: they return findings, each with an optional fix (text edits).
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Iterable, Mapping

from mlrules.model import Applicability, Edit, Finding, Fix, Severity, Span

if TYPE_CHECKING:
    from mlrules.rules.context import ProjectContext, PythonContext, YamlContext


@dataclass(frozen=True)
class Option:
    name: str
    default: Any
    help: str


@dataclass(frozen=True)
class Valid:
    """An example the rule must not flag. ``files`` are other files of the same project."""

    code: str
    path: str = "notebook.py"
    files: Mapping[str, str] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Invalid:
    """An example the rule must flag at (row, column), both 1-based as printed.

    ``also`` lists further expected positions; ``cell`` the expected ``.ipynb`` cell;
    ``fixed`` the whole file after applying every fix of this rule (unsafe included),
    or None when the finding has no fix. ``report_path`` names the file the finding is on when
    it is not ``path`` (project rules).
    """

    code: str
    row: int
    column: int
    path: str = "notebook.py"
    fixed: str | None = None
    also: tuple[tuple[int, int], ...] = ()
    cell: int | None = None
    files: Mapping[str, str] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)
    report_path: str | None = None
    message_contains: str | None = None
    message_excludes: str | None = None  # no finding's message contains it (a hint that must not appear)


class Rule:
    code: ClassVar[str]
    name: ClassVar[str]
    summary: ClassVar[str]  # one line: what it flags
    severity: ClassVar[Severity] = Severity.ERROR
    default_enabled: ClassVar[bool] = True
    fix: ClassVar[Applicability | None] = None
    options: ClassVar[tuple[Option, ...]] = ()
    # A file is only given to the rule when its text contains one of these words
    # (empty: every file of the rule's kind).
    triggers: ClassVar[tuple[str, ...]] = ()
    valid: ClassVar[tuple[Valid, ...]] = ()
    invalid: ClassVar[tuple[Invalid, ...]] = ()

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        self.config = {opt.name: opt.default for opt in self.options}
        if options:
            self.config.update(options)

    @classmethod
    def family(cls) -> str:
        return cls.code.rstrip("0123456789")

    @classmethod
    def docs(cls) -> str:
        return textwrap.dedent(cls.__doc__ or "").strip()

    # --- reporting helpers --------------------------------------------------------------
    def finding(
        self,
        path: str,
        span: Span,
        message: str,
        *,
        edits: Iterable[Edit] = (),
        fix_message: str = "",
        severity: Severity | None = None,
    ) -> Finding:
        edits = tuple(edits)
        fix = Fix(fix_message, edits, self.fix or Applicability.SAFE) if edits else None
        return Finding(self.code, message, path, span, severity or self.severity, fix, self.name)


class PythonRule(Rule):
    """Sees one Python file (notebook or module)."""

    notebooks_only: ClassVar[bool] = False

    def check(self, ctx: "PythonContext") -> Iterable[Finding]:
        raise NotImplementedError


class YamlRule(Rule):
    """Sees one bundle YAML file."""

    def check(self, ctx: "YamlContext") -> Iterable[Finding]:
        raise NotImplementedError


class ProjectRule(Rule):
    """Sees every file of the run at once (cross-file rules)."""

    def check(self, ctx: "ProjectContext") -> Iterable[Finding]:
        raise NotImplementedError


class EngineRule(Rule):
    """Implemented by the engine itself (MLR001-MLR003); the class carries docs and metadata."""


def ipynb(*cells: str | tuple[str, str], indent: int = 1) -> str:
    """An nbformat 4 notebook; a cell is code text or (cell_type, text)."""
    out = []
    for cell in cells:
        kind, text = ("code", cell) if isinstance(cell, str) else cell
        lines = [line for line in text.splitlines(keepends=True)]
        entry = {"cell_type": kind, "metadata": {}, "source": lines}
        if kind == "code":
            entry = {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": lines}
        out.append(entry)
    doc = {"cells": out, "metadata": {"language_info": {"name": "python"}}, "nbformat": 4, "nbformat_minor": 5}
    return json.dumps(doc, indent=indent) + "\n"
