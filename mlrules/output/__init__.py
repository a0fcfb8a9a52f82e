"""Output formats: one module each. Every format renders a ``Report`` to text."""

from __future__ import annotations

from dataclasses import dataclass, field

from mlrules.model import Edit, Finding, Position
from mlrules.sources.loader import Source
from mlrules.sources.python import PythonSource


@dataclass
class Report:
    findings: list[Finding]
    sources: dict[str, Source] = field(default_factory=dict)
    fixed: int = 0
    show_fixes: bool = False
    unsafe_fixes: bool = False

    def line_text(self, finding: Finding) -> str | None:
        source = self.sources.get(finding.path)
        return source.lines.line(finding.span.start.row) if source is not None else None

    def public_location(self, finding: Finding) -> tuple[Position, Position]:
        """1-based (row, column) start and end as CLI.md defines them (cell-relative for .ipynb)."""
        span = finding.cell_span or finding.span
        return _one_based(span.start), _one_based(span.end)

    def edit_location(self, finding: Finding, edit: Edit) -> tuple[Position, Position]:
        source = self.sources.get(finding.path)
        if source is None:
            return Position(1, 1), Position(1, 1)
        start, end = source.lines.position(edit.start), source.lines.position(edit.end)
        if isinstance(source, PythonSource) and source.kind == "ipynb":
            cell = source.cell_at_row(start.row)
            if cell is not None:
                shift = cell.start_row - 1
                start, end = Position(start.row - shift, start.column), Position(max(end.row - shift, 1), end.column)
        return _one_based(start), _one_based(end)


def _one_based(position: Position) -> Position:
    return Position(position.row, position.column + 1)


def render(fmt: str, report: Report) -> str:
    from importlib import import_module

    module = import_module(f"mlrules.output.{fmt}_format")
    return module.render(report)


FORMATS = ("full", "concise", "json", "sarif", "github")
