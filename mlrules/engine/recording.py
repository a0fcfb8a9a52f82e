"""Recording what a file's rules asked the project and the disk, so a cached result knows when it is stale.

A file rule sees ``ctx.project``. While a file is linted with the cache on, the engine hands its
rules ``Recorder.root`` instead: a proxy over the project. Every question asked through it
(an attribute, a method call with its arguments, an item, an iteration, ``len``, ``in``...,
and the same on whatever object the answer leads to, such as
``project.bundle_model.notebook_tasks("nb.py")[0].job.name``) is recorded as a *chain* of
steps from the project with its *answer* (a plain value, or a digest of it). A cached result
stays valid exactly as long as replaying its chains against the current project gives the
same answers (``Replayer``): editing a bundle YAML invalidates only the notebooks whose rules
asked something whose answer changed, such as ``is_task_notebook(path)`` or the tasks that
run them.

- Answers are memoized per chain in a process (the project does not change while files are
  linted), so a rule that looks at every other notebook of the run costs a dictionary
  lookup per question, and a file's questions are a set of leaf numbers. Files that ask the
  same questions (most do) share one *question set*, stored once in the cache.
- What a file is made of is one answer, not thousands: past the light attributes of a source
  (``path``, ``magics``, ``cells``...) or of notebook facts (``run_targets``,
  ``resolved_runs()``...), any other access (``text``, ``parse()``, ``index``...) records
  the digest of that file's text and hands out the raw object (*content barrier*).
- A question that cannot be replayed (a call with an argument that is not plain data) makes
  the file's result *opaque*: it is then never reused.

Disk probes: rules and the project model also look at the disk (``os.path.exists`` of a
``%run`` target, ``os.walk`` of the bundle root, a notebook read from disk). While recording,
``probing()`` wraps those functions and records each probe with its result. A file's own
probes (made by its rules outside project methods; those inside are covered by replaying the
question) are part of its cache entry; every probe of the run is part of the run manifest.
"""

from __future__ import annotations

import builtins
import dataclasses
import enum
import hashlib
import os
import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterator

Chain = tuple  # of steps; a step is a tuple starting with its kind
Query = tuple  # (chain, answer)

_SCALARS = (str, int, float, bool, bytes, type(None))
_SMALL = 256  # plain strings up to this length are stored as they are, longer ones as a digest
_MAX_PLAIN = 20000  # a container with more parts than this is treated as an object, not data

_SOURCE_LIGHT = frozenset(
    {"path", "kind", "is_notebook", "language", "magics", "magics_named", "cells", "cell_at_row", "had_bom", "newline",
     "is_bundle_root", "has_bundle_keys"}
)
_FACTS_LIGHT = frozenset(
    {"path", "source", "run_targets", "has_unmodelled_run", "resolved_runs", "read_widget_names", "declared_widget_names",
     "reads_dynamic_widget", "declares_dynamic_widget"}
)


class _Opaque(Exception):
    """An argument or answer that cannot be written down for replay."""


# --- canonical answers -------------------------------------------------------------------------


def _sha(data: bytes) -> str:
    return "#" + hashlib.blake2b(data, digest_size=16).hexdigest()


def _canon(value: Any, out: list[str], budget: list[int]) -> None:
    """A stable text for plain data (sets sorted, dataclasses by field); _Opaque otherwise."""
    budget[0] -= 1
    if budget[0] < 0:
        raise _Opaque("too large")
    if isinstance(value, _SCALARS) or isinstance(value, enum.Enum):
        out.append(repr(value))
    elif isinstance(value, (tuple, list)):
        out.append("(" if isinstance(value, tuple) else "[")
        for item in value:
            _canon(item, out, budget)
            out.append(",")
        out.append(")")
    elif isinstance(value, (set, frozenset)):
        parts = []
        for item in value:
            sub: list[str] = []
            _canon(item, sub, budget)
            parts.append("".join(sub))
        out.append("{" + ",".join(sorted(parts)) + "}")
    elif isinstance(value, dict):
        out.append("{")
        for key, item in value.items():
            _canon(key, out, budget)
            out.append(":")
            _canon(item, out, budget)
            out.append(",")
        out.append("}")
    elif _frozen_dataclass(value) and not _is_special(value):
        out.append(type(value).__qualname__ + "(")
        for f in dataclasses.fields(value):
            _canon(getattr(value, f.name), out, budget)
            out.append(",")
        out.append(")")
    else:
        raise _Opaque(type(value).__name__)


