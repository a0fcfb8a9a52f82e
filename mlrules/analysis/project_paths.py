"""Where a file sits in its project, and which imports name a module of that project.

Works on the real filesystem around a file (a run may hold only some of the project's files):

- the bundle root: the nearest folder upward holding ``databricks.yml``/``databricks.yaml``/
  ``bundle.yml``/``bundle.yaml``;
- the repo root: the nearest folder upward holding ``.git`` (a folder, or a file for worktrees);
- the file's own folder.

``find_module("churn.features", roots)`` tells whether the dotted name resolves to a ``.py`` file
or a package (a folder with ``__init__.py``) under one of those roots or a ``src/`` folder in
them. Folder listings are cached (keyed by the folder's mtime): a run asks about the same
folders again and again.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from functools import lru_cache

BUNDLE_MARKERS = ("databricks.yml", "databricks.yaml", "bundle.yml", "bundle.yaml")
PACKAGING_FILES = ("pyproject.toml", "setup.py", "setup.cfg")
STDLIB = frozenset(getattr(sys, "stdlib_module_names", ())) | frozenset(sys.builtin_module_names) | {"__future__"}

RootKind = str  # "notebook" | "bundle" | "repo"


@dataclass(frozen=True)
class ProjectRoots:
    file: str  # absolute path of the file
    folder: str  # its folder
    bundle_root: str | None
    repo_root: str | None

    def kind_of(self, root: str) -> RootKind:
        if root == self.bundle_root:
            return "bundle"
        if root == self.repo_root:
            return "repo"
        return "notebook"

    def search_order(self) -> list[tuple[str, bool]]:
        """(root, in_src) pairs to resolve imports from, in the order Python would find them on
        Databricks: the file's folder (on ``sys.path`` since DBR 11.3), then the bundle root and
        its ``src/``, the repo root and its ``src/``, the file's own ``src/``."""
        out: list[tuple[str, bool]] = []
        for root, in_src in (
            (self.folder, False),
            (self.bundle_root, False),
            (self.bundle_root, True),
            (self.repo_root, False),
            (self.repo_root, True),
            (self.folder, True),
        ):
            if root is not None and (root, in_src) not in out:
                out.append((root, in_src))
        return out


@dataclass(frozen=True)
class ModuleLocation:
    module: str  # the dotted name that resolved (``churn.features``)
    kind: RootKind  # which root it resolved from
    root: str  # that root folder
    in_src: bool  # found under ``<root>/src``
    file: str  # the ``.py`` file or package ``__init__.py`` (or folder) it resolved to

    @property
    def base(self) -> str:
        return os.path.join(self.root, "src") if self.in_src else self.root

    def beside(self, roots: "ProjectRoots") -> bool:
        """Found in the file's own folder, which Databricks puts on ``sys.path`` (DBR 11.3+, serverless)."""
        return self.root == roots.folder and not self.in_src


def _entries(folder: str) -> frozenset[str]:
    try:
        stamp = os.stat(folder).st_mtime_ns
    except OSError:
        return frozenset()
    return _listing(folder, stamp)


@lru_cache(maxsize=4096)
def _listing(folder: str, stamp: int) -> frozenset[str]:
    # keyed by the folder's mtime: a folder that gains or loses a file is listed again
    try:
        return frozenset(os.listdir(folder))
    except OSError:
        return frozenset()


def _is_dir(path: str) -> bool:
    parent, name = os.path.split(path)
    return name in _entries(parent) and os.path.isdir(path)


def _has(folder: str, name: str) -> bool:
    return name in _entries(folder)


def _roots_of_folder(folder: str) -> tuple[str | None, str | None]:
    bundle = repo = None
    current = folder
    while True:
        names = _entries(current)
        if bundle is None and any(m in names for m in BUNDLE_MARKERS):
            bundle = current
        if repo is None and ".git" in names:
            repo = current
        if bundle is not None and repo is not None:
            break
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    return bundle, repo


