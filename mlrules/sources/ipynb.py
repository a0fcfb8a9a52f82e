"""Jupyter ``.ipynb`` (nbformat 4) documents: cells in, edited cell sources back out.

Reading uses the standard library's ``json``. Writing never re-serialises the whole document:
the raw JSON is edited in place (only the ``source`` values of changed cells, plus any appended
cell), so key order, indentation, escapes, outputs and the trailing newline stay byte-identical.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from json.decoder import scanstring

from mlrules.model import Edit
from mlrules.sources.text import apply_edits, newline_of

# Joins the cells into one text for parsing; never appears in real cell sources (checked).
CELL_SEPARATOR = "\n# ---------- mlrules cell boundary ----------\n"


class NotebookFormatError(ValueError):
    def __init__(self, message: str, row: int = 1, column: int = 0):
        super().__init__(message)
        self.row = row
        self.column = column


@dataclass
class RawCell:
    cell_type: str
    source: str
    # Span of the cell object and of its "source" value in the raw JSON text.
    span: tuple[int, int]
    source_span: tuple[int, int] | None
    source_was_list: bool


@dataclass
class IpynbDocument:
    raw: str
    cells: list[RawCell]
    language: str  # "python" unless the metadata says otherwise
    cells_array_span: tuple[int, int]
    has_cell_ids: bool

    @classmethod
    def parse(cls, raw: str) -> "IpynbDocument":
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise NotebookFormatError(f"invalid notebook JSON: {exc.msg}", exc.lineno, exc.colno - 1) from None
        if not isinstance(data, dict):
            raise NotebookFormatError("invalid notebook: the top level is not a JSON object")
        if "worksheets" in data or data.get("nbformat") not in (4, None):
            raise NotebookFormatError(f"unsupported notebook format (nbformat {data.get('nbformat')!r}); nbformat 4 is supported")
        cells = data.get("cells")
        if not isinstance(cells, list):
            raise NotebookFormatError("invalid notebook: no 'cells' list")
        spans = _locate(raw)
        raw_cells = []
        for index, cell in enumerate(cells):
            if not isinstance(cell, dict):
                raise NotebookFormatError(f"invalid notebook: cell {index + 1} is not an object")
            source = cell.get("source", "")
            if isinstance(source, list) and all(isinstance(s, str) for s in source):
                text, was_list = "".join(source), True
            elif isinstance(source, str):
                text, was_list = source, False
            else:
                raise NotebookFormatError(f"invalid notebook: cell {index + 1} has a source that is not text")
            if CELL_SEPARATOR in text:
                raise NotebookFormatError(f"cell {index + 1} contains mlrules' internal cell separator")
            cell_span, source_span = spans.cells[index]
            raw_cells.append(RawCell(str(cell.get("cell_type", "code")), text, cell_span, source_span, was_list))
        return cls(raw, raw_cells, _language(data), spans.array, bool(cells) and all("id" in c for c in cells))

    # --- joined text -----------------------------------------------------------------
    def joined(self) -> str:
        return CELL_SEPARATOR.join(c.source for c in self.cells)

    def render(self, new_joined: str) -> str | None:
        """The raw JSON for an edited joined text, or None when the edit broke the cell structure."""
        segments = new_joined.split(CELL_SEPARATOR)
        if len(segments) < len(self.cells):
            return None
        edits: list[Edit] = []
        for cell, segment in zip(self.cells, segments):
            if segment == cell.source:
                continue
            if cell.source_span is None:
                return None
            edits.append(Edit(*cell.source_span, self._dump_source(segment, cell)))
        appended = segments[len(self.cells) :]
        if appended:
            edits.append(self._append_cells(appended))
        return apply_edits(self.raw, edits, newline_of(self.raw))

    # --- serialisation in the file's own style ----------------------------------------
    @property
    def _ensure_ascii(self) -> bool:
        return self.raw.isascii() and "\\u" in self.raw

    def _indent_before(self, offset: int) -> str | None:
        line_start = self.raw.rfind("\n", 0, offset) + 1
        prefix = self.raw[line_start:offset]
        return prefix if prefix.strip() == "" else None

    def _dump_source(self, text: str, cell: RawCell) -> str:
        if not cell.source_was_list:
            return json.dumps(text, ensure_ascii=self._ensure_ascii)
        lines = split_lines(text)
        if not lines:
            return "[]"
        start, end = cell.source_span  # type: ignore[misc]
        inner = self.raw[start + 1 : end - 1]
        element = re.match(r"\s*", inner).group()
        if "\n" not in element and inner.strip():
            return "[" + ", ".join(json.dumps(x, ensure_ascii=self._ensure_ascii) for x in lines) + "]"
        key_indent = self._line_indent(start)
        if inner.strip() == "":
            # "[]": one indentation step past the key's line
            element = "\n" + key_indent + " " * (_indent_step(self.raw) or 1)
        closing_indent = self._indent_before(end - 1)
        closing = "\n" + (closing_indent if closing_indent is not None else key_indent)
        element = element.replace("\r", "")
        body = ("," + element).join(json.dumps(x, ensure_ascii=self._ensure_ascii) for x in lines)
        return "[" + element + body + closing + "]"

    def _line_indent(self, offset: int) -> str:
        line_start = self.raw.rfind("\n", 0, offset) + 1
        return re.match(r"[ \t]*", self.raw[line_start:offset]).group()

    def _append_cells(self, sources: list[str]) -> Edit:
        last = self.cells[-1].span if self.cells else None
        if last is None:
            raise NotebookFormatError("cannot append a cell to an empty notebook")
        indent = self._indent_before(last[0])
        out = []
        for source in sources:
            cell: dict = {"cell_type": "code", "execution_count": None}
            if self.has_cell_ids:
                cell["id"] = "mlrules-" + hashlib.sha1(source.encode()).hexdigest()[:8]
            cell.update({"metadata": {}, "outputs": [], "source": split_lines(source)})
            if indent is None:
                out.append(", " + json.dumps(cell, ensure_ascii=self._ensure_ascii))
                continue
            step = _indent_step(self.raw) or 1
            dumped = json.dumps(cell, indent=step, ensure_ascii=self._ensure_ascii)
            out.append(",\n" + indent + dumped.replace("\n", "\n" + indent))
        return Edit(last[1], last[1], "".join(out))


def split_lines(text: str) -> list[str]:
    """Jupyter's line split: on "\n" only, keeping it."""
    return re.findall(r"[^\n]*\n|[^\n]+", text)