def _frozen_dataclass(value: Any) -> bool:
    """Frozen dataclass instances are values; mutable ones (an index, a model) are objects
    whose parts are asked one by one."""
    params = getattr(type(value), "__dataclass_params__", None)
    return params is not None and params.frozen and not isinstance(value, type)


def _is_special(value: Any) -> bool:
    """Objects that are never compared as data: sources, facts, syntax trees, the project."""
    module = type(value).__module__ or ""
    return module.startswith(("libcst", "yaml")) or _kind_of(value) is not None or type(value).__name__ in ("Project", "BundleModel")


def answer_of(value: Any) -> Any:
    """What is stored for an answer: small scalars as they are, anything else as a digest.
    Raises _Opaque for values that are not plain data."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str) and len(value) <= _SMALL:
        return str(value)
    out: list[str] = []
    _canon(value, out, [_MAX_PLAIN])
    return _sha("".join(out).encode("utf-8", "surrogatepass"))


def content_answer(target: Any) -> Any:
    """The digest of a source's (or facts') text: the answer of every content barrier."""
    source = getattr(target, "source", None) if _kind_of(target) == "facts" else target
    text = getattr(source, "text", None)
    if not isinstance(text, str):
        raise _Opaque("no text")
    return _sha(text.encode("utf-8", "surrogatepass"))


_KINDS: dict[type, str | None] = {}


def _kind_of(value: Any) -> str | None:
    cls = type(value)
    if cls in _KINDS:
        return _KINDS[cls]
    kind = None
    names = {c.__name__ for c in cls.__mro__}
    if names & {"PythonSource", "YamlSource"}:
        kind = "source"
    elif "NotebookFacts" in names:
        kind = "facts"
    _KINDS[cls] = kind
    return kind


# --- encoding arguments -----------------------------------------------------------------------


def _encode(value: Any) -> Any:
    """An argument as a hashable, replayable token: ("v", plain) or ("r", chain) for a proxy."""
    if isinstance(value, _Proxy):
        return ("r", object.__getattribute__(value, "_rp_chain"))
    if isinstance(value, _SCALARS):
        return ("v", value)
    if isinstance(value, (tuple, list)):
        return ("t" if isinstance(value, tuple) else "l", tuple(_encode(v) for v in value))
    if isinstance(value, (set, frozenset)):
        return ("s", tuple(sorted((_encode(v) for v in value), key=repr)))
    if isinstance(value, enum.Enum):
        raise _Opaque("enum argument")
    raise _Opaque(type(value).__name__)


def _unwrap(value: Any) -> Any:
    if isinstance(value, _Proxy):
        return object.__getattribute__(value, "_rp_t")
    if isinstance(value, tuple):
        return tuple(_unwrap(v) for v in value)
    if isinstance(value, list):
        return [_unwrap(v) for v in value]
    return value


# --- the recorder ----------------------------------------------------------------------------


class _Leaf:
    __slots__ = ("id", "value")

    def __init__(self, id: int, value: Any) -> None:
        self.id = id
        self.value = value


class _Raised:
    __slots__ = ("id", "exc", "tb")

    def __init__(self, id: int, exc: BaseException) -> None:
        self.id = id
        self.exc = exc
        self.tb = exc.__traceback__


class _Raw:
    """An answer handed out without recording (makes the file's result opaque)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


class Recorder:
    """Proxies over one project, memoized per chain; ``begin()``/``end()`` bracket one file."""

    def __init__(self, project: Any) -> None:
        self.project = project
        self.leaves: list[Query] = []  # leaf id -> (chain, answer)
        self.asked: set[int] | None = None  # leaf ids asked while linting the current file
        self.opaque = False
        self.depth = 0  # > 0 while a project method runs
        self.root = _Proxy(self, project, (), None)
        self._sets: dict[frozenset, tuple[str, tuple[Query, ...]]] = {}

    # one file
    def begin(self) -> None:
        self.asked = set()
        self.opaque = False

    def end(self) -> tuple[str | None, tuple[Query, ...] | None]:
        """(question-set digest, the questions) of the file; (None, None) when opaque."""
        asked, opaque = self.asked, self.opaque
        self.asked = None
        self.opaque = False
        if opaque:
            return None, None
        key = frozenset(asked or ())
        found = self._sets.get(key)
        if found is None:
            queries = tuple(sorted((self.leaves[i] for i in key), key=lambda q: repr(q[0])))
            digest = _sha(repr(queries).encode("utf-8", "surrogatepass"))
            found = self._sets[key] = (digest, queries)
        return found

    # leaves
    def _leaf(self, chain: Chain, answer: Any, value: Any) -> _Leaf:
        self.leaves.append((chain, answer))
        return _Leaf(len(self.leaves) - 1, value)

    def use(self, found: Any) -> Any:
        if isinstance(found, _Leaf):
            if found.id >= 0 and self.asked is not None:
                self.asked.add(found.id)
            return found.value
        if isinstance(found, _Raised):
            if self.asked is not None:
                self.asked.add(found.id)
            raise found.exc.with_traceback(found.tb)  # the same answer, raised from where it was
        if isinstance(found, _Raw):
            self.opaque = True
            return found.value
        if hasattr(type(object.__getattribute__(found, "_rp_t")), "__next__"):
            return found._rp_fresh()  # an iterator (a generator's result): a fresh one each time
        return found  # a proxy

    def wrap(self, value: Any, chain: Chain) -> Any:
        """A leaf for plain data, a proxy for objects (raw, and opaque, for syntax trees)."""
        if isinstance(value, _ItemsToken):
            return _Leaf(-1, value)  # bookkeeping of an iteration: not a question of its own
        kind = _kind_of(value)
        if kind is not None:
            return _Proxy(self, value, chain, kind)
        module = type(value).__module__ or ""
        if module.startswith("libcst") or module == "mlrules.analysis.index":
            return _Raw(value)
        if not _is_special(value):
            try:
                return self._leaf(chain, answer_of(value), value)
            except _Opaque:
                pass
        return _Proxy(self, value, chain, None)

    def compute(self, proxy: "_Proxy", step: tuple, compute: Callable[[], Any]) -> Any:
        kids = object.__getattribute__(proxy, "_rp_kids")
        found = kids.get(step)
        if found is None:
            chain = object.__getattribute__(proxy, "_rp_chain") + (step,)
            self.depth += 1
            try:
                value = compute()
            except Exception as exc:
                found = self._leaf(chain, ("raise", type(exc).__name__), None)
                found = _Raised(found.id, exc)
            else:
                found = self.wrap(value, chain)
            finally:
                self.depth -= 1
            kids[step] = found
        return self.use(found)


class _Proxy:
    __slots__ = ("_rp_rec", "_rp_t", "_rp_chain", "_rp_kind", "_rp_kids", "_rp_pos")

    def __init__(self, rec: Recorder, target: Any, chain: Chain, kind: str | None, kids: dict | None = None) -> None:
        object.__setattr__(self, "_rp_rec", rec)
        object.__setattr__(self, "_rp_t", target)
        object.__setattr__(self, "_rp_chain", chain)
        object.__setattr__(self, "_rp_kind", kind)
        object.__setattr__(self, "_rp_kids", {} if kids is None else kids)
        object.__setattr__(self, "_rp_pos", 0)  # for an iterator: how far this one has been read

    def _rp_fresh(self) -> "_Proxy":
        """A new iterator over the same (memoized) items: each call of a generator function
        gives a fresh generator, and so does each use of its memoized answer."""
        return _Proxy(
            object.__getattribute__(self, "_rp_rec"), object.__getattribute__(self, "_rp_t"),
            object.__getattribute__(self, "_rp_chain"), object.__getattribute__(self, "_rp_kind"),
            object.__getattribute__(self, "_rp_kids"),
        )

    @property  # isinstance(proxy, PythonSource) keeps working
    def __class__(self):  # type: ignore[override]
        return type(object.__getattribute__(self, "_rp_t"))

    def __getattr__(self, name: str) -> Any:
        rec = object.__getattribute__(self, "_rp_rec")
        target = object.__getattribute__(self, "_rp_t")
        kind = object.__getattribute__(self, "_rp_kind")
        if kind is not None and name not in (_SOURCE_LIGHT if kind == "source" else _FACTS_LIGHT):
            # content barrier: everything else about a file is its text
            rec.compute(self, ("content",), lambda: _ContentToken(content_answer(target)))
            return getattr(target, name)
        return rec.compute(self, ("a", name), lambda: getattr(target, name))

    def __setattr__(self, name: str, value: Any) -> None:
        rec = object.__getattribute__(self, "_rp_rec")
        rec.opaque = True
        setattr(object.__getattribute__(self, "_rp_t"), name, _unwrap(value))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        rec = object.__getattribute__(self, "_rp_rec")
        target = object.__getattribute__(self, "_rp_t")
        try:
            step = ("c", _encode(args), tuple(sorted((k, _encode(v)) for k, v in kwargs.items())))
        except _Opaque:
            rec.opaque = True
            return target(*_unwrap(args), **{k: _unwrap(v) for k, v in kwargs.items()})
        return rec.compute(self, step, lambda: target(*_unwrap(args), **{k: _unwrap(v) for k, v in kwargs.items()}))

    def _rp_items(self) -> list:
        rec = object.__getattribute__(self, "_rp_rec")
        target = object.__getattribute__(self, "_rp_t")
        items = rec.compute(self, ("items",), lambda: _ItemsToken(list(target)))
        count = rec.compute(self, ("len",), lambda: len(items))
        kids = object.__getattribute__(self, "_rp_kids")
        out = []
        chain = object.__getattribute__(self, "_rp_chain")
        for i in range(count):
            step = ("i", i)
            found = kids.get(step)
            if found is None:
                found = kids[step] = rec.wrap(items[i], chain + (step,))
            out.append(rec.use(found))
        return out

    def __iter__(self) -> Iterator[Any]:
        target = object.__getattribute__(self, "_rp_t")
        if hasattr(type(target), "__next__"):
            return self  # an iterator: iter(it) is it; next() reads on from where it is
        return iter(self._rp_items())

    def __next__(self) -> Any:
        rec = object.__getattribute__(self, "_rp_rec")
        target = object.__getattribute__(self, "_rp_t")
        items = rec.compute(self, ("items",), lambda: _ItemsToken(list(target)))
        position = object.__getattribute__(self, "_rp_pos")
        if position >= len(items):
            rec.compute(self, ("len",), lambda: len(items))  # it ran out: how many there were is known
            raise StopIteration
        object.__setattr__(self, "_rp_pos", position + 1)
        kids = object.__getattribute__(self, "_rp_kids")
        step = ("i", position)
        found = kids.get(step)
        if found is None:
            found = kids[step] = rec.wrap(items[position], object.__getattribute__(self, "_rp_chain") + (step,))
        return rec.use(found)

    def __reversed__(self) -> Iterator[Any]:
        return reversed(self._rp_items())

    def __len__(self) -> int:
        rec = object.__getattribute__(self, "_rp_rec")
        target = object.__getattribute__(self, "_rp_t")
        items = rec.compute(self, ("items",), lambda: _ItemsToken(list(target)))
        return rec.compute(self, ("len",), lambda: len(items))

    def __bool__(self) -> bool:
        rec = object.__getattribute__(self, "_rp_rec")
        target = object.__getattribute__(self, "_rp_t")
        return rec.compute(self, ("bool",), lambda: bool(target))

    def __contains__(self, item: Any) -> bool:
        rec = object.__getattribute__(self, "_rp_rec")
        target = object.__getattribute__(self, "_rp_t")
        try:
            step = ("in", _encode(item))
        except _Opaque:
            rec.opaque = True
            return _unwrap(item) in target
        return rec.compute(self, step, lambda: _unwrap(item) in target)

    def __getitem__(self, key: Any) -> Any:
        rec = object.__getattribute__(self, "_rp_rec")
        target = object.__getattribute__(self, "_rp_t")
        try:
            step = ("g", _encode(key))
        except _Opaque:
            rec.opaque = True
            return target[_unwrap(key)]
        return rec.compute(self, step, lambda: target[_unwrap(key)])

    def _rp_compare(self, op: str, other: Any) -> Any:
        rec = object.__getattribute__(self, "_rp_rec")
        target = object.__getattribute__(self, "_rp_t")
        function = _COMPARE[op]
        try:
            step = ("op", op, _encode(other))
        except _Opaque:
            rec.opaque = True
            return function(target, _unwrap(other))
        return rec.compute(self, step, lambda: function(target, _unwrap(other)))

    def __eq__(self, other: Any) -> Any:  # type: ignore[override]
        return self._rp_compare("eq", other)

    def __ne__(self, other: Any) -> Any:  # type: ignore[override]
        return self._rp_compare("ne", other)

    def __lt__(self, other: Any) -> Any:
        return self._rp_compare("lt", other)

    def __le__(self, other: Any) -> Any:
        return self._rp_compare("le", other)

    def __gt__(self, other: Any) -> Any:
        return self._rp_compare("gt", other)

    def __ge__(self, other: Any) -> Any:
        return self._rp_compare("ge", other)

    def __hash__(self) -> int:
        return hash(object.__getattribute__(self, "_rp_t"))

    def __str__(self) -> str:
        rec = object.__getattribute__(self, "_rp_rec")
        target = object.__getattribute__(self, "_rp_t")
        return rec.compute(self, ("str",), lambda: str(target))

    def __repr__(self) -> str:
        rec = object.__getattribute__(self, "_rp_rec")
        target = object.__getattribute__(self, "_rp_t")
        return rec.compute(self, ("repr",), lambda: repr(target))

    def __fspath__(self) -> str:
        return os.fspath(str(self))


_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
}


