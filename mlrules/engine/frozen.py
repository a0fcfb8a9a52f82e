"""Notebook facts as plain, picklable data: what a worker process hands back for a file.

``freeze(facts)`` computes every group of a :class:`NotebookFacts` (widgets, ``%run``
targets, feature tables and lookups, joins, models...) while the file's syntax tree is alive,
and keeps the values. The CST nodes the values point at (``fact.node``) stay as small
detached subtrees, so rules can still read ``join.node.func``; their positions are not
computed in the worker (that would cost half a parse per file): each node carries its place
in the file (its type and its number among the nodes of that type), and the first
``facts.span(node)`` parses that one file again and resolves every node of it at once. Only
files with cross-file findings ever pay for that, like positions of file findings.

The parent process attaches the values to its own light source (:meth:`FrozenFacts.attach`)
and installs them in the project; the per-file cache stores them the same way, so a warm
run parses nothing.
"""

from __future__ import annotations

import dataclasses
from functools import cached_property
from typing import Any

from mlrules.project.notebook_facts import NotebookFacts

# Groups that are the tree itself or positions: never frozen (they stay lazy).
_SKIP = frozenset({"module", "index"})


def _groups(cls: type) -> list[str]:
    names: list[str] = []
    for klass in reversed(cls.__mro__):
        for name, value in vars(klass).items():
            if isinstance(value, cached_property) and name not in _SKIP and name not in names:
                names.append(name)
    return names


class FrozenFacts(NotebookFacts):
    """:class:`NotebookFacts` whose groups were computed in another process (or a previous run)."""

    def __init__(self, values: dict[str, Any], keys: dict, parsed: bool) -> None:
        # no source yet: attach() gives the parent's one
        self.source = None  # type: ignore[assignment]
        self.path = ""
        self.__dict__.update(values)
        self._keys = keys  # detached node -> (type name, ordinal among the file's nodes of that type)
        self._ranges: dict | None = None
        self._live: dict = {}
        self._parsed = parsed

    def attach(self, source) -> "FrozenFacts":
        self.source = source
        self.path = source.path
        return self

    def __getstate__(self) -> dict:
        """Plain data: each node the groups point at becomes a :class:`NodeStub` (its type,
        text and place), unless its position is unknown (then the subtree itself goes)."""
        state = dict(self.__dict__)
        state["source"] = None
        state["_live"] = {}
        state.pop("module", None)
        state.pop("index", None)
        ranges = self._ranges or {}
        text = getattr(self.source, "text", None)
        if text is not None and ranges:
            stubs: dict = {}

            def stub(node):
                found = stubs.get(id(node))
                if found is None:
                    start, end = ranges[node]
                    found = stubs[id(node)] = (NodeStub(type(node), text[start:end], start), node)
                return found[0]

            for name in _groups(type(self)):
                if name in state:
                    state[name] = _replace_nodes(state[name], ranges, stub, 0)
            # stubs from an earlier pickling (facts reused from the cache) keep their places too
            kept = {key: place for key, place in ranges.items() if type(key) is NodeStub}
            state["_ranges"] = {**kept, **{stub_: ranges[node] for stub_, node in stubs.values()}}
            state["_keys"] = {}
        return state

    @property
    def parsed(self) -> bool:  # type: ignore[override]
        return self._parsed

    @cached_property
    def module(self):  # type: ignore[override]
        """The tree, parsed again on demand (a fallback: frozen groups never need it)."""
        if not self._parsed:
            return None
        return NotebookFacts.module.func(self)  # type: ignore[attr-defined]

    def _resolve(self) -> dict:
        """Positions of the detached nodes (and of any node inside them), from one new parse
        (a fallback: ``freeze`` computes them while the tree is alive)."""
        from mlrules.analysis.index import file_index

        index = file_index(self.source)
        by_name = {t.__name__: nodes for t, nodes in index.by_type.items()}
        ranges: dict = dict(self._ranges or {})
        for node, (type_name, ordinal) in self._keys.items():
            nodes = by_name.get(type_name, ())
            if ordinal < len(nodes):
                live = nodes[ordinal]
                ranges[node] = self.source.node_range(live)
                self._live[node] = live
        self._ranges = ranges
        return ranges

    def span(self, node):  # type: ignore[override]
        ranges = self._ranges
        if ranges is not None and node not in ranges:
            # a node inside a stub's subtree (``lookup.lookup_key_arg.value``)
            for stub in ranges:
                if isinstance(stub, NodeStub):
                    found = stub.range_of(node)
                    if found is not None:
                        ranges[node] = found
                        break
        if ranges is None or (node not in ranges and not self._live):
            ranges = self._resolve()
        if node not in ranges:
            # a node inside a detached subtree (``lookup.lookup_key_arg.value``): follow the
            # same fields from the matching node of the new tree
            for root, live in self._live.items():
                steps = _path_to(root, node)
                if steps is not None:
                    target = _follow(live, steps)
                    if target is not None:
                        ranges[node] = self.source.node_range(target)
                    break
        if node in ranges:
            return self.offset_span(*ranges[node])
        return NotebookFacts.span(self, node)  # a node of the re-parsed tree itself


