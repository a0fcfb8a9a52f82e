from __future__ import annotations

import re

from mlrules.analysis.features import client_calls, fitted_text_vectorizers, training_sets, where
from mlrules.model import Severity
from mlrules.rules.base import Invalid, PythonRule, Valid, ipynb

_FLAVOR_LOG_MODEL = re.compile(r"^mlflow\.(?!(tracking|client|models|entities|store)\.)[a-z_0-9]+\.log_model$")

_HEAD = """from databricks.feature_engineering import FeatureEngineeringClient, FeatureLookup
import mlflow

fe = FeatureEngineeringClient()
training_set = fe.create_training_set(
    df=labels_df,
    feature_lookups=[FeatureLookup(table_name="ml.churn.features", lookup_key="customer_id")],
    label="churned",
    exclude_columns=["customer_id"],
)
"""


class TrainingSetLoggedWithoutFe(PythonRule):
    """
    ## What it does
    Flags `mlflow.<flavor>.log_model(...)` (`mlflow.sklearn.log_model`, `mlflow.xgboost.log_model`,
    `mlflow.pyfunc.log_model`, ...) in a file that builds its training data with
    `create_training_set(...)` (`FeatureEngineeringClient` or the legacy `FeatureStoreClient`,
    through any alias or instance) and never logs a model with `fe.log_model(...)`.

    ## Why it matters
    Only `fe.log_model(model=..., training_set=...)` stores the feature lookups with the model.
    A model logged with the plain MLflow flavor forgets where its features came from:
    `fe.score_batch` cannot look them up, so inference has to rebuild the features by hand and
    drifts from training (training/serving skew), and Unity Catalog shows no feature lineage.

    A file that logs with `fe.log_model` anywhere is not flagged, even if it also logs a
    baseline with a plain flavor (a deliberate comparison). `fe.log_model` through an unknown
    receiver (`self.fe.log_model(..., training_set=...)`) counts too. Neither is a file that
    fits a text vectorizer (`TfidfVectorizer`, ...) by itself: its features are computed at run
    time, `fe.score_batch` could not serve them, and a plain flavor with a custom inference
    task is the right design (see FE008).

    ## Example
    ```python
    training_set = fe.create_training_set(df=labels_df, feature_lookups=lookups, label="churned")
    model.fit(X, y)
    mlflow.sklearn.log_model(model, "model", registered_model_name="ml.churn.model")
    ```

    ## Use instead
    ```python
    fe.log_model(
        model=model,
        artifact_path="model",
        flavor=mlflow.sklearn,
        training_set=training_set,
        registered_model_name="ml.churn.model",
    )
    ```

    ## Fix safety
    No fix: `fe.log_model` takes different arguments (`flavor=`, `training_set=`), which only
    the author can supply.
    """

    code = "FE001"
    name = "training-set-logged-without-fe"
    summary = "Model trained on create_training_set() but logged with mlflow.<flavor>.log_model instead of fe.log_model"
    severity = Severity.ERROR
    fix = None
    triggers = ("create_training_set",)

    invalid = (
        Invalid(
            _HEAD + "mlflow.sklearn.log_model(model, \"model\")\n",
            11, 1, path="train.py",
            message_contains="mlflow.sklearn.log_model",
        ),
        # legacy FeatureStoreClient, aliased flavor module, inside a run and a function
        Invalid(
            "from databricks import feature_store\nimport mlflow.xgboost as mx\nimport mlflow\n\n"
            "fs = feature_store.FeatureStoreClient()\n\n"
            "def train(df, lookups):\n"
            "    ts = fs.create_training_set(df, lookups, \"label\")\n"
            "    with mlflow.start_run():\n"
            "        mx.log_model(booster, artifact_path=\"model\")\n",
            10, 9, path="train.py",
        ),
        # Databricks notebook: the call in another cell
        Invalid(
            "# Databricks notebook source\n" + _HEAD + "\n# COMMAND ----------\n\nwith mlflow.start_run():\n    mlflow.pyfunc.log_model(\"model\", python_model=wrapper)\n",
            16, 5,
        ),
        # .ipynb
        Invalid(
            ipynb(("markdown", "# Train"), _HEAD, "mlflow.lightgbm.log_model(lgbm, \"model\")"),
            1, 1, path="train.ipynb", cell=3,
        ),
        # a client the index cannot resolve (a parameter), file imports feature engineering
        Invalid(
            "from databricks.feature_engineering import FeatureLookup\nimport mlflow\n\n"
            "def train(fe, df):\n"
            "    ts = fe.create_training_set(df=df, feature_lookups=[], label=\"y\")\n"
            "    mlflow.sklearn.log_model(m, \"model\")\n",
            6, 5, path="train.py",
        ),
    )
    valid = (
        # the remedy: fe.log_model with training_set
        Valid(_HEAD + "fe.log_model(model=model, artifact_path=\"model\", flavor=mlflow.sklearn, training_set=training_set)\n", path="train.py"),
        # a baseline logged with a plain flavor next to fe.log_model
        Valid(_HEAD + "mlflow.sklearn.log_model(baseline, \"baseline\")\nfe.log_model(model=model, artifact_path=\"model\", flavor=mlflow.sklearn, training_set=training_set)\n", path="train.py"),
        # fe.log_model through an attribute
        Valid(_HEAD + "mlflow.sklearn.log_model(baseline, \"baseline\")\nself.fe.log_model(model=model, artifact_path=\"m\", flavor=mlflow.sklearn, training_set=training_set)\n", path="train.py"),
        # no training set in the file
        Valid("import mlflow\nmlflow.sklearn.log_model(model, \"model\")\n", path="train.py"),
        # create_training_set of something that is not a feature engineering client
        Valid("import mlflow\nfrom mylib import Builder\nb = Builder()\nts = b.create_training_set(df)\nmlflow.sklearn.log_model(model, \"model\")\n", path="train.py"),
        # run-time text features: logged with a plain flavor on purpose (FE008's advice)
        Valid(_HEAD.replace("import mlflow", "import mlflow\nfrom sklearn.feature_extraction.text import TfidfVectorizer")
              + "tfidf = TfidfVectorizer()\nX_text = tfidf.fit_transform(pdf[\"job_name\"])\nmlflow.sklearn.log_model(model, \"model\")\n", path="train.py"),
        # not a flavor log_model
        Valid(_HEAD + "mlflow.log_artifact(\"x\")\nmlflow.models.log_model(m)\n", path="train.py"),
    )

    def check(self, ctx):
        index = ctx.index
        sets = training_sets(index)
        if not sets:
            return
        fe_logs = client_calls(index, "log_model")
        if fe_logs:
            return
        for call in index.calls:
            if call.qualname is None and (call.dotted or "").endswith(".log_model") and call.keyword("training_set") is not None:
                return  # fe.log_model(..., training_set=...) through a receiver the index cannot resolve
        if fitted_text_vectorizers(index):
            return  # run-time text features: a plain flavor with custom inference is the right choice (FE008)
        first = sets[0].call
        for call in index.calls:
            if call.qualname is None or not _FLAVOR_LOG_MODEL.match(call.qualname):
                continue
            yield self.finding(
                ctx.path,
                ctx.span(call.node),
                f"`{call.dotted}(...)` logs a model whose training set comes from `{first.dotted}(...)` ({where(ctx, first.node)}) "
                "without its feature metadata; log it with `fe.log_model(..., training_set=...)` so `fe.score_batch` can look features up",
            )
