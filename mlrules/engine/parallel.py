"""The per-file work of a run (parse, index, facts, file rules), in worker processes.

The parent loads every file (cheap: no syntax tree), builds the project from them and forks
workers, which inherit it. Each worker parses its files, runs the file rules, freezes the
file's notebook facts into plain data (``engine.frozen``) and drops the tree before the next
file; the parent gets back one picklable :class:`FileResult` per file and builds the rest of
the run (cross-file rules, suppression) from those, in the order of the files, so the output
is the same as a serial run's. Small runs stay in-process: starting processes costs more
than it saves below ``MIN_PARALLEL`` files that need a tree.

``MLRULES_JOBS`` sets the number of processes (``1``: serial); the default is the number of
CPUs the process may use.
"""

from __future__ import annotations

import gc
import hashlib
import os
import signal
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator

from mlrules.model import FileError, Finding

if TYPE_CHECKING:
    from mlrules.engine.cache import Cache
    from mlrules.engine.runner import Linter

MIN_PARALLEL = 20  # files that need a syntax tree; below this a run stays in one process


@dataclass
class FileResult:
    path: str
    findings: list[Finding] = field(default_factory=list)
    errors: list[FileError] = field(default_factory=list)
    facts: Any = None  # FrozenFacts (Python files, when cross-file rules run)
    qset: str | None = None  # digest of the project questions its rules asked (None: not recorded)
    queries: tuple | None = None  # those questions (for the cache entry; not sent to the parent)
    probes: dict = field(default_factory=dict)  # disk probes of its rules (outside project methods)
    run_probes: dict = field(default_factory=dict)  # every disk probe made while linting it
    opaque: bool = False  # its rules asked something that cannot be replayed: never reused
    cached: bool = False  # taken from the cache (not linted in this run)


