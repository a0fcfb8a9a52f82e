"""Which files a run looks at: the given paths, minus excludes and ``.gitignore``d files."""

from __future__ import annotations

import os
from functools import lru_cache
from dataclasses import dataclass, field

import pathspec

from mlrules.sources.loader import file_kind


@dataclass
class Discovery:
    files: list[str] = field(default_factory=list)  # lintable files, in a stable order
    requirements: list[str] = field(default_factory=list)  # requirements*.txt: read for pins only
    missing: list[str] = field(default_factory=list)  # given paths that do not exist


def _is_requirements(name: str) -> bool:
    return name.endswith(".txt") and "requirements" in name.lower()


class _Excluder:
    def __init__(self, patterns: list[str]) -> None:
        self.names = {p for p in patterns if "/" not in p and not any(ch in p for ch in "*?[")}
        self.spec = pathspec.GitIgnoreSpec.from_lines([p for p in patterns if p not in self.names])
        self.gitignores: dict[str, pathspec.PathSpec | None] = {}

    def _gitignore(self, folder: str) -> pathspec.PathSpec | None:
        if folder not in self.gitignores:
            path = os.path.join(folder, ".gitignore")
            spec = None
            if os.path.isfile(path):
                try:
                    with open(path, encoding="utf-8", errors="replace") as fh:
                        spec = pathspec.GitIgnoreSpec.from_lines(fh)
                except OSError:
                    spec = None
            self.gitignores[folder] = spec
        return self.gitignores[folder]

    def excluded(self, path: str, is_dir: bool, base: str, ignore_roots: list[str]) -> bool:
        name = os.path.basename(path)
        if name in self.names:
            return True
        rel = os.path.relpath(path, base).replace(os.sep, "/")
        if self.spec.match_file(rel + ("/" if is_dir else "")) or self.spec.match_file(name + ("/" if is_dir else "")):
            return True
        for folder in ignore_roots:
            spec = self._gitignore(folder)
            if spec is None:
                continue
            rel = os.path.relpath(path, folder).replace(os.sep, "/")
            if not rel.startswith("..") and spec.match_file(rel + ("/" if is_dir else "")):
                return True
        return False


def discover(paths: list[str], exclude: list[str], base: str = ".") -> Discovery:
    """Walk ``paths``; explicit files are kept unless excluded. Symlinked folders are not followed."""
    result = Discovery()
    excluder = _Excluder(exclude)
    seen: set[str] = set()

    def add(path: str) -> None:
        key = os.path.normpath(path)
        if key in seen:
            return
        seen.add(key)
        name = os.path.basename(path)
        if file_kind(path):
            result.files.append(path)
        elif _is_requirements(name):
            result.requirements.append(path)

    for given in paths:
        if not os.path.lexists(given):
            result.missing.append(given)
            continue
        if not os.path.isdir(given):
            if not _explicit_file_excluded(excluder, given, base):
                add(given)
            continue
        for folder, dirs, files in os.walk(given, followlinks=False):
            roots = _gitignore_roots(os.path.abspath(folder))
            dirs[:] = sorted(d for d in dirs if not excluder.excluded(os.path.join(folder, d), True, base, roots))
            for name in sorted(files):
                path = os.path.join(folder, name)
                if given == "." and path.startswith("./"):
                    path = path[2:]
                if excluder.excluded(path, False, base, roots):
                    continue
                add(path)
    result.files.sort(key=_path_key)
    return result


def excluded_file(path: str, exclude: list[str], base: str = ".") -> bool:
    """Whether a file given by name (or read from stdin as ``path``) is excluded: by a pattern
    or ``.gitignore``, itself or through a folder above it. The file need not exist."""
    return _explicit_file_excluded(_Excluder(exclude), path, base)


def _explicit_file_excluded(excluder: _Excluder, path: str, base: str) -> bool:
    # an explicit file (pre-commit passes each one) stays excluded when a folder above it is
    roots = _gitignore_roots(os.path.dirname(os.path.abspath(path)))
    return excluder.excluded(path, False, base, roots) or _in_excluded_folder(excluder, path, base)


def _in_excluded_folder(excluder: _Excluder, path: str, base: str) -> bool:
    """Whether a folder between ``base`` (or the path's first component) and ``path`` is excluded."""
    folder = os.path.dirname(os.path.normpath(path))
    stop = os.path.abspath(base)
    while folder and os.path.abspath(folder) != stop and os.path.basename(folder) not in ("", ".", ".."):
        if excluder.excluded(folder, True, base, _gitignore_roots(os.path.dirname(os.path.abspath(folder)))):
            return True
        folder = os.path.dirname(folder)
    return False


def _path_key(path: str) -> tuple:
    return tuple(os.path.normpath(path).split(os.sep))


@lru_cache(maxsize=4096)
def _gitignore_roots(folder: str) -> list[str]:
    """``.gitignore`` folders that apply to ``folder``: it and its parents up to the repo root."""
    roots = []
    current = folder
    while True:
        roots.append(current)
        if os.path.exists(os.path.join(current, ".git")):
            break
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    return tuple(reversed(roots))
