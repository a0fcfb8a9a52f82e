"""One pass over a module that every Python rule shares.

It records imports (with aliases), single assignments, calls with what they refer to,
the enclosing function of each call and whether it runs inside ``with mlflow.start_run()``.
Resolution is flow-insensitive and deliberately simple: when a name is bound in more than
one way its meaning is unknown, and rules stay quiet about unknowns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import libcst as cst

from mlrules.analysis.walk import child_list

# Public aliases of one class/function, folded to one canonical name.
CANONICAL = {
    "mlflow.tracking.MlflowClient": "mlflow.MlflowClient",
    "mlflow.client.MlflowClient": "mlflow.MlflowClient",
    "mlflow.tracking.client.MlflowClient": "mlflow.MlflowClient",
    "databricks.feature_engineering.client.FeatureEngineeringClient": "databricks.feature_engineering.FeatureEngineeringClient",
    "databricks.feature_store.client.FeatureStoreClient": "databricks.feature_store.FeatureStoreClient",
    "mlflow.tracking.fluent.start_run": "mlflow.start_run",
}

FE_CLIENT = "databricks.feature_engineering.FeatureEngineeringClient()"
FS_CLIENT = "databricks.feature_store.FeatureStoreClient()"
MLFLOW_CLIENT = "mlflow.MlflowClient()"


def canonical(name: str) -> str:
    for prefix, target in CANONICAL.items():
        if name == prefix or name.startswith(prefix + "(") or name.startswith(prefix + "."):
            return target + name[len(prefix) :]
    return name


def dotted_name(expr: cst.BaseExpression) -> str | None:
    """``a.b.c`` for Name/Attribute chains; a call inside the chain becomes ``a.b()``."""
    parts: list[str] = []
    node = expr
    while True:
        if isinstance(node, cst.Name):
            parts.append(node.value)
            break
        if isinstance(node, cst.Attribute):
            parts.append(node.attr.value)
            node = node.value
        elif isinstance(node, cst.Call):
            inner = dotted_name(node.func)
            if inner is None:
                return None
            parts.append(inner + "()")
            break
        else:
            return None
    return ".".join(reversed(parts))


@dataclass
class CallSite:
    node: cst.Call
    dotted: str | None  # as written, e.g. "mf.set_experiment"
    function: cst.FunctionDef | None  # innermost enclosing function
    run_depth: int  # number of enclosing `with mlflow.start_run(...)` in the same function
    statement: cst.CSTNode | None = None  # the simple statement holding the call
    qualname: str | None = None  # resolved, e.g. "mlflow.set_experiment"

    @property
    def in_run(self) -> bool:
        return self.run_depth > 0

    def keyword(self, name: str) -> cst.Arg | None:
        for arg in self.node.args:
            if arg.keyword is not None and arg.keyword.value == name:
                return arg
        return None

    def argument(self, position: int, keyword: str | None = None) -> cst.Arg | None:
        """The argument passed by position (index) or by ``keyword``."""
        if keyword is not None:
            kw = self.keyword(keyword)
            if kw is not None:
                return kw
        positional = [a for a in self.node.args if a.keyword is None and not a.star]
        return positional[position] if position < len(positional) else None

    @property
    def has_star_args(self) -> bool:
        return any(a.star for a in self.node.args)


@dataclass
class Binding:
    node: cst.CSTNode  # the value assigned (None-like for non-assign bindings)
    value: cst.BaseExpression | None


class NodeMap(dict):
    """``node -> value`` for the nodes of one tree, keyed by identity like libcst's own
    ``__hash__`` (which is a Python-level call: ``id()`` is not, and the index stores a
    parent for every node). Iterating yields ids; look nodes up with ``[]``/``get``/``in``."""

    __slots__ = ()

    def __getitem__(self, node):
        return dict.__getitem__(self, id(node))

    def get(self, node, default=None):
        return dict.get(self, id(node), default)

    def __contains__(self, node) -> bool:
        return dict.__contains__(self, id(node))

    def __setitem__(self, node, value) -> None:
        dict.__setitem__(self, id(node), value)


@dataclass
class FileIndex:
    module: cst.Module
    imports: dict[str, str] = field(default_factory=dict)  # local name -> qualified name
    ambiguous: set[str] = field(default_factory=set)
    calls: list[CallSite] = field(default_factory=list)
    # scope (None = module, or a FunctionDef) -> name -> values bound (None for non-assignments)
    bindings: dict[cst.FunctionDef | None, dict[str, list[cst.BaseExpression | None]]] = field(default_factory=dict)
    functions: dict[str, list[cst.FunctionDef]] = field(default_factory=dict)
    with_items: list[tuple[cst.WithItem, cst.FunctionDef | None]] = field(default_factory=list)
    by_type: dict[type, list[cst.CSTNode]] = field(default_factory=dict)  # every node, by class
    parents: NodeMap = field(default_factory=NodeMap)  # node -> its parent (the module's is None)

    def nodes(self, node_type: type) -> list:
        """Every node of ``node_type`` in source order (e.g. ``index.nodes(cst.Try)``)."""
        return self.by_type.get(node_type, [])

    def ancestors(self, node: cst.CSTNode):
        """The parents of ``node``, innermost first."""
        parent = self.parents.get(node)
        while parent is not None:
            yield parent
            parent = self.parents.get(parent)

    # --- resolution -------------------------------------------------------------------
    def resolve_dotted(self, dotted: str | None) -> str | None:
        if not dotted:
            return None
        head, _, rest = dotted.partition(".")
        call_suffix = ""
        if head.endswith("()"):
            head, call_suffix = head[:-2], "()"
        if "()" in head:
            return None
        target = self.imports.get(head)
        if target is None:
            target = self.instances.get(head)
            if target is None:
                return None
        return canonical(target + call_suffix + ("." + rest if rest else ""))

    @cached_property
    def instances(self) -> dict[str, str]:
        """Names bound (anywhere, consistently) to the result of a resolvable call."""
        out: dict[str, str] = {}
        conflicted: set[str] = set()
        for scope in self.bindings.values():
            for name, values in scope.items():
                for value in values:
                    if not isinstance(value, cst.Call):
                        continue  # parameters, loop targets...: they do not decide the type
                    qual = self._resolve_no_instances(dotted_name(value.func))
                    if qual is None:
                        continue
                    qual += "()"
                    if out.get(name, qual) != qual:
                        conflicted.add(name)
                    out[name] = qual
        for name in conflicted:
            out.pop(name, None)
        for name in self.imports:
            out.pop(name, None)
        return out

    def _resolve_no_instances(self, dotted: str | None) -> str | None:
        if not dotted:
            return None
        head, _, rest = dotted.partition(".")
        if head.endswith("()"):
            return None
        target = self.imports.get(head)
        if target is None:
            return None
        return canonical(target + ("." + rest if rest else ""))

    def calls_to(self, *qualnames: str) -> list[CallSite]:
        wanted = set(qualnames)
        return [c for c in self.calls if c.qualname in wanted]

    def calls_matching(self, predicate) -> list[CallSite]:
        return [c for c in self.calls if c.qualname is not None and predicate(c.qualname)]

    def values_of(self, name: str, scope: cst.FunctionDef | None) -> list[cst.BaseExpression | None] | None:
        """The values bound to ``name`` in ``scope`` (falling back to module level), or None."""
        if scope is not None and name in self.bindings.get(scope, {}):
            return self.bindings[scope][name]
        return self.bindings.get(None, {}).get(name)

    def imports_module(self, prefix: str) -> bool:
        return any(q == prefix or q.startswith(prefix + ".") for q in self.imports.values())


class _IndexBuilder:
    """Fills a FileIndex in one iterative walk (see analysis.walk for why not CSTVisitor)."""

    def __init__(self, index: FileIndex) -> None:
        self.index = index
        self.function_stack: list[cst.FunctionDef] = []
        self.run_depth_stack: list[int] = [0]
        self.statement: cst.CSTNode | None = None
        self._wrapped: dict = {}  # block -> (enter, leave) callbacks around it

    def run(self, module: cst.Module) -> None:
        index = self.index
        by_type = index.by_type
        parents = index.parents
        handlers: dict[type, object] = {}
        _LEAVE = object()
        stack: list = [(module, None)]
        push = stack.append
        put = dict.__setitem__  # parents is a NodeMap: keyed by id
        while stack:
            node, parent = stack.pop()
            if node is _LEAVE:
                parent()  # a leave callback
                continue
            put(parents, id(node), parent)
            node_type = type(node)
            nodes = by_type.get(node_type)
            if nodes is None:
                nodes = by_type[node_type] = []
                handlers[node_type] = getattr(self, "visit_" + node_type.__name__, None)
            nodes.append(node)
            handler = handlers[node_type]
            if handler is not None:
                leave = handler(node)
                if leave is not None:
                    push((_LEAVE, leave))
            kids = child_list(node)
            for i in range(len(kids) - 1, -1, -1):
                push((kids[i], node))

    # scopes
    @property
    def scope(self) -> cst.FunctionDef | None:
        return self.function_stack[-1] if self.function_stack else None

    def _bind(self, name: str, value: cst.BaseExpression | None) -> None:
        self.index.bindings.setdefault(self.scope, {}).setdefault(name, []).append(value)

    def _bind_target(self, target: cst.BaseExpression, value: cst.BaseExpression | None) -> None:
        if isinstance(target, cst.Name):
            self._bind(target.value, value)
        elif isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                self._bind_target(element.value, None)
        elif isinstance(target, cst.StarredElement):
            self._bind_target(target.value, None)

    def visit_FunctionDef(self, node: cst.FunctionDef):
        self._bind(node.name.value, None)
        self.index.functions.setdefault(node.name.value, []).append(node)
        self.function_stack.append(node)
        self.run_depth_stack.append(0)
        for param in (*node.params.params, *node.params.kwonly_params, *node.params.posonly_params):
            self._bind(param.name.value, None)
        for star in (node.params.star_arg, node.params.star_kwarg):
            if isinstance(star, cst.Param):
                self._bind(star.name.value, None)

        def leave() -> None:
            self.function_stack.pop()
            self.run_depth_stack.pop()

        return leave

    def visit_ClassDef(self, node: cst.ClassDef):
        self._bind(node.name.value, None)

    # imports
    def visit_Import(self, node: cst.Import):
        for alias in node.names:
            full = _attr_text(alias.name)
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                self._import(alias.asname.name.value, full)
            else:
                head = full.split(".")[0]
                self._import(head, head)

    def visit_ImportFrom(self, node: cst.ImportFrom):
        if node.relative or node.module is None or isinstance(node.names, cst.ImportStar):
            return
        module = _attr_text(node.module)
        for alias in node.names:
            name = _attr_text(alias.name)
            local = alias.asname.name.value if alias.asname is not None and isinstance(alias.asname.name, cst.Name) else name
            self._import(local, f"{module}.{name}")

    def _import(self, local: str, qualified: str) -> None:
        previous = self.index.imports.get(local)
        if previous is not None and previous != qualified:
            self.index.ambiguous.add(local)
        self.index.imports[local] = qualified
        self._bind(local, None)

    # assignments
    def visit_Assign(self, node: cst.Assign):
        for target in node.targets:
            self._bind_target(target.target, node.value)

    def visit_AnnAssign(self, node: cst.AnnAssign):
        self._bind_target(node.target, node.value)

    def visit_AugAssign(self, node: cst.AugAssign):
        self._bind_target(node.target, None)

    def visit_For(self, node: cst.For):
        self._bind_target(node.target, None)

    def visit_AsName(self, node: cst.AsName):
        self._bind_target(node.name, None)

    def visit_NamedExpr(self, node: cst.NamedExpr):
        self._bind_target(node.target, node.value)

    # statements and with-blocks
    def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine):
        self.statement = node

    def visit_With(self, node: cst.With):
        opens_run = 0
        for item in node.items:
            self.index.with_items.append((item, self.scope))
            if isinstance(item.item, cst.Call) and _looks_like_start_run(dotted_name(item.item.func)):
                opens_run = 1
        if opens_run:
            depth = self.run_depth_stack
            body = node.body
            # the items are evaluated outside the run; only the body is inside it

            def enter_body() -> None:
                depth[-1] += 1

            def leave_body() -> None:
                depth[-1] -= 1

            self._around(body, enter_body, leave_body)

    def _around(self, node, enter, leave) -> None:
        self._wrapped[node] = (enter, leave)

    def visit_IndentedBlock(self, node):
        return self._maybe_wrapped(node)

    def visit_SimpleStatementSuite(self, node):
        return self._maybe_wrapped(node)

    def _maybe_wrapped(self, node):
        wrapped = self._wrapped.pop(node, None)
        if wrapped is None:
            return None
        enter, leave = wrapped
        enter()
        return leave

    def visit_Call(self, node: cst.Call):
        self.index.calls.append(CallSite(node, dotted_name(node.func), self.scope, self.run_depth_stack[-1], self.statement))


def _looks_like_start_run(dotted: str | None) -> bool:
    # resolved later; at this point only the spelling is known
    return bool(dotted) and (dotted.endswith("start_run") or dotted.endswith("start_run()"))


def _attr_text(node: cst.BaseExpression) -> str:
    return dotted_name(node) or ""


def build_index(module: cst.Module) -> FileIndex:
    index = FileIndex(module)
    _IndexBuilder(index).run(module)
    for call in index.calls:
        call.qualname = index.resolve_dotted(call.dotted)
    return index


def file_index(source) -> FileIndex:
    """The index of a parsed PythonSource, built once and kept on the source."""
    index = source.cache.get("index")
    if index is None:
        index = source.cache["index"] = build_index(source.parse())
    return index
