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
catalog = dbutils.widgets.get("catalog")

# COMMAND ----------

fe.create_table(
    name=f"{catalog}.churn.customer_features",
    primary_keys=["customer_id", "region"],
    df=features_df,
)
"""

TS_FEATURES = """# Databricks notebook source
from databricks.feature_engineering import FeatureEngineeringClient

fe = FeatureEngineeringClient()
PK = ["customer_id", "snapshot_date"]
fe.create_table(name="ml.churn.activity_features", primary_keys=PK, timeseries_columns="snapshot_date", df=df)
"""

FS_FEATURES = """from databricks.feature_store import FeatureStoreClient

fs = FeatureStoreClient()
fs.create_table("hive.churn_features", "customer_id", df, timestamp_keys=["ts"])
"""


class LookupKeyMismatch(ProjectRule):
    """
    ## What it does
    Cross-file. Flags a `FeatureLookup(table_name=T, lookup_key=K, [timestamp_lookup_key=ts])`
    where the project creates `T` with `fe.create_table(name=T, primary_keys=P,
    [timeseries_columns=S])` (also the `FeatureStoreClient` forms, positional `name`/
    `primary_keys`, `timestamp_keys=`, `create_feature_table(name, keys)`) and the number of
    keys differs: `K` plus `ts` counted against the table's key columns (`P` plus any `S` not
    already in `P`).

    Table names match when their known parts agree: `{placeholder}` parts of f-strings and
    widgets match any text, names are compared from the right, and the last segment must be
    known on both sides and equal (`f"{catalog}.churn.customer_features"` matches
    `"ml.churn.customer_features"`). When several creations match, the lookup is flagged only
    when it fits none of them. Unknown keys or names (a parameter, a list built in a loop)
    are never flagged.

    Renamed keys are legal (`lookup_key` names columns of the DataFrame passed to
    `create_training_set`): only the count is checked here (see FE004 for names). A lookup
    without `timestamp_lookup_key` on a time series table that passes the other keys is not
    flagged.

    ## Why it matters
    `create_training_set` joins on `lookup_key` position by position against the table's
    primary keys; a missing or extra key fails with `Unable to find feature` /
    key-count errors at training time, and inference through `fe.score_batch` fails the
    same way.

    ## Example
    ```python
    # features.py
    fe.create_table(name=f"{catalog}.churn.customer_features",
                    primary_keys=["customer_id", "region"], df=features_df)
    # train.py
    FeatureLookup(table_name=f"{catalog}.churn.customer_features", lookup_key="customer_id")
    ```

    ## Use instead
    ```python
    FeatureLookup(table_name=f"{catalog}.churn.customer_features",
                  lookup_key=["customer_id", "region"])
    ```

    ## Fix safety
    No fix: the missing key column must exist in the training DataFrame, which only the
    author knows.
    """

    code = "FE003"
    name = "lookup-key-mismatch"
    summary = "FeatureLookup key count differs from the feature table's primary keys"

    invalid = (
        Invalid(
            """# Databricks notebook source
from databricks.feature_engineering import FeatureEngineeringClient, FeatureLookup

catalog = dbutils.widgets.get("catalog")
lookups = [
    FeatureLookup(
        table_name=f"{catalog}.churn.customer_features",
        lookup_key="customer_id",
        feature_names=["tenure_days", "monthly_spend"],
    )
]
""",
            8, 20, path="notebooks/train.py", files={"notebooks/features.py": FEATURES},
            message_contains="notebooks/features.py:9",
        ),
        Invalid(
            ipynb(
                ("markdown", "# Train"),
                "from databricks.feature_engineering import FeatureLookup\n",
                'lookup = FeatureLookup("ml.churn.customer_features", ["customer_id", "region", "day"])\n',
            ),
            1, 54, cell=3, path="train.ipynb", files={"features.py": FEATURES},
        ),
        Invalid(
            """from databricks.feature_engineering import FeatureLookup

lookup = FeatureLookup(
    table_name="ml.churn.activity_features",
    lookup_key=["customer_id", "snapshot_date"],
    timestamp_lookup_key="event_ts",
)
""",
            5, 16, path="train.py", files={"features.py": TS_FEATURES},
        ),
        Invalid(
            """from databricks.feature_store import FeatureLookup
KEYS = ["customer_id", "ts"]
lookup = FeatureLookup(table_name="hive.churn_features", lookup_key=KEYS, timestamp_lookup_key="ts")
""",
            3, 69, path="train.py", files={"features.py": FS_FEATURES},
        ),
    )
    valid = (
        Valid(
            """from databricks.feature_engineering import FeatureLookup
FeatureLookup(table_name="dev.churn.customer_features", lookup_key=["cust", "region_code"])
""",
            path="train.py", files={"features.py": FEATURES},
        ),
        Valid(
            """from databricks.feature_engineering import FeatureLookup
FeatureLookup(table_name="ml.churn.activity_features", lookup_key="customer_id", timestamp_lookup_key="label_ts")
FeatureLookup(table_name="ml.churn.activity_features", lookup_key="customer_id")
""",
            path="train.py", files={"features.py": TS_FEATURES},
        ),
        Valid(
            """from databricks.feature_store import FeatureLookup
FeatureLookup(table_name="hive.churn_features", lookup_key="customer_id", timestamp_lookup_key="ts")
""",
            path="train.py", files={"features.py": FS_FEATURES},
        ),
        # another table (last segment differs), an unknown table name, unknown keys
        Valid(
            """from databricks.feature_engineering import FeatureLookup
FeatureLookup(table_name="ml.churn.order_features", lookup_key="order_id")
FeatureLookup(table_name=dbutils.widgets.get("table"), lookup_key="customer_id")
def lookups(keys):
    return [FeatureLookup(table_name="ml.churn.customer_features", lookup_key=keys)]
""",
            path="train.py", files={"features.py": FEATURES},
        ),
        # a known schema that differs: not the same table
        Valid(
            """from databricks.feature_engineering import FeatureLookup
FeatureLookup(table_name="ml.sales.customer_features", lookup_key="customer_id")
""",
            path="train.py", files={"features.py": FEATURES},
        ),
        # two creations of the name: the lookup fits one of them
        Valid(
            """from databricks.feature_engineering import FeatureLookup
FeatureLookup(table_name="ml.churn.customer_features", lookup_key="customer_id")
""",
            path="train.py",
            files={
                "features.py": FEATURES,
                "features_v1.py": FEATURES.replace('["customer_id", "region"]', '"customer_id"'),
            },
        ),
        Valid(
            ipynb("from databricks.feature_engineering import FeatureLookup\n", 'FeatureLookup("ml.churn.customer_features", ["customer_id", "region"])\n'),
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
                if not all(v == "count" for v in verdicts):
                    continue
                where_facts, table = candidates[0]
                given = lookup.lookup_key.count + lookup.timestamp_lookup_key.count
                keys = describe_keys(lookup.lookup_key)
                if lookup.timestamp_lookup_key.count:
                    keys += f" + timestamp_lookup_key {describe_keys(lookup.timestamp_lookup_key)}"
                table_keys = table.key_columns()
                more = f" (and {len(candidates) - 1} other creation(s))" if len(candidates) > 1 else ""
                yield self.finding(
                    facts.path,
                    facts.span(lookup.lookup_key_arg.value),
                    f"FeatureLookup of '{lookup.table_name.text}' passes {given} key(s) {keys} but the table is created "
                    f"with {table_keys.count} key column(s) {describe_keys(table_keys)} at {location(where_facts, table.node)}{more}",
                )
