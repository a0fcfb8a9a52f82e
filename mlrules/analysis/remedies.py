"""File-wide remedy search for the data-quality (DQ) heuristics.

A DQ rule stays quiet when the file shows the remedy anywhere: in code, a comment, a SQL
string, a ``%sql`` cell, or a notebook that this one includes with ``%run``. Markdown cells are
prose, not remedies, and are left out. When a ``%run`` target cannot be found in the project
the remedy may be there: ``searchable_text`` then returns None and the rule reports nothing.
"""

from __future__ import annotations

import os
import re
from typing import Any, Iterable

from mlrules.sources.python import PythonSource

NOTEBOOK_SUFFIXES = ("", ".py", ".ipynb", ".sql", ".scala", ".r")
_PROSE_MAGICS = ("md", "md-sandbox", "markdown")
_MAX_RUN_DEPTH = 4


def code_text(source: PythonSource) -> str:
    """The file text without its markdown cells."""
    parts = []
    for cell in source.cells:
        if cell.kind in ("markdown", "raw") or (cell.kind == "magic" and cell.magic in _PROSE_MAGICS):
            continue
        parts.append(source.text[cell.start : cell.end])
    return "\n".join(parts)


def searchable_text(ctx) -> str | None:
    """This file's code text plus that of every notebook it ``%run``s (recursively).

    None when a ``%run`` target is not in the project (an absolute workspace path, a missing
    file): what the file shows is then unknown.
    """
    model = None  # the project's bundle model: its map of the run's files by absolute path
    texts: list[str] = []
    seen: set[str] = set()
    todo: list[tuple[PythonSource, int]] = [(ctx.source, 0)]
    while todo:
        source, depth = todo.pop()
        key = _normalize(source.path)
        if key in seen:
            continue
        seen.add(key)
        texts.append(code_text(source))
        for magic in source.magics_named("run"):
            target = run_target(magic.arg_text)
            if not target or target.startswith("/") or depth >= _MAX_RUN_DEPTH:
                return None
            folder = os.path.dirname(os.path.abspath(source.path))
            resolved = os.path.normpath(os.path.join(folder, target))
            if model is None:
                # built once per run (a map of our own would cost every %run-ing notebook a
                # pass over all the files of the run)
                model = ctx.project.bundle_model
            found = None
            for suffix in NOTEBOOK_SUFFIXES:
                candidate = model.source_at(_normalize(resolved + suffix))
                if isinstance(candidate, PythonSource):
                    found = candidate
                    break
            if found is None:
                return None
            todo.append((found, depth + 1))
    return "\n".join(texts)


def shows_any(text: str, patterns: Iterable[re.Pattern[str]]) -> bool:
    return any(p.search(text) for p in patterns)


# Libraries whose functions never hide a project's own cleaning or casting.
_LIBRARY_ROOTS = frozenset(
    {"pyspark", "pandas", "numpy", "polars", "databricks", "mlflow", "sklearn", "delta", "pyarrow", "datetime", "os", "sys", "json", "functools", "itertools", "math"}
)


def computed_elsewhere(ctx, expr, scope, _depth: int = 0) -> bool:
    """Whether the data ``expr`` (a DataFrame, ``X``/``y``) is computed outside this file, so the remedy may be there.

    Followed through names assigned once, tuple unpacking (``X_train, X_test, y_train, y_test =
    prepare(...)``), parameters of a function (to the arguments of its call sites in the file),
    method chains (``helper(df).withColumn(...)``) and library calls (``train_test_split(X, y)``).
    It is computed elsewhere when it comes from an attribute (``self.features``), a function
    that the file imports from a module that is not a known library (a project helper), a
    function obtained dynamically (``getattr(import_module(m), "f")``), or a parameter of a
    function that the file never calls (a library: the caller is in another file).
    """
    import libcst as cst

    from mlrules.analysis.index import dotted_name

    if expr is None or _depth > 10:
        return False
    index = ctx.index
    if isinstance(expr, cst.Name):
        found = name_sources(ctx, expr, scope)
        if found is None:
            return False
        sources, uncalled = found
        if uncalled:
            return True  # a library function (module or %run notebook): its caller is in another file
        return any(computed_elsewhere(ctx, source, where, _depth + 1) for source, where in sources)
    if isinstance(expr, cst.Attribute):
        if _on_instance(expr):
            return True
        return computed_elsewhere(ctx, expr.value, scope, _depth + 1)
    if isinstance(expr, cst.Subscript):
        return computed_elsewhere(ctx, expr.value, scope, _depth + 1)
    if isinstance(expr, cst.Call):
        func = expr.func
        last = func.value if isinstance(func, cst.Name) else func.attr.value if isinstance(func, cst.Attribute) else ""
        if _READER.match(last) and (isinstance(func, cst.Name) and last not in index.functions or isinstance(func, cst.Attribute)):
            if not (isinstance(func, cst.Attribute) and _imported_helper(index, func)):
                return False  # spark.table(name), pd.read_csv(path): the arguments name data, they are not data
        if isinstance(func, cst.Name):
            name = func.value
            if name in index.functions:
                return False
            imported = index.imports.get(name)
            if imported is not None:
                if imported.split(".", 1)[0] not in _LIBRARY_ROOTS:
                    return True
                return any(computed_elsewhere(ctx, a.value, scope, _depth + 1) for a in expr.args)
            values = index.values_of(name, scope)
            return bool(values) and len(values) == 1 and values[0] is not None  # f = getattr(mod, "f")
        if isinstance(func, cst.Attribute):
            dotted = dotted_name(func) or ""
            head = dotted.split(".", 1)[0]
            imported = index.imports.get(head)
            if imported is not None and "()" not in head:
                if imported.split(".", 1)[0] not in _LIBRARY_ROOTS:
                    return True
                return any(computed_elsewhere(ctx, a.value, scope, _depth + 1) for a in expr.args)
            return computed_elsewhere(ctx, func.value, scope, _depth + 1)
    return False


