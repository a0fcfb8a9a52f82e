"""Labels and model fitting inside one file.

- ``label_derivations``: where a column is written from a comparison on other columns
  (``withColumn("y", when(col("rate") > 0.5, 1).otherwise(0))``, ``pdf["y"] = (pdf["rate"] > t).astype(int)``,
  ``(F.col("rate") > t).alias("y")``, ``pdf.assign(y=...)``): the label derived from column L.
- ``estimator_fits``: ``.fit(...)`` calls with the estimators they train (directly, through a name
  assigned once, or inside ``Pipeline``/``GridSearchCV``...).
- ``fit_label``: the label column a fit trains on, when the file shows it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import libcst as cst

from mlrules.analysis.estimators import Estimator, estimators
from mlrules.analysis.features import follow_name, list_elements, training_sets
from mlrules.analysis.index import CallSite, FileIndex, dotted_name
from mlrules.analysis.values import string_value
from mlrules.analysis.walk import walk

ORDERING = (cst.GreaterThan, cst.GreaterThanEqual, cst.LessThan, cst.LessThanEqual)
# Libraries whose estimators the DQ rules know (custom classes are never judged).
KNOWN_LIBRARIES = ("sklearn", "xgboost", "lightgbm", "catboost", "pyspark", "synapse", "imblearn")
CLASSIFIER_NAMES = frozenset({"LogisticRegression", "LogisticRegressionCV", "SVC", "LinearSVC", "NuSVC"})
_NOT_CLASSIFIERS = frozenset({"DummyClassifier"})
FIT_METHODS = ("fit",)


# --- column references ----------------------------------------------------------------------
def column_ref(expr: cst.BaseExpression, index: FileIndex, scope) -> str | None:
    """``x`` for ``col("x")``, ``F.col("x")``, ``functions.column("x")``, ``df["x"]``; else None."""
    if isinstance(expr, cst.Call):
        dotted = dotted_name(expr.func) or ""
        if dotted.rsplit(".", 1)[-1] not in ("col", "column"):
            return None
        if len(expr.args) != 1 or expr.args[0].keyword is not None or expr.args[0].star:
            return None
        value = string_value(expr.args[0].value, index, scope)
        return value.text if value is not None and value.fully_known else None
    if isinstance(expr, cst.Subscript) and len(expr.slice) == 1:
        element = expr.slice[0].slice
        if isinstance(element, cst.Index):
            value = string_value(element.value, index, scope)
            return value.text if value is not None and value.fully_known else None
    return None


def comparison_columns(expr: cst.BaseExpression, index: FileIndex, scope) -> list[str]:
    """Columns compared with ``>``/``>=``/``<``/``<=`` anywhere inside ``expr`` (in order)."""
    out: list[str] = []
    for node in walk(expr):
        if not isinstance(node, cst.Comparison):
            continue
        if not any(isinstance(t.operator, ORDERING) for t in node.comparisons):
            continue
        for side in (node.left, *(t.comparator for t in node.comparisons)):
            name = column_ref(side, index, scope)
            if name is not None and name not in out:
                out.append(name)
    return out


# --- label derivations ------------------------------------------------------------------------
@dataclass(frozen=True)
class Derivation:
    target: str  # the column written
    sources: tuple[str, ...]  # columns compared to build it
    node: cst.CSTNode  # the expression


def label_derivations(index: FileIndex) -> list[Derivation]:
    out: list[Derivation] = []
    for call in index.calls:
        dotted = call.dotted or ""
        method = dotted.rsplit(".", 1)[-1]
        scope = call.function
        if method == "withColumn" and len(call.node.args) >= 2:
            _add(out, call.node.args[0].value, call.node.args[1].value, index, scope)
        elif method == "withColumns" and call.node.args:
            mapping = follow_name(call.node.args[0].value, index, scope)
            if isinstance(mapping, cst.Dict):
                for element in mapping.elements:
                    if isinstance(element, cst.DictElement):
                        _add(out, element.key, element.value, index, scope)
        elif method == "alias" and len(call.node.args) == 1 and isinstance(call.node.func, cst.Attribute):
            _add(out, call.node.args[0].value, call.node.func.value, index, scope)
        elif method == "assign":
            for arg in call.node.args:
                if arg.keyword is not None:
                    _add_name(out, arg.keyword.value, arg.value, index, scope)
    for node, scope in _subscript_assignments(index):
        for target in node.targets:
            if isinstance(target.target, cst.Subscript):
                key = column_ref(target.target, index, scope)
                if key is not None:
                    _add_name(out, key, node.value, index, scope)
    return out


def derivations_of(index: FileIndex, column: str) -> list[Derivation]:
    return [d for d in label_derivations(index) if d.target == column]


def column_written(index: FileIndex, column: str) -> bool:
    """Whether the file computes ``column`` itself, whatever the expression:
    ``withColumn("y", ...)``, ``withColumns({"y": ...})``, ``(...).alias("y")``,
    ``pdf.assign(y=...)``, ``pdf["y"] = ...``. (A rename keeps the source's type: not counted.)"""
    for call in index.calls:
        method = (call.dotted or "").rsplit(".", 1)[-1]
        scope = call.function
        if method in ("withColumn", "alias") and call.node.args:
            if _names(call.node.args[0].value, column, index, scope):
                return True
        elif method == "withColumns" and call.node.args:
            mapping = follow_name(call.node.args[0].value, index, scope)
            if isinstance(mapping, cst.Dict) and any(
                isinstance(e, cst.DictElement) and _names(e.key, column, index, scope) for e in mapping.elements
            ):
                return True
        elif method == "assign" and any(a.keyword is not None and a.keyword.value == column for a in call.node.args):
            return True
    for node, scope in _subscript_assignments(index):
        if any(isinstance(t.target, cst.Subscript) and column_ref(t.target, index, scope) == column for t in node.targets):
            return True
    return False


def _names(expr, column: str, index: FileIndex, scope) -> bool:
    value = string_value(expr, index, scope)
    return value is not None and value.fully_known and value.text == column


def _add(out, key_expr, value_expr, index, scope) -> None:
    key = string_value(key_expr, index, scope)
    if key is not None and key.fully_known:
        _add_name(out, key.text, value_expr, index, scope)


def _add_name(out, key: str, value_expr, index, scope) -> None:
    sources = comparison_columns(value_expr, index, scope)
    if sources:
        out.append(Derivation(key, tuple(sources), value_expr))


def _subscript_assignments(index: FileIndex):
    """``x[...] = value`` statements with their enclosing function, last statement first.

    From the shared index (no walk of our own): assignment statements never nest, so this is
    exactly the order of a last-child-first walk of the tree."""
    out = []
    for node in index.nodes(cst.Assign):
        if any(isinstance(t.target, cst.Subscript) for t in node.targets):
            scope = next((a for a in index.ancestors(node) if isinstance(a, cst.FunctionDef)), None)
            out.append((node, scope))
    return reversed(out)


# --- estimators and fits ----------------------------------------------------------------------
def known_library(estimator: Estimator) -> bool:
    qualname = estimator.call.qualname
    return qualname is not None and qualname.split(".", 1)[0] in KNOWN_LIBRARIES


def is_classifier(estimator: Estimator) -> bool:
    name = estimator.class_name
    if name in _NOT_CLASSIFIERS or not known_library(estimator):
        return False
    return name.endswith("Classifier") or name in CLASSIFIER_NAMES


def is_regressor(estimator: Estimator) -> bool:
    return known_library(estimator) and estimator.kind == "regressor" and not is_classifier(estimator)


@dataclass
class Fit:
    call: CallSite  # the .fit(...) call
    estimators: list[Estimator]  # what it trains (a pipeline may hold several)


def estimator_fits(index: FileIndex) -> list[Fit]:
    by_node = {e.call.node: e for e in estimators(index)}
    if not by_node:
        return []
    out = []
    for call in index.calls:
        func = call.node.func
        if not isinstance(func, cst.Attribute) or func.attr.value not in FIT_METHODS:
            continue
        found = _estimators_in(func.value, index, call.function, by_node, 0, set())
        if found:
            out.append(Fit(call, found))
    return out


def _estimators_in(expr, index, scope, by_node, depth, seen) -> list[Estimator]:
    if depth > 4:
        return []
    expr = follow_name(expr, index, scope)
    if not isinstance(expr, cst.Call) or id(expr) in seen:
        return []
    seen.add(id(expr))
    found: list[Estimator] = []
    for node in walk(expr):
        if isinstance(node, cst.Call) and node in by_node and by_node[node] not in found:
            found.append(by_node[node])
        elif isinstance(node, cst.Name) and node is not expr.func:
            for estimator in _estimators_in(node, index, scope, by_node, depth + 1, seen):
                if estimator not in found:
                    found.append(estimator)
    return found


# --- labels of fits ---------------------------------------------------------------------------
def fit_label(fit: Fit, index: FileIndex) -> str | None:
    """The label column ``fit`` trains on, when the file shows it; None when unknown.

    Spark ML: the estimator's ``labelCol=`` (``"label"`` by default). Otherwise the ``y``
    argument followed to ``df["col"]`` / ``df.pop("col")``; else, when the file builds exactly
    one training set, its ``label=``.
    """
    for estimator in fit.estimators:
        qualname = estimator.call.qualname or ""
        if qualname.startswith(("pyspark.ml.", "synapse.ml.")):
            if not _stages_known(fit, index):
                return None  # stages built elsewhere may produce the label (StringIndexer(outputCol="label"))
            arg = estimator.call.keyword("labelCol")
            if arg is None:
                return "label"
            value = string_value(arg.value, index, estimator.call.function)
            return value.text if value is not None and value.fully_known else None
    y = fit.call.argument(1, "y")
    if y is None:
        return None
    name = _column_of(y.value, index, fit.call.function, 0)
    if name is not None:
        return name
    # Only a name the index cannot follow (tuple unpacking, a parameter) may stand for the
    # training set's label; an expression (`pdf[c] > t`, a call) is something else.
    if not isinstance(y.value, cst.Name) or follow_name(y.value, index, fit.call.function) is not y.value:
        return None
    labels = {t.label_text for t in training_sets(index)}
    if len(labels) == 1 and None not in labels:
        return labels.pop()
    return None


_PASS_THROUGH = {"values", "ravel", "to_numpy", "squeeze", "toPandas", "copy", "reset_index"}


def _column_of(expr, index, scope, depth) -> str | None:
    if depth > 6:
        return None
    if isinstance(expr, cst.Name):
        target = follow_name(expr, index, scope)
        if target is expr:
            return None
        return _column_of(target, index, scope, depth + 1)
    if isinstance(expr, cst.Attribute) and expr.attr.value in _PASS_THROUGH:
        return _column_of(expr.value, index, scope, depth + 1)
    if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute):
        method = expr.func.attr.value
        if method in _PASS_THROUGH:
            return _column_of(expr.func.value, index, scope, depth + 1)
        if method == "pop" and len(expr.args) == 1:
            value = string_value(expr.args[0].value, index, scope)
            return value.text if value is not None and value.fully_known else None
        return None
    if isinstance(expr, cst.Subscript):
        return column_ref(expr, index, scope)
    return None


