"""Decoding file bytes and mapping between offsets and (row, column)."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from mlrules.model import Edit, Position

BOM = "\ufeff"


class DecodeError(ValueError):
    """The bytes are not text mlrules can read (binary or not UTF-8)."""


def decode(data: bytes) -> tuple[str, bool]:
    """Return (text, had_bom). Raises DecodeError for binary or non-UTF-8 data."""
    if b"\x00" in data[:8192]:
        raise DecodeError("binary file (contains NUL bytes)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeError(f"not valid UTF-8 (byte {exc.start})") from None
    if text.startswith(BOM):
        return text[1:], True
    return text, False


def encode(text: str, had_bom: bool) -> bytes:
    return ((BOM if had_bom else "") + text).encode("utf-8")


def newline_of(text: str) -> str:
    """The file's dominant newline: CRLF when most line ends are CRLF."""
    crlf = text.count("\r\n")
    return "\r\n" if crlf and crlf * 2 >= text.count("\n") else "\n"


@dataclass
class LineIndex:
    """Offsets of line starts; rows are 1-based, columns 0-based characters."""

    text: str
    starts: list[int] = field(init=False)

    def __post_init__(self) -> None:
        starts = [0]
        find = self.text.find
        i = find("\n")
        while i != -1:
            starts.append(i + 1)
            i = find("\n", i + 1)
        self.starts = starts

    @property
    def line_count(self) -> int:
        return len(self.starts)

    def offset(self, row: int, column: int) -> int:
        row = min(max(row, 1), len(self.starts))
        return min(self.starts[row - 1] + column, len(self.text))

    def position(self, offset: int) -> Position:
        row = bisect.bisect_right(self.starts, offset)
        return Position(row, offset - self.starts[row - 1])

    def line(self, row: int) -> str:
        """The text of a row without its line end."""
        if not 1 <= row <= len(self.starts):
            return ""
        start = self.starts[row - 1]
        end = self.starts[row] - 1 if row < len(self.starts) else len(self.text)
        return self.text[start:end].rstrip("\r")

    def line_end(self, row: int) -> int:
        """Offset just past the row's content (before its line end)."""
        start = self.starts[row - 1]
        return start + len(self.line(row))


def apply_edits(text: str, edits: list[Edit], newline: str = "\n") -> str:
    """Apply non-overlapping edits (caller guarantees it); edit content is converted to ``newline``."""
    out = []
    last = 0
    for edit in sorted(edits, key=lambda e: (e.start, e.end)):
        out.append(text[last : edit.start])
        content = edit.content
        if newline != "\n":
            content = content.replace("\r\n", "\n").replace("\n", newline)
        out.append(content)
        last = edit.end
    out.append(text[last:])
    return "".join(out)
