"""Databricks Feature Engineering calls as rules need them.

Recognises the client methods (``create_training_set``, ``log_model``, ``write_table``,
``create_table``, ``score_batch``) of ``FeatureEngineeringClient`` and of the legacy
``FeatureStoreClient`` through imports, aliases and instances (``fe = FeatureEngineeringClient()``),
and ``FeatureLookup(...)`` from ``databricks.feature_engineering`` or ``databricks.feature_store``.

A client the index cannot resolve (a function parameter ``fe``, an attribute ``self.fe``) is
accepted only when the file imports a feature engineering module: then ``x.create_training_set``
is not something else.
"""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from mlrules.analysis.index import FE_CLIENT, FS_CLIENT, CallSite, FileIndex
from mlrules.analysis.values import StringValue, string_value

FE_MODULES = ("databricks.feature_engineering", "databricks.feature_store", "databricks.ml_features")
CLIENT_QUALNAMES = (FE_CLIENT, FS_CLIENT)
CLIENT_METHODS = ("create_training_set", "log_model", "write_table", "create_table", "score_batch")
# Receivers that are never a feature engineering client.
_NOT_A_CLIENT = ("spark", "self.spark", "mlflow", "dbutils", "pd", "np", "F")

# Positions of the arguments that the rules read (FeatureStoreClient accepts them positionally;
# FeatureEngineeringClient makes most of them keyword-only, where the position is never used).
TRAINING_SET_ARGS = {"df": 0, "feature_lookups": 1, "label": 2, "exclude_columns": 3}
WRITE_DF_POSITION = {"write_table": 1, "create_table": 2}


def imports_feature_engineering(index: FileIndex) -> bool:
    return any(index.imports_module(m) for m in FE_MODULES)


def client_calls(index: FileIndex, method: str) -> list[CallSite]:
    """Calls of ``<client>.<method>(...)`` for a Feature Engineering / Feature Store client."""
    wanted = {f"{client}.{method}" for client in CLIENT_QUALNAMES}
    fallback = None
    out = []
    for call in index.calls:
        if call.qualname in wanted:
            out.append(call)
            continue
        if call.qualname is not None or not call.dotted or not call.dotted.endswith("." + method):
            continue
        receiver = call.dotted[: -len(method) - 1]
        if not receiver or "()" in receiver or receiver in _NOT_A_CLIENT:
            continue
        if fallback is None:
            fallback = imports_feature_engineering(index)
        if fallback:
            out.append(call)
    return out


def client_label(call: CallSite) -> str:
    """How the call is written, for messages: ``fe.log_model(...)``."""
    return f"{call.dotted or 'call'}(...)"


def is_feature_lookup(call: CallSite, index: FileIndex) -> bool:
    if call.qualname is not None:
        return call.qualname.endswith(".FeatureLookup") and call.qualname.startswith(FE_MODULES)
    # FeatureLookup defined by a notebook this one %runs: a bare, otherwise unbound name.
    return call.dotted == "FeatureLookup" and index.values_of("FeatureLookup", None) is None


def feature_lookup_calls(index: FileIndex) -> list[CallSite]:
    return [c for c in index.calls if is_feature_lookup(c, index)]


# --- values ---------------------------------------------------------------------------------
def follow_name(expr: cst.BaseExpression | None, index: FileIndex, scope, depth: int = 0):
    """The expression a name stands for when it is assigned exactly once (else the expression)."""
    while isinstance(expr, cst.Name) and depth < 6:
        if expr.value in index.imports:
            return expr
        values = index.values_of(expr.value, scope)
        if values is None or len(values) != 1 or values[0] is None:
            return expr
        if scope is not None and expr.value not in index.bindings.get(scope, {}):
            scope = None
        expr = values[0]
        depth += 1
    return expr


