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
import tempfile
from dataclasses import dataclass, field

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

    The file is not written when it changed on disk since it was read (another process).
    A symlink stays a symlink: its target is replaced.
    """
    target = os.path.realpath(path)
    try:
        with open(target, "rb") as fh:
            if fh.read() != expected_before:
                return f"{path}: changed on disk during the run; not written"
        mode = os.stat(target).st_mode
        folder = os.path.dirname(target)
        fd, tmp = tempfile.mkstemp(prefix=".mlrules-", suffix=".tmp", dir=folder)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, mode & 0o7777)
            os.replace(tmp, target)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
    except OSError as exc:
        return f"{path}: could not write the fix: {exc.strerror or exc}"
    return None
