"""Per-file facts that cross-file rules need, computed once per Python file and cached on the Project.

``project.facts(path)`` returns a :class:`NotebookFacts` (or None for YAML / unknown paths).
Every group of facts is computed lazily on first access from the already parsed module
(``source.parse()`` is cached on the source) and one shared :class:`FileIndex`:

- widgets: ``widget_reads`` (``dbutils.widgets.get("x")``, ``getArgument("x")``),
  ``reads_dynamic_widget`` (a read by a non-literal name, ``getAll()``, ...),
  ``widget_declarations`` (``dbutils.widgets.text/dropdown/combobox/multiselect("x", default)``),
  ``declares_dynamic_widget``; ``read_widget_names`` / ``declared_widget_names`` as sets.
- ``run_targets``: every ``%run`` magic with its target word's offsets and ``$param=value``
  arguments (no parse needed); ``resolved_runs()`` / :func:`resolve_run_target` find the file
  on disk.
- feature engineering: ``feature_tables`` (``create_table``), ``feature_lookups``
  (``FeatureLookup``), ``feature_table_joins`` (``.join(spark.table(T))``...),
  ``uses_score_batch``.
- models: ``registered_models`` (``registered_model_name=``, ``mlflow.register_model``; each
  says whether a feature engineering client logged it), ``logs_feature_aware_model``,
  ``loaded_models`` (``mlflow.pyfunc.load_model``/``spark_udf``/``mlflow.<flavor>.load_model``).

``facts.parsed`` is False when the file does not parse (or is not Python): every CST-based
group is then empty, so "never reads widget x" must not be concluded from it. Project-level
helpers: :func:`iter_facts`, :func:`created_feature_tables`, :func:`table_names_match`.

String values follow ``analysis.values`` (placeholders kept as ``{name}``). Values that are
unknown are recorded as None: rules stay quiet about them. Positions: ``facts.span(node)``
(computed lazily, in file-text coordinates like every finding).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Iterator

import libcst as cst

from mlrules.analysis.index import FE_CLIENT, FS_CLIENT, CallSite, FileIndex, dotted_name, file_index
from mlrules.analysis.values import StringValue, string_value
from mlrules.model import Span
from mlrules.sources.magics import MagicCommand
from mlrules.sources.python import PythonSource

if TYPE_CHECKING:
    from mlrules.project.model import Project

# --- value shapes ---------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyList:
    """A list of column names as written: ``"id"`` or ``["id", "ts"]``; unknown names are None."""

    names: tuple[str | None, ...]

    @property
    def count(self) -> int:
        return len(self.names)

    @property
    def fully_known(self) -> bool:
        return all(n is not None for n in self.names)


# --- facts -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class WidgetRead:
    name: str | None  # None: read by a non-literal, unknown name
    node: cst.Call = field(repr=False)
    call: str  # "dbutils.widgets.get" / "getArgument" / ...
    has_default: bool = False  # getArgument("x", "default")


@dataclass(frozen=True)
class WidgetDeclaration:
    name: str | None  # None: declared with a non-literal, unknown name
    kind: str  # text / dropdown / combobox / multiselect
    default: str | None  # the default value when known
    node: cst.Call = field(repr=False)


@dataclass(frozen=True)
class RunTarget:
    """``%run <target> [$param=value ...]``. Offsets are those of the target word in the file text."""

    target: str  # unquoted
    start: int
    end: int
    row: int
    kind: str  # "relative" | "absolute" | "dynamic" (a $variable, {placeholder}, ~)
    magic: MagicCommand
    parameters: tuple[tuple[str, str], ...] = ()

    @property
    def is_relative(self) -> bool:
        return self.kind == "relative"


@dataclass(frozen=True)
class FeatureTableCreation:
    """``fe.create_table(name=T, primary_keys=P, timeseries_columns=S)`` (also positional, FS client)."""

    name: StringValue | None
    primary_keys: KeyList | None
    timeseries_columns: KeyList | None  # KeyList(()) when not given; None when unknown
    node: cst.Call = field(repr=False)
    call: str  # qualified name (or as written when the client is not resolvable)

    def key_columns(self) -> KeyList | None:
        """All key columns: primary keys plus timeseries columns not already among them."""
        if self.primary_keys is None or self.timeseries_columns is None:
            return None
        extra = tuple(c for c in self.timeseries_columns.names if c is None or c not in self.primary_keys.names)
        if extra and not (self.primary_keys.fully_known and self.timeseries_columns.fully_known):
            return None
        return KeyList(self.primary_keys.names + extra)

    def non_timeseries_keys(self) -> KeyList | None:
        keys = self.key_columns()
        if keys is None:
            return None
        series = set(self.timeseries_columns.names) if self.timeseries_columns else set()
        return KeyList(tuple(k for k in keys.names if k not in series))


@dataclass(frozen=True)
class FeatureLookupFact:
    """``FeatureLookup(table_name=T, lookup_key=K, timestamp_lookup_key=ts)``."""

    table_name: StringValue | None
    lookup_key: KeyList | None
    timestamp_lookup_key: KeyList | None  # KeyList(()) when not given; None when unknown
    node: cst.Call = field(repr=False)
    lookup_key_arg: cst.Arg | None = field(repr=False)


@dataclass(frozen=True)
class RegisteredModel:
    name: StringValue | None
    node: cst.Call = field(repr=False)
    call: str
    feature_aware: bool = False  # registered by a feature engineering client's log_model (feature lookups stored)


@dataclass(frozen=True)
class LoadedModel:
    uri: StringValue | None
    node: cst.Call = field(repr=False)
    call: str  # mlflow.pyfunc.load_model / mlflow.pyfunc.spark_udf / mlflow.<flavor>.load_model

    @property
    def registered(self) -> bool:
        """The URI is known to name a registry model (``models:/...``)."""
        return self.uri is not None and self.uri.text.startswith("models:/")


@dataclass(frozen=True)
class TableJoin:
    """A DataFrame join (or pandas merge) where one side reads table ``table`` (one fact per side)."""

    table: StringValue
    node: cst.Call = field(repr=False)  # the .join(...) call
    read: cst.Call = field(repr=False)  # spark.table(T) / spark.read.table(T) / fe.read_table(name=T)


# --- the per-file object --------------------------------------------------------------------

WIDGET_READS = ("dbutils.widgets.get", "getArgument", "dbutils.widgets.getArgument")
WIDGET_KINDS = ("text", "dropdown", "combobox", "multiselect")
_GETTER_NOT_CALLED = re.compile(r"widgets\s*\.\s*(?:get|getArgument)\b(?!\s*\()|\bgetArgument\b(?!\s*\()")
FEATURE_PACKAGES = ("databricks.feature_engineering", "databricks.feature_store", "databricks.ml_features")
CLIENTS = (FE_CLIENT, FS_CLIENT)
TABLE_READS = ("spark.table", "spark.read.table")
# DataFrame methods that keep "this is (a projection of) table T"
_SAME_TABLE_METHODS = frozenset(
    {
        "select", "selectExpr", "filter", "where", "drop", "withColumn", "withColumns", "withColumnRenamed",
        "withColumnsRenamed", "alias", "distinct", "dropDuplicates", "drop_duplicates", "limit", "cache",
        "persist", "repartition", "coalesce", "orderBy", "sort", "toPandas", "pandas_api", "to_pandas_on_spark",
    }
)
_JOIN_METHODS = frozenset({"join", "merge"})
RUN_EXTENSIONS = ("", ".py", ".ipynb", ".sql", ".scala", ".r", ".R")


class NotebookFacts:
    def __init__(self, source: PythonSource) -> None:
        self.source = source
        self.path = source.path

    # --- parsing and positions ---------------------------------------------------------------
    @cached_property
    def module(self) -> cst.Module | None:
        if self.source.language not in ("python", "python3", "ipython"):
            return None
        try:
            return self.source.parse()
        except Exception:  # a parse error is MLR001's business
            return None

    @property
    def parsed(self) -> bool:
        return self.module is not None

    @cached_property
    def index(self) -> FileIndex | None:
        return file_index(self.source) if self.module is not None else None

    def span(self, node: cst.CSTNode) -> Span:
        start, end = self.source.node_range(node)
        return self.offset_span(start, end)

    def offset_span(self, start: int, end: int) -> Span:
        lines = self.source.lines
        return Span(lines.position(start), lines.position(end))

    def _calls(self) -> list[CallSite]:
        return self.index.calls if self.index is not None else []

    def _value(self, expr, call: CallSite) -> StringValue | None:
        return string_value(expr, self.index, call.function)

    # --- widgets -------------------------------------------------------------------------------
    @cached_property
    def _widgets(self) -> tuple[tuple[WidgetRead, ...], bool, tuple[WidgetDeclaration, ...], bool]:
        reads: list[WidgetRead] = []
        declarations: list[WidgetDeclaration] = []
        dynamic_read = dynamic_declaration = False
        for call in self._calls():
            dotted = call.dotted or ""
            if dotted in WIDGET_READS:
                arg = call.argument(0, "name")
                name = _literal_name(arg.value if arg else None, self.index, call.function)
                default = dotted.endswith("getArgument") and call.argument(1, "defaultValue") is not None
                reads.append(WidgetRead(name, call.node, dotted, default))
                dynamic_read |= name is None
            elif dotted == "dbutils.widgets.getAll":
                dynamic_read = True
            elif dotted.startswith("dbutils.widgets.") and dotted.rsplit(".", 1)[1] in WIDGET_KINDS:
                arg = call.argument(0, "name")
                name = _literal_name(arg.value if arg else None, self.index, call.function)
                default_arg = call.argument(1, "defaultValue")
                default = self._value(default_arg.value, call) if default_arg is not None else None
                declarations.append(
                    WidgetDeclaration(name, dotted.rsplit(".", 1)[1], default.text if default and default.fully_known else None, call.node)
                )
                dynamic_declaration |= name is None
        if self.module is not None and not dynamic_read and _GETTER_NOT_CALLED.search(self.source.code):
            # `get = dbutils.widgets.get` and similar: reads we cannot see (the full visit
            # only runs when the text has a `widgets.get`/`getArgument` not followed by `(`)
            dynamic_read = _widget_getter_escapes(self.module, self.index)
        return tuple(reads), dynamic_read, tuple(declarations), dynamic_declaration

    @property
    def widget_reads(self) -> tuple[WidgetRead, ...]:
        return self._widgets[0]

    @property
    def reads_dynamic_widget(self) -> bool:
        """A widget is read by a non-literal name (or through ``getAll()``/an alias of ``get``)."""
        return self._widgets[1]

    @property
    def widget_declarations(self) -> tuple[WidgetDeclaration, ...]:
        return self._widgets[2]

    @property
    def declares_dynamic_widget(self) -> bool:
        return self._widgets[3]

    @property
    def read_widget_names(self) -> frozenset[str]:
        return frozenset(r.name for r in self.widget_reads if r.name is not None)

    @property
    def declared_widget_names(self) -> frozenset[str]:
        return frozenset(d.name for d in self.widget_declarations if d.name is not None)

    # --- %run ----------------------------------------------------------------------------------
    @cached_property
    def _runs(self) -> tuple[tuple[RunTarget, ...], bool]:
        out = []
        unmodelled = False
        for magic in self.source.magics_named("run"):
            if magic.shell:
                continue
            cell = self.source.cell_at_row(magic.row)
            if cell is not None and cell.kind == "magic" and cell.magic not in (None, "run"):
                continue  # a line of a %md/%sql cell that happens to start with %run
            target = _run_target(magic)
            if target is not None:
                out.append(target)
            else:
                unmodelled = True
        return tuple(out), unmodelled

    @property
    def run_targets(self) -> tuple[RunTarget, ...]:
        return self._runs[0]

    @property
    def has_unmodelled_run(self) -> bool:
        """A ``%run`` whose target is not modelled (``%run -m module``, ``%run -i x.py``, an
        unquoted path with a space): what it includes is unknown."""
        return self._runs[1]

    def resolved_runs(self) -> Iterator[tuple[RunTarget, str | None]]:
        """Each relative ``%run`` with the file it resolves to on disk (None: missing)."""
        for target in self.run_targets:
            if target.is_relative:
                yield target, resolve_run_target(self.path, target.target)

    # --- feature engineering -------------------------------------------------------------------
    @cached_property
    def feature_tables(self) -> tuple[FeatureTableCreation, ...]:
        out = []
        for call in self._calls():
            qual = call.qualname or ""
            method = (call.dotted or "").rsplit(".", 1)[-1]
            if method not in ("create_table", "create_feature_table"):
                continue
            resolved = any(qual == f"{c}.{method}" for c in CLIENTS)
            if not resolved:
                # the client comes from a %run notebook or a parameter: the keyword is specific enough
                if not (call.qualname is None and "." in (call.dotted or "") and method == "create_table" and call.keyword("primary_keys")):
                    continue
            keys_kw = "keys" if method == "create_feature_table" else "primary_keys"
            name_arg = call.argument(0, "name")
            keys_arg = call.argument(1, keys_kw)
            ts_arg = call.keyword("timeseries_columns") or call.keyword("timeseries_column") or call.keyword("timestamp_keys")
            if call.has_star_args and (name_arg is None or keys_arg is None or ts_arg is None):
                continue  # the name, keys or timeseries columns may come through *args/**kwargs
            name = self._value(name_arg.value, call) if name_arg is not None else None
            keys = key_list(keys_arg.value, self.index, call.function) if keys_arg is not None else None
            series = key_list(ts_arg.value, self.index, call.function) if ts_arg is not None else KeyList(())
            if ts_arg is not None and _is_none(ts_arg.value):
                series = KeyList(())
            out.append(FeatureTableCreation(name, keys, series, call.node, qual or (call.dotted or "")))
        return tuple(out)

    @cached_property
    def feature_lookups(self) -> tuple[FeatureLookupFact, ...]:
        out = []
        if self.index is None:
            return ()
        bare_ok = "FeatureLookup" not in self.index.imports and not any(
            "FeatureLookup" in scope for scope in self.index.bindings.values()
        )
        for call in self._calls():
            qual = call.qualname or ""
            if qual:
                if not (qual.startswith(FEATURE_PACKAGES) and qual.endswith(".FeatureLookup")):
                    continue
            elif not (call.dotted == "FeatureLookup" and bare_ok):
                continue
            table_arg = call.argument(0, "table_name")
            key_arg = call.argument(1, "lookup_key")
            ts_arg = call.keyword("timestamp_lookup_key")
            if call.has_star_args and (table_arg is None or key_arg is None or ts_arg is None):
                continue
            table = self._value(table_arg.value, call) if table_arg is not None else None
            keys = key_list(key_arg.value, self.index, call.function) if key_arg is not None else None
            series = key_list(ts_arg.value, self.index, call.function) if ts_arg is not None else KeyList(())
            if ts_arg is not None and _is_none(ts_arg.value):
                series = KeyList(())
            out.append(FeatureLookupFact(table, keys, series, call.node, key_arg))
        return tuple(out)

    @cached_property
    def uses_score_batch(self) -> bool:
        return any((c.dotted or "").endswith("score_batch") for c in self._calls())

    @cached_property
    def feature_table_joins(self) -> tuple[TableJoin, ...]:
        out = []
        for call in self._calls():
            func = call.node.func
            if not isinstance(func, cst.Attribute) or func.attr.value not in _JOIN_METHODS:
                continue
            sides = [func.value]
            other = call.argument(0, "right" if func.attr.value == "merge" else "other")
            if other is not None:
                sides.append(other.value)
            for side in sides:
                found = self._table_read(side, call.function, 0)
                if found is not None:
                    out.append(TableJoin(found[0], call.node, found[1]))
        return tuple(out)

    def _table_read(self, expr, scope, depth: int) -> tuple[StringValue, cst.Call] | None:
        if depth > 8 or expr is None:
            return None
        if isinstance(expr, cst.Name):
            values = self.index.values_of(expr.value, scope)
            if values is None or len(values) != 1 or values[0] is None or expr.value in self.index.imports:
                return None
            owner = scope if scope is not None and expr.value in self.index.bindings.get(scope, {}) else None
            return self._table_read(values[0], owner, depth + 1)
        if not isinstance(expr, cst.Call):
            return None
        dotted = dotted_name(expr.func) or ""
        if dotted in TABLE_READS:
            arg = expr.args[0] if expr.args and expr.args[0].keyword is None else None
            arg = arg or next((a for a in expr.args if a.keyword and a.keyword.value == "tableName"), None)
            value = string_value(arg.value, self.index, scope) if arg is not None else None
            return (value, expr) if value is not None else None
        if dotted.endswith(".read_table"):
            qual = self.index.resolve_dotted(dotted)
            if qual is not None and not any(qual == f"{c}.read_table" for c in CLIENTS):
                return None
            arg = next((a for a in expr.args if a.keyword and a.keyword.value == "name"), None)
            if arg is None and expr.args and expr.args[0].keyword is None:
                arg = expr.args[0]
            value = string_value(arg.value, self.index, scope) if arg is not None else None
            return (value, expr) if value is not None else None
        func = expr.func
        if isinstance(func, cst.Attribute) and func.attr.value in _SAME_TABLE_METHODS:
            return self._table_read(func.value, scope, depth + 1)
        return None

    # --- models --------------------------------------------------------------------------------
    @cached_property
    def registered_models(self) -> tuple[RegisteredModel, ...]:
        out = []
        for call in self._calls():
            qual = call.qualname or ""
            if qual == "mlflow.register_model":
                arg = call.argument(1, "name")
            elif qual.endswith(".create_registered_model") and qual.startswith("mlflow."):
                arg = call.argument(0, "name")
            elif (call.dotted or "").endswith("log_model"):
                arg = call.keyword("registered_model_name")
                if arg is None:
                    continue
            else:
                continue
            value = self._value(arg.value, call) if arg is not None else None
            out.append(RegisteredModel(value, call.node, qual or (call.dotted or ""), self._is_fe_log_model(call)))
        return tuple(out)

    def _is_fe_log_model(self, call: CallSite) -> bool:
        qual = call.qualname or ""
        if any(qual == f"{c}.log_model" for c in CLIENTS):
            return True
        # an unresolved client (from a %run notebook): `training_set=` is specific to it
        return call.qualname is None and (call.dotted or "").endswith(".log_model") and call.keyword("training_set") is not None

    @cached_property
    def logs_feature_aware_model(self) -> bool:
        """The file logs a model with a feature engineering client's ``log_model(..., training_set=...)``."""
        return any(
            (call.dotted or "").endswith("log_model") and call.keyword("training_set") is not None and self._is_fe_log_model(call)
            for call in self._calls()
        )

    @cached_property
    def loaded_models(self) -> tuple[LoadedModel, ...]:
        out = []
        for call in self._calls():
            qual = call.qualname or ""
            if qual == "mlflow.pyfunc.spark_udf":
                arg = call.argument(1, "model_uri")
            elif _is_flavor_load(qual):
                arg = call.argument(0, "model_uri")
            else:
                continue
            value = self._value(arg.value, call) if arg is not None else None
            out.append(LoadedModel(value, call.node, qual))
        return tuple(out)