def roots_for(path: str) -> ProjectRoots:
    absolute = os.path.abspath(path)
    folder = os.path.dirname(absolute)
    bundle, repo = _roots_of_folder(folder)
    return ProjectRoots(absolute, folder, bundle, repo)


def resolve_in(base: str, dotted: str) -> str | None:
    """The file or package that ``dotted`` names under ``base``, or None.

    Each part is a ``.py`` file (the name resolves there: later parts are attributes), a package
    (folder with ``__init__.py``) or a plain folder (a namespace package, only accepted when a
    later part resolves to a file or package inside it).
    """
    current = base
    parts = dotted.split(".")
    for i, part in enumerate(parts):
        if not part:
            return None
        if _has(current, part + ".py") and not _is_dir(os.path.join(current, part + ".py")):
            return os.path.join(current, part + ".py")
        folder = os.path.join(current, part)
        if not _is_dir(folder):
            return None
        if _has(folder, "__init__.py"):
            if i == len(parts) - 1:
                return os.path.join(folder, "__init__.py")
        current = folder
    # every part was a folder: a namespace package holding python files or packages
    return None


def find_module(dotted: str, roots: ProjectRoots) -> ModuleLocation | None:
    """Where ``dotted`` (an absolute import) resolves inside the project, or None.

    Standard-library names never resolve (a stray ``logging.py`` beside a notebook is not what
    ``import logging`` means to a reader). The file asking never resolves to itself.
    """
    head = dotted.split(".", 1)[0]
    if not head or head in STDLIB:
        return None
    for root, in_src in roots.search_order():
        base = os.path.join(root, "src") if in_src else root
        if in_src and not _is_dir(base):
            continue
        found = resolve_in(base, dotted)
        if found is not None and os.path.abspath(found) != roots.file:
            return ModuleLocation(dotted, roots.kind_of(root), root, in_src, found)
    return None


def depth_below(folder: str, root: str) -> int | None:
    """How many folders lie between ``root`` and ``folder`` (0 when equal), None when outside."""
    rel = os.path.relpath(folder, root)
    if rel == os.curdir:
        return 0
    if rel.startswith(os.pardir):
        return None
    return len(rel.split(os.sep))


def is_packaged(root: str) -> bool:
    """The root holds a packaging file (pyproject.toml, setup.py, setup.cfg)."""
    names = _entries(root)
    return any(p in names for p in PACKAGING_FILES)


_WHEEL_HINT = re.compile(r"\.whl\b|python_wheel_task|^\s*-?\s*whl\s*:|^\s*-\s*['\"]?(?:-e\s+)?\.\.?(?:/[^\s'\"]*)?['\"]?\s*$", re.M)
_INSTALLED: dict[str, bool] = {}


def installs_own_package(root: str) -> bool:
    """The project at ``root`` is a Python package (pyproject.toml / setup.py / setup.cfg) that its
    bundle installs into the job's environment: a YAML file under the root names a wheel
    (``.whl``, ``python_wheel_task``, ``whl:``) or a local path dependency (``- ..``, ``- -e .``).
    Its modules are then importable without any path setup."""
    cached = _INSTALLED.get(root)
    if cached is not None:
        return cached
    result = False
    if is_packaged(root):
        seen = 0
        for folder, dirs, files in os.walk(root):
            depth = folder[len(root) :].count(os.sep)
            dirs[:] = [d for d in dirs if not d.startswith(".") and d not in ("node_modules", "venv", "build", "dist", "__pycache__")] if depth < 3 else []
            for name in files:
                if not name.endswith((".yml", ".yaml")):
                    continue
                seen += 1
                if seen > 300:
                    break
                try:
                    from mlrules.sources.limits import read_regular

                    text = read_regular(os.path.join(folder, name), 500_000).decode("utf-8", "replace")  # never blocks on a FIFO
                except OSError:
                    continue
                if _WHEEL_HINT.search(text):
                    result = True
                    break
            if result or seen > 300:
                break
    _INSTALLED[root] = result
    return result


def clear_caches() -> None:
    """Forget cached folder listings."""
    _listing.cache_clear()
    _INSTALLED.clear()