def list_elements(expr: cst.BaseExpression | None, index: FileIndex, scope, depth: int = 0) -> list[cst.BaseExpression] | None:
    """Elements of a list/tuple literal (through names assigned once and ``+``), or None."""
    if expr is None or depth > 6:
        return None
    expr = follow_name(expr, index, scope)
    if isinstance(expr, (cst.List, cst.Tuple)):
        out = []
        for element in expr.elements:
            if isinstance(element, cst.StarredElement):
                inner = list_elements(element.value, index, scope, depth + 1)
                if inner is None:
                    return None
                out.extend(inner)
            else:
                out.append(element.value)
        return out
    if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.Add):
        left = list_elements(expr.left, index, scope, depth + 1)
        right = list_elements(expr.right, index, scope, depth + 1)
        if left is None or right is None:
            return None
        return left + right
    return None


def string_list(expr: cst.BaseExpression | None, index: FileIndex, scope) -> list[str] | None:
    """A list of fully known strings (a single string counts as a list of one), or None."""
    if expr is None:
        return None
    single = string_value(expr, index, scope)
    if single is not None:
        return [single.text] if single.fully_known else None
    elements = list_elements(expr, index, scope)
    if elements is None:
        return None
    out = []
    for element in elements:
        value = string_value(element, index, scope)
        if value is None or not value.fully_known:
            return None
        out.append(value.text)
    return out


# --- training sets ----------------------------------------------------------------------------
@dataclass
class TrainingSet:
    call: CallSite
    label_arg: cst.Arg | None
    label: StringValue | None  # None: unknown
    lookups: list[CallSite] | None  # FeatureLookup calls passed; None: unknown
    exclude_arg: cst.Arg | None
    exclude: list[str] | None  # None: unknown (absent keyword gives [])

    @property
    def label_text(self) -> str | None:
        return self.label.text if self.label is not None and self.label.fully_known else None


_TRAINING_SETS: dict[int, tuple[FileIndex, list[TrainingSet]]] = {}


def training_sets(index: FileIndex) -> list[TrainingSet]:
    """Every ``create_training_set(...)`` of the file (computed once per index)."""
    cached = _TRAINING_SETS.get(id(index))
    if cached is not None and cached[0] is index:
        return cached[1]
    if len(_TRAINING_SETS) > 64:
        _TRAINING_SETS.clear()
    result = _training_sets(index)
    _TRAINING_SETS[id(index)] = (index, result)
    return result


def _training_sets(index: FileIndex) -> list[TrainingSet]:
    lookups_by_node = {c.node: c for c in feature_lookup_calls(index)}
    out = []
    for call in client_calls(index, "create_training_set"):
        scope = call.function
        label_arg = call.argument(TRAINING_SET_ARGS["label"], "label")
        label = string_value(label_arg.value, index, scope) if label_arg is not None else None
        lookups: list[CallSite] | None = None
        lookups_arg = call.argument(TRAINING_SET_ARGS["feature_lookups"], "feature_lookups")
        if lookups_arg is not None:
            elements = list_elements(lookups_arg.value, index, scope)
            if elements is not None:
                lookups = []
                for element in elements:
                    target = follow_name(element, index, scope)
                    if isinstance(target, cst.Call) and target in lookups_by_node:
                        lookups.append(lookups_by_node[target])
        exclude_arg = call.argument(TRAINING_SET_ARGS["exclude_columns"], "exclude_columns")
        if exclude_arg is None:
            exclude: list[str] | None = [] if not call.has_star_args and not _has_star_kwargs(call) else None
        else:
            exclude = string_list(exclude_arg.value, index, scope)
        out.append(TrainingSet(call, label_arg, label, lookups, exclude_arg, exclude))
    return out


def lookup_feature_names(lookup: CallSite, index: FileIndex) -> list[str] | None:
    """The known ``feature_names=`` of a FeatureLookup (None when absent or unknown)."""
    arg = lookup.keyword("feature_names")
    if arg is None:
        return None
    return string_list(arg.value, index, lookup.function)


