from __future__ import annotations

from mlrules.analysis.features import location
from mlrules.project.notebook_facts import (
    compare_lookup,
    created_feature_tables,
    describe_keys,
    iter_facts,
    tables_named,
)
from mlrules.rules.base import Invalid, ProjectRule, Valid, ipynb

FEATURES = """# Databricks notebook source
from databricks.feature_engineering import FeatureEngineeringClient

fe = FeatureEngineeringClient()
fe.create_table(
    name="ml.churn.customer_features",
    primary_keys=["customer_id", "region"],
    df=features_df,
)
"""

TS_FEATURES = """from databricks.feature_engineering import FeatureEngineeringClient

fe = FeatureEngineeringClient()
fe.create_table(name="ml.churn.activity", primary_keys=["customer_id", "ts"], timeseries_columns="ts", df=df)
"""


class LookupKeyNameMismatch(ProjectRule):
    """
    ## What it does
    Strict variant of FE003 (opt-in). Flags a `FeatureLookup(table_name=T, lookup_key=K,
    [timestamp_lookup_key=ts])` whose key count fits the table the project creates with
    `fe.create_table(name=T, primary_keys=P, [timeseries_columns=S])`, but whose key names
    differ from `P` or come in another order. `lookup_key` is compared, in order, with the
    primary keys that are not timeseries columns when the lookup passes
    `timestamp_lookup_key` (which names the DataFrame's event-time column and is never
    compared by name), else with all of them.

    Table names are matched as in FE003; every name must be known on both sides, and when
    several creations match the lookup is flagged only when it fits none of them.

    ## Why it matters
    Keys are matched by position: `lookup_key=["region", "customer_id"]` against
    `primary_keys=["customer_id", "region"]` joins region to customer id and silently
    returns nulls (or fails on a type mismatch). A different name is often a typo. It is
    off by default because naming the input DataFrame's columns differently from the
    table's is legal (`lookup_key` names columns of the DataFrame).

    ## Example
    ```python
    fe.create_table(name="ml.churn.customer_features", primary_keys=["customer_id", "region"], df=df)
    FeatureLookup(table_name="ml.churn.customer_features", lookup_key=["region", "customer_id"])
    ```

    ## Use instead
    ```python
    FeatureLookup(table_name="ml.churn.customer_features", lookup_key=["customer_id", "region"])
    ```

    ## Fix safety
    No fix: a renamed key may be intended.
    """

    code = "FE004"
    name = "lookup-key-name-mismatch"
    summary = "FeatureLookup keys named or ordered differently from the table's primary keys"
    default_enabled = False

    invalid = (
        Invalid(
            """# Databricks notebook source
from databricks.feature_engineering import FeatureLookup

lookup = FeatureLookup(
    table_name="ml.churn.customer_features",
    lookup_key=["region", "customer_id"],
)
""",
            6, 16, path="notebooks/train.py", files={"notebooks/features.py": FEATURES},
            message_contains="order",
        ),
        Invalid(
            ipynb(("markdown", "# Train"), 'from databricks.feature_engineering import FeatureLookup\nlookup = FeatureLookup("ml.churn.customer_features", ["customer_id", "regoin"])\n'),
            2, 54, cell=2, path="train.ipynb", files={"features.py": FEATURES},
        ),
        Invalid(
            """from databricks.feature_engineering import FeatureLookup
FeatureLookup(table_name="ml.churn.activity", lookup_key="ts", timestamp_lookup_key="customer_id")
""",
            2, 58, path="train.py", files={"features.py": TS_FEATURES},
        ),
        # created in this file and in another one: the message cites the creation in this file
        Invalid(
            FEATURES + 'from databricks.feature_engineering import FeatureLookup\n'
            'lookup = FeatureLookup(table_name="ml.churn.customer_features", lookup_key=["region", "customer_id"])\n',
            11, 76, path="train.py", files={"a_backfill.py": FEATURES},
            message_contains="(train.py:5)", message_excludes="a_backfill.py",
        ),
        # the table is created in a notebook (.ipynb): the message names its cell and row
        Invalid(
            """from databricks.feature_engineering import FeatureLookup
FeatureLookup(table_name="ml.churn.customer_features", lookup_key=["account_id", "region"])
""",
            2, 67, path="train.py",
            files={"features.ipynb": ipynb(("markdown", "# Features"), FEATURES.split("\n", 1)[1])},
            message_contains="features.ipynb:cell 2:4)",
        ),
    )
    valid = (
        Valid(
            """from databricks.feature_engineering import FeatureLookup
FeatureLookup(table_name="ml.churn.customer_features", lookup_key=["customer_id", "region"])
""",
            path="train.py", files={"features.py": FEATURES},
        ),
        Valid(
            """from databricks.feature_engineering import FeatureLookup
FeatureLookup(table_name="ml.churn.activity", lookup_key="customer_id", timestamp_lookup_key="label_ts")
""",
            path="train.py", files={"features.py": TS_FEATURES},
        ),
        # a count mismatch is FE003's; unknown names are not judged
        Valid(
            """from databricks.feature_engineering import FeatureLookup
FeatureLookup(table_name="ml.churn.customer_features", lookup_key="customer_id")
FeatureLookup(table_name="ml.churn.customer_features", lookup_key=[key, "region"])
""",
            path="train.py", files={"features.py": FEATURES},
        ),
        Valid(
            ipynb('from databricks.feature_engineering import FeatureLookup\nFeatureLookup("ml.churn.customer_features", ["customer_id", "region"])\n'),
            path="train.ipynb", files={"features.py": FEATURES},
        ),
    )

    def check(self, ctx):
        tables = created_feature_tables(ctx.project)
        if not tables:
            return
        for facts in iter_facts(ctx.project, "FeatureLookup"):
            for lookup in facts.feature_lookups:
                candidates = tables_named(tables, lookup.table_name, facts.path)
                if not candidates or lookup.lookup_key_arg is None:
                    continue
                verdicts = [compare_lookup(lookup, table) for _, table in candidates]
                if "names" not in verdicts or any(v in ("ok", None) for v in verdicts):
                    continue
                where_facts, table = next(c for c, v in zip(candidates, verdicts) if v == "names")
                given = list(lookup.lookup_key.names)
                wanted = list((table.non_timeseries_keys() if lookup.timestamp_lookup_key.count else table.key_columns()).names)
                problem = "in another order" if sorted(given) == sorted(wanted) else "with other names"
                keys = describe_keys(lookup.lookup_key)
                if lookup.timestamp_lookup_key.count:
                    keys += f" + timestamp_lookup_key {describe_keys(lookup.timestamp_lookup_key)}"
                yield self.finding(
                    facts.path,
                    facts.span(lookup.lookup_key_arg.value),
                    f"FeatureLookup of '{lookup.table_name.text}' passes keys {keys} {problem} than the table's "
                    f"primary keys {describe_keys(table.key_columns())} ({location(where_facts, table.node)}); keys are matched by position",
                )