_READER = re.compile(r"^(read|load|scan|table|sql)")

# Toy datasets that ship inside scikit-learn (`load_iris()`) or that it generates
# (`make_classification()`): fixed, clean, numeric, several classes. Not `fetch_*` (downloads
# of real data with gaps and strings), `load_files`/`load_svmlight_file` (the user's files).
BUNDLED_DATASETS = re.compile(r"^sklearn\.datasets\.(load_(iris|wine|breast_cancer|digits|diabetes|linnerud)|make_\w+)$")
# Methods that combine the receiver with other data: both sides must be the bundled dataset.
_COMBINING = frozenset({"join", "crossJoin", "union", "unionAll", "unionByName", "merge", "append", "combine_first"})
# Library calls that split or shuffle their array arguments (every argument must be bundled).
_SPLITTERS = frozenset({"train_test_split", "shuffle", "resample"})
# Keywords that name the data of a constructor/factory (`pd.DataFrame(data=...)`, `fe.create_training_set(df=...)`).
_DATA_KEYWORDS = ("data", "df", "dataset")


def from_bundled_dataset(ctx, expr, scope, _depth: int = 0) -> bool:
    """Whether the data ``expr`` (a DataFrame, ``X``/``y``) comes only from a toy dataset bundled
    with scikit-learn (``BUNDLED_DATASETS``): its classes, types and values are fixed, so data
    checks (class count, NaN cleaning, casts) guard nothing.

    Followed through names assigned once, tuple unpacking, parameters (every call site in the
    file must pass such data), attributes and subscripts (``wine.target``, ``pdf[cols]``), method
    chains (``sdf.randomSplit(...)``, ``df.toPandas()``; a ``join``/``union`` needs both sides),
    library splitters (``train_test_split(X, y)``: every array) and constructors or clients
    (``pd.DataFrame(wine.data)``, ``spark.createDataFrame(pdf)``,
    ``fe.create_training_set(df=...)``: their data argument). Anything else is not.
    """
    import libcst as cst

    from mlrules.analysis.index import dotted_name

    if expr is None or _depth > 40:
        return False
    if _depth == 0 and "datasets" not in ctx.source.text:
        return False  # no `sklearn.datasets` / `from sklearn import datasets`: no toy data (cheap)
    index = ctx.index
    nxt = _depth + 1
    if isinstance(expr, cst.Name):
        found = name_sources(ctx, expr, scope)
        if found is None:
            return False
        sources, _uncalled = found  # a parameter nobody passes here: unknown data
        return bool(sources) and all(from_bundled_dataset(ctx, source, where, nxt) for source, where in sources)
    if isinstance(expr, cst.Attribute):
        if _on_instance(expr):
            return False
        return from_bundled_dataset(ctx, expr.value, scope, nxt)
    if isinstance(expr, cst.Subscript):
        return from_bundled_dataset(ctx, expr.value, scope, nxt)
    if not isinstance(expr, cst.Call):
        return False
    func = expr.func
    qualname = index.resolve_dotted(dotted_name(func)) or ""
    if BUNDLED_DATASETS.match(qualname):
        return True
    positional = [a.value for a in expr.args if a.keyword is None and not a.star]
    last = qualname.rsplit(".", 1)[-1] if qualname else (func.attr.value if isinstance(func, cst.Attribute) else "")
    if last in _SPLITTERS and (qualname.startswith("sklearn.") or not qualname):
        return bool(positional) and all(from_bundled_dataset(ctx, a, scope, nxt) for a in positional)
    if isinstance(func, cst.Attribute):
        method = func.attr.value
        if from_bundled_dataset(ctx, func.value, scope, nxt):
            if method in _COMBINING:
                return bool(positional) and from_bundled_dataset(ctx, positional[0], scope, nxt)
            return True
        receiver = func.value
        # a module (`pd.DataFrame`), the `spark` session, or a client (`fe = FeatureEngineeringClient()`);
        # not a DataFrame (`raw = pd.read_csv(p)`): its own rows stay the data
        instance = index.instances.get(receiver.value, "") if isinstance(receiver, cst.Name) else ""
        factory = isinstance(receiver, cst.Name) and (
            receiver.value in index.imports
            or (instance and not instance.startswith(("pandas.", "pyspark.", "numpy.", "polars.")))
            or (receiver.value == "spark" and index.values_of("spark", scope) is None)
        )
        if factory and method not in _COMBINING:
            data = next((a.value for a in expr.args if a.keyword is not None and a.keyword.value in _DATA_KEYWORDS), None)
            data = data if data is not None else (positional[0] if positional else None)
            return data is not None and from_bundled_dataset(ctx, data, scope, nxt)
    return False