def _has_star_kwargs(call: CallSite) -> bool:
    return any(a.star == "**" for a in call.node.args)


# --- model names ---------------------------------------------------------------------------------
def model_name_from_uri(uri: str) -> str | None:
    """``c.s.m`` for ``models:/c.s.m/3`` or ``models:/c.s.m@champion``; None for other URIs."""
    if not uri.startswith("models:/"):
        return None
    rest = uri[len("models:/") :]
    if "@" in rest:
        return rest.split("@", 1)[0] or None
    if "/" in rest:
        return rest.rsplit("/", 1)[0] or None
    return None


def names_match(a: str, b: str) -> bool:
    """Dotted names whose known parts agree: a ``{placeholder}`` part matches any part.

    The last part must be known on both sides and equal; the shorter name is compared with
    the tail of the longer one (``churn_model`` matches ``main.ml.churn_model``).
    """
    pa, pb = a.split("."), b.split(".")
    if _placeholder(pa[-1]) or _placeholder(pb[-1]) or pa[-1] != pb[-1]:
        return False
    for x, y in zip(reversed(pa), reversed(pb)):
        if _placeholder(x) or _placeholder(y):
            continue
        if x != y:
            return False
    return True


def _placeholder(part: str) -> bool:
    return "{" in part


def where(ctx, node: cst.CSTNode) -> str:
    """``line 12`` (for ``.ipynb``: ``cell 3, line 2``) for messages that point elsewhere."""
    row = ctx.span(node).start.row
    if ctx.source.kind == "ipynb":
        cell = ctx.source.cell_at_row(row)
        if cell is not None:
            return f"cell {cell.number}, line {row - cell.start_row + 1}"
    return f"line {row}"


def location(facts, node: cst.CSTNode) -> str:
    """``path:12`` of a node in another file, for messages (``path:cell 3:2`` for ``.ipynb``,
    whose rows count over the joined cell text and mean nothing to a reader)."""
    row = facts.span(node).start.row
    source = facts.source
    if source.kind == "ipynb":
        cell = source.cell_at_row(row)
        if cell is not None:
            return f"{facts.path}:cell {cell.number}:{row - cell.start_row + 1}"
    return f"{facts.path}:{row}"


def feature_table_writes(index: FileIndex) -> list[tuple[CallSite, cst.Arg]]:
    """``create_table(..., df=...)`` / ``write_table(..., df=...)`` calls that write data, with the df argument.

    ``create_table`` without ``df`` only declares the schema and is left out.
    """
    out = []
    for method, position in WRITE_DF_POSITION.items():
        for call in client_calls(index, method):
            arg = call.argument(position, "df")
            if arg is not None and not (isinstance(arg.value, cst.Name) and arg.value.value == "None"):
                out.append((call, arg))
    out.sort(key=lambda pair: index.calls.index(pair[0]))
    return out


TEXT_VECTORIZERS = ("TfidfVectorizer", "CountVectorizer", "HashingVectorizer")


def fitted_text_vectorizers(index: FileIndex) -> list[CallSite]:
    """scikit-learn text vectorizers that the file fits by themselves (``vec.fit(...)``,
    ``vec.fit_transform(...)``, ``TfidfVectorizer().fit_transform(...)``): features computed at
    run time, outside any logged ``Pipeline``. Returns their constructions."""
    vectorizers = {
        c.node: c for c in index.calls
        if c.qualname and c.qualname.startswith("sklearn.") and c.qualname.rsplit(".", 1)[-1] in TEXT_VECTORIZERS
    }
    if not vectorizers:
        return []
    fitted: list[CallSite] = []
    for call in index.calls:
        func = call.node.func
        if isinstance(func, cst.Attribute) and func.attr.value in ("fit", "fit_transform"):
            target = follow_name(func.value, index, call.function)
            if isinstance(target, cst.Call) and target in vectorizers and vectorizers[target] not in fitted:
                fitted.append(vectorizers[target])
    return fitted
