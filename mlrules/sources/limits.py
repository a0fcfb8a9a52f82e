"""Limits that keep one pathological file from crashing or hanging a run.

- ``check_nesting``: libcst's native parser recurses on the C stack and *crashes the process*
  (SIGSEGV, nothing to catch) on deeply nested code: ~2000 nested brackets or a ~10000-term
  ``and`` chain on an 8 MiB stack; it is also quadratic on very long chains. CPython's own parser
  refuses such code with a clear error (over 200 nested brackets, over ~3000 nested
  expressions), so a file CPython refuses for its nesting never reaches libcst: it becomes MLR001.
- ``call_deep``: code that walks a syntax tree recursively (libcst's code generation, which
  positions use, and a few analyses) needs one Python frame or more per nesting level; a
  valid file (say 500 ``elif`` or a 1000-term ``+`` chain) can exceed the default recursion limit.
  ``call_deep`` re-runs such work in a thread with a large stack and a higher limit.
- ``read_regular``: read a file only when it is a regular file (a FIFO would block forever, a
  device never ends) and not larger than the size limit.
"""

from __future__ import annotations

import ast
import errno
import functools
import os
import re
import stat
import symtable
import sys
import threading
import warnings
from typing import Any, Callable, TypeVar

T = TypeVar("T")

# --- nesting -------------------------------------------------------------------------------------
MAX_BRACKET_DEPTH = 200  # CPython's tokenizer limit (MAXLEVEL)
MAX_OPERANDS = 3000  # longest `a and b and ...` chain analysed (CPython keeps it flat, libcst nests it)
_DEPTH_ERRORS = ("too many nested parentheses", "too many levels of indentation", "too many statically nested blocks")


class NestingTooDeep(ValueError):
    """The code is nested too deeply to parse safely; ``lineno``/``offset`` like SyntaxError."""

    def __init__(self, message: str, lineno: int = 1, offset: int = 1) -> None:
        super().__init__(message)
        self.msg = message
        self.lineno = lineno
        self.offset = offset


@functools.lru_cache(maxsize=4)
def symbol_table(code: str) -> symtable.SymbolTable:
    """CPython's symbol table of ``code`` (raises ``SyntaxError`` like ``ast.parse``). CPython
    parses in C without building Python AST objects: about half the cost of ``ast.parse``, the
    cheapest complete syntax check. Kept for the next caller (NB009's undefined names ask for
    the same file's table right after ``check_nesting``)."""
    with warnings.catch_warnings():  # invalid escapes ("\d") warn on 3.12+: not ours to print
        warnings.simplefilter("ignore")
        return symtable.symtable(code, "<notebook>", "exec")


