"""``include:`` globs as the Databricks CLI expands them: Go's ``filepath.Glob``.

``*`` matches any run of characters except ``/`` (so ``resources/*.yml`` does not reach
``resources/ml/x.yml``, and ``**`` is just two stars), ``?`` one such character, ``[a-z]`` /
``[^a-z]`` a class, ``\\c`` the character ``c``. Dot files match like any other name. Matches of
one pattern come back sorted.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache

GLOB_META = "*?["


def has_meta(pattern: str) -> bool:
    """Go's test for a glob: the CLI reports a plain path that matches nothing as an error."""
    return any(ch in pattern for ch in GLOB_META)


class BadPattern(ValueError):
    pass


@lru_cache(maxsize=512)
def _segment_regex(segment: str) -> re.Pattern[str]:
    out: list[str] = []
    i, n = 0, len(segment)
    while i < n:
        ch = segment[i]
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "\\":
            i += 1
            if i >= n:
                raise BadPattern(segment)
            out.append(re.escape(segment[i]))
        elif ch == "[":
            i += 1
            negate = i < n and segment[i] == "^"
            if negate:
                i += 1
            parts: list[str] = []
            first = True
            while True:
                if i >= n:
                    raise BadPattern(segment)
                c = segment[i]
                if c == "]" and not first:
                    break
                first = False
                if c == "\\":
                    i += 1
                    if i >= n:
                        raise BadPattern(segment)
                    c = segment[i]
                lo = c
                i += 1
                if i + 1 < n and segment[i] == "-" and segment[i + 1] != "]":
                    hi = segment[i + 1]
                    if hi == "\\":
                        if i + 2 >= n:
                            raise BadPattern(segment)
                        hi = segment[i + 2]
                        i += 1
                    i += 2
                    if hi < lo:
                        raise BadPattern(segment)
                    parts.append(re.escape(lo) + "-" + re.escape(hi))
                else:
                    parts.append(re.escape(lo))
            out.append("[" + ("^/" if negate else "") + "".join(parts) + "]")
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out) + r"\Z", re.S)


def go_glob(base: str, pattern: str) -> list[str]:
    """Absolute paths matching ``pattern`` (relative to folder ``base``), sorted.

    Raises ``BadPattern`` for a malformed pattern (an unclosed ``[``), like Go.
    """
    full = os.path.normpath(os.path.join(base, pattern))
    if not has_meta(pattern):
        return [full] if os.path.lexists(full) else []
    # The part of the path without meta characters is taken as is; the rest is matched
    # segment by segment against directory listings.
    anchor = "/" if full.startswith("/") else ""
    segments = [s for s in full.split("/") if s]
    matches = [anchor or "."]
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        following: list[str] = []
        if not has_meta(segment):
            for folder in matches:
                candidate = os.path.join(folder, segment)
                if last and os.path.lexists(candidate) or not last and os.path.isdir(candidate):
                    following.append(candidate)
        else:
            regex = _segment_regex(segment)
            for folder in matches:
                try:
                    names = sorted(os.listdir(folder))
                except OSError:
                    continue
                for name in names:
                    if regex.match(name):
                        candidate = os.path.join(folder, name)
                        if last or os.path.isdir(candidate):
                            following.append(candidate)
        matches = following
        if not matches:
            return []
    return sorted(os.path.normpath(m) for m in matches)