class _ContentToken(str):
    """The answer of a content barrier (a digest string)."""


class _ItemsToken(list):
    """The items of an iterated object: held by the memo, never an answer of its own."""


# --- replay ----------------------------------------------------------------------------------


class Replayer:
    """Answers recorded chains against the current project (memoized: many files share them)."""

    def __init__(self, project: Any) -> None:
        self.project = project
        self._values: dict[Chain, Any] = {(): project}
        self._answers: dict[Chain, Any] = {}
        self._sets: dict[str, bool] = {}

    def _value(self, chain: Chain) -> Any:
        if chain in self._values:
            value = self._values[chain]
        else:
            try:
                step = chain[-1]
                if step[0] == "i":
                    items = self._value(chain[:-1] + (("items",),))
                    if step[1] >= len(items):
                        raise _StepFailed(("missing", step[1]))
                    value = items[step[1]]
                elif step[0] == "len":
                    value = len(self._value(chain[:-1] + (("items",),)))
                else:
                    value = self._step(self._value(chain[:-1]), step)
            except _StepFailed as exc:
                value = exc
            except Exception as exc:  # the project raised: that is the answer
                value = _StepFailed(("raise", type(exc).__name__))
            self._values[chain] = value
        if isinstance(value, _StepFailed):
            raise value
        return value

    def _step(self, target: Any, step: tuple) -> Any:
        kind = step[0]
        if kind == "a":
            return getattr(target, step[1])
        if kind == "c":
            args = tuple(self._decode(a) for a in step[1][1])
            kwargs = {k: self._decode(v) for k, v in step[2]}
            return target(*args, **kwargs)
        if kind == "g":
            return target[self._decode(step[1])]
        if kind == "len":
            return len(list(target))
        if kind == "items":
            return _ItemsToken(list(target))
        if kind == "bool":
            return bool(target)
        if kind == "in":
            return self._decode(step[1]) in target
        if kind == "op":
            return _COMPARE[step[1]](target, self._decode(step[2]))
        if kind == "str":
            return str(target)
        if kind == "repr":
            return repr(target)
        if kind == "content":
            return _ContentToken(content_answer(target))
        raise _StepFailed(("unknown step", kind))

    def _decode(self, token: Any) -> Any:
        kind, value = token
        if kind == "v":
            return value
        if kind == "r":
            return self._value(value)
        if kind == "t":
            return tuple(self._decode(v) for v in value)
        if kind == "l":
            return [self._decode(v) for v in value]
        if kind == "s":
            return {self._decode(v) for v in value}
        raise _StepFailed(("unknown token", kind))

    def answer(self, chain: Chain) -> Any:
        if chain not in self._answers:
            try:
                answer = answer_of(self._value(chain))
            except _StepFailed as exc:
                answer = exc.answer
            except _Opaque:
                answer = ("opaque",)
            self._answers[chain] = answer
        return self._answers[chain]

    def valid(self, digest: str, queries: tuple[Query, ...]) -> bool:
        found = self._sets.get(digest)
        if found is None:
            found = self._sets[digest] = all(self.answer(chain) == answer for chain, answer in queries)
        return found