def name_sources(ctx, expr, scope) -> tuple[list[tuple[Any, Any]], bool] | None:
    """Where the data a name holds comes from, to follow it back: ``(sources, uncalled)``.

    ``sources`` are ``(expression, its scope)`` pairs: the value the name is assigned once,
    the expression a tuple unpacking takes it from, or, for a parameter, the argument each
    call site of its function passes (``None`` where a site passes none). ``uncalled``: it is
    a parameter of a function the file never calls (the data comes from another file). None
    when the name is imported, assigned more than once or not assigned in the file.
    """
    from mlrules.analysis.features import follow_name

    index = ctx.index
    name = expr.value
    if name in index.imports:
        return None
    target = follow_name(expr, index, scope)
    owner = scope if scope is not None and name in index.bindings.get(scope, {}) else None
    if target is not expr:
        return [(target, owner)], False
    values = index.values_of(name, scope)
    if values is None or len(values) != 1:
        return None
    source = _unpacked_from(ctx, name, owner)
    if source is not None:
        return [(source, owner)], False
    if owner is not None and _is_parameter(owner, name):
        sites = [c for c in index.calls if c.dotted == owner.name.value]
        position = _parameter_position(owner, name)
        args = [site.argument(position, name) if position is not None else site.keyword(name) for site in sites]
        return [(arg.value if arg is not None else None, site.function) for arg, site in zip(args, sites)], not sites
    return None


def _on_instance(expr) -> bool:
    """``self.x.y`` / ``cls.x``: data held by an object, set somewhere this file may not show."""
    import libcst as cst

    head = expr
    while isinstance(head, cst.Attribute):
        head = head.value
    return isinstance(head, cst.Name) and head.value in ("self", "cls")


def _imported_helper(index, func) -> bool:
    from mlrules.analysis.index import dotted_name

    head = (dotted_name(func) or "").split(".", 1)[0]
    imported = index.imports.get(head)
    return imported is not None and imported.split(".", 1)[0] not in _LIBRARY_ROOTS


def _is_parameter(function, name: str) -> bool:
    params = function.params
    return any(p.name.value == name for p in (*params.posonly_params, *params.params, *params.kwonly_params))


def _parameter_position(function, name: str) -> int | None:
    positional = [p.name.value for p in (*function.params.posonly_params, *function.params.params)]
    if positional and positional[0] in ("self", "cls"):
        positional = positional[1:]
    return positional.index(name) if name in positional else None


_UNPACKING_CACHE: dict[int, tuple[object, dict]] = {}


