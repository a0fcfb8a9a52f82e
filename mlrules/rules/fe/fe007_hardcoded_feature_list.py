from __future__ import annotations

import re

import libcst as cst

from mlrules.analysis.features import feature_lookup_calls, follow_name, names_match
from mlrules.analysis.values import string_value
from mlrules.model import Severity
from mlrules.rules.base import Invalid, Option, PythonRule, Valid, ipynb

_IMPORT = "from databricks.feature_engineering import FeatureLookup\n"
_EIGHT = '["tenure", "spend_30d", "spend_90d", "visits_7d", "visits_30d", "tickets_90d", "plan", "region"]'
_SEVEN = '["tenure", "spend_30d", "spend_90d", "visits_7d", "visits_30d", "tickets_90d", "plan"]'


class HardcodedFeatureList(PythonRule):
    """
    ## What it does
    Flags `FeatureLookup(..., feature_names=[...])` whose value is a list literal of at least
    `min-features` (default 8) string literals, written in the call or through a name assigned
    exactly once (module or function level). The finding is on the `feature_names=` value.

    ## Why it matters
    A long hand-written list drifts from the feature table: a column added to the table is
    silently never used, a renamed or dropped one fails only when the job runs. Query the
    schema instead, e.g. `[c for c in spark.table(T).columns if c not in primary_keys]`, or omit
    `feature_names` to take every feature of the table.

    Lists built from anything other than string literals (a comprehension, `spark.table(T).columns`,
    a name assigned more than once, a starred element) are not flagged; neither is the same
    list in a call that is not a feature lookup. Nor is a list passed by name that the same
    file also uses to write the looked-up table (in the writing call itself:
    `fe.create_table`/`fe.write_table(name=T)`, `.saveAsTable(T)`, `.insertInto(T)`,
    `.toTable(T)`, or a `CREATE ... TABLE T` statement passed to `spark.sql`, with the table
    name known): the list then is the table's schema, so it cannot drift from it. A literal
    list next to a write of the same table is still reported: the two are kept by hand.

    ## Example
    ```python
    FeatureLookup(table_name=T, lookup_key="customer_id",
                  feature_names=["tenure", "spend_30d", "spend_90d", "visits_7d",
                                 "visits_30d", "tickets_90d", "plan", "region"])
    ```

    ## Use instead
    ```python
    keys = ["customer_id"]
    FeatureLookup(table_name=T, lookup_key=keys,
                  feature_names=[c for c in spark.table(T).columns if c not in keys])
    ```

    ## Fix safety
    No fix: the query depends on the table and its keys.

    ## Options
    `min-features` (default 8): the shortest list that is reported.
    """

    code = "FE007"
    name = "hardcoded-feature-list"
    summary = "Long hard-coded feature_names list in FeatureLookup (query the table schema instead)"
    severity = Severity.WARNING
    default_enabled = False
    fix = None
    triggers = ("FeatureLookup",)
    options = (Option("min-features", 8, "Shortest hard-coded feature_names list that is reported."),)

    invalid = (
        Invalid(
            _IMPORT + f'lookup = FeatureLookup(table_name="ml.churn.features", lookup_key="customer_id", feature_names={_EIGHT})\n',
            2, 96, path="train.py",
            message_contains="8 hard-coded",
        ),
        # through a module-level name, used inside a function, legacy import
        Invalid(
            f"from databricks.feature_store import FeatureLookup\nFEATURES = {_EIGHT}\n\ndef lookups(t):\n    return [FeatureLookup(table_name=t, lookup_key=\"id\", feature_names=FEATURES)]\n",
            5, 72, path="train.py",
        ),
        # option: a lower threshold
        Invalid(
            _IMPORT + 'FeatureLookup(table_name="t", lookup_key="id", feature_names=["a", "b", "c"])\n',
            2, 62, path="train.py", options={"min-features": 3},
        ),
        Invalid(
            "# Databricks notebook source\n" + _IMPORT + "\n# COMMAND ----------\n\nlookups = [\n    FeatureLookup(\n        table_name=\"t\",\n        lookup_key=\"id\",\n        feature_names=" + _EIGHT + ",\n    )\n]\n",
            10, 23,
        ),
        Invalid(
            ipynb(_IMPORT, f"names = {_EIGHT}\nlk = FeatureLookup(table_name='t', lookup_key='id', feature_names=names)"),
            2, 67, path="train.ipynb", cell=2,
        ),
        # the file writes another table: the looked-up one is defined elsewhere
        Invalid(
            _IMPORT + f'scores.write.saveAsTable("ml.churn.scores")\nFeatureLookup(table_name="ml.churn.features", lookup_key="id", feature_names={_EIGHT})\n',
            3, 78, path="train.py",
        ),
        # the file writes the same table from a DataFrame, and types the feature list by hand
        # beside it: a column renamed in the DataFrame is not renamed in the list
        Invalid(
            _IMPORT + 'fe.create_table(name="ml.churn.features", primary_keys=["id"], df=features_df)\n'
            f'FeatureLookup(table_name="ml.churn.features", lookup_key="id", feature_names={_EIGHT})\n',
            3, 78, path="train.py",
        ),
    )
    valid = (
        Valid(_IMPORT + f'FeatureLookup(table_name="t", lookup_key="id", feature_names={_SEVEN})\n', path="train.py"),
        # queried from the table, or a comprehension
        Valid(_IMPORT + 'cols = [c for c in spark.table("t").columns if c != "id"]\nFeatureLookup(table_name="t", lookup_key="id", feature_names=cols)\n', path="train.py"),
        Valid(_IMPORT + 'FeatureLookup(table_name="t", lookup_key="id", feature_names=spark.table("t").drop("id").columns)\n', path="train.py"),
        # a name assigned twice, a non-literal element, a starred element
        Valid(_IMPORT + f'names = {_EIGHT}\nnames = names[:3]\nFeatureLookup(table_name="t", lookup_key="id", feature_names=names)\n', path="train.py"),
        Valid(_IMPORT + f'FeatureLookup(table_name="t", lookup_key="id", feature_names={_SEVEN[:-1]}, extra])\n', path="train.py"),
        Valid(_IMPORT + 'FeatureLookup(table_name="t", lookup_key="id", feature_names=[*base, "a", "b", "c", "d", "e", "f", "g", "h"])\n', path="train.py"),
        # not a FeatureLookup
        Valid(f'select_features(feature_names={_EIGHT})\n', path="train.py"),
        Valid(_IMPORT + f'FeatureLookup(table_name="t", lookup_key="id", feature_names={_EIGHT})\n', path="train.py", options={"min-features": 9}),
        # the file writes the looked-up table itself from the same list: no schema to drift from
        Valid(
            _IMPORT + 'SENSORS = ["temp", "humidity", "pressure", "wind", "rain", "uv", "dew_point", "visibility"]\n'
            'readings.select("station_id", *SENSORS).write.mode("overwrite").saveAsTable(f"{catalog}.weather.stations")\n'
            'lookup = FeatureLookup(table_name=f"{catalog}.weather.stations", lookup_key="station_id", feature_names=SENSORS)\n',
            path="train.py",
        ),
        Valid(
            "# Databricks notebook source\n" + _IMPORT + 'table = "ml.weather.stations"\n'
            'SENSORS = ["temp", "humidity", "pressure", "wind", "rain", "uv", "dew_point", "visibility"]\n'
            'spark.sql(f"CREATE OR REPLACE TABLE {table} (station_id STRING, {\', \'.join(s + \' DOUBLE\' for s in SENSORS)})")\n\n'
            "# COMMAND ----------\n\n"
            'lookup = FeatureLookup(table_name=table, lookup_key="station_id", feature_names=SENSORS)\n',
        ),
        # the DDL built from the list in a variable first, then run
        Valid(
            "# Databricks notebook source\n" + _IMPORT + 'table = "ml.weather.stations"\n'
            'SENSORS = ["temp", "humidity", "pressure", "wind", "rain", "uv", "dew_point", "visibility"]\n'
            'ddl = f"CREATE TABLE IF NOT EXISTS {table} (station_id STRING, {\', \'.join(s + \' DOUBLE\' for s in SENSORS)})"\n'
            'spark.sql(ddl)\n\n'
            "# COMMAND ----------\n\n"
            'lookup = FeatureLookup(table_name=table, lookup_key="station_id", feature_names=SENSORS)\n',
        ),
    )

    def check(self, ctx):
        minimum = int(self.config["min-features"])
        index = ctx.index
        written: dict[str, list[str]] = {}
        for lookup in feature_lookup_calls(index):
            arg = lookup.keyword("feature_names")
            if arg is None:
                continue
            target = follow_name(arg.value, index, lookup.function)
            if not isinstance(target, (cst.List, cst.Tuple)):
                continue
            count = 0
            for element in target.elements:
                if isinstance(element, cst.StarredElement) or not isinstance(element.value, (cst.SimpleString, cst.ConcatenatedString)):
                    break
                if string_value(element.value, index, None) is None:
                    break
                count += 1
            else:
                if count >= minimum:
                    if isinstance(arg.value, cst.Name):
                        shared = arg.value.value
                        if shared not in written:
                            written[shared] = _tables_written_from(ctx, shared)
                        table = lookup.argument(0, "table_name")
                        name = ctx.string_value(table.value, lookup.function) if table is not None else None
                        if name is not None and any(names_match(name.text, w) for w in written[shared]):
                            continue  # the same list defines the table: no schema to drift from
                    via = "" if target is arg.value else f" (through `{ctx.code_for(arg.value)}`)"
                    yield self.finding(
                        ctx.path,
                        ctx.span(arg.value),
                        f"`{lookup.dotted}(...)` lists {count} hard-coded feature_names{via}; they drift from the "
                        "table schema: query them (`spark.table(T).columns` minus the keys) or omit feature_names",
                    )