class _StepFailed(Exception):
    def __init__(self, answer: Any) -> None:
        super().__init__(answer)
        self.answer = answer


# --- disk probes -----------------------------------------------------------------------------

Probe = tuple  # (function name, path)

_lock = threading.Lock()


class Probes:
    """Disk probes of a run (``run``) and of the file being linted (``file``)."""

    def __init__(self) -> None:
        self.run: dict[Probe, Any] = {}
        # Probes made by rule code (outside project methods) since recording started in this
        # process: a file's own probes are all of them up to its end, because helpers keep
        # what they read (``lru_cache``) and a later file may use it without probing again.
        self.rules: dict[Probe, Any] = {}
        self.file: dict[Probe, Any] | None = None  # not None while a file is linted
        self.file_all: dict[Probe, Any] | None = None  # every probe while the current file is linted
        self.recorder: Recorder | None = None  # probes inside project methods are not the file's
        self._inside = 0

    def note(self, probe: Probe, answer: Any) -> None:
        self.run[probe] = answer
        if self.file_all is not None:
            self.file_all[probe] = answer
        if self.file is not None and (self.recorder is None or self.recorder.depth == 0):
            self.rules[probe] = answer
            self.file[probe] = answer

    def file_probes(self) -> dict[Probe, Any]:
        """The probes the current file's results depend on (see ``rules``)."""
        return dict(self.rules)


