"""Python files as rules see them: Databricks source notebooks, ``.ipynb`` notebooks, plain modules.

Every kind becomes one ``text`` (the file text; for ``.ipynb`` the cells joined) and one
``code``: the same text with magic lines masked to comments, same length and line count,
so libcst positions on ``code`` are positions in ``text`` and fix edits apply to ``text``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, Literal

from mlrules.sources.ipynb import CELL_SEPARATOR, IpynbDocument
from mlrules.sources.magics import (
    CELL_LANGUAGE_MAGICS,
    MagicCommand,
    bare_magic,
    continuation_tokens,
    databricks_magic_prefix,
    mask_line,
    parse_magic,
)
from mlrules.model import Edit
from mlrules.sources.text import LineIndex, newline_of

if TYPE_CHECKING:
    import libcst as cst

DATABRICKS_HEADER = "# Databricks notebook source"
_COMMAND_LINE = re.compile(r"^# COMMAND -{10}\s*$")

Kind = Literal["databricks", "ipynb", "module"]


@dataclass(frozen=True)
class Cell:
    number: int  # 1-based over all cells (markdown included)
    kind: str  # "code" | "magic" (a whole-cell magic: %md, %sql, ...) | "markdown" | "raw"
    start: int  # offsets of the cell's content in the text
    end: int
    start_row: int
    end_row: int
    magic: str | None = None  # for kind "magic": md, sql, pip, run, ...


@dataclass
class PythonSource:
    path: str
    kind: Kind
    text: str
    code: str
    newline: str
    had_bom: bool
    cells: list[Cell]
    magics: list[MagicCommand]
    ipynb: IpynbDocument | None = None
    language: str = "python"
    _module: "cst.Module | None" = field(default=None, repr=False)
    _offsets: "dict | None" = field(default=None, repr=False)
    # Per-file results of higher layers (the shared index, facts), kept with the source so
    # that no layer computes them twice. Sources never look inside.
    cache: dict = field(default_factory=dict, repr=False)

    @property
    def is_notebook(self) -> bool:
        return self.kind != "module"

    @cached_property
    def lines(self) -> LineIndex:
        return LineIndex(self.text)

    def parse(self) -> "cst.Module":
        """Parse ``code`` with libcst (cached). Raises ``libcst.ParserSyntaxError``, or
        ``limits.NestingTooDeep`` for code too deeply nested to hand to libcst safely."""
        if self._module is None:
            import libcst as cst

            from mlrules.sources.limits import check_nesting

            check_nesting(self.code)
            self._module = cst.parse_module(self.code)
        return self._module

    def node_range(self, node: "cst.CSTNode") -> tuple[int, int]:
        """(start, end) offsets of a node of ``parse()``'s tree in ``text`` (computed once per file)."""
        if self._offsets is None:
            from mlrules.sources.positions import Positions

            index = self.cache.get("index")  # its parent map lets positions go statement by statement
            self._offsets = Positions(self.parse(), self.code, getattr(index, "parents", None))
        return self._offsets[node]

    def cell_at_row(self, row: int) -> Cell | None:
        for cell in self.cells:
            if cell.start_row <= row <= cell.end_row:
                return cell
        return None

    def render(self, new_text: str) -> str | None:
        """The new file text for an edited ``text`` (None when the edit is not representable)."""
        if self.ipynb is not None:
            return self.ipynb.render(new_text)
        return new_text

    def append_cell_edit(self, code: str) -> Edit:
        """An edit that appends a new code cell holding ``code`` (``\n``-terminated)."""
        end = len(self.text)
        if self.kind == "ipynb":
            return Edit(end, end, CELL_SEPARATOR + code)
        lead = "" if self.text.endswith("\n") or not self.text else "\n"
        if self.kind == "databricks":
            return Edit(end, end, lead + "\n# COMMAND ----------\n\n" + code)
        return Edit(end, end, lead + code)

    def magics_named(self, *names: str) -> list[MagicCommand]:
        return [m for m in self.magics if m.name in names]


def load_python(path: str, text: str, had_bom: bool, *, ipynb: bool = False) -> PythonSource:
    """Build a PythonSource; raises ``NotebookFormatError`` for broken notebooks."""
    if ipynb:
        return _load_ipynb(path, text, had_bom)
    first = text.split("\n", 1)[0].rstrip("\r").rstrip()
    if first == DATABRICKS_HEADER:
        return _load_databricks(path, text, had_bom)
    code, magics = _mask_bare_magics(text, 0, 1)
    index = LineIndex(text)
    cells = [Cell(1, "code", 0, len(text), 1, index.line_count)]
    return PythonSource(path, "module", text, code, newline_of(text), had_bom, cells, magics)


