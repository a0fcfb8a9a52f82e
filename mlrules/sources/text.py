"""Decoding file bytes and mapping between offsets and (row, column)."""

from __future__ import annotations

import bisect
import re
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


# Line breaks of YAML 1.1 as PyYAML counts rows: also a lone CR, NEL, LS and PS.
_YAML_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")
_OTHER_YAML_BREAK = re.compile("\r(?!\n)|[\x85\u2028\u2029]")
# Python's line breaks (CPython's and libcst's error positions count a lone CR as a line end).
_PYTHON_BREAK = re.compile("\r\n|[\r\n]")


@dataclass
class LineIndex:
    """Offsets of line starts; rows are 1-based, columns 0-based characters.

    Rows end at ``\n`` (a ``\r\n`` is one line end). With ``yaml_breaks`` they also end where
    YAML 1.1 says a line ends (a lone ``\r``, U+0085, U+2028, U+2029), so that the YAML parser's
    marks are rows and columns of this index.
    """

    text: str
    yaml_breaks: bool = False
    starts: list[int] = field(init=False)

    def __post_init__(self) -> None:
        if self.yaml_breaks and _OTHER_YAML_BREAK.search(self.text):
            self.starts = [0, *(m.end() for m in _YAML_BREAK.finditer(self.text))]
            return
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


def offset_of_python_position(text: str, lineno: int, column: int) -> int:
    """The offset of a (1-based line, 0-based column) position as Python's parsers count lines
    (``\r\n``, ``\r`` and ``\n`` end a line), clamped to that line and to the text."""
    if lineno <= 1:
        start = 0
    else:
        start = len(text)
        for count, match in enumerate(_PYTHON_BREAK.finditer(text), start=2):
            if count == lineno:
                start = match.end()
                break
    match = _PYTHON_BREAK.search(text, start)
    end = match.start() if match else len(text)
    return min(start + max(column, 0), end)