def clear_helper_caches() -> None:
    """Empty the ``functools`` caches of mlrules' modules (they may hold what an earlier run
    in this process read from disk, which this run's recording would then miss)."""
    import sys

    for name, module in list(sys.modules.items()):
        if not name.startswith("mlrules.") or module is None:
            continue
        for value in list(vars(module).values()):
            clear = getattr(value, "cache_clear", None)
            if callable(clear) and getattr(value, "__module__", None) == name:
                try:
                    clear()
                except Exception:
                    pass


_ACTIVE: Probes | None = None


def current_probes() -> Probes | None:
    """The probes being recorded in this process (also in a worker forked while recording)."""
    return _ACTIVE


def _path_arg(value: Any) -> str | None:
    try:
        path = os.fspath(value)
    except TypeError:
        return None
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    return os.path.abspath(path)


# Folders whose presence is the run's own business (the cache folder: it appears on the first
# run with the cache): left out of the folder listings a result depends on.
IGNORED: set[str] = set()


def _ignored(folder: str, name: str) -> bool:
    return bool(IGNORED) and os.path.join(folder, name) in IGNORED


def _listing_answer(folder: str, names) -> str:
    kept = sorted(n if isinstance(n, str) else os.fsdecode(n) for n in names if not _ignored(folder, n if isinstance(n, str) else os.fsdecode(n)))
    return _sha(repr(kept).encode("utf-8", "surrogateescape"))


