"""Names read but defined nowhere in a module (NB009), on top of libcst's scope analysis.

libcst's ``ScopeProvider`` knows function, class, comprehension and lambda scopes, ``global``
and ``nonlocal`` and the builtins. This module adds what a notebook needs:

- names the runtime provides (Databricks and IPython globals, module dunders, extra names);
- names defined in ways libcst does not see: walrus targets inside comprehensions (they bind
  in the enclosing scope), ``match`` captures, ``globals()["x"] = ...``,
  ``builtins.x = ...``/``__builtins__.x = ...``/``setattr(builtins, "x", ...)``;
- reads that never raise: under ``if TYPE_CHECKING``, in annotations, in a ``try`` whose
  handler catches ``NameError`` (or broader), names tested with ``"x" in globals()``, ``del``
  targets, keyword names of class patterns (``case Point(x=...)``);
- reads inside a module-level function (or a method of a module-level class) that the file
  never references nor decorates: it only runs when a notebook that ``%run``s this one calls
  it, in that notebook's namespace;
- files that define names dynamically (``from x import *``, ``exec(...)``, ``globals().update``,
  ``globals()`` passed around, ``setattr`` on builtins with a computed name) are not checked:
  ``undefined_names`` returns None.

Resolution is flow-insensitive like libcst's: a module-level name defined anywhere in the file
counts everywhere (a notebook's cells can be run in any order and re-run).
"""

from __future__ import annotations

import ast
import builtins
import re
import symtable

import libcst as cst
from libcst.metadata import ClassScope, ComprehensionScope, GlobalScope, MetadataWrapper, ScopeProvider

from mlrules.analysis.index import dotted_name
from mlrules.sources.limits import symbol_table

DATABRICKS_GLOBALS = frozenset(
    {"spark", "dbutils", "display", "displayHTML", "sc", "sqlContext", "table", "sql", "getArgument", "udf", "_sqldf"}
)
IPYTHON_GLOBALS = frozenset(
    {"get_ipython", "In", "Out", "_", "__", "___", "_i", "_ii", "_iii", "_ih", "_oh", "_dh", "exit", "quit", "__IPYTHON__"}
)
MODULE_DUNDERS = frozenset(
    {"__name__", "__doc__", "__file__", "__builtins__", "__spec__", "__loader__", "__package__", "__annotations__", "__cached__", "__dict__", "__path__"}
)
# Builtins of other Python versions and platforms than the one running mlrules.
EXTRA_BUILTINS = frozenset({"WindowsError", "PythonFinalizationError", "unicode", "long", "xrange", "basestring", "raw_input", "reload", "file", "execfile"})
KNOWN = DATABRICKS_GLOBALS | IPYTHON_GLOBALS | MODULE_DUNDERS | EXTRA_BUILTINS | frozenset(dir(builtins))

_NAME_ERROR_CATCHERS = frozenset({"NameError", "UnboundLocalError", "Exception", "BaseException"})
_NAMESPACE_CALLS = frozenset({"globals", "locals", "vars"})
_BUILTINS_OBJECTS = frozenset({"builtins", "__builtins__", "__builtin__"})


class _Dynamic(Exception):
    """The file defines names in a way that cannot be followed."""