# --- project access ---------------------------------------------------------------------------


def facts_for(project: "Project", path: str) -> NotebookFacts | None:
    """The cached facts of ``path`` in ``project`` (None when it is not a Python source)."""
    cache = project._facts
    if path not in cache:
        source = project.sources.get(path)
        cache[path] = NotebookFacts(source) if isinstance(source, PythonSource) else None
    return cache[path]


def iter_facts(project: "Project", *words: str) -> Iterator[NotebookFacts]:
    """Facts of every Python file whose text contains one of ``words`` (all files when none)."""
    for source in project.python_sources():
        if words and not any(w in source.text for w in words):
            continue
        facts = project.facts(source.path)
        if facts is not None:
            yield facts


def resolve_run_target(notebook_path: str, target: str) -> str | None:
    """The file a relative ``%run`` target names, from the notebook's folder, or None.

    The target is tried as written and with ``.py``/``.ipynb``/``.sql``/``.scala``/``.r``.
    """
    base = os.path.dirname(notebook_path) or "."
    candidate = os.path.normpath(os.path.join(base, target))
    for ext in RUN_EXTENSIONS:
        if os.path.exists(candidate + ext):
            return candidate + ext
    return None


def registry_model_name(uri: str) -> str | None:
    """``c.s.m`` for ``models:/c.s.m@alias`` / ``models:/c.s.m/3`` / ``models:/m/Production``."""
    if not uri.startswith("models:/"):
        return None
    rest = uri[len("models:/"):]
    if "@" in rest:
        return rest.split("@", 1)[0] or None
    return rest.split("/", 1)[0] or None