def content_hash(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    return hashlib.blake2b(data, digest_size=20).hexdigest()


def default_jobs() -> int:
    value = os.environ.get("MLRULES_JOBS", "").strip()
    if value.isdigit() and int(value) > 0:
        return int(value)
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def can_fork() -> bool:
    import multiprocessing

    return "fork" in multiprocessing.get_all_start_methods() and sys.platform != "darwin"


@contextmanager
def tuned_gc(files: int) -> Iterator[None]:
    """A run allocates millions of short-lived tree nodes and keeps few: with the default
    thresholds the collector rescans the (large, long-lived) loaded files over and over. Freeze
    what exists and collect young objects rarely; restore everything afterwards. (Small runs
    keep the defaults.)"""
    if files < MIN_PARALLEL:
        yield
        return
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(50_000, 50, 1000)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


# --- one file -------------------------------------------------------------------------------


class Worker:
    """What one process needs to lint files: the linter, the project, the loaded files."""

    def __init__(self, linter: "Linter", project: Any, loaded: Any, *, record: bool, want_facts: bool, drop_trees: bool, cache: "Cache | None", keys: dict[str, tuple[str, str]]) -> None:
        self.linter = linter
        self.project = project
        self.loaded = loaded
        self.record = record
        self.want_facts = want_facts
        self.drop_trees = drop_trees
        self.cache = cache
        self.keys = keys  # path -> (cache slot, content hash)
        self.recorder = None
        self.probes = None

    def start_recording(self) -> None:
        from mlrules.engine import recording

        if not self.record:
            return
        self.recorder = recording.Recorder(self.project)
        self.probes = recording.current_probes() or recording.Probes()
        self.probes.recorder = self.recorder

    def lint(self, path: str) -> FileResult:
        from mlrules.engine.runner import internal_error
        from mlrules.sources.python import PythonSource

        source = self.loaded.sources[path]
        result = FileResult(path)
        rec, probes = self.recorder, self.probes
        project = self.project
        if rec is not None:
            rec.begin()
            probes.file = {}
            probes.file_all = {}
            project = rec.root
        try:
            result.findings = self.linter.lint_file(source, project, result.errors)
        except Exception as exc:  # never let one file stop the run
            result.errors.append(FileError(path, internal_error("engine", exc)))
        finally:
            if rec is not None:
                result.qset, result.queries = rec.end()
                result.opaque = result.qset is None
                result.probes, result.run_probes = probes.file_probes(), probes.file_all
                probes.file = probes.file_all = None
        if isinstance(source, PythonSource):
            keep_tree = False
            if self.want_facts and source._module is not None:
                result.facts = self._freeze(source)
                # facts that could not be frozen still point into the tree: keep it
                keep_tree = result.facts is None and self.project._facts.get(source.path) is not None
            if self.drop_trees and not keep_tree:
                source._module = None
                source._offsets = None
                source.cache.clear()
        return result

    def _freeze(self, source) -> Any:
        from mlrules.engine.frozen import freeze

        from mlrules.engine.frozen import FrozenFacts

        from mlrules.sources.limits import retry_deep as deep  # a deeply nested file: on a deep stack

        raw = self.project
        try:
            facts = deep(raw.facts, source.path)
        except Exception:
            return None
        if facts is None or isinstance(facts, FrozenFacts):
            return facts  # frozen already: from the cache (the content did not change)
        try:
            frozen = deep(freeze, facts)
        except Exception:
            return None
        if frozen is not None:
            frozen.attach(source)
            raw._facts[source.path] = frozen  # later files of this process see the frozen facts
        return frozen

    def store(self, result: FileResult) -> None:
        """Write the file's cache entry (and its question set, the first time)."""
        cache = self.cache
        if cache is None or result.opaque or result.path not in self.keys:
            return
        slot, digest = self.keys[result.path]
        cache.put("file", slot, {
            "content": digest, "findings": result.findings, "errors": result.errors, "facts": result.facts,
            "qset": result.qset, "queries": result.queries, "probes": result.probes, "run_probes": result.run_probes,
        })


# --- many files -----------------------------------------------------------------------------

_WORKER: Worker | None = None


def _init_worker() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops the pool
    gc.freeze()  # what the parent loaded is shared and never garbage: do not rescan it
    gc.set_threshold(50_000, 50, 1000)
    _WORKER.start_recording()


def _work(paths: list[str]) -> list[FileResult]:
    worker = _WORKER
    out = []
    for path in paths:
        result = worker.lint(path)
        worker.store(result)
        result.queries = None  # stored with the entry: the parent does not need them
        out.append(result)
    return out


def lint_files(worker: Worker, paths: list[str], jobs: int, heavy: set[str]) -> dict[str, FileResult]:
    """Results by path for ``paths``: in worker processes when worthwhile, else in-process.
    ``heavy``: the paths that need a syntax tree (the others are cheap: YAML, files no rule
    needs a tree for)."""
    if not paths:
        return {}
    if jobs > 1 and len(heavy) >= MIN_PARALLEL and can_fork():
        try:
            return _parallel(worker, [p for p in paths if p in heavy], [p for p in paths if p not in heavy], jobs)
        except (OSError, ImportError):  # no processes here (sandbox, no /dev/shm): serial
            pass
    worker.start_recording()
    out = {}
    for path in paths:
        result = worker.lint(path)
        worker.store(result)
        out[path] = result
    return out


def _serve(connection) -> None:
    """A worker process: lint the chunks of paths it receives until it receives None."""
    _init_worker()
    while True:
        try:
            chunk = connection.recv()
        except EOFError:
            return
        if chunk is None:
            return
        connection.send(_work(chunk))


def _parallel(worker: Worker, heavy: list[str], light: list[str], jobs: int) -> dict[str, FileResult]:
    """Fork ``jobs`` processes and hand them chunks of the files that need a tree, biggest
    first; this process lints the cheap files (YAML, files no rule needs a tree for) while it
    waits. A process that dies (a crash in the native parser, the OOM killer) only loses its
    chunk: those files are linted here afterwards. No threads: plain pipes and process
    sentinels."""
    import multiprocessing
    from multiprocessing.connection import wait

    global _WORKER
    order = sorted(heavy, key=lambda p: -len(getattr(worker.loaded.sources[p], "text", "")))
    pending = []
    start = 0
    while start < len(order):  # chunks shrink towards the end, so that the processes finish together
        size = max(1, min(16, (len(order) - start) // (jobs * 4)))
        pending.append(order[start : start + size])
        start += size
    pending.reverse()  # pop() from the end: biggest first
    light = list(reversed(light))
    context = multiprocessing.get_context("fork")
    out: dict[str, FileResult] = {}
    processes: list = []
    _WORKER = worker
    try:
        for _ in range(min(jobs, len(pending))):
            mine, theirs = context.Pipe()
            process = context.Process(target=_serve, args=(theirs,), daemon=True)
            process.start()
            theirs.close()
            processes.append((process, mine))
    finally:
        _WORKER = None
    worker.start_recording()
    busy: dict = {}  # connection -> (process, chunk)
    idle = list(processes)
    try:
        while pending or busy or light:
            while idle and pending:
                process, connection = idle.pop()
                chunk = pending.pop()
                try:
                    connection.send(chunk)
                except OSError:  # it died before its first chunk
                    continue
                busy[connection] = (process, chunk)
            if not busy:
                if pending:
                    break  # every process is gone: the rest is linted below
                while light:
                    path = light.pop()
                    out[path] = _here(worker, path)
                break
            by_sentinel = {process.sentinel: connection for connection, (process, _) in busy.items()}
            ready = wait(list(busy) + list(by_sentinel), timeout=0 if light else None)
            if not ready and light:
                path = light.pop()  # a cheap file while the workers are busy
                out[path] = _here(worker, path)
                continue
            for item in ready:
                connection = by_sentinel.get(item, item)
                if connection not in busy:
                    continue
                process, chunk = busy.pop(connection)
                try:
                    results = connection.recv()
                except (EOFError, OSError):
                    continue  # it died with this chunk: linted below
                except Exception:  # a result that could not be unpickled
                    idle.append((process, connection))
                    continue
                for result in results:
                    out[result.path] = result
                idle.append((process, connection))
    finally:
        for process, connection in processes:
            try:
                connection.send(None)
            except (OSError, ValueError):
                pass
        for process, connection in processes:
            process.join(timeout=0.5)
            if process.is_alive():
                process.terminate()
                process.join(timeout=1)
            connection.close()
    for path in [*heavy, *light]:
        if path not in out:
            out[path] = _here(worker, path)
    for result in out.values():
        if result.facts is not None and result.facts.source is None:
            result.facts.attach(worker.loaded.sources[result.path])
    return out


def _here(worker: Worker, path: str) -> FileResult:
    result = worker.lint(path)
    worker.store(result)
    return result