def probe_answer(kind: str, path: str) -> Any:
    """The answer of one probe, as recorded and as replayed."""
    try:
        if kind == "exists":
            return os.path.exists(path)
        if kind == "lexists":
            return os.path.lexists(path)
        if kind == "isfile":
            return os.path.isfile(path)
        if kind == "isdir":
            return os.path.isdir(path)
        if kind == "islink":
            return os.path.islink(path)
        if kind == "size":
            return os.path.getsize(path)
        if kind == "listdir":
            return _listing_answer(path, os.listdir(path))
        if kind == "scandir":
            with os.scandir(path) as entries:
                rows = sorted((e.name, e.is_dir(), e.is_file(), e.is_symlink()) for e in entries if not _ignored(path, e.name))
            return _sha(repr(rows).encode("utf-8", "surrogateescape"))
        if kind == "read":  # never blocks: a file swapped for a FIFO is an error answer (a miss)
            from mlrules.sources.limits import read_regular

            return _sha(read_regular(path))
    except OSError as exc:
        return ("error", exc.errno)
    raise ValueError(kind)


@contextmanager
def paused() -> Iterator[None]:
    """No recording of probes inside (the cache reading and writing its own files)."""
    with _paused():
        yield


def probes_valid(probes: Any, memo: dict | None = None) -> bool:
    """Every probe gives the same answer now."""
    with _paused():
        for probe, answer in (probes.items() if isinstance(probes, dict) else probes):
            if memo is not None and probe in memo:
                now = memo[probe]
            else:
                now = probe_answer(*probe)
                if memo is not None:
                    memo[probe] = now
            if now != answer:
                return False
    return True


