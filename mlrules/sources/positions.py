"""Node positions from one code-generation pass, about 8x cheaper than libcst's PositionProvider.

libcst computes positions by generating the module's code while tracking line and column
(through ``MetadataWrapper``); most of its cost is bookkeeping per token. Positions here are
plain character offsets into the module's code (which is the file text: masking keeps every
offset), recorded with libcst's own hooks, so the ranges are exactly PositionProvider's
(syntactic, without surrounding whitespace). Only files with findings ever pay for this.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import libcst as cst
from libcst._nodes.internal import CodegenState


class _OffsetState(CodegenState):
    __slots__ = ("offset", "_stack", "ranges", "_last")

    def __init__(self, module: cst.Module) -> None:
        super().__init__(default_indent=module.default_indent, default_newline=module.default_newline)
        self.offset = 0
        self._stack: list[int] = []
        self.ranges: dict[cst.CSTNode, tuple[int, int]] = {}
        self._last = 0

    def add_indent_tokens(self) -> None:
        for token in self.indent_tokens:
            self.offset += len(token)
            self._last = len(token)

    def add_token(self, value: str) -> None:
        self.offset += len(value)
        self._last = len(value)

    def pop_trailing_newline(self) -> None:
        pass  # like libcst's PositionProvider: the module's range keeps its final newline

    def before_codegen(self, node: cst.CSTNode) -> None:
        self._stack.append(self.offset)

    def after_codegen(self, node: cst.CSTNode) -> None:
        start = self._stack.pop()
        if node not in self.ranges:
            self.ranges[node] = (start, self.offset)

    @contextmanager
    def record_syntactic_position(
        self, node: cst.CSTNode, *, start_node: cst.CSTNode | None = None, end_node: cst.CSTNode | None = None
    ) -> Iterator[None]:
        start = self.offset
        yield  # no try/finally: an error inside (RecursionError) must reach the caller as it is
        end = self.offset
        if start_node is not None:
            start = self.ranges[start_node][0]
        if end_node is not None:
            end = self.ranges[end_node][1]
        self.ranges[node] = (start, end)


def node_offsets(module: cst.Module) -> dict[cst.CSTNode, tuple[int, int]]:
    """(start, end) character offsets of every node of ``module`` in ``module.code``."""
    state = _OffsetState(module)
    module._codegen(state)
    return state.ranges


class _Syntactic:
    """``record_syntactic_position`` as a plain context manager (a generator-based one costs
    more than the code generation around it)."""

    __slots__ = ("state", "key", "start", "start_node", "end_node")

    def __init__(self, state: "_TextState", node: cst.CSTNode, start_node, end_node) -> None:
        self.state = state
        self.key = id(node)
        self.start_node = start_node
        self.end_node = end_node

    def __enter__(self) -> None:
        self.start = self.state.offset

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:  # like _OffsetState: an error inside reaches the caller as it is
            state = self.state
            start, end = self.start, state.offset
            if self.start_node is not None:
                start = state.ranges[id(self.start_node)][0]
            if self.end_node is not None:
                end = state.ranges[id(self.end_node)][1]
            state.ranges[self.key] = (start, end)
        return False


class _TextState(_OffsetState):
    """Offsets plus the generated text (to place one statement in the file). Ranges are keyed
    by ``id(node)`` (libcst's ``__hash__`` is a Python-level call)."""

    __slots__ = ("parts",)

    def __init__(self, module: cst.Module) -> None:
        super().__init__(module)
        self.parts: list[str] = []

    def before_codegen(self, node: cst.CSTNode) -> None:
        self._stack.append(self.offset)

    def after_codegen(self, node: cst.CSTNode) -> None:
        start = self._stack.pop()
        key = id(node)
        if key not in self.ranges:
            self.ranges[key] = (start, self.offset)

    def record_syntactic_position(self, node, *, start_node=None, end_node=None):  # type: ignore[override]
        return _Syntactic(self, node, start_node, end_node)

    def add_indent_tokens(self) -> None:
        for token in self.indent_tokens:
            self.parts.append(token)
            self.offset += len(token)
            self._last = len(token)

    def add_token(self, value: str) -> None:
        self.parts.append(value)
        self.offset += len(value)
        self._last = len(value)


class Positions:
    """``node -> (start, end)`` offsets like :func:`node_offsets`, computed one top-level
    statement at a time: a file with one finding pays for the code generation of the
    statement holding it, not of the whole file.

    Each top-level statement is placed in the file from the line CPython's ``ast`` gives its
    first token (top-level statements start at column 0), and the placement is checked: the
    statement's generated text must be exactly the file's text there. Anything unexpected (no
    ``parents`` map, code that ``ast`` rejects, a node outside every statement, a placement
    that does not check out) falls back to the whole-file pass, so results are always
    :func:`node_offsets`'s.
    """

    def __init__(self, module: cst.Module, code: str, parents: dict | None) -> None:
        self.module = module
        self.code = code
        self.parents = parents
        self._ranges: dict[int, tuple[int, int]] = {}  # id(node) -> range
        self._done: set[int] = set()
        self._anchors: dict[int, int] | None = None
        self._full = False

    def __getitem__(self, node: cst.CSTNode) -> tuple[int, int]:
        key = id(node)  # the module (held here) keeps every node of the tree, and so its id, alive
        found = self._ranges.get(key)
        if found is not None:
            return found
        if not self._full:
            statement = self._statement_of(node)
            if statement is not None and id(statement) not in self._done and self._place(statement):
                found = self._ranges.get(key)
                if found is not None:
                    return found
            self._whole_file()
        found = self._ranges.get(key)
        if found is None:
            raise KeyError(node)
        return found

    def _whole_file(self) -> None:
        if not self._full:
            ranges = node_offsets(self.module)
            if self.code.startswith("\ufeff") and not self.module.code.startswith("\ufeff"):
                # libcst drops a leading U+FEFF (a second BOM in the file) from the code
                ranges = {node: (a + 1, b + 1) for node, (a, b) in ranges.items()}
            self._ranges = {id(node): span for node, span in ranges.items()}
            self._full = True

    def _statement_of(self, node: cst.CSTNode) -> cst.CSTNode | None:
        parents = self.parents
        if parents is None:
            return None
        module = self.module
        current = node
        while True:
            parent = parents.get(current)
            if parent is None:
                return None
            if parent is module:
                return current
            current = parent

    def _anchor_lines(self) -> dict[int, int] | None:
        """id(top-level statement) -> offset of the start of its first token's line."""
        if self._anchors is None:
            from mlrules.sources.limits import quiet_ast

            try:
                tree = quiet_ast(self.code)
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                self._anchors = {}
                return self._anchors
            starts = [0]
            for line in self.code.split("\n"):
                starts.append(starts[-1] + len(line) + 1)
            anchors: dict[int, int] = {}
            body = tree.body
            j = 0
            for statement in self.module.body:
                if j >= len(body):
                    anchors = {}
                    break
                first = body[j]
                line = first.lineno
                decorators = getattr(first, "decorator_list", None)
                if decorators:
                    line = min(line, decorators[0].lineno)
                if 0 < line < len(starts):
                    anchors[id(statement)] = starts[line - 1]
                j += len(statement.body) if isinstance(statement, cst.SimpleStatementLine) else 1
            self._anchors = anchors
        return self._anchors

    def _place(self, statement: cst.CSTNode) -> bool:
        self._done.add(id(statement))
        state = _TextState(self.module)
        statement._codegen(state)
        text = "".join(state.parts)
        code = self.code
        if not self.module.has_trailing_newline and text.endswith(self.module.default_newline) and code.endswith(text[: -len(self.module.default_newline)]):
            text = text[: -len(self.module.default_newline)]  # the last statement of a file without a final newline
        # where the statement's text occurs exactly once, that is where it is
        start = code.find(text)
        if start < 0 or code.find(text, start + 1) >= 0:
            start = self._anchored(statement, text)
            if start is None:
                return False
        for key, (a, b) in state.ranges.items():
            self._ranges[key] = (a + start, b + start)
        return True

    def _anchored(self, statement: cst.CSTNode, text: str) -> int | None:
        """The statement's start from the line of its first token (CPython's ``ast``), checked."""
        anchor = self._anchor_lines().get(id(statement))
        if anchor is None:
            return None
        first = 0  # the statement's first token: after its leading blank and comment lines
        for line in text.split("\n"):
            stripped = line.strip()
            if stripped and not stripped.startswith("#"):
                break
            first += len(line) + 1
        start = anchor - first
        if start < 0 or self.code[start : start + len(text)] != text:
            return None
        return start
