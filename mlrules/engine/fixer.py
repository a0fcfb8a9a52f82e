"""Applying fixes: non-overlapping edits per round, re-parse, repeat; atomic writes.

Like Ruff's fix loop: each round applies every fix whose edits do not overlap an edit
already taken (the rest wait for the next round), re-parses the result and lints again,
until nothing is left to fix or ``MAX_ROUNDS`` is reached. A result that does not parse is
never kept: the fixes of that round are retried one at a time and the ones that break the
file are dropped and reported.
"""

from __future__ import annotations

import difflib
import os
import signal
import stat
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator

from mlrules.engine.runner import LintResult, Linter, LoadedFiles
from mlrules.model import Applicability, Edit, Finding, Fix
from mlrules.sources.loader import ParseProblem, Skipped, Source, load_source
from mlrules.sources.python import PythonSource
from mlrules.sources.text import apply_edits, encode

MAX_ROUNDS = 10


@dataclass
class FixOutcome:
    result: LintResult  # what is left after fixing
    fixed: dict[str, int] = field(default_factory=dict)  # path -> number of fixes applied
    new_bytes: dict[str, bytes] = field(default_factory=dict)  # path -> fixed content
    messages: list[str] = field(default_factory=list)  # dropped fixes, non-convergence, write failures


def applicable(finding: Finding, unsafe: bool) -> bool:
    return finding.fix is not None and bool(finding.fix.edits) and (unsafe or finding.fix.applicability == Applicability.SAFE)


def select_fixes(fixes: list[Fix]) -> list[Fix]:
    """Fixes whose edits overlap no edit already taken, in position order."""
    taken: list[Edit] = []
    chosen: list[Fix] = []
    for fix in sorted(fixes, key=lambda f: (min(e.start for e in f.edits), max(e.end for e in f.edits))):
        if any(e.overlaps(t) for e in fix.edits for t in taken) or any(
            a.overlaps(b) for i, a in enumerate(fix.edits) for b in fix.edits[i + 1 :]
        ):
            continue
        taken.extend(fix.edits)
        chosen.append(fix)
    return chosen


def reparse(source: Source, edits: list[Edit]) -> Source | str:
    """The source after ``edits``, or a reason why the result is not acceptable."""
    new_text = apply_edits(source.text, edits, source.newline)
    file_text = source.render(new_text)
    if file_text is None:
        return "the edit does not fit the notebook's cells"
    data = encode(file_text, source.had_bom)
    result = load_source(source.path, data, known_bundle_file=True)
    if isinstance(result, (ParseProblem, Skipped)):
        return getattr(result, "message", None) or getattr(result, "reason", "unreadable")
    if isinstance(result, PythonSource) and result.language in ("python", "python3", "ipython"):
        try:
            result.parse()
        except Exception as exc:  # syntax error after the edit
            return f"the result would not parse ({type(exc).__name__})"
    return result


def fix_files(linter: Linter, loaded: LoadedFiles, unsafe: bool) -> FixOutcome:
    outcome = FixOutcome(LintResult())
    original_text = {path: source.text for path, source in loaded.sources.items()}
    dropped: set[tuple[str, tuple[Edit, ...]]] = set()
    for _round in range(MAX_ROUNDS + 1):
        result = linter.lint(loaded)
        by_path: dict[str, list[Fix]] = {}
        for finding in result.findings:
            if applicable(finding, unsafe) and finding.path in loaded.sources and (finding.path, finding.fix.edits) not in dropped:
                by_path.setdefault(finding.path, []).append(finding.fix)  # type: ignore[arg-type]
        outcome.result = result
        if not by_path:
            break
        if _round == MAX_ROUNDS:
            for path in by_path:
                outcome.messages.append(f"{path}: fixes did not converge after {MAX_ROUNDS} rounds; the file was left as of the last round")
            break
        progressed = False
        for path, fixes in by_path.items():
            source = loaded.sources[path]
            chosen = select_fixes(fixes)
            new = reparse(source, [e for f in chosen for e in f.edits])
            if isinstance(new, str):
                # find the culprits: keep each fix that works on its own
                kept: list[Fix] = []
                for fix in chosen:
                    trial = reparse(source, [e for f in kept + [fix] for e in f.edits])
                    if isinstance(trial, str):
                        outcome.messages.append(f"{path}: dropped the fix '{fix.message or 'fix'}': {trial}")
                        dropped.add((path, fix.edits))
                    else:
                        kept.append(fix)
                chosen = kept
                new = reparse(source, [e for f in kept for e in f.edits]) if kept else source
            if isinstance(new, str) or new is source:
                continue
            loaded.sources[path] = new
            outcome.fixed[path] = outcome.fixed.get(path, 0) + len(chosen)
            progressed = True
        if not progressed:
            break
    for path, count in outcome.fixed.items():
        source = loaded.sources[path]
        if source.text != original_text[path]:
            outcome.new_bytes[path] = encode(source.render(source.text), source.had_bom)  # type: ignore[arg-type]
    return outcome