@contextmanager
def _paused() -> Iterator[None]:
    global _ACTIVE
    saved, _ACTIVE = _ACTIVE, None
    try:
        yield
    finally:
        _ACTIVE = saved


def _wrapper(kind: str, function: Callable) -> Callable:
    def probe(path, *args, **kwargs):
        active = _ACTIVE
        if active is None or active._inside:
            return function(path, *args, **kwargs)
        where = _path_arg(path)
        active._inside += 1
        try:
            result = function(path, *args, **kwargs)
        except OSError as exc:
            if where is not None:
                active.note((kind, where), ("error", exc.errno))
            raise
        finally:
            active._inside -= 1
        if where is not None:
            answer = _listing_answer(where, result) if kind == "listdir" else result
            active.note((kind, where), answer)
        return result

    probe.__wrapped__ = function  # type: ignore[attr-defined]
    return probe


def _scandir_wrapper(function: Callable) -> Callable:
    def scandir(path=".", *args, **kwargs):
        active = _ACTIVE
        if active is None or active._inside:
            return function(path, *args, **kwargs)
        active._inside += 1
        try:
            with function(path, *args, **kwargs) as entries:
                rows = list(entries)
        finally:
            active._inside -= 1
        where = _path_arg(path)
        if where is not None:
            active._inside += 1
            try:
                active.note(("scandir", where), probe_answer("scandir", where))
            finally:
                active._inside -= 1
        return _Entries(rows)

    scandir.__wrapped__ = function  # type: ignore[attr-defined]
    return scandir


class _Entries:
    """A materialized ``os.scandir`` result (a context manager and an iterator, like the real one)."""

    def __init__(self, rows: list) -> None:
        self._rows = iter(rows)

    def __iter__(self):
        return self

    def __next__(self):
        return next(self._rows)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None

    def close(self) -> None:
        return None


def _open_wrapper(function: Callable) -> Callable:
    def open_(file, mode="r", *args, **kwargs):
        active = _ACTIVE
        if active is None or active._inside or not isinstance(mode, str) or any(c in mode for c in "wax+"):
            return function(file, mode, *args, **kwargs)
        active._inside += 1
        try:
            where = _path_arg(file) if not isinstance(file, int) else None
            try:
                handle = function(file, mode, *args, **kwargs)
            except OSError as exc:
                if where is not None:
                    active.note(("read", where), ("error", exc.errno))
                raise
            if where is not None:
                active.note(("read", where), probe_answer("read", where))
            return handle
        finally:
            active._inside -= 1

    open_.__wrapped__ = function  # type: ignore[attr-defined]
    return open_


_PATCHES = (
    (os.path, "exists", "exists"),
    (os.path, "lexists", "lexists"),
    (os.path, "isfile", "isfile"),
    (os.path, "isdir", "isdir"),
    (os.path, "islink", "islink"),
    (os.path, "getsize", "size"),
    (os, "listdir", "listdir"),
)


@contextmanager
def probing(probes: Probes) -> Iterator[Probes]:
    """Record the disk probes made in this process (not thread-safe: one run at a time)."""
    global _ACTIVE
    with _lock:
        saved_active = _ACTIVE
        originals = [(owner, name, getattr(owner, name)) for owner, name, _ in _PATCHES]
        originals += [(os, "scandir", os.scandir), (builtins, "open", builtins.open)]
        for owner, name, kind in _PATCHES:
            setattr(owner, name, _wrapper(kind, getattr(owner, name)))
        os.scandir = _scandir_wrapper(os.scandir)  # type: ignore[assignment]
        builtins.open = _open_wrapper(builtins.open)
        _ACTIVE = probes
    try:
        yield probes
    finally:
        with _lock:
            for owner, name, original in originals:
                setattr(owner, name, original)
            _ACTIVE = saved_active