# --- table names ------------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\{[^{}]*\}")


def _split_name(text: str) -> list[str]:
    """Split on dots outside ``{...}`` placeholders."""
    parts, depth, current = [], 0, []
    for ch in text:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth = max(depth - 1, 0)
        if ch == "." and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p.strip("`") for p in parts]


def _part_pattern(part: str) -> re.Pattern[str]:
    pieces = _PLACEHOLDER.split(part)
    return re.compile(".*".join(re.escape(p.lower()) for p in pieces) + r"\Z", re.S)


@lru_cache(maxsize=65536)  # cross-file rules compare every lookup with every created table
def table_names_match(a: str, b: str) -> bool:
    """Two table names (``{x}`` placeholders allowed) may name the same table.

    The last segment must be fully known on both sides and equal; other segments are compared
    from the right where both names have them: known parts must agree, a placeholder matches
    any text.
    """
    pa, pb = _split_name(a), _split_name(b)
    if not pa or not pb or "{" in pa[-1] or "{" in pb[-1] or not pa[-1] or pa[-1].lower() != pb[-1].lower():
        return False
    for x, y in zip(reversed(pa[:-1]), reversed(pb[:-1])):
        if "{" not in x and "{" not in y:
            if x.lower() != y.lower():
                return False
        elif "{" not in y:
            if not _part_pattern(x).match(y.lower()):
                return False
        elif "{" not in x:
            if not _part_pattern(y).match(x.lower()):
                return False
    return True