def quiet_ast(code: str) -> ast.Module:
    """``ast.parse`` without the warnings Python 3.12+ prints for invalid escapes such as
    ``"\\d"`` in the user's code (not ours to print). Raises what ``ast.parse`` raises."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ast.parse(code)


SHALLOW_BUDGET = 3500
# every level of nesting needs a bracket, an operator or one of these keywords
_CHAIN_CHARACTERS = ".+-*/%@&|^~<>"
_CHAIN_WORDS = (" and ", " or ", "not ", " if ", "lambda", "await", "elif", " for ")


def surely_shallow(code: str) -> bool:
    """Whether ``code`` certainly cannot nest deeply enough to trouble libcst (cheap: counts).

    On an 8 MiB stack libcst overflows from about 1200 nested brackets or 7000 chained
    ``and`` (the costliest kinds); a bracket level costs about six chain levels. With fewer
    than ``SHALLOW_BUDGET`` weighted brackets and operators in the whole file, the deepest
    nesting possible stays under half of that (and far from libcst's slow, quadratic range).
    """
    opens = code.count("(") + code.count("[") + code.count("{")
    if 6 * opens >= SHALLOW_BUDGET:
        return False
    ops = sum(code.count(c) for c in _CHAIN_CHARACTERS) + sum(code.count(w) for w in _CHAIN_WORDS)
    return 6 * opens + ops < SHALLOW_BUDGET


def check_nesting(code: str) -> None:
    """Raise ``NestingTooDeep`` when ``code`` is nested too deeply for libcst to parse safely.

    Most files are ``surely_shallow`` and cost a few counts; the others are parsed by CPython
    first (about a tenth of libcst's parse time), whose verdict on nesting is taken.
    """
    if surely_shallow(code):
        return
    try:
        symbol_table(code)
    except (RecursionError, MemoryError):
        raise NestingTooDeep("cannot parse: nested too deeply") from None
    except SyntaxError as exc:
        if (exc.msg or "").startswith(_DEPTH_ERRORS):
            raise NestingTooDeep(f"cannot parse: {exc.msg}", exc.lineno or 1, exc.offset or 1) from None
        _scan_brackets(code)  # CPython stopped at another error first: measure the nesting ourselves
        return
    except ValueError:  # NUL bytes in the source: CPython refuses to look further
        _scan_brackets(code)
        return
    if (code.count(" and ") + code.count(" or ")) > MAX_OPERANDS:
        tree = quiet_ast(code)
        for node in ast.walk(tree):
            if isinstance(node, ast.BoolOp) and len(node.values) > MAX_OPERANDS:
                raise NestingTooDeep(f"cannot parse: a boolean expression with {len(node.values)} operands", node.lineno, node.col_offset + 1)


# strings (any prefix, single or triple quoted), comments, brackets, newlines, chain operators
_TOKENS = re.compile(
    r"""(?:[rRbBuUfF]{0,2})(?:'\'\'(?:\\.|[^\\])*?(?:'\'\'|\Z)|"\"\"(?:\\.|[^\\])*?(?:"\"\"|\Z)|'(?:\\.|[^'\\\n])*(?:'|$)|"(?:\\.|[^"\\\n])*(?:"|$))"""
    r"""|\#[^\n]*|(?P<open>[(\[{])|(?P<close>[)\]}])|(?P<newline>\n)|(?P<op>\b(?:and|or|not|lambda|if|await)\b|[-+*/%@&|^~<>.])""",
    re.M,
)
_CHAIN_CHARS = re.compile(r"\b(?:and|or|not|lambda|if|await)\b|[-+*/%@&|^~<>.]")
MAX_FALLBACK_CHAIN = 8000  # operators in one statement (libcst overflows an 8 MiB stack from ~10000)


def _scan_brackets(code: str) -> None:
    """Bracket depth and operators per statement, outside strings and comments, for code CPython
    did not finish parsing (a syntax error before the deep part, or syntax newer than this Python)."""
    deep_brackets = code.count("(") + code.count("[") + code.count("{") > MAX_BRACKET_DEPTH
    long_chains = len(code) > MAX_FALLBACK_CHAIN and len(_CHAIN_CHARS.findall(code)) > MAX_FALLBACK_CHAIN
    if not (deep_brackets or long_chains):
        return
    depth = run = 0
    for match in _TOKENS.finditer(code):
        kind = match.lastgroup
        if kind == "open":
            depth += 1
            if depth > MAX_BRACKET_DEPTH:
                lineno = code.count("\n", 0, match.start()) + 1
                raise NestingTooDeep("cannot parse: too many nested parentheses", lineno, match.start() - code.rfind("\n", 0, match.start()))
        elif kind == "close":
            depth = max(depth - 1, 0)
        elif kind == "newline":
            if depth == 0 and not code[max(match.start() - 2, 0) : match.start()].rstrip("\r").endswith("\\"):
                run = 0  # the statement ends here
        elif kind == "op":
            run += 1
            if run > MAX_FALLBACK_CHAIN:
                raise NestingTooDeep("cannot parse: expression nested too deeply", code.count("\n", 0, match.start()) + 1)


# --- deep recursion ------------------------------------------------------------------------------
DEEP_STACK_BYTES = 512 * 1024 * 1024  # virtual: only the pages used are allocated
DEEP_RECURSION_LIMIT = 60_000
_deep_lock = threading.Lock()
_deep_active = 0
_saved_limit = 0
_local = threading.local()


def call_deep(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` in a thread with a large stack and a high recursion limit.

    For work that hit ``RecursionError`` on a valid but deeply nested file. When no such thread
    can be started (a tight address-space limit), ``fn`` runs here and may raise RecursionError.
    """
    global _deep_active, _saved_limit
    if getattr(_local, "deep", False):
        return fn(*args, **kwargs)
    box: dict[str, Any] = {}

    def run() -> None:
        _local.deep = True
        try:
            box["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    with _deep_lock:
        old_size = threading.stack_size()
        try:
            threading.stack_size(DEEP_STACK_BYTES)
            thread = threading.Thread(target=run, name="mlrules-deep", daemon=True)
        except (ValueError, RuntimeError):
            thread = None
        finally:
            threading.stack_size(old_size)
        if thread is not None:
            if _deep_active == 0:
                _saved_limit = sys.getrecursionlimit()
                sys.setrecursionlimit(max(_saved_limit, DEEP_RECURSION_LIMIT))
            _deep_active += 1
    if thread is None:
        return fn(*args, **kwargs)
    try:
        try:
            thread.start()
        except RuntimeError:  # can't start new thread (memory limits)
            return fn(*args, **kwargs)
        thread.join()
    finally:
        with _deep_lock:
            _deep_active -= 1
            if _deep_active == 0:
                sys.setrecursionlimit(_saved_limit)
    if "error" in box:
        raise box["error"]
    return box["value"]


def retry_deep(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)``; on RecursionError once more through ``call_deep`` (unless this
    already is the deep thread, where the error propagates)."""
    try:
        return fn(*args, **kwargs)
    except RecursionError:
        if getattr(_local, "deep", False):
            raise
        return call_deep(fn, *args, **kwargs)


# --- reading -------------------------------------------------------------------------------------
class NotRegularFile(OSError):
    """A FIFO, socket or device: never read (it could block forever or never end)."""


class TooLarge(OSError):
    def __init__(self, size: int, limit: int) -> None:
        super().__init__(errno.EFBIG, f"{size} bytes is over max-file-size ({limit})")
        self.size = size
        self.limit = limit


def read_regular(path: str, limit: int | None = None) -> bytes:
    """The bytes of a regular file. Raises ``NotRegularFile``, ``TooLarge`` or ``OSError``.

    A FIFO, socket or device is refused before it is opened (opening a FIFO blocks until a
    writer comes); the file is then opened without blocking and checked again on the open
    descriptor, so a file swapped for a FIFO in between cannot block either. The read goes
    through ``open`` so that the result cache sees which files a rule read.
    """
    info = os.stat(path)
    if not stat.S_ISREG(info.st_mode):
        raise NotRegularFile(errno.EINVAL, f"not a regular file ({_kind(info.st_mode)})")
    if limit is not None and info.st_size > limit:
        raise TooLarge(info.st_size, limit)
    with open(path, "rb", opener=_nonblocking) as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise NotRegularFile(errno.EINVAL, f"not a regular file ({_kind(info.st_mode)})")
        data = fh.read() if limit is None else fh.read(limit + 1)
    if limit is not None and len(data) > limit:  # it grew past the limit since the check
        raise TooLarge(len(data), limit)
    return data


def _nonblocking(path: str, flags: int) -> int:
    return os.open(path, flags | getattr(os, "O_NONBLOCK", 0))


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISDIR(mode):
        return "a folder"
    return "not a regular file"
