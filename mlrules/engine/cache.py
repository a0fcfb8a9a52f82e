"""The result cache under ``.mlrules_cache/`` (configurable with ``cache-dir``).

One entry per (kind, key), overwritten in place (the cache grows with the number of files
and configurations, not with the number of runs): a pickle written through a temp file and
a rename, so concurrent runs never see half an entry; an unreadable or corrupted entry is a
miss, never an error.
Keys are SHA-256 digests of what selects the entry (see ``digest``); each entry holds what
it must be checked against before use.

Two levels (``cached_lint``):

- **file** entries, one slot per (mlrules code, working folder, rules and their options, file
  path): the content hash of the file, its file-rule findings (before suppression), its
  notebook facts as plain data, the questions its rules asked the project with their
  answers (and a digest of them: files that asked the same are checked once per run) and
  the disk probes they made. An entry is used when the content hash matches, every
  question gets the same answer from the current project (``recording.Replayer``) and
  every probe the same result. Suppression (``# noqa``, ``per-file-ignores``) and the
  cross-file rules run again, from the cached facts: no file is parsed.
- a **run** manifest, one slot per (mlrules code, working folder, settings, given paths):
  the hashes of every file the run loaded, every disk probe of the run (project model,
  cross-file rules, file rules) and the final result. When nothing changed, the run is
  answered from it without building the project or importing a rule.

Entries are signed: a pickle can run code when it is loaded, and the cache folder lives in
the user's tree, where anyone who can push a commit can put files. Each entry starts with an
HMAC-SHA256 of its kind, key and payload under a secret key kept outside every project
(``$XDG_CACHE_HOME/mlrules/secret-key``, created on first use, mode 0600); an entry whose
signature does not verify is a miss and is never unpickled. Where no key can be kept, the
key lives for one process only: the cache then works within a run and misses across runs.

The mlrules code digest is the version plus the size and modification time of every module
of the installed package, so editing a rule while developing also invalidates everything.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import pickle
import tempfile
from typing import Any

from mlrules import __version__

_FORMAT = "4"
_MAGIC = b"mlrules4"  # then the 32-byte signature, then the pickle
_KEY_BYTES = 32
_key: bytes | None = None


def secret_key() -> bytes:
    """This user's cache signing key (see the module docs); created once, then read."""
    global _key
    if _key is None:
        _key = _load_or_create_key() or os.urandom(_KEY_BYTES)
    return _key


def _key_path() -> str | None:
    """Where this user's key lives; None when there is no home to keep it in (never the
    current folder: a relative ``XDG_CACHE_HOME`` or an unexpanded ``~`` would put it there)."""
    base = os.environ.get("XDG_CACHE_HOME") or ""
    if not os.path.isabs(base):
        home = os.path.expanduser("~")
        if not os.path.isabs(home):
            return None
        base = os.path.join(home, ".cache")
    return os.path.join(base, "mlrules", "secret-key")


def _load_or_create_key() -> bytes | None:
    from mlrules.sources.limits import read_regular

    path = _key_path()
    if path is None:
        return None
    for _ in range(2):
        try:
            key = read_regular(path, limit=_KEY_BYTES)
            return key if len(key) == _KEY_BYTES else None  # a short file: a writer is still at it
        except FileNotFoundError:
            pass
        except OSError:
            return None
        try:
            os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
            fd = os.open(path + f".{os.getpid()}", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(os.urandom(_KEY_BYTES))
            try:
                os.link(path + f".{os.getpid()}", path)  # first writer wins; the others read its key
            finally:
                os.unlink(path + f".{os.getpid()}")
        except FileExistsError:
            continue
        except OSError:
            return None
    return None


def _signature(kind: str, key: str, payload: bytes) -> bytes:
    return hmac.new(secret_key(), f"{kind}\0{key}\0".encode() + payload, hashlib.sha256).digest()


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
        from mlrules.engine.recording import paused

        with paused():  # the cache's own files are not what a result depends on
            return self._get(kind, key)

    def _get(self, kind: str, key: str) -> Any | None:
        from mlrules.sources.limits import read_regular

        try:
            data = read_regular(self._path(kind, key))  # a FIFO or device planted there: a miss
            head = len(_MAGIC) + _KEY_BYTES
            payload = data[head:]
            if data[: len(_MAGIC)] != _MAGIC or not hmac.compare_digest(data[len(_MAGIC) : head], _signature(kind, key, payload)):
                raise ValueError("not signed by this user")  # never unpickled
            value = pickle.loads(payload)
        except Exception:  # missing, corrupted, truncated, from another version or user: a miss
            self.misses += 1
            return None
        self.hits += 1
        return value

    def put(self, kind: str, key: str, value: Any) -> None:
        if self.folder is None:
            return
        from mlrules.engine.recording import paused

        with paused():
            self._put(kind, key, value)

    def _put(self, kind: str, key: str, value: Any) -> None:
        path = self._path(kind, key)
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            _ensure_gitignore(self.folder)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=os.path.dirname(path))
            try:
                payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
                with os.fdopen(fd, "wb") as fh:
                    fh.write(_MAGIC + _signature(kind, key, payload) + payload)
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


# --- keys ------------------------------------------------------------------------------------

_CODE_DIGEST: str | None = None