def names_may_match(a: str, b: str) -> bool:
    """Like :func:`table_names_match`, but a placeholder may stand anywhere, the last segment
    included: False only when the known parts show two different names."""
    pa, pb = _split_name(a), _split_name(b)
    for x, y in zip(reversed(pa), reversed(pb)):
        if "{" not in x and "{" not in y:
            if x.lower() != y.lower():
                return False
        elif "{" not in y:
            if not _part_pattern(x).match(y.lower()):
                return False
        elif "{" not in x:
            if not _part_pattern(y).match(x.lower()):
                return False
    return True


# --- helpers ----------------------------------------------------------------------------------


def key_list(expr, index: FileIndex, scope) -> KeyList | None:
    """Column names of a ``"id"`` / ``["a", "b"]`` / ``("a",)`` value (through names assigned once)."""
    found = _keys(expr, index, scope, 0)
    return found[0] if found is not None else None


def _keys(expr, index: FileIndex, scope, depth: int) -> tuple[KeyList, bool] | None:
    """(keys, written as a list) or None when unknown."""
    if expr is None or depth > 8:
        return None
    if isinstance(expr, (cst.List, cst.Tuple)):
        names: list[str | None] = []
        for element in expr.elements:
            if isinstance(element, cst.StarredElement):
                return None
            value = string_value(element.value, index, scope)
            names.append(value.text if value is not None and value.fully_known else None)
        return KeyList(tuple(names)), True
    if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.Add):
        left, right = _keys(expr.left, index, scope, depth + 1), _keys(expr.right, index, scope, depth + 1)
        if left is not None and right is not None and left[1] and right[1]:
            return KeyList(left[0].names + right[0].names), True
        # fall through: a string concatenation
    if isinstance(expr, cst.Name):
        values = index.values_of(expr.value, scope)
        if values is None or len(values) != 1 or values[0] is None or expr.value in index.imports:
            return None
        if _name_mutated(index, expr.value):
            return None
        owner = scope if scope is not None and expr.value in index.bindings.get(scope, {}) else None
        return _keys(values[0], index, owner, depth + 1)
    if isinstance(expr, (cst.SimpleString, cst.FormattedString, cst.ConcatenatedString, cst.BinaryOperation, cst.Call)):
        value = string_value(expr, index, scope)
        if value is None:
            return None
        if isinstance(expr, cst.Call) and value.widget is None:
            return None
        return KeyList((value.text if value.fully_known else None,)), False
    return None