class NodeStub:
    """A CST node of a frozen fact, as its type, its text and its offset in the file: pickling
    the subtree itself costs more than the rest of a file's facts together. ``isinstance``
    sees the node's type; any other use (``stub.func.attr``) parses the text once and reads the
    rebuilt node. Positions of the stub and of nodes inside the rebuilt one are those in the
    file (the text is the file's own)."""

    __slots__ = ("_cls", "_text", "_start", "_built", "_prefix", "_offsets")

    def __init__(self, cls: type, text: str, start: int) -> None:
        object.__setattr__(self, "_cls", cls)
        object.__setattr__(self, "_text", text)
        object.__setattr__(self, "_start", start)
        object.__setattr__(self, "_built", None)
        object.__setattr__(self, "_prefix", 0)
        object.__setattr__(self, "_offsets", None)

    def __reduce_ex__(self, protocol):
        return (NodeStub, (object.__getattribute__(self, "_cls"), object.__getattribute__(self, "_text"), object.__getattribute__(self, "_start")))

    @property  # isinstance(stub, cst.Call) without building it
    def __class__(self):  # type: ignore[override]
        return object.__getattribute__(self, "_cls")

    def _node(self):
        built = object.__getattribute__(self, "_built")
        if built is None:
            built, wrapper, prefix = _rebuild(object.__getattribute__(self, "_cls"), object.__getattribute__(self, "_text"))
            object.__setattr__(self, "_built", (built, wrapper))
            object.__setattr__(self, "_prefix", prefix)
            return built
        return built[0]

    def __getattr__(self, name: str):
        return getattr(self._node(), name)

    def __setattr__(self, name: str, value) -> None:
        raise AttributeError(f"cannot set {name}: CST nodes are immutable")

    def __repr__(self) -> str:
        return repr(self._node())

    def range_of(self, node) -> tuple[int, int] | None:
        """The file offsets of ``node`` when it is the rebuilt node or inside it."""
        if object.__getattribute__(self, "_built") is None:
            return None
        offsets = object.__getattribute__(self, "_offsets")
        if offsets is None:
            import libcst as cst

            from mlrules.sources.positions import node_offsets

            built, wrapper = object.__getattribute__(self, "_built")
            module = cst.Module(body=[cst.SimpleStatementLine(body=[cst.Expr(value=wrapper)])])
            offsets = node_offsets(module)
            object.__setattr__(self, "_offsets", offsets)
        found = offsets.get(node)
        if found is None:
            return None
        shift = object.__getattribute__(self, "_start") - object.__getattribute__(self, "_prefix")
        return found[0] + shift, found[1] + shift


def _rebuild(cls: type, text: str):
    """(the node, the expression it was parsed as, how many characters precede it there)."""
    import libcst as cst

    if issubclass(cls, cst.Arg):
        wrapper = cst.parse_expression("f(" + text + ")")
        node, prefix = wrapper.args[0], 2
    else:
        try:
            wrapper = node = cst.parse_expression(text)
            prefix = 0
        except Exception:  # a chain broken over lines inside someone else's parentheses
            wrapper = node = cst.parse_expression("(" + text + ")")
            prefix = 1
    if type(node) is not cls:
        raise TypeError(f"rebuilt a {type(node).__name__}, not a {cls.__name__}")
    return node, wrapper, prefix