def _unpacked_from(ctx, name: str, scope):
    """The value of ``a, name, ... = value`` (the only binding of ``name`` in ``scope``), or None."""
    import libcst as cst

    from mlrules.analysis.walk import children

    module = ctx.module
    cached = _UNPACKING_CACHE.get(id(module))
    if cached is None or cached[0] is not module:
        table: dict = {}
        stack = [(module, None)]
        while stack:
            node, owner = stack.pop()
            if isinstance(node, cst.Assign):
                for target in node.targets:
                    if isinstance(target.target, (cst.Tuple, cst.List)):
                        for element in target.target.elements:
                            if isinstance(element.value, cst.Name):
                                table.setdefault((owner, element.value.value), []).append(node.value)
                continue
            if isinstance(node, cst.BaseExpression):
                continue
            inner = node if isinstance(node, cst.FunctionDef) else owner
            for child in children(node):
                stack.append((child, inner))
        if len(_UNPACKING_CACHE) > 64:
            _UNPACKING_CACHE.clear()
        _UNPACKING_CACHE[id(module)] = (module, table)
        cached = _UNPACKING_CACHE[id(module)]
    values = cached[1].get((scope, name))
    return values[0] if values and len(values) == 1 else None


def run_target(arg_text: str) -> str | None:
    """The notebook path of a ``%run`` line: the first word, or a quoted path."""
    text = arg_text.strip()
    if not text:
        return None
    if text[0] in "'\"":
        end = text.find(text[0], 1)
        return text[1:end] if end > 0 else None
    return text.split()[0]


def _normalize(path: str) -> str:
    return os.path.normcase(os.path.normpath(os.path.abspath(path)))


# --- remedies named by the rules ---------------------------------------------------------------
# DQ001: NaN/Inf cleaning.
NAN_CLEANING = tuple(
    re.compile(p)
    for p in (
        r"\bfillna\b",
        r"\bna\s*\.\s*(fill|drop|replace)\b",
        r"\bdropna\b",
        r"(?i)\bisnan\b",
        r"(?i)\bnanvl\b",
        r"(?i)\bcoalesce\s*\(",
        r"(?i)\b(ifnull|nvl|nvl2|zeroifnull)\s*\(",
        r"\bnan_to_num\b",
        r"\bfill_(null|nan)\b",
        r"\b(Simple|Iterative|KNN)?Imputer\b",
        r"replace\s*\([^)]*\binf\b",
        r"(?i)\w*clean\w*\s*\(",
    )
)

# DQ002 and DQ005 (regression): casts to double.
DOUBLE_CAST = tuple(
    re.compile(p)
    for p in (
        r"(?i)\bcast\s*\(\s*[\"'](double|float)[\"']",
        r"(?i)\bcast\s*\([^()]*(\([^()]*\))?[^()]*\bas\s+(double|float)\b",
        r"\b(Double|Float)Type\b",
        r"\bastype\s*\([^)]*\b(float|double)",
        r"(?i)::\s*(double|float)\b",
        r"(?i)\b(try_)?to_double\b|\bdouble\s*\(",
        r"(?i)\w*_double\w*\s*\(|\bcast_\w+\s*\(|\w+_cast\w*\s*\(",
        r"\bto_numeric\s*\(",
    )
)

# DQ003: label-distribution checks.
CLASS_CHECK = tuple(
    re.compile(p)
    for p in (
        r"\bnunique\b",
        r"\bvalue_counts\b",
        r"\bunique\s*\(",
        r"(?i)distinct",
        r"(?i)\bgroup_?by\s*\([^)]*\)\s*\.\s*(count|size|agg)\b",
        r"\blen\s*\(\s*set\s*\(",
        r"\bbincount\b",
        r"\bCounter\s*\(",
        r"\bclass_counts?\b|\bcheck_\w*class\w*|\w*single_class\w*",
        r"\blen\s*\([^()]*\.classes_\s*\)",
        # the members of one class counted: `(y == 1).sum()`, `(df["y"] == 0).mean()`
        r"\(\s*[\w.\[\]\"' ]+==\s*-?\d+\s*\)\s*\.\s*(sum|mean)\s*\(",
    )
)

# DQ004: label binarization.
BINARIZATION = tuple(
    re.compile(p)
    for p in (
        r"\bBinarizer\b",
        r"\bBucketizer\b",
        r"\bQuantileDiscretizer\b",
        r"\bwhen\s*\([^,]*(>|<)[^,]*,",
        r"(>|<)=?[^()\n]*\)\s*\.\s*(astype|cast)\s*\(",
        r"\bwhere\s*\([^,]*(>|<)[^,]*,",
        r"(?i)\bcase\s+when\b[^\n]*(>|<)",
        r"(?i)\w*binar\w*\s*\(",
        r"\bcut\s*\(",
    )
)