def _name_mutated(index: FileIndex, name: str) -> bool:
    """``name.append(...)``/``extend``/``insert``/``+=`` somewhere: the list is not what was assigned."""
    for call in index.calls:
        func = call.node.func
        if (
            isinstance(func, cst.Attribute)
            and isinstance(func.value, cst.Name)
            and func.value.value == name
            and func.attr.value in ("append", "extend", "insert", "remove", "pop", "clear")
        ):
            return True
    return False


def _literal_name(expr, index: FileIndex | None, scope) -> str | None:
    if expr is None or index is None:
        return None
    value = string_value(expr, index, scope)
    return value.text if value is not None and value.fully_known else None


def _is_none(expr) -> bool:
    return isinstance(expr, cst.Name) and expr.value == "None"


def _is_flavor_load(qual: str) -> bool:
    parts = qual.split(".")
    return len(parts) == 3 and parts[0] == "mlflow" and parts[2] == "load_model" and parts[1] not in ("models", "tracking")


def _widget_getter_escapes(module: cst.Module, index: FileIndex) -> bool:
    """``dbutils.widgets.get`` / ``getArgument`` used other than by a direct call (``get = dbutils.widgets.get``)."""
    called = {id(call.node.func) for call in index.calls}
    # from the shared index: every Attribute and Name node of the file (no walk of our own)
    if any(id(node) not in called and _is_widget_get(node) for node in index.nodes(cst.Attribute)):
        return True
    return any(node.value == "getArgument" and id(node) not in called for node in index.nodes(cst.Name))


