"""Text edits on YAML that keep everything else byte-for-byte (comments, quoting, newlines).

pyyaml's composed nodes carry character offsets (``node.start_mark.index``); these helpers
turn them into exact regions of the file text. A block collection's ``end_mark`` lies at the
next token (after trailing comments and blank lines), so ``content_end`` walks down to the
last scalar or flow collection instead.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import yaml

_BLOCK = (yaml.SequenceNode, yaml.MappingNode)


def is_block(node: yaml.Node) -> bool:
    return isinstance(node, _BLOCK) and not node.flow_style


def content_end(node: yaml.Node) -> int:
    """Offset just past the last character that belongs to ``node`` (comments excluded)."""
    if is_block(node) and node.value:
        last = node.value[-1]
        return content_end(last[1] if isinstance(node, yaml.MappingNode) else last)
    return node.end_mark.index


def line_start(text: str, offset: int) -> int:
    return text.rfind("\n", 0, offset) + 1


def line_end(text: str, offset: int) -> int:
    """Offset of the line end (before ``\\r\\n`` / ``\\n``) of the line holding ``offset``."""
    end = text.find("\n", offset)
    end = len(text) if end == -1 else end
    return end - 1 if end > 0 and text[end - 1] == "\r" else end


def next_line_start(text: str, offset: int) -> int:
    """Offset of the start of the line after the one holding ``offset`` (or the text end)."""
    end = text.find("\n", offset)
    return len(text) if end == -1 else end + 1


def starts_line(text: str, offset: int) -> bool:
    """Only indentation precedes ``offset`` on its line."""
    return text[line_start(text, offset) : offset].strip(" ") == ""


def scalar_spans(node: yaml.Node, _seen: set[int] | None = None) -> list[tuple[int, int]]:
    """(start, end) of every scalar (keys included) under ``node``."""
    seen = _seen if _seen is not None else set()
    if id(node) in seen:
        return []
    seen.add(id(node))
    if isinstance(node, yaml.ScalarNode):
        return [(node.start_mark.index, node.end_mark.index)]
    spans: list[tuple[int, int]] = []
    if isinstance(node, yaml.SequenceNode):
        for item in node.value:
            spans.extend(scalar_spans(item, seen))
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            spans.extend(scalar_spans(key, seen))
            spans.extend(scalar_spans(value, seen))
    return spans


@dataclass(frozen=True)
class Comment:
    start: int  # offset of '#'
    text: str  # from '#' to the line end
    own_line: bool  # nothing but indentation before it


class CommentScanError(ValueError):
    """The region holds a '#' that may or may not be a comment: do not edit it."""


def comments_in(text: str, start: int, end: int, nodes: list[yaml.Node]) -> list[Comment]:
    """Comments whose '#' lies in text[start:end], outside every scalar under ``nodes``."""
    skip = sorted(span for node in nodes for span in scalar_spans(node))
    found: list[Comment] = []
    i = start
    k = 0
    while i < end:
        while k < len(skip) and skip[k][1] <= i:
            k += 1
        if k < len(skip) and skip[k][0] <= i < skip[k][1]:
            i = skip[k][1]
            continue
        ch = text[i]
        if ch == "#":
            if i > 0 and text[i - 1] not in " \t\n\r" and i != line_start(text, i):
                raise CommentScanError(f"ambiguous '#' at offset {i}")
            stop = line_end(text, i)
            found.append(Comment(i, text[i:stop].rstrip(), starts_line(text, i)))
            i = stop
            continue
        if ch in "&*!":  # anchors, aliases, tags: not expected in what we rewrite
            raise CommentScanError(f"anchor, alias or tag at offset {i}")
        i += 1
    return found


def child_indent(text: str, key: yaml.Node, value: yaml.Node, default_step: int = 2) -> int:
    """The column at which the entries of a block mapping under ``key`` start (or would)."""
    if isinstance(value, yaml.MappingNode) and is_block(value) and value.value:
        return value.value[0][0].start_mark.column
    return key.start_mark.column + default_step


def indent_step(parent_key: yaml.Node | None, parent_value: yaml.Node | None, default: int = 2) -> int:
    """The indentation step used by a block mapping relative to its key (2 when unknown)."""
    if (
        parent_key is not None
        and isinstance(parent_value, yaml.MappingNode)
        and is_block(parent_value)
        and parent_value.value
    ):
        step = parent_value.value[0][0].start_mark.column - parent_key.start_mark.column
        if step > 0:
            return step
    return default


# --- scalars ----------------------------------------------------------------------------------
def _reads_as(document: str, expected: object) -> bool:
    try:
        return yaml.safe_load(document) == expected
    except yaml.YAMLError:
        return False


def render_scalar(value: str, *, quote: str = '"', flow: bool = False, key: bool = False, plain: bool = True) -> str:
    """YAML text for the string ``value``: plain (when ``plain`` and that reads back as the same
    string in this context: block or ``flow``, mapping ``key`` or value), else quoted with
    ``quote`` (``'`` or ``"``; double quotes whenever the value spans lines)."""
    if plain and value and value == value.strip() and "\n" not in value and "\r" not in value:
        if key:
            doc = "{" + value + ": x}\n" if flow else value + ": x\n"
            ok = _reads_as(doc, {value: "x"})
        else:
            doc = "[" + value + "]\n" if flow else "k: " + value + "\n"
            ok = _reads_as(doc, [value] if flow else {"k": value})
        if ok:
            return value
    if quote == "'" and "\n" not in value and "\r" not in value:
        return "'" + value.replace("'", "''") + "'"
    return json.dumps(value, ensure_ascii=False)


def style_of(node: yaml.ScalarNode) -> str | None:
    """``'`` / ``"`` for quoted scalars, None for plain (block scalars count as plain)."""
    return node.style if node.style in ("'", '"') else None