def _indent_step(raw: str) -> int:
    m = re.search(r"\{\s*\n( +)\"", raw)
    return len(m.group(1)) if m else 0


def _language(data: dict) -> str:
    meta = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
    for getter in (
        lambda: meta["application/vnd.databricks.v1+notebook"]["language"],
        lambda: meta["kernelspec"]["language"],
        lambda: meta["language_info"]["name"],
    ):
        try:
            value = getter()
        except (KeyError, TypeError):
            continue
        if isinstance(value, str) and value:
            return value.lower()
    return "python"


# --- a small span locator over the raw JSON ---------------------------------------------
@dataclass
class _Spans:
    array: tuple[int, int]
    cells: list[tuple[tuple[int, int], tuple[int, int] | None]]


_WS = re.compile(r"[ \t\r\n]*")
_SCALAR = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?|true|false|null")


def _skip_ws(raw: str, i: int) -> int:
    return _WS.match(raw, i).end()


def _skip_value(raw: str, i: int) -> int:
    """Offset just past the JSON value starting at ``i`` (the JSON is known to be valid)."""
    ch = raw[i]
    if ch == '"':
        return scanstring(raw, i + 1)[1]
    if ch in "[{":
        close = "]" if ch == "[" else "}"
        i = _skip_ws(raw, i + 1)
        if raw[i] == close:
            return i + 1
        while True:
            if ch == "{":
                i = _skip_ws(raw, scanstring(raw, i + 1)[1])
                i = _skip_ws(raw, i + 1)  # past ':'
            i = _skip_ws(raw, _skip_value(raw, i))
            if raw[i] == ",":
                i = _skip_ws(raw, i + 1)
                continue
            return i + 1
    return _SCALAR.match(raw, i).end()


def _object_members(raw: str, i: int):
    """Yield (key, value_start, value_end) of the object at ``i``."""
    i = _skip_ws(raw, i + 1)
    if raw[i] == "}":
        return
    while True:
        key, i = scanstring(raw, i + 1)
        i = _skip_ws(raw, _skip_ws(raw, i) + 1)
        end = _skip_value(raw, i)
        yield key, i, end
        i = _skip_ws(raw, end)
        if raw[i] == ",":
            i = _skip_ws(raw, i + 1)
            continue
        return


def _locate(raw: str) -> _Spans:
    start = _skip_ws(raw, 0)
    array = (0, 0)
    cells: list = []
    for key, vstart, vend in _object_members(raw, start):
        if key != "cells":
            continue
        array = (vstart, vend)
        cells = []
        i = _skip_ws(raw, vstart + 1)
        while raw[i] != "]":
            end = _skip_value(raw, i)
            source = None
            if raw[i] == "{":
                for ckey, cstart, cend in _object_members(raw, i):
                    if ckey == "source":
                        source = (cstart, cend)
            cells.append(((i, end), source))
            i = _skip_ws(raw, end)
            if raw[i] == ",":
                i = _skip_ws(raw, i + 1)
    return _Spans(array, cells)