# DQ005 (classification): casts to an integer type (or an encoder that yields one).
INT_CAST = tuple(
    re.compile(p)
    for p in (
        r"(?i)\bcast\s*\(\s*[\"'](int|integer|long|bigint|short|smallint|tinyint)[\"']",
        r"(?i)\bcast\s*\([^()]*(\([^()]*\))?[^()]*\bas\s+(int|integer|long|bigint)\b",
        r"\b(Integer|Long|Short)Type\b",
        r"\bastype\s*\([^)]*\b(int|bool)",
        r"(?i)::\s*(int|bigint|integer)\b",
        r"\b(StringIndexer|LabelEncoder|OrdinalEncoder)\b",
        r"(?i)\w*_int\w*\s*\(|\bcast_\w+\s*\(|\w+_cast\w*\s*\(",
    )
)


def is_test_file(path: str) -> bool:
    """A unit test (``test_*.py``, ``*_test.py``, ``conftest.py`` or under ``tests/``): it builds its own data."""
    if os.path.isabs(path):
        try:
            relative = os.path.relpath(path)
        except ValueError:
            relative = os.path.basename(path)
        path = os.path.basename(path) if relative.startswith("..") else relative
    parts = path.replace("\\", "/").split("/")
    name = parts[-1]
    stem = name.rsplit(".", 1)[0]
    return stem.startswith("test_") or stem.endswith("_test") or stem == "conftest" or any(p in ("tests", "test") for p in parts[:-1])


def unremedied_feature_writes(ctx, remedies) -> list:
    """Feature-table write calls of this file when the file shows none of ``remedies``.

    The shared core of DQ001/DQ002: unit tests, data computed in another file and scikit-learn's
    bundled toy datasets (``from_bundled_dataset``) are not judged, and a file whose text (or ``%run`` includes) cannot be searched stays quiet.
    """
    from mlrules.analysis.features import feature_table_writes

    if is_test_file(ctx.path):
        return []
    writes = [
        call for call, arg in feature_table_writes(ctx.index)
        if not computed_elsewhere(ctx, arg.value, call.function) and not holds_predictions(ctx, arg.value, call.function)
        and not from_bundled_dataset(ctx, arg.value, call.function)
    ]
    if not writes:
        return []
    text = searchable_text(ctx)
    if text is None or shows_any(text, remedies):
        return []
    return writes


# --- model output ------------------------------------------------------------------------------
PREDICTION_CALLS = frozenset({"predict", "predict_proba", "score_batch", "spark_udf"})
_MAX_STEPS = 200


def holds_predictions(ctx, expr, scope) -> bool:
    """The DataFrame ``expr`` holds a model's output: it comes (through names and method chains)
    from ``fe.score_batch(...)``, ``model.predict(...)``/``predict_proba(...)`` or a
    ``mlflow.pyfunc.spark_udf`` column, or one of the names it is built from gets a column from
    such a call (``df["pred"] = model.predict(X)``, ``df.loc[:, "pred"] = ...``).

    Such a table serves predictions (feature serving, online lookups); no model reads it as
    input features, so the DQ feature-table heuristics do not apply.
    """
    import libcst as cst

    from mlrules.analysis.walk import walk

    index = ctx.index
    names: set[tuple[str, object]] = set()  # (name, scope) pairs followed
    todo = [(expr, scope)]
    steps = 0
    while todo and steps < _MAX_STEPS:
        node, where = todo.pop()
        for sub in walk(node):
            steps += 1
            if isinstance(sub, cst.Call) and _prediction_call(sub):
                return True
            if isinstance(sub, cst.Name) and (sub.value, where) not in names and sub.value not in index.imports and not _label(sub, index):
                names.add((sub.value, where))
                owner = where if where is not None and sub.value in index.bindings.get(where, {}) else None
                todo.extend((v, owner) for v in index.values_of(sub.value, where) or () if v is not None)
    plain = {name for name, _ in names}
    for node in index.nodes(cst.Assign):
        for target in node.targets:
            base = target.target.value if isinstance(target.target, cst.Subscript) else None
            if isinstance(base, cst.Attribute) and base.attr.value in ("loc", "iloc", "at", "iat"):
                base = base.value
            if isinstance(base, cst.Name) and base.value in plain and any(
                isinstance(sub, cst.Call) and _prediction_call(sub) for sub in walk(node.value)
            ):
                return True
    return False


def _prediction_call(call) -> bool:
    import libcst as cst

    func = call.func
    name = func.attr.value if isinstance(func, cst.Attribute) else func.value if isinstance(func, cst.Name) else None
    return name in PREDICTION_CALLS


def _label(name, index) -> bool:
    """``name`` is an attribute or keyword name (``df.select``, ``f(df=x)``), not a variable."""
    import libcst as cst

    parent = index.parents.get(name)
    return (isinstance(parent, cst.Attribute) and parent.attr is name) or (isinstance(parent, cst.Arg) and parent.keyword is name)