def _mask_bare_magics(text: str, base_offset: int, base_row: int, *, databricks_prefix: bool = False):
    """Mask magic lines of a code cell; return (masked text, magic commands).

    With ``databricks_prefix``, ``# MAGIC %cmd`` lines are also read as magics (they are already
    comments and stay as they are).
    """
    out = []
    magics: list[MagicCommand] = []
    offset = base_offset
    language_magic = False
    # "magic"/"bare": the previous line was a `# MAGIC` / bare line magic (or its continuation)
    # ending with a backslash, so this line continues it
    continued: str | None = None
    for row, line in enumerate(text.split("\n"), start=base_row):
        prefix = databricks_magic_prefix(line) if databricks_prefix else None
        if continued and magics:
            # `%pip install a \` + `  b`: the line belongs to the magic (masked like it)
            if (prefix is not None) == (continued == "magic"):
                tokens = continuation_tokens(line, offset, prefix or 0)
                last = magics[-1]
                magics[-1] = replace(last, args=last.args + tokens, end=offset + len(line.rstrip("\r")))
                out.append(line if prefix is not None else mask_line(line))
                continued = continued if _ends_with_backslash(line) else None
                offset += len(line) + 1
                continue
            continued = None
        if prefix is not None:
            magic = parse_magic(line, offset, row, prefix)
            if magic:
                magics.append(magic)
                continued = "magic" if _ends_with_backslash(line) else None
            out.append(line)
        elif language_magic:
            out.append(mask_line(line))
        else:
            found = bare_magic(line)
            if found:
                magic = parse_magic(line, offset, row, 0)
                if magic:
                    magics.append(magic)
                    if found[0] == "%%" or (magic.name in CELL_LANGUAGE_MAGICS and not magic.args):
                        language_magic = True  # the rest of the cell is another language
                    elif _ends_with_backslash(line):
                        continued = "bare"
                out.append(mask_line(line))
            else:
                out.append(line)
        offset += len(line) + 1
    return "\n".join(out), magics


def _ends_with_backslash(line: str) -> bool:
    return line.rstrip().endswith("\\")


def _load_databricks(path: str, text: str, had_bom: bool) -> PythonSource:
    lines = text.split("\n")
    # Cell boundaries: the header line and every "# COMMAND ----------" line belong to no cell.
    cells: list[Cell] = []
    code_parts: list[str] = []
    magics: list[MagicCommand] = []
    offset = 0
    row = 1
    current: list[str] = []
    current_start = (0, 1)

    def close_cell() -> None:
        nonlocal current
        if not current:
            return  # two boundaries in a row: no cell between them
        start, start_row = current_start
        body = "\n".join(current)
        masked, cell_magics = _mask_bare_magics(body, start, start_row, databricks_prefix=True)
        magics.extend(cell_magics)
        code_parts.append(masked)
        kind, magic_name = "code", None
        for line in current:
            prefix = databricks_magic_prefix(line)
            stripped = line.strip()
            if not stripped or stripped.startswith("# DBTITLE"):
                continue
            if prefix is not None:
                found = bare_magic(line[prefix:])
                if found:
                    kind, magic_name = "magic", found[1]
            break
        end_row = start_row + max(len(current), 1) - 1
        cells.append(Cell(len(cells) + 1, kind, start, start + len(body), start_row, end_row, magic_name))
        current = []

    for i, line in enumerate(lines):
        is_boundary = (i == 0 and line.rstrip("\r").rstrip() == DATABRICKS_HEADER) or _COMMAND_LINE.match(line.rstrip("\r"))
        if is_boundary:
            if i > 0:
                close_cell()
            code_parts.append(line)
            current_start = (offset + len(line) + 1, row + 1)
        else:
            current.append(line)
        offset += len(line) + 1
        row += 1
    close_cell()
    code = "\n".join(code_parts)
    # "\n".join over boundary lines and cell bodies re-creates the text's shape exactly.
    assert len(code) == len(text), "masking must keep the length"
    return PythonSource(path, "databricks", text, code, newline_of(text), had_bom, cells, magics)


def _load_ipynb(path: str, raw: str, had_bom: bool) -> PythonSource:
    doc = IpynbDocument.parse(raw)
    python = doc.language in ("python", "python3", "ipython")
    parts: list[str] = []
    cells: list[Cell] = []
    magics: list[MagicCommand] = []
    offset, row = 0, 1
    for number, raw_cell in enumerate(doc.cells, start=1):
        source = raw_cell.source
        n_lines = source.count("\n") + 1
        if raw_cell.cell_type == "code" and python:
            masked, cell_magics = _mask_bare_magics(source, offset, row)
            magics.extend(cell_magics)
            kind = "code"
            magic_name = None
            first = source.lstrip().split("\n", 1)[0]
            found = bare_magic(first)
            if found and (found[0] == "%%" or found[1] in CELL_LANGUAGE_MAGICS):
                kind, magic_name = "magic", found[1]
        else:
            masked = "\n".join(mask_line(line) if line.strip() else line for line in source.split("\n"))
            kind, magic_name = ("markdown" if raw_cell.cell_type == "markdown" else "raw"), None
        parts.append(masked)
        cells.append(Cell(number, kind, offset, offset + len(source), row, row + n_lines - 1, magic_name))
        offset += len(source) + len(CELL_SEPARATOR)
        row += n_lines + 1  # the separator adds one line of its own
    code = CELL_SEPARATOR.join(parts)
    text = doc.joined()
    return PythonSource(path, "ipynb", text, code, "\n", had_bom, cells, magics, ipynb=doc, language=doc.language)
