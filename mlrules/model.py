"""Plain data shared by every layer: positions, edits, fixes and findings.

Positions inside mlrules are 1-based rows and 0-based columns of the *file text*
(for ``.ipynb`` files: of the joined cell text, see ``sources.ipynb``). Output
formats convert to the public, 1-based form.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Severity(str, enum.Enum):
    ERROR = "error"
    WARNING = "warning"


class Applicability(str, enum.Enum):
    SAFE = "safe"
    UNSAFE = "unsafe"


@dataclass(frozen=True, order=True)
class Position:
    row: int  # 1-based
    column: int  # 0-based, in characters


@dataclass(frozen=True)
class Span:
    start: Position
    end: Position

    @classmethod
    def of(cls, row: int, col: int, end_row: int, end_col: int) -> "Span":
        return cls(Position(row, col), Position(end_row, end_col))


@dataclass(frozen=True)
class Edit:
    """Replace text[start:end] (character offsets into the file text) with ``content``.

    ``content`` always uses ``\\n``; the writer converts it to the file's newline style.
    """

    start: int
    end: int
    content: str

    def overlaps(self, other: "Edit") -> bool:
        if self.start == self.end == other.start == other.end:
            return True  # two insertions at one point: order would be ambiguous
        return self.start < other.end and other.start < self.end


@dataclass(frozen=True)
class Fix:
    message: str
    edits: tuple[Edit, ...]
    applicability: Applicability = Applicability.SAFE


@dataclass
class Finding:
    code: str
    message: str
    path: str
    span: Span
    severity: Severity = Severity.ERROR
    fix: Fix | None = None
    name: str = ""
    # Filled in by the engine for .ipynb files: (cell number 1-based, span inside the cell).
    cell: int | None = None
    cell_span: Span | None = None
    # Set by the engine for findings that concern other files (project rules).
    notes: list[str] = field(default_factory=list)

    def sort_key(self) -> tuple:
        return (self.path, self.span.start.row, self.span.start.column, self.code, self.message)


@dataclass(frozen=True)
class FileError:
    """A file that could not be processed at all (not a lint finding): unreadable, internal error."""

    path: str
    message: str
