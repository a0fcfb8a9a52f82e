"""Which estimator a ``log_model`` call logs: its library (for ``flavor=``) and kind (output type).

The model argument is followed first: ``model=XGBClassifier()``, or a name assigned once from
such a call (``model = Pipeline([...])``, ``model = RandomForestClassifier().fit(X, y)``,
``booster = xgb.train(...)``). When the argument visibly builds something else (a class of
this file, a library mlrules does not map), the answer is unknown. When the argument cannot
be followed (a parameter, ``grid.best_estimator_``), the estimators constructed in the same
function, then in the whole file, decide, but only when they all agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from mlrules.analysis.estimators import FLAVOR_OF_LIBRARY, estimator_kind, estimators
from mlrules.analysis.index import CallSite, FileIndex, dotted_name


@dataclass(frozen=True)
class ModelGuess:
    library: str | None  # "sklearn", "xgboost", "lightgbm", "catboost" or None when unknown
    kind: str | None  # "classifier", "regressor" or None when unknown


_UNKNOWN = ModelGuess(None, None)


def logged_estimator(index: FileIndex, call: CallSite, keyword: str = "model") -> ModelGuess:
    """The library and kind of the model that ``call`` logs (each None when unsure)."""
    arg = call.argument(0, keyword)
    direct = _from_expr(index, arg.value if arg is not None else None, call.function)
    if direct is _UNKNOWN:
        return _UNKNOWN
    library = direct.library if direct else None
    kind = direct.kind if direct else None
    if direct is None or kind is None:
        agreed = _agreement(index, call.function)
        if direct is None:
            return agreed
        # the model is known (e.g. an sklearn Pipeline) but not its output: ask the estimators
        # of the same library
        if agreed.library == library:
            kind = agreed.kind
    return ModelGuess(library, kind)


def _agreement(index: FileIndex, scope: cst.FunctionDef | None) -> ModelGuess:
    for where in (scope, ...):
        found = estimators(index, where)
        if found:
            libraries = {e.library for e in found}
            kinds = {e.kind for e in found}
            return ModelGuess(
                libraries.pop() if len(libraries) == 1 else None,
                kinds.pop() if len(kinds) == 1 else None,
            )
    return _UNKNOWN


def _from_expr(index: FileIndex, expr: cst.BaseExpression | None, scope) -> ModelGuess | None:
    """A guess, ``_UNKNOWN`` when the model is visibly something else, None when not followed."""
    if isinstance(expr, cst.Name):
        values = index.values_of(expr.value, scope)
        if values is None or len(values) != 1 or not isinstance(values[0], cst.Call):
            return None
        expr = values[0]
    if not isinstance(expr, cst.Call):
        return None
    dotted = dotted_name(expr.func)
    qualname = index.resolve_dotted(dotted)
    if qualname is None:
        head = (dotted or "").split(".", 1)[0].removesuffix("()")
        if head and (head in index.functions or head in index.bindings.get(None, {})):
            return _UNKNOWN  # a class or helper of this file: something else than a plain estimator
        return None
    library = FLAVOR_OF_LIBRARY.get(qualname.split(".", 1)[0])
    if library is None:
        return _UNKNOWN
    parts = qualname.split(".")
    constructed = next((p[:-2] for p in parts if p.endswith("()")), parts[-1])
    return ModelGuess(library, estimator_kind(constructed) if constructed[:1].isupper() else None)