class _Prepass(cst.CSTVisitor):
    """Names defined out of libcst's sight, reads to ignore, and dynamic definitions."""

    def __init__(self) -> None:
        self.defined: set[str] = set()
        self.ignored: set[int] = set()  # id() of Name nodes whose reads never raise NameError
        self.stack: list[cst.CSTNode] = []
        self.guard_depth = 0

    def on_visit(self, node: cst.CSTNode) -> bool:
        if self.guard_depth and isinstance(node, cst.Name):
            self.ignored.add(id(node))
        handler = getattr(self, "visit_" + type(node).__name__, None)
        result = handler(node) if handler else None
        self.stack.append(node)
        return result is not False

    def on_leave(self, original_node: cst.CSTNode) -> None:
        self.stack.pop()
        handler = getattr(self, "leave_" + type(original_node).__name__, None)
        if handler:
            handler(original_node)

    # guarded regions: try bodies catching NameError, `if TYPE_CHECKING:` bodies
    def visit_Try_body(self, node: cst.Try) -> None:
        self.guard_depth += _catches_name_error(node)

    def leave_Try_body(self, node: cst.Try) -> None:
        self.guard_depth -= _catches_name_error(node)

    def visit_If_body(self, node: cst.If) -> None:
        self.guard_depth += _is_type_checking(node.test)

    def leave_If_body(self, node: cst.If) -> None:
        self.guard_depth -= _is_type_checking(node.test)

    def on_visit_attribute(self, node: cst.CSTNode, attribute: str) -> None:
        handler = getattr(self, f"visit_{type(node).__name__}_{attribute}", None)
        if handler:
            handler(node)

    def on_leave_attribute(self, original_node: cst.CSTNode, attribute: str) -> None:
        handler = getattr(self, f"leave_{type(original_node).__name__}_{attribute}", None)
        if handler:
            handler(original_node)

    # star imports, exec
    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        if isinstance(node.names, cst.ImportStar):
            raise _Dynamic("star import")

    def visit_Call(self, node: cst.Call) -> None:
        name = dotted_name(node.func)
        if name in ("exec", "execfile", "builtins.exec", "get_ipython().run_cell", "get_ipython().run_line_magic", "get_ipython().magic"):
            raise _Dynamic(name)
        if name in _NAMESPACE_CALLS:
            self._namespace_use(node)
        if name == "setattr" and len(node.args) >= 2 and _is_namespace_object(node.args[0].value):
            key = _literal(node.args[1].value)
            if key is None:
                raise _Dynamic("setattr with a computed name")
            self.defined.add(key)

    def _namespace_use(self, node: cst.Call) -> None:
        parent = self.stack[-1] if self.stack else None
        grand = self.stack[-2] if len(self.stack) > 1 else None
        if isinstance(parent, cst.Subscript):
            if _is_store_target(parent, grand):
                key = _subscript_literal(parent)
                if key is None:
                    raise _Dynamic("globals() with a computed key")
                self.defined.add(key)
            return  # a read: globals()["x"]
        if isinstance(parent, cst.Attribute):
            if parent.attr.value in ("get", "keys", "items", "values", "copy", "__contains__", "__getitem__"):
                return
            raise _Dynamic(f"globals().{parent.attr.value}")
        if isinstance(parent, cst.ComparisonTarget):
            # "x" in globals(): the reads of x are guarded
            if isinstance(grand, cst.Comparison):
                key = _literal(grand.left)
                if key is not None:
                    self.defined.add(key)
            return
        raise _Dynamic("globals() passed on")

    # definitions libcst does not see
    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        if isinstance(node.target, cst.Name):
            self.defined.add(node.target.value)

    def visit_MatchAs(self, node: cst.MatchAs) -> None:
        if node.name is not None:
            self.defined.add(node.name.value)

    def visit_MatchStar(self, node: cst.MatchStar) -> None:
        if node.name is not None:
            self.defined.add(node.name.value)

    def visit_MatchMapping(self, node: cst.MatchMapping) -> None:
        if node.rest is not None:
            self.defined.add(node.rest.value)

    def visit_MatchKeywordElement(self, node: cst.MatchKeywordElement) -> None:
        self.ignored.add(id(node.key))

    def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
        self._builtins_store(node.target)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self._builtins_store(node.target)

    def _builtins_store(self, target: cst.BaseExpression) -> None:
        if isinstance(target, cst.Attribute) and _is_namespace_object(target.value):
            self.defined.add(target.attr.value)
        elif isinstance(target, cst.Subscript) and _is_namespace_object(target.value):
            key = _subscript_literal(target)
            if key is None:
                raise _Dynamic("__builtins__ with a computed key")
            self.defined.add(key)

    def visit_Del(self, node: cst.Del) -> None:
        for name in _names_in(node.target):
            self.ignored.add(id(name))


