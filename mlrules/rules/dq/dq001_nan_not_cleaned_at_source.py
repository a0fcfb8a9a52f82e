from __future__ import annotations

from mlrules.analysis.remedies import NAN_CLEANING, unremedied_feature_writes
from mlrules.model import Severity
from mlrules.rules.base import Invalid, PythonRule, Valid, ipynb

_HEAD = """from databricks.feature_engineering import FeatureEngineeringClient
from pyspark.sql import functions as F

fe = FeatureEngineeringClient()
features_df = spark.table("ml.gold.customers").groupBy("customer_id").agg(F.avg("spend").alias("avg_spend"))
"""
_WRITE = 'fe.write_table(name="ml.churn.customer_features", df=features_df, mode="merge")\n'


class NanNotCleanedAtSource(PythonRule):
    """
    ## What it does
    Flags a feature table write - `fe.create_table(..., df=...)` or `fe.write_table(..., df=...)`
    (also `df` passed by position, and the legacy `FeatureStoreClient`) - in a file that shows no
    NaN/Inf cleaning anywhere: no `fillna`, `na.fill`/`na.drop`, `dropna`, `isnan`, `nanvl`,
    `coalesce(`, `ifnull(`/`nvl(`, `nan_to_num`, an imputer, a `replace(...)` of `inf`, and no
    helper whose name contains `clean` (the seed's `clean_numeric`).

    ## Why it matters
    Feature tables feed every model that looks them up. scikit-learn estimators (e.g.
    `GradientBoostingClassifier`) refuse NaN at fit and at `fe.score_batch` time, while XGBoost
    silently accepts them: a model that trained fine fails in the inference job. Cleaning once,
    where the table is written, fixes every consumer.

    The remedy is searched in the whole file: code, comments, SQL strings and `%sql` cells,
    plus the notebooks it includes with `%run` (markdown cells do not count). A file with a
    `%run` of a notebook that is not in the project is not checked. `create_table` without
    `df=` (schema only) is not a write. Data computed in another file is not judged: a `df`
    that comes from a function imported from the project (or loaded dynamically), from
    `self.<attr>`, or from a parameter of a function that this file never calls (a library
    helper). Unit tests (`test_*.py`, `*_test.py`, files under `tests/`) are not checked.
    Nor is a table of model output (the data comes from `fe.score_batch`, a `.predict(...)` /
    `.predict_proba(...)` column or a `mlflow.pyfunc.spark_udf` column): it serves
    predictions, no model reads it as input features.

    ## Example
    ```python
    fe.write_table(name="ml.churn.customer_features", df=features_df, mode="merge")
    ```

    ## Use instead
    ```python
    features_df = features_df.fillna(0.0)  # or clean_numeric() on every numeric column
    fe.write_table(name="ml.churn.customer_features", df=features_df, mode="merge")
    ```

    ## Fix safety
    No fix: the right fill value depends on the feature.
    """

    code = "DQ001"
    name = "nan-not-cleaned-at-source"
    summary = "Feature table written with no NaN/Inf cleaning anywhere in the file"
    severity = Severity.WARNING
    fix = None
    triggers = ("create_table", "write_table")

    invalid = (
        Invalid(_HEAD + _WRITE, 6, 1, path="features.py", message_contains="fe.write_table"),
        # create_table with df, and write_table with positional df (legacy client)
        Invalid(
            "from databricks.feature_store import FeatureStoreClient\nfs = FeatureStoreClient()\n"
            "fs.create_table(name=\"hive.f\", primary_keys=[\"id\"], df=df)\nfs.write_table(\"hive.f\", df, mode=\"merge\")\n",
            3, 1, path="features.py", also=((4, 1),),
        ),
        # markdown that mentions fillna is not a remedy; neither is a %pip line
        Invalid(
            "# Databricks notebook source\n# MAGIC %md\n# MAGIC Remember to fillna before writing\n\n# COMMAND ----------\n\n" + _HEAD + "\n# COMMAND ----------\n\n" + _WRITE,
            15, 1,
        ),
        Invalid(
            ipynb(("markdown", "Clean with `fillna` later"), _HEAD, "def publish(fe, df):\n    fe.create_table(name='ml.f', primary_keys='id', df=df)\n\npublish(fe, features_df)"),
            2, 5, path="features.ipynb", cell=3,
        ),
    )
    valid = (
        Valid(_HEAD + "features_df = features_df.fillna(0)\n" + _WRITE, path="features.py"),
        Valid(_HEAD + "features_df = features_df.na.fill(0.0)\n" + _WRITE, path="features.py"),
        Valid(_HEAD + "def clean_numeric(c):\n    return F.when(F.isnan(F.col(c)), 0.0).otherwise(F.col(c))\n" + _WRITE, path="features.py"),
        Valid(_HEAD + 'features_df = spark.sql("SELECT customer_id, COALESCE(avg_spend, 0) AS avg_spend FROM v")\n' + _WRITE, path="features.py"),
        Valid(_HEAD + "pdf = pdf.replace([np.inf, -np.inf], np.nan)\n" + _WRITE, path="features.py"),
        # create_table without data
        Valid(_HEAD + 'fe.create_table(name="ml.churn.customer_features", primary_keys=["customer_id"], schema=features_df.schema)\n', path="features.py"),
        # cleaning in a notebook included with %run
        Valid("# Databricks notebook source\n# MAGIC %run ./utils\n\n# COMMAND ----------\n\n" + _HEAD + _WRITE, path="nb/features.py",
              files={"nb/utils.py": "# Databricks notebook source\ndef clean_features(df):\n    return df.dropna()\n"}),
        # a %run target outside the project: unknown, stay quiet
        Valid("# Databricks notebook source\n# MAGIC %run /Shared/utils\n\n# COMMAND ----------\n\n" + _HEAD + _WRITE),
        # not a feature engineering client
        Valid('delta.write_table(name="x", df=df)\n', path="features.py"),
        # the data is computed in another file: the remedy may be there
        Valid(_HEAD.replace("features_df = spark", "from churn.features import compute_features\nfeatures_df = compute_features(spark") + _WRITE, path="features.py"),
        Valid("# Databricks notebook source\nfrom importlib import import_module\nfrom databricks.feature_engineering import FeatureEngineeringClient\n"
              'compute = getattr(import_module(features_module), "compute_features_fn")\nfeatures_df = compute(raw_df)\n'
              "fe = FeatureEngineeringClient()\n" + _WRITE.replace("df=features_df", "df=features_df.dropDuplicates()")),
        Valid("from databricks.feature_engineering import FeatureEngineeringClient\n\nclass Writer:\n    def write(self):\n        FeatureEngineeringClient().write_table(name=self.name, df=self.features)\n", path="lib/writer.py"),
        Valid("from databricks.feature_engineering import FeatureEngineeringClient\n\ndef write(fe, df):\n    fe.write_table(name='ml.f', df=df)\n", path="lib/writer.py"),
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
        for call in unremedied_feature_writes(ctx, NAN_CLEANING):
            yield self.finding(
                ctx.path,
                ctx.span(call.node),
                f"`{call.dotted}(...)` writes a feature table, but the file never cleans NaN/Inf "
                "(no fillna/na.fill/dropna/isnan/coalesce/nan_to_num or clean_* helper): "
                "scikit-learn models fail on NaN at fe.score_batch time",
            )
