from __future__ import annotations

from mlrules.analysis.remedies import DOUBLE_CAST, unremedied_feature_writes
from mlrules.model import Severity
from mlrules.rules.base import Invalid, PythonRule, Valid, ipynb

_HEAD = """from databricks.feature_engineering import FeatureEngineeringClient
from pyspark.sql import functions as F

fe = FeatureEngineeringClient()
features_df = spark.table("ml.gold.orders").groupBy("customer_id").agg(F.sum("amount").alias("total_amount"))
"""
_CREATE = 'fe.create_table(name="ml.churn.order_features", primary_keys=["customer_id"], df=features_df)\n'


class FeaturesNotCastToDouble(PythonRule):
    """
    ## What it does
    Flags a feature table write - `fe.create_table(..., df=...)` or `fe.write_table(..., df=...)`
    (also positional `df`, and the legacy `FeatureStoreClient`) - in a file with no cast to
    double anywhere: no `.cast("double")`, `DoubleType()`, `cast(... AS DOUBLE)` in SQL,
    `.astype("float64")`/`astype(float)`, `to_numeric(`, and no helper named like
    `cast_*`/`*_double`. Float casts count too.

    ## Why it matters
    Aggregations over DECIMAL gold columns (`sum(amount)`) stay `DecimalType`. MLflow model
    signatures have no decimal type: `fe.log_model` / `infer_signature` fail or the model
    rejects its own inputs at `fe.score_batch` time. Casting every numeric feature to DOUBLE
    when the table is written avoids it for every model.

    The cast is searched in the whole file (code, comments, SQL strings, `%sql` cells) and in
    notebooks included with `%run`; markdown does not count. A file with a `%run` that is not
    in the project is not checked. Data computed in another file (a project helper, `self.<attr>`,
    a parameter of a function never called here) is not judged, and unit tests are not checked.
    Nor is a table of model output (the data comes from `fe.score_batch`, a `.predict(...)` /
    `.predict_proba(...)` column or a `mlflow.pyfunc.spark_udf` column): it serves predictions
    and no model signature reads it.

    ## Example
    ```python
    fe.create_table(name="ml.churn.order_features", primary_keys=["customer_id"], df=features_df)
    ```

    ## Use instead
    ```python
    features_df = features_df.select("customer_id", F.col("total_amount").cast("double"))
    fe.create_table(name="ml.churn.order_features", primary_keys=["customer_id"], df=features_df)
    ```

    ## Fix safety
    No fix: which columns are features and numeric is not known statically.
    """

    code = "DQ002"
    name = "features-not-cast-to-double"
    summary = "Feature table written with no cast to double anywhere in the file"
    severity = Severity.WARNING
    fix = None
    triggers = ("create_table", "write_table")

    invalid = (
        Invalid(_HEAD + _CREATE, 6, 1, path="features.py", message_contains="fe.create_table"),
        Invalid(
            "# Databricks notebook source\n" + _HEAD + "\n# COMMAND ----------\n\n" + "features_df = features_df.withColumn('n', F.col('n').cast('int'))\n" + _CREATE.replace("create_table", "write_table"),
            11, 1,
        ),
        Invalid(
            ipynb(_HEAD, "fe.write_table(\n    name='ml.f',\n    df=features_df,\n)"),
            1, 1, path="features.ipynb", cell=2,
        ),
    )
    valid = (
        Valid(_HEAD + 'features_df = features_df.withColumn("total_amount", F.col("total_amount").cast("double"))\n' + _CREATE, path="features.py"),
        Valid("from pyspark.sql.types import DoubleType\n" + _HEAD + 'features_df = features_df.withColumn("t", F.col("t").cast(DoubleType()))\n' + _CREATE, path="features.py"),
        Valid(_HEAD + 'features_df = spark.sql("SELECT customer_id, CAST(SUM(amount) AS DOUBLE) AS total_amount FROM o GROUP BY 1")\n' + _CREATE, path="features.py"),
        Valid(_HEAD + 'pdf = pdf.astype({"total_amount": "float64"})\n' + _CREATE, path="features.py"),
        Valid(_HEAD + "features_df = cast_numeric_columns(features_df)\n" + _CREATE, path="features.py"),
        Valid("# Databricks notebook source\n" + _HEAD + "\n# COMMAND ----------\n\n# MAGIC %sql\n# MAGIC CREATE OR REPLACE TEMP VIEW v AS SELECT CAST(x AS DOUBLE) AS x FROM t\n\n# COMMAND ----------\n\n" + _CREATE),
        Valid(_HEAD + 'fe.create_table(name="ml.f", primary_keys=["customer_id"], schema=schema)\n', path="features.py"),
        # the data is computed in another file: the remedy may be there
        Valid(_HEAD.replace("features_df = spark", "from churn.features import compute_features\nfeatures_df = compute_features(spark") + _CREATE, path="features.py"),
        Valid("from databricks.feature_engineering import FeatureEngineeringClient\n\nclass Writer:\n    def write(self):\n        FeatureEngineeringClient().write_table(name=self.name, df=self.features)\n", path="lib/writer.py"),
        # a table of model output (served predictions), not model input features
        Valid(_HEAD + 'scored = fe.score_batch(model_uri="models:/ml.churn.model@prod", df=features_df)\n'
              'fe.create_table(name="ml.churn.served_scores", primary_keys=["customer_id"], df=scored.select("customer_id", "prediction"))\n',
              path="serve.py"),
        Valid(_HEAD + 'out = accounts[["account_id"]].copy()\nout.loc[:, "churn_prob"] = clf.predict_proba(accounts[cols])[:, 1]\n'
              'out = spark.createDataFrame(out)\nfe.write_table(name="ml.churn.scores", df=out, mode="merge")\n', path="serve.py"),
        Valid("import mlflow\n" + _HEAD + 'score = mlflow.pyfunc.spark_udf(spark, "models:/ml.churn.model@prod")\n'
              'risk_df = features_df.withColumn("risk", score(*cols))\nfe.create_table(name="ml.churn.risk", primary_keys=["customer_id"], df=risk_df)\n',
              path="serve.py"),
    )

    def check(self, ctx):
        for call in unremedied_feature_writes(ctx, DOUBLE_CAST):
            yield self.finding(
                ctx.path,
                ctx.span(call.node),
                f"`{call.dotted}(...)` writes a feature table, but the file never casts features to double "
                "(no .cast(\"double\")/DoubleType()/astype(\"float64\")): DecimalType features break MLflow signatures",
            )
