"""Notebook magic lines: recognising them, masking them to valid Python, exposing their arguments.

Masking replaces a magic line's first non-blank character with ``#``: same length, same line
count, so every offset computed on the masked text is an offset into the original text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Magics that make the whole cell non-Python (the rest of the cell is another language).
CELL_LANGUAGE_MAGICS = frozenset(
    {"md", "md-sandbox", "sql", "sh", "scala", "r", "fs", "bash", "html", "javascript", "latex", "markdown", "writefile", "script", "perl", "ruby", "svg"}
)

# `%name` / `%%name` at the start of a line (optionally indented). `%` followed by a space or a
# digit is the modulo operator in a continuation line and is left alone.
_BARE_MAGIC = re.compile(r"^(?P<indent>[ \t]*)(?P<sigil>%%?|!)(?P<name>[A-Za-z_][\w-]*)?")
_DATABRICKS_MAGIC_PREFIX = re.compile(r"^# MAGIC ?")
_TOKEN = re.compile(r"\S+")


@dataclass(frozen=True)
class Token:
    text: str
    start: int  # offset into the file text
    end: int


@dataclass(frozen=True)
class MagicCommand:
    """One magic line: ``%pip install x==1``, ``# MAGIC %run ./setup``, ``!pip install y``."""

    name: str  # "pip", "run", "sh", "restart_python", ...
    row: int  # 1-based row in the file text
    start: int  # offset of the sigil (%/!) in the file text
    end: int  # offset of the end of the line content
    args: tuple[Token, ...]
    shell: bool = False  # written as !cmd

    @property
    def arg_text(self) -> str:
        return " ".join(t.text for t in self.args)


def bare_magic(line: str) -> tuple[str, str] | None:
    """If ``line`` is a bare magic line, return (sigil, name). Otherwise None."""
    m = _BARE_MAGIC.match(line)
    if not m:
        return None
    sigil, name = m.group("sigil"), m.group("name")
    if sigil == "!":
        # `!pip install x`, `! ls`: any shell escape. `!=` can never start a line.
        rest = line[m.end("sigil") :]
        if rest.startswith("="):
            return None
        return sigil, name or ""
    if not name:
        return None
    return sigil, name


def mask_line(line: str) -> str:
    """Same-length Python comment in place of a non-Python line."""
    stripped = line.lstrip(" \t")
    if not stripped or stripped.startswith("#"):
        return line
    indent = len(line) - len(stripped)
    return line[:indent] + "#" + stripped[1:]


def parse_magic(line: str, line_offset: int, row: int, content_start: int) -> MagicCommand | None:
    """Parse a magic from ``line`` starting at column ``content_start`` (after any ``# MAGIC ``)."""
    body = line[content_start:]
    found = bare_magic(body)
    if not found:
        return None
    sigil, name = found
    lead = len(body) - len(body.lstrip(" \t"))
    sigil_col = content_start + lead
    after_name = sigil_col + len(sigil) + len(name)
    if sigil == "!" and not name:
        # `! pip install` : the command is the first token.
        rest = line[after_name:]
        tok = _TOKEN.search(rest)
        if not tok:
            return None
        name = tok.group()
        after_name += tok.end()
    content = line.rstrip("\r")
    args = tuple(
        Token(t.group(), line_offset + after_name + t.start(), line_offset + after_name + t.end())
        for t in _TOKEN.finditer(content[after_name:])
    )
    return MagicCommand(
        name=name,
        row=row,
        start=line_offset + sigil_col,
        end=line_offset + len(content),
        args=args,
        shell=sigil == "!",
    )


def continuation_tokens(line: str, line_offset: int, content_start: int) -> tuple[Token, ...]:
    """The words of a line that continues a magic (the previous line ended with a backslash)."""
    content = line.rstrip("\r")
    return tuple(
        Token(t.group(), line_offset + content_start + t.start(), line_offset + content_start + t.end())
        for t in _TOKEN.finditer(content[content_start:])
    )


def databricks_magic_prefix(line: str) -> int | None:
    """Length of a ``# MAGIC `` prefix, or None."""
    m = _DATABRICKS_MAGIC_PREFIX.match(line)
    return m.end() if m else None