_WRITERS = {"saveAsTable": ("name", 0), "insertInto": ("tableName", 0), "toTable": ("tableName", 0),
            "create_table": ("name", 0), "write_table": ("name", 0)}
_CREATE_TABLE = re.compile(r"(?is)\bcreate\s+(?:or\s+replace\s+)?(?:temporary\s+|temp\s+)?table\s+(?:if\s+not\s+exists\s+)?([`\w.{}]+)")


def _tables_written_from(ctx, list_name: str) -> list[str]:
    """Known names of the tables this file writes or creates with ``list_name`` in the writing
    call itself (``df.select(*COLS).write.saveAsTable(T)``, a ``CREATE TABLE`` built from it):
    the list is then the table's schema, not a copy of it (placeholders kept)."""
    from mlrules.analysis.walk import walk

    out: list[str] = []
    for call in ctx.index.calls:
        func = call.node.func
        # the call itself, and what a name passed to it holds (`spark.sql(create_sql)`)
        parts = [call.node] + [follow_name(a.value, ctx.index, call.function) for a in call.node.args if isinstance(a.value, cst.Name)]
        if not any(isinstance(node, cst.Name) and node.value == list_name for part in parts if part is not None for node in walk(part)):
            continue
        method = func.attr.value if isinstance(func, cst.Attribute) else None
        if method in _WRITERS:
            keyword, position = _WRITERS[method]
            arg = call.argument(position, keyword)
            value = ctx.string_value(arg.value, call.function) if arg is not None else None
            if value is not None:
                out.append(value.text)
        elif method == "sql" or call.dotted == "sql":
            arg = call.argument(0, "sqlQuery")
            value = ctx.string_value(arg.value, call.function) if arg is not None else None
            if value is not None:
                out.extend(m.group(1).replace("`", "") for m in _CREATE_TABLE.finditer(value.text))
    return out
