from __future__ import annotations

from mlrules.analysis.registry import has_double_star, has_keyword, is_feature_log_model
from mlrules.rules.base import Invalid, PythonRule, Valid, ipynb


class FeLogModelMissingTrainingSet(PythonRule):
    """
    ## What it does
    Flags `fe.log_model(...)` (`FeatureEngineeringClient().log_model`, also the workspace
    `FeatureStoreClient().log_model`) called without `training_set=` (or with
    `training_set=None`). Calls with `**kwargs` are not flagged.

    ## Why it matters
    The training set is what stores the feature lookup metadata with the model. Without it
    the model is logged as a plain model: `fe.score_batch` cannot look the features up
    (it fails, or scores only the columns of the input DataFrame), and training and
    inference drift apart.

    ## Example
    ```python
    fe.log_model(model=model, artifact_path="model", flavor=mlflow.sklearn)
    ```

    ## Use instead
    ```python
    training_set = fe.create_training_set(df=labels, feature_lookups=lookups, label="churned")
    fe.log_model(model=model, artifact_path="model", flavor=mlflow.sklearn, training_set=training_set)
    ```

    ## Fix safety
    No fix: the training set has to be built with the feature lookups used for training.
    """

    code = "REG005"
    name = "fe-log-model-missing-training-set"
    summary = "fe.log_model(...) without training_set= (no feature lookup metadata)"
    triggers = ("log_model",)

    invalid = (
        Invalid(
            "import mlflow\nfrom databricks.feature_engineering import FeatureEngineeringClient\n\nfe = FeatureEngineeringClient()\n"
            "fe.log_model(model=model, artifact_path=\"model\", flavor=mlflow.sklearn, registered_model_name=\"main.ml.churn\")\n",
            5, 1, path="module.py",
        ),
        Invalid(
            "# Databricks notebook source\nimport mlflow\nfrom databricks import feature_engineering\n\n# COMMAND ----------\n\n"
            "def log(model):\n    client = feature_engineering.FeatureEngineeringClient()\n"
            "    client.log_model(model=model, artifact_path=\"model\", flavor=mlflow.sklearn, training_set=None)\n",
            9, 5,
        ),
        Invalid(
            ipynb("from databricks.feature_engineering import FeatureEngineeringClient as FEC\nimport mlflow", ("markdown", "Log"),
                  "FEC().log_model(model=m, artifact_path=\"m\", flavor=mlflow.sklearn)"),
            1, 1, path="train.ipynb", cell=3,
        ),
    )
    valid = (
        Valid(
            "import mlflow\nfrom databricks.feature_engineering import FeatureEngineeringClient\nfe = FeatureEngineeringClient()\n"
            "fe.log_model(model=m, artifact_path=\"m\", flavor=mlflow.sklearn, training_set=ts)\n",
            path="module.py",
        ),
        Valid(
            "from databricks.feature_engineering import FeatureEngineeringClient\nfe = FeatureEngineeringClient()\n"
            "fe.log_model(model=m, artifact_path=\"m\", **kwargs)\n",
            path="module.py",
        ),
        Valid("import mlflow\nmlflow.sklearn.log_model(m, \"model\")\n", path="module.py"),
        Valid("def log(fe):\n    fe.log_model(model=m, artifact_path=\"m\", flavor=x)\n", path="module.py"),
    )

    def check(self, ctx):
        for call in ctx.index.calls:
            if not is_feature_log_model(call, workspace_client=True) or has_double_star(call):
                continue
            if has_keyword(call, "training_set", ignore_none=True):
                continue
            yield self.finding(
                ctx.path,
                ctx.span(call.node),
                f"`{call.dotted}(...)` has no `training_set=`: no feature lookup metadata is stored and `fe.score_batch` cannot retrieve the features",
            )
