from __future__ import annotations

import libcst as cst

from mlrules.analysis.features import feature_lookup_calls, follow_name
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
    list in a call that is not a feature lookup.

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
    )

    def check(self, ctx):
        minimum = int(self.config["min-features"])
        index = ctx.index
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
                    via = "" if target is arg.value else f" (through `{ctx.code_for(arg.value)}`)"
                    yield self.finding(
                        ctx.path,
                        ctx.span(arg.value),
                        f"`{lookup.dotted}(...)` lists {count} hard-coded feature_names{via}; they drift from the "
                        "table schema: query them (`spark.table(T).columns` minus the keys) or omit feature_names",
                    )