def undefined_names(
    module: cst.Module, known: frozenset[str] | set[str] = frozenset(), code: str | None = None
) -> list[cst.Name] | None:
    """Name reads with no definition, in file order; None when the file cannot be checked.

    With ``code`` (the module's source text), CPython's ``symtable`` first lists the names that
    could be undefined (fast, in C); libcst's scope analysis, which is slow, only runs when there
    is one, and only those names are reported.
    """
    candidates = None
    if code is not None:
        candidates = candidate_names(code, KNOWN | frozenset(known))
        if candidates is not None and not candidates:
            return []
    prepass = _Prepass()
    try:
        module.visit(prepass)
    except _Dynamic:
        return None
    allowed = KNOWN | frozenset(known) | prepass.defined
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    scopes = wrapper.resolve(ScopeProvider)
    found: dict[int, cst.Name] = {}
    seen: set[int] = set()
    referenced: set[str] | None = None
    for scope in scopes.values():
        if scope is None or id(scope) in seen:
            continue
        seen.add(id(scope))
        for access in scope.accesses:
            node = access.node
            if not isinstance(node, cst.Name) or access.referents or access.is_annotation or access.is_type_hint:
                continue
            name = node.value
            if name in allowed or id(node) in prepass.ignored or (candidates is not None and name not in candidates):
                continue
            if _assigned_anywhere(scope, name) or _defined_in_enclosing_class(scope, name):
                continue
            if referenced is None:
                referenced = _referenced_names(scopes)
            if _in_unused_definition(scope, referenced):
                continue
            found[id(node)] = node
    return list(found.values())


def candidate_names(code: str, known: frozenset[str]) -> set[str] | None:
    """Names that some scope reads as a global and that the module never binds (None: the
    code does not compile here, e.g. newer syntax)."""
    try:
        table = symbol_table(code)  # the table check_nesting built before the parse (cached)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    module_bound: set[str] = set()
    read_as_global: set[str] = set()
    pending = [table]
    while pending:
        current = pending.pop()
        is_module = current.get_type() == "module"
        for symbol in current.get_symbols():
            name = symbol.get_name()
            if is_module:
                if symbol.is_assigned() or symbol.is_imported() or symbol.is_namespace():
                    module_bound.add(name)
                if symbol.is_referenced():
                    read_as_global.add(name)
            else:
                if symbol.is_declared_global() and (symbol.is_assigned() or symbol.is_imported() or symbol.is_namespace()):
                    module_bound.add(name)  # `global x; x = 1` in a function binds the module's x
                if symbol.is_global() and symbol.is_referenced():
                    read_as_global.add(name)
        pending.extend(current.get_children())
    return read_as_global - module_bound - known


def _referenced_names(scopes) -> set[str]:
    out: set[str] = set()
    seen: set[int] = set()
    for scope in scopes.values():
        if scope is None or id(scope) in seen:
            continue
        seen.add(id(scope))
        for access in scope.accesses:
            if isinstance(access.node, cst.Name):
                out.add(access.node.value)
    return out


def _in_unused_definition(scope, referenced: set[str]) -> bool:
    """The read sits in a function body that nothing in the file calls: the module-level
    ``def`` (or the class holding the method) is never referenced and has no decorator."""
    top = None
    current = scope
    while current is not None and not isinstance(current, GlobalScope):
        top = current
        parent = getattr(current, "parent", None)
        if parent is current:
            break
        current = parent
    if top is None:
        return False  # a module-level read: it runs
    node = getattr(top, "node", None)
    if isinstance(node, cst.FunctionDef):
        return not node.decorators and node.name.value not in referenced
    if isinstance(node, cst.ClassDef) and scope is not top:
        # a method (or a function in the class body): runs when the class is used
        return not node.decorators and node.name.value not in referenced
    return False


def _assigned_anywhere(scope, name: str) -> bool:
    """Flow-insensitive lookup: libcst drops assignments made after the read in the same scope."""
    current = scope
    first = True
    while current is not None:
        if first or not isinstance(current, ClassScope):
            try:
                if current.assignments[name]:
                    return True
            except Exception:
                return True
        first = False
        parent = getattr(current, "parent", None)
        if parent is current:
            break
        current = parent
    return False