RATE_LABEL = re.compile(r"(?i)_(rate|ratio|pct|percent|percentage|fraction|share|score)$")


def _stages_known(fit: Fit, index: FileIndex) -> bool:
    """For a Spark ML ``Pipeline(stages=...).fit``: every stage is a call written in this file."""
    func = fit.call.node.func
    if not isinstance(func, cst.Attribute):
        return False
    target = follow_name(func.value, index, fit.call.function)
    if not isinstance(target, cst.Call) or not (dotted_name(target.func) or "").endswith("Pipeline"):
        return True
    stages = None
    for i, arg in enumerate(target.args):
        if (arg.keyword is not None and arg.keyword.value == "stages") or (arg.keyword is None and i == 0):
            stages = arg.value
    elements = list_elements(stages, index, fit.call.function)
    if elements is None:
        return False
    return all(isinstance(follow_name(e, index, fit.call.function), cst.Call) for e in elements)


def label_data_elsewhere(ctx, fit: Fit) -> bool:
    """Whether the label data a fit trains on is computed in another file (a project helper),
    or by Databricks AutoML (a generated notebook, see ``is_automl_notebook``), or is one of
    scikit-learn's bundled toy datasets (``remedies.from_bundled_dataset``: fixed classes and types).

    The ``y`` argument, or for ``fit(df)`` (Spark ML) the DataFrame; see
    ``remedies.computed_elsewhere``. The helper may check, binarize or cast the label.
    """
    from mlrules.analysis.remedies import computed_elsewhere, from_bundled_dataset

    if is_automl_notebook(ctx.index):
        return True
    arg = fit.call.argument(1, "y") or fit.call.argument(0, "dataset")
    if arg is None:
        return False
    return computed_elsewhere(ctx, arg.value, fit.call.function) or from_bundled_dataset(ctx, arg.value, fit.call.function)


AUTOML_RUNTIME = "databricks.automl_runtime"


def is_automl_notebook(index: FileIndex) -> bool:
    """A notebook generated by Databricks AutoML (it imports ``databricks.automl_runtime``).

    It retrains on AutoML's own snapshot of the training data, which AutoML prepared and
    validated (target type, at least two classes) before generating the notebook.
    """
    if index.imports_module(AUTOML_RUNTIME):
        return True
    for node in index.nodes(cst.Import):  # `import databricks.automl_runtime` binds `databricks` only
        for alias in node.names:
            name = dotted_name(alias.name) or ""
            if name == AUTOML_RUNTIME or name.startswith(AUTOML_RUNTIME + "."):
                return True
    return False