def _is_widget_get(node) -> bool:
    return dotted_name(node) in ("dbutils.widgets.get", "dbutils.widgets.getArgument")


_QUOTES = ("'", '"')


def _run_target(magic: MagicCommand) -> RunTarget | None:
    tokens = list(magic.args)
    if not tokens:
        return None
    first = tokens[0]
    if first.text.startswith("-"):
        return None  # IPython `%run -m module`, `%run -i script.py`: options we do not model
    text, start, end, used = first.text, first.start, first.end, 1
    if text[0] in _QUOTES:
        quote = text[0]
        # a quoted path may hold spaces: join tokens up to the closing quote
        while not (len(text) > 1 and text.endswith(quote)) and used < len(tokens):
            nxt = tokens[used]
            text = text + " " * (nxt.start - end) + nxt.text
            end = nxt.end
            used += 1
        if not (len(text) > 1 and text.endswith(quote)):
            return None
        text = text[1:-1]
    params = []
    for token in tokens[used:]:
        key, sep, value = token.text.partition("=")
        if key.startswith("$") and sep:
            params.append((key[1:], value.strip("\"'")))
        elif not params:
            return None  # `%run ./My notebook` with an unquoted space, or an argument we do not model
    if not text:
        return None
    if any(ch in text for ch in "${}~`") or "\\" in text:
        kind = "dynamic"
    elif text.startswith("/"):
        kind = "absolute"
    else:
        kind = "relative"
    return RunTarget(text, start, end, magic.row, kind, magic, tuple(params))