def _defined_in_enclosing_class(scope, name: str) -> bool:
    """A comprehension in a class body reading a class attribute: legal for the first iterable
    only; stay quiet rather than tell which."""
    while isinstance(scope, ComprehensionScope):
        scope = scope.parent
    if isinstance(scope, ClassScope):
        try:
            return bool(scope.assignments[name])
        except Exception:
            return True
    return False


def _catches_name_error(node: cst.Try) -> int:
    for handler in node.handlers:
        if handler.type is None:
            return 1
        types = handler.type.elements if isinstance(handler.type, cst.Tuple) else [handler.type]
        for item in types:
            expr = item.value if isinstance(item, cst.Element) else item
            name = dotted_name(expr)
            if name and name.rsplit(".", 1)[-1] in _NAME_ERROR_CATCHERS:
                return 1
    return 0


def _is_type_checking(test: cst.BaseExpression) -> int:
    name = dotted_name(test)
    return int(bool(name) and name.rsplit(".", 1)[-1] == "TYPE_CHECKING")


def _is_namespace_object(expr: cst.BaseExpression) -> bool:
    name = dotted_name(expr)
    return name in _BUILTINS_OBJECTS or (isinstance(expr, cst.Call) and dotted_name(expr.func) in _NAMESPACE_CALLS)


def _literal(expr: cst.BaseExpression) -> str | None:
    if isinstance(expr, cst.SimpleString):
        try:
            value = ast.literal_eval(expr.value)
        except (ValueError, SyntaxError):
            return None
        return value if isinstance(value, str) else None
    return None


def _subscript_literal(node: cst.Subscript) -> str | None:
    if len(node.slice) != 1 or not isinstance(node.slice[0].slice, cst.Index):
        return None
    return _literal(node.slice[0].slice.value)


def _is_store_target(subscript: cst.Subscript, parent) -> bool:
    if isinstance(parent, cst.AssignTarget) and parent.target is subscript:
        return True
    if isinstance(parent, (cst.AugAssign, cst.AnnAssign)) and parent.target is subscript:
        return True
    return isinstance(parent, cst.Del)


def _names_in(target: cst.BaseExpression):
    if isinstance(target, cst.Name):
        yield target
    elif isinstance(target, (cst.Tuple, cst.List)):
        for element in target.elements:
            yield from _names_in(element.value)


# Text without which the prepass finds nothing that symtable misses (star imports, exec,
# namespace use, builtins stores).
_NEEDS_PREPASS = re.compile(r"import\s*\*|\bexec|\bglobals\b|\blocals\b|\bvars\b|builtins|\bsetattr\b|get_ipython")


def module_level_names(module: cst.Module, code: str) -> frozenset[str] | None:
    """Names that running ``module`` defines in its global namespace: assignments, imports,
    ``def``/``class``, loop, ``with``/``except`` targets, ``global x`` assignments inside
    functions, walrus and ``match`` captures, ``globals()["x"] = ...`` and builtins stores.
    Used for the notebooks that a ``%run`` includes (they share the includer's namespace).

    None when that cannot be known: the module defines names dynamically (star import,
    ``exec``, ``globals().update``...) or does not compile with this Python.
    """
    names: set[str] = set()
    if _NEEDS_PREPASS.search(code):
        # symtable sees every plain binding (walrus and match captures included); the CST
        # walk is only needed for dynamic definitions and namespace stores
        prepass = _Prepass()
        try:
            module.visit(prepass)
        except _Dynamic:
            return None
        names |= prepass.defined
    try:
        table = symtable.symtable(code, "<notebook>", "exec")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    pending = [table]
    while pending:
        current = pending.pop()
        is_module = current.get_type() == "module"
        for symbol in current.get_symbols():
            binds = symbol.is_assigned() or symbol.is_imported() or symbol.is_namespace()
            if binds and (is_module or symbol.is_declared_global()):
                names.add(symbol.get_name())
        pending.extend(current.get_children())
    return frozenset(names)
