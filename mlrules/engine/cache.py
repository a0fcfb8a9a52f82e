"""The result cache under ``.mlrules_cache/`` (configurable with ``cache-dir``).

One entry per (kind, key): a pickle written through a temp file + rename, so concurrent
runs never see half an entry; an unreadable or corrupted entry is a miss, never an error.
Keys are SHA-256 digests of everything the value depends on (see ``digest``).
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from typing import Any

from mlrules import __version__

_FORMAT = "1"


def digest(*parts: Any) -> str:
    """A stable digest of strings/bytes/reprs (the mlrules version is always part of it)."""
    h = hashlib.sha256()
    h.update(f"mlrules {__version__} cache {_FORMAT}\0".encode())
    for part in parts:
        data = part if isinstance(part, bytes) else repr(part).encode("utf-8", "surrogatepass")
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


class Cache:
    def __init__(self, folder: str | None) -> None:
        self.folder = folder
        self.hits = 0
        self.misses = 0

    @property
    def enabled(self) -> bool:
        return self.folder is not None

    def _path(self, kind: str, key: str) -> str:
        return os.path.join(self.folder, kind, key[:2], key + ".pickle")  # type: ignore[arg-type]

    def get(self, kind: str, key: str) -> Any | None:
        if self.folder is None:
            return None
        try:
            with open(self._path(kind, key), "rb") as fh:
                value = pickle.load(fh)
        except FileNotFoundError:
            self.misses += 1
            return None
        except Exception:  # corrupted, truncated, from another version: a miss
            self.misses += 1
            return None
        self.hits += 1
        return value

    def put(self, kind: str, key: str, value: Any) -> None:
        if self.folder is None:
            return
        path = self._path(kind, key)
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            _ensure_gitignore(self.folder)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=os.path.dirname(path))
            try:
                with os.fdopen(fd, "wb") as fh:
                    pickle.dump(value, fh, protocol=pickle.HIGHEST_PROTOCOL)
                os.replace(tmp, path)
            except BaseException:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
                raise
        except (OSError, pickle.PicklingError, TypeError, AttributeError, RecursionError):
            pass  # a cache that cannot be written is only slower, never wrong


def _ensure_gitignore(folder: str) -> None:
    path = os.path.join(folder, ".gitignore")
    if not os.path.exists(path):
        try:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write("# created by mlrules\n*\n")
        except OSError:
            pass