def code_digest() -> str:
    """The mlrules version and the state of every module of the package."""
    global _CODE_DIGEST
    if _CODE_DIGEST is None:
        import mlrules

        root = os.path.dirname(os.path.abspath(mlrules.__file__))
        parts = [__version__]
        for folder, dirs, files in os.walk(root):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(files):
                if name.endswith(".py"):
                    path = os.path.join(folder, name)
                    try:
                        stat = os.stat(path)
                    except OSError:
                        continue
                    parts.append(f"{os.path.relpath(path, root)}:{stat.st_size}:{stat.st_mtime_ns}")
        _CODE_DIGEST = digest(*parts)
    return _CODE_DIGEST


def _settings_parts(linter) -> tuple:
    settings = linter.settings
    explicit = tuple(sorted(r.code for r in linter._rules)) if linter._rules is not None else None
    return (settings.select, sorted(settings.extend_select), sorted(settings.ignore), sorted(settings.options.items()), explicit)


def file_slot(linter, path: str) -> str:
    """The slot of a file's entry: what its file-rule results depend on besides the project."""
    options = sorted((code, repr(sorted(values.items()))) for code, values in linter.settings.options.items() if code in linter.selected)
    return digest("file", code_digest(), os.getcwd(), sorted(linter.selected), options, path)


def run_slot(linter, loaded, only) -> str:
    settings = linter.settings
    return digest(
        "run", code_digest(), os.getcwd(), _settings_parts(linter), settings.root, settings.config_path,
        sorted(settings.per_file_ignores.items()), settings.exclude, settings.extend_exclude, settings.max_file_size,
        loaded.paths, sorted(only) if only is not None else None,
    )


def inputs_digest(loaded, only) -> str:
    """Every file the run loaded, by content; and what loading reported."""
    from mlrules.engine.parallel import content_hash

    parts = []
    for path in sorted(loaded.sources):
        source = loaded.sources[path]
        data = loaded.original_bytes.get(path)
        parts.append((path, type(source).__name__, content_hash(data if data is not None else source.text)))
    parts.append(sorted((p, repr(problem)) for p, problem in loaded.problems.items()))
    parts.append(sorted((p, content_hash(text)) for p, text in loaded.requirements.items()))
    parts.append(sorted(loaded.context))
    parts.append(sorted(loaded.only) if loaded.only is not None else None)
    parts.append([(e.path, e.message) for e in loaded.errors])
    parts.append(list(loaded.notices))
    return digest(*parts)


# --- the cached run --------------------------------------------------------------------------


def cached_lint(linter, loaded, only, cache: Cache, jobs):
    """``Linter.lint`` with the cache: the run manifest, else per-file entries, else linting."""
    from mlrules.engine import recording
    from mlrules.engine.parallel import tuned_gc
    from mlrules.engine.runner import LintResult

    recording.IGNORED.add(os.path.normpath(os.path.abspath(cache.folder)))  # not an input of any result
    slot = run_slot(linter, loaded, only)
    inputs = inputs_digest(loaded, only)
    manifest = cache.get("run", slot)
    if isinstance(manifest, dict) and manifest.get("inputs") == inputs and recording.probes_valid(manifest.get("probes", {})):
        return LintResult(
            findings=list(manifest["findings"]), errors=list(loaded.errors) + list(manifest["errors"]), notices=list(loaded.notices),
            from_manifest=True,
        )
    probes = recording.Probes()
    recording.clear_helper_caches()
    with tuned_gc(len(loaded.sources)), recording.probing(probes):
        from mlrules.project.model import Project

        project = Project.build(loaded.sources, loaded.requirements)
        replayer = recording.Replayer(project)
        hits = _valid_entries(linter, loaded, only, cache, replayer)
        result = linter.lint_uncached(loaded, only, jobs=jobs, drop_trees=True, cache=cache, hits=hits, replayer=replayer)
    run_probes = dict(probes.run)
    opaque = False
    for file_result in result.file_results.values():
        run_probes.update(file_result.run_probes)
        opaque |= file_result.opaque
    if not opaque:
        own_errors = result.errors[len(loaded.errors):]
        cache.put("run", slot, {"inputs": inputs, "probes": run_probes, "findings": result.findings, "errors": own_errors})
    return result


def _valid_entries(linter, loaded, only, cache: Cache, replayer) -> dict:
    """Cached file results that still hold, by path. Facts of every file whose content is
    unchanged are installed first: they depend on nothing else, and questions about them
    are then answered without parsing."""
    from mlrules.engine import recording
    from mlrules.engine.parallel import FileResult, content_hash

    project = replayer.project
    entries = {}
    for path in loaded.sources:
        if only is not None and path not in only:
            continue
        entry = cache.get("file", file_slot(linter, path))
        if not isinstance(entry, dict):
            continue
        data = loaded.original_bytes.get(path)
        if entry.get("content") != content_hash(data if data is not None else loaded.sources[path].text):
            continue
        entries[path] = entry
        facts = entry.get("facts")
        if facts is not None:
            project._facts[path] = facts.attach(loaded.sources[path])
    hits = {}
    probe_memo: dict = {}
    for path, entry in entries.items():
        digest_ = entry.get("qset")
        if digest_ is None:
            continue
        queries = entry.get("queries")
        if not isinstance(queries, tuple) or not replayer.valid(digest_, queries):
            continue
        if not recording.probes_valid(entry.get("probes", {}), probe_memo):
            continue
        hits[path] = FileResult(
            path, list(entry["findings"]), list(entry["errors"]), entry.get("facts"), digest_, None,
            entry.get("probes", {}), entry.get("run_probes", {}), cached=True,
        )
    return hits
