"""MLflow run contexts inside one file: can a call execute while a run is active?

Built on the shared index. Everything here answers conservatively: "may be in a run" is
the answer whenever the file does not show otherwise, so that rules built on it stay quiet
about what they cannot see.

- A call is *directly* in a run when it sits inside ``with mlflow.start_run(...)`` in its
  own function (``CallSite.in_run``).
- A call in a function is in a run *through its call sites*: the function is a plain,
  undecorated, non-method function defined once in the file, never used as a value
  (``fmin(fn=objective)``), that does not open a run itself, and at least one of its
  call sites (bare ``name(...)`` calls in the file) may be in a run. A function with no call
  site in the file may be called from anywhere: it may be in a run.
- A ``start_run`` that is not a ``with`` item (``mlflow.start_run()`` as a statement, or
  ``run = mlflow.start_run()``) leaves a run open: module-level code after it may be in a run.
"""

from __future__ import annotations

from functools import cached_property

import libcst as cst

from mlrules.analysis.index import CallSite, FileIndex
from mlrules.analysis.walk import walk

START_RUN = "mlflow.start_run"
END_RUN = "mlflow.end_run"


def looks_like_start_run(call: CallSite) -> bool:
    """Spelled like ``start_run`` (resolved or not): anything that may open a run."""
    return call.qualname == START_RUN or bool(call.dotted) and call.dotted.rsplit(".", 1)[-1] == "start_run"


class RunContexts:
    """Run-context questions about one file, answered from the shared index."""

    def __init__(self, index: FileIndex) -> None:
        self.index = index
        self._order = {id(c.node): i for i, c in enumerate(index.calls)}
        self._reads_of: dict[str, list[cst.Name]] = {}

    # --- basic facts ----------------------------------------------------------------------
    def order(self, call: CallSite) -> int:
        """Source order of ``call`` among the file's calls."""
        return self._order.get(id(call.node), 0)

    def scope_of(self, node: cst.CSTNode) -> cst.FunctionDef | None:
        for parent in self.index.ancestors(node):
            if isinstance(parent, cst.FunctionDef):
                return parent
        return None

    def _reads(self, name: str) -> list[cst.Name]:
        """``name`` read as a value: not a call head, attribute, keyword, definition or import."""
        if name in self._reads_of:
            return self._reads_of[name]
        out = self._reads_of[name] = []
        for node in self.index.nodes(cst.Name):
            if node.value != name:
                continue
            parent = self.index.parents.get(node)
            if isinstance(parent, cst.Call) and parent.func is node:
                continue
            if isinstance(parent, cst.Attribute) and parent.attr is node:
                continue
            if isinstance(parent, cst.Arg) and parent.keyword is node:
                continue
            if isinstance(parent, (cst.FunctionDef, cst.ClassDef, cst.Param)) and parent.name is node:
                continue
            if any(isinstance(a, (cst.Import, cst.ImportFrom)) for a in self.index.ancestors(node)):
                continue
            out.append(node)
        return out

    @cached_property
    def _end_run_refs(self) -> list[tuple[int | None, cst.FunctionDef | None]]:
        """Every mention of ``end_run``: (order of the call when it is one, scope)."""
        refs: list[tuple[int | None, cst.FunctionDef | None]] = []
        calls = {id(c.node): c for c in self.index.calls}
        mentions = [a for a in self.index.nodes(cst.Attribute) if a.attr.value == "end_run"] + self._reads("end_run")
        for node in mentions:
            parent = self.index.parents.get(node)
            call = calls.get(id(parent)) if isinstance(parent, cst.Call) and parent.func is node else None
            refs.append((self.order(call) if call is not None else None, self.scope_of(node)))
        return refs

    @cached_property
    def _with_item_calls(self) -> set[int]:
        return {id(item.item) for item, _ in self.index.with_items if isinstance(item.item, cst.Call)}

    def is_with_item(self, call: CallSite) -> bool:
        return id(call.node) in self._with_item_calls

    @cached_property
    def plain_start_runs(self) -> list[CallSite]:
        """``start_run`` calls that are not ``with`` items (they leave a run open)."""
        return [c for c in self.index.calls if looks_like_start_run(c) and not self.is_with_item(c)]

    def opens_run(self, function: cst.FunctionDef) -> bool:
        """The function calls ``start_run`` itself (as a ``with`` item or not)."""
        return any(c.function is function and looks_like_start_run(c) for c in self.index.calls)

    def checks_active_run(self, scope: cst.FunctionDef | None) -> bool:
        """The scope asks ``mlflow.active_run()`` (a guard the file decides on at run time)."""
        return any(
            c.function is scope and (c.qualname == "mlflow.active_run" or (c.dotted or "").endswith("active_run"))
            for c in self.index.calls
        )

    def end_run_after(self, call: CallSite) -> bool:
        """An ``end_run`` is referenced after ``call`` in its scope, or anywhere in another scope."""
        position = self.order(call)
        return any(
            scope is not call.function or order is None or order > position for order, scope in self._end_run_refs
        )

    def returned_names(self, scope: cst.FunctionDef | None) -> set[str]:
        """Names read in the ``return`` / ``yield`` values of ``scope``."""
        names: set[str] = set()
        for kind in (cst.Return, cst.Yield):
            for node in self.index.nodes(kind):
                if node.value is None or self.scope_of(node) is not scope:
                    continue
                names.update(n.value for n in walk(node.value) if isinstance(n, cst.Name))
        return names

    # --- functions and their call sites ---------------------------------------------------
    def analyzable(self, function: cst.FunctionDef) -> bool:
        """A plain function whose every use in the file is a bare ``name(...)`` call."""
        name = function.name.value
        if function.decorators or self._is_method(function):
            return False
        if name in self.index.imports or len(self.index.functions.get(name, [])) != 1:
            return False
        if sum(len(scope.get(name, [])) for scope in self.index.bindings.values()) != 1:
            return False  # also assigned, a parameter, a loop target...
        return not self._reads(name)

    def _is_method(self, function: cst.FunctionDef) -> bool:
        block = self.index.parents.get(function)
        return isinstance(block, cst.IndentedBlock) and isinstance(self.index.parents.get(block), cst.ClassDef)

    def call_sites(self, function: cst.FunctionDef) -> list[CallSite]:
        name = function.name.value
        return [c for c in self.index.calls if c.dotted == name and c.qualname is None]

    def may_be_in_run(self, call: CallSite, _visiting: frozenset = frozenset()) -> bool:
        """Whether ``call`` may execute while a run is active (True when unsure)."""
        if call.in_run:
            return True
        scope = call.function
        if scope is None:
            position = self.order(call)
            return any(self.order(start) < position for start in self.plain_start_runs)
        return self.function_may_run_in_run(scope, _visiting)

    def function_may_run_in_run(self, function: cst.FunctionDef, _visiting: frozenset = frozenset()) -> bool:
        """Whether the body of ``function`` may execute while a run is active (True when unsure)."""
        if function in _visiting or self.opens_run(function) or not self.analyzable(function):
            return True
        sites = self.call_sites(function)
        if not sites:
            return True
        visiting = _visiting | {function}
        return any(self.may_be_in_run(site, visiting) for site in sites)


def run_contexts(index: FileIndex) -> RunContexts:
    """The run-context facts of a file (built on the shared index: no extra walk of the tree)."""
    return RunContexts(index)