def unified_diff(path: str, before: bytes, after: bytes) -> str:
    a = before.decode("utf-8", "replace").splitlines(keepends=True)
    b = after.decode("utf-8", "replace").splitlines(keepends=True)
    return "".join(difflib.unified_diff(a, b, fromfile=f"a/{path}", tofile=f"b/{path}"))


def write_atomic(path: str, data: bytes, expected_before: bytes) -> str | None:
    """Write ``data`` to ``path`` through a temp file + rename. Returns an error message or None.

    The guarantees (README, Safety): the file is either left exactly as it was or replaced by
    ``data`` as a whole, never partly written:

    - ``data`` goes to a temporary file in the same folder, is flushed to disk (``fsync``) and
      renamed over the file (atomic); on any failure (disk full, permissions, Ctrl-C) the
      temporary file is removed and the file is untouched;
    - the file is not written when it changed on disk since it was read, was deleted, or became
      something other than a regular file; nor when it is read-only (no write permission bit);
    - the check and the rename happen under a lock on the folder, so two ``mlrules fix`` runs
      never both write a file they read in the same state;
    - Ctrl-C (SIGINT) or SIGTERM during the write is held back until the file is complete;
    - the file keeps its permissions (and its owner, where allowed); a symlink stays a symlink
      (its target is replaced).
    """
    target = os.path.realpath(path)
    folder = os.path.dirname(target) or "."
    try:
        with _signals_held(), _folder_lock(folder):
            return _replace_if_unchanged(path, target, folder, data, expected_before)
    except OSError as exc:
        return f"{path}: could not write the fix: {exc.strerror or exc}"


def _replace_if_unchanged(path: str, target: str, folder: str, data: bytes, expected_before: bytes) -> str | None:
    from mlrules.sources.limits import NotRegularFile, read_regular

    try:
        info = os.stat(target)
    except FileNotFoundError:
        return f"{path}: deleted during the run; not written"
    if not stat.S_ISREG(info.st_mode):
        return f"{path}: no longer a regular file; not written"
    if not info.st_mode & 0o222 or not os.access(target, os.W_OK):
        return f"{path}: the file is read-only; not written"
    try:
        current = read_regular(target)
    except FileNotFoundError:
        return f"{path}: deleted during the run; not written"
    except NotRegularFile:
        return f"{path}: no longer a regular file; not written"
    if current != expected_before:
        return f"{path}: changed on disk during the run; not written"
    try:
        fd, tmp = tempfile.mkstemp(prefix=".mlrules-", suffix=".tmp", dir=folder)
    except OSError as exc:
        return f"{path}: could not write the fix: cannot create a temporary file in {folder or '.'}: {exc.strerror or exc}"
    try:
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
            try:
                os.fchmod(fd, stat.S_IMODE(info.st_mode))
            except (AttributeError, OSError):  # no fchmod (Windows): chmod the path
                os.chmod(tmp, stat.S_IMODE(info.st_mode))
            if hasattr(os, "fchown") and (info.st_uid, info.st_gid) != (os.getuid(), os.getgid()):
                try:
                    os.fchown(fd, info.st_uid, info.st_gid)
                except OSError:
                    pass  # only the owner's group or root may: the file then gets ours
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_folder(folder)
    return None


def _fsync_folder(folder: str) -> None:
    """Make the rename durable (best effort: not every system can open a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def _folder_lock(folder: str) -> Iterator[None]:
    """An exclusive advisory lock on the folder (``flock``), held while a file in it is checked
    and replaced: concurrent mlrules runs take turns. No lock where ``flock`` is missing."""
    try:
        import fcntl
    except ImportError:  # Windows
        yield
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        yield
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:
            pass  # a file system without locks: the content check still applies
        yield
    finally:
        os.close(fd)  # releases the lock


@contextmanager
def _signals_held() -> Iterator[None]:
    """Hold back SIGINT and SIGTERM until the block is done, then deliver them (a file is
    never left half-replaced by Ctrl-C). Only the main thread can handle signals."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = {}
    for signum in (signal.SIGINT, getattr(signal, "SIGTERM", None)):
        if signum is None:
            continue
        try:
            previous[signum] = signal.signal(signum, lambda number, _frame: received.append(number))
        except (ValueError, OSError):
            pass
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for signum in dict.fromkeys(received):
            signal.raise_signal(signum)  # now, with the handler the run had (KeyboardInterrupt for SIGINT)