def _replace_nodes(value: Any, ranges: dict, stub, depth: int) -> Any:
    """``value`` with each CST node that has a position replaced by its stub."""
    if depth > 8 or value is None or isinstance(value, (str, int, float, bool, bytes)):
        return value
    module = type(value).__module__ or ""
    if module.startswith("libcst"):
        return stub(value) if value in ranges and _stubbable(value) else value
    if isinstance(value, tuple):
        return tuple(_replace_nodes(v, ranges, stub, depth + 1) for v in value)
    if isinstance(value, list):
        return [_replace_nodes(v, ranges, stub, depth + 1) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {}
        for f in dataclasses.fields(value):
            if not f.init:
                continue
            old = getattr(value, f.name)
            new = _replace_nodes(old, ranges, stub, depth + 1)
            if new is not old:
                changes[f.name] = new
        return dataclasses.replace(value, **changes) if changes else value
    return value


def _stubbable(node) -> bool:
    import libcst as cst

    return isinstance(node, (cst.BaseExpression, cst.Arg))


def freeze(facts: NotebookFacts) -> FrozenFacts:
    """Every group of ``facts`` computed and kept with the nodes it points at (their subtrees
    are detached when pickled); groups that fail are left lazy."""
    values: dict[str, Any] = {}
    for name in _groups(type(facts)):
        try:
            values[name] = getattr(facts, name)
        except Exception:
            continue  # left lazy: computed again (with a parse) if ever asked
    keys: dict = {}
    ranges: dict = {}
    if facts.parsed:
        roots: list = []
        for value in values.values():
            _collect_nodes(value, roots, 0)
        if roots:
            ranges = _node_ranges(facts, roots)
            if not ranges:  # positions failed here: keep where the nodes are, to parse again later
                keys = _node_keys(facts, roots)
    frozen = FrozenFacts(values, keys, facts.parsed)
    frozen._ranges = ranges
    return frozen


def _collect_nodes(value: Any, out: list, depth: int) -> None:
    if depth > 8 or value is None or isinstance(value, (str, int, float, bool, bytes)):
        return
    module = type(value).__module__ or ""
    if module.startswith("libcst"):
        out.append(value)
    elif isinstance(value, (tuple, list, set, frozenset)):
        for item in value:
            _collect_nodes(item, out, depth + 1)
    elif isinstance(value, dict):
        for item in value.values():
            _collect_nodes(item, out, depth + 1)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            _collect_nodes(getattr(value, f.name), out, depth + 1)


def _node_keys(facts: NotebookFacts, roots: list) -> dict:
    """(type name, ordinal among the file's nodes of that type) of each node the facts hold."""
    index = facts.index
    ordinals: dict[type, dict] = {}
    keys: dict = {}
    for node in roots:
        if node in keys:
            continue
        node_type = type(node)
        table = ordinals.get(node_type)
        if table is None:
            table = ordinals[node_type] = {n: i for i, n in enumerate(index.by_type.get(node_type, ()))}
        ordinal = table.get(node)
        if ordinal is not None:
            keys[node] = (node_type.__name__, ordinal)
    return keys


def _node_ranges(facts: NotebookFacts, roots: list) -> dict:
    """Positions of every node the facts hold and of the nodes inside them (computed one
    top-level statement at a time: cheap), so that the parent never parses for a span."""
    from mlrules.analysis.walk import walk

    from mlrules.sources.limits import retry_deep

    node_range = facts.source.node_range

    def compute() -> dict:
        ranges: dict = {}
        for root in roots:
            if root in ranges:
                continue
            for node in walk(root):
                ranges[node] = node_range(node)
        return ranges

    try:
        return retry_deep(compute)  # a deeply nested file: on a deep stack
    except Exception:  # positions are a convenience here: the parent can still parse
        return {}


def _path_to(root, target) -> list | None:
    """The (field, index) steps from ``root`` down to ``target``, or None."""
    from mlrules.analysis.walk import child_fields

    stack = [(root, [])]
    while stack:
        node, steps = stack.pop()
        if node is target:
            return steps
        for name in child_fields(type(node)):
            value = getattr(node, name)
            if isinstance(value, (tuple, list)):
                for i, item in enumerate(value):
                    if hasattr(item, "_codegen"):
                        stack.append((item, steps + [(name, i)]))
            elif hasattr(value, "_codegen"):
                stack.append((value, steps + [(name, None)]))
    return None


def _follow(node, steps: list):
    for name, i in steps:
        value = getattr(node, name, None)
        node = value[i] if i is not None and isinstance(value, (tuple, list)) and i < len(value) else value
        if node is None:
            return None
    return node