# --- project-level feature table helpers -----------------------------------------------------

FEATURE_TABLE_WORDS = ("create_table", "create_feature_table")


def created_feature_tables(project: "Project") -> list[tuple[NotebookFacts, FeatureTableCreation]]:
    """Every feature table creation in the project whose name is (at least partly) known."""
    out = []
    for facts in iter_facts(project, *FEATURE_TABLE_WORDS):
        for table in facts.feature_tables:
            if table.name is not None:
                out.append((facts, table))
    return out


def tables_named(
    tables: list[tuple[NotebookFacts, FeatureTableCreation]], name: StringValue | None, near: str | None = None
) -> list[tuple[NotebookFacts, FeatureTableCreation]]:
    """The creations of the table ``name``; those in the file ``near`` first (the one a message
    should cite: the reader has it open), then in project order."""
    if name is None:
        return []
    found = [(f, t) for f, t in tables if table_names_match(name.text, t.name.text)]
    if near is not None:
        found.sort(key=lambda pair: pair[0].path != near)  # stable: project order otherwise
    return found


def compare_lookup(lookup: FeatureLookupFact, table: FeatureTableCreation) -> str | None:
    """How a FeatureLookup's keys fit a created table: "ok", "count", "names", or None (unknown).

    The table's key columns are its primary keys plus timeseries columns not among them; a
    lookup passes ``lookup_key`` plus ``timestamp_lookup_key``. A lookup without
    ``timestamp_lookup_key`` on a time series table that names just the other keys is "ok"
    (we do not judge it). Names ("names") compare ``lookup_key`` with the table's keys that are
    not timeseries columns, in order; ``timestamp_lookup_key`` names the DataFrame's event
    time column and is never compared by name.
    """
    keys, series = lookup.lookup_key, lookup.timestamp_lookup_key
    all_keys, plain = table.key_columns(), table.non_timeseries_keys()
    if keys is None or series is None or all_keys is None or plain is None:
        return None
    table_series = all_keys.count - plain.count
    given = keys.count + series.count
    if given == all_keys.count:
        if series.count and table_series:
            expected, got = plain.names, keys.names
        elif series.count:
            return "ok"  # a timestamp lookup on a table without timeseries columns: names not judged
        else:
            expected, got = all_keys.names, keys.names
    elif table_series and not series.count and keys.count == plain.count:
        expected, got = plain.names, keys.names
    else:
        return "count"
    if any(n is None for n in (*expected, *got)):
        return "ok"  # the count fits; names are not known: FE004 stays quiet
    return "ok" if tuple(got) == tuple(expected) else "names"


def describe_keys(keys: KeyList) -> str:
    return "[" + ", ".join(repr(n) if n is not None else "?" for n in keys.names) + "]"
