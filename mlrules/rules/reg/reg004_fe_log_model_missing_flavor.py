from __future__ import annotations

from mlrules.analysis.edits import add_keyword
from mlrules.analysis.model_estimator import logged_estimator
from mlrules.analysis.registry import has_double_star, is_feature_log_model
from mlrules.model import Applicability
from mlrules.rules.base import Invalid, PythonRule, Valid, ipynb


class FeLogModelMissingFlavor(PythonRule):
    """
    ## What it does
    Flags `fe.log_model(...)` (`FeatureEngineeringClient().log_model`, also the workspace
    `FeatureStoreClient().log_model`) called without `flavor=`. Calls with `**kwargs` are not
    flagged.

    ## Why it matters
    `flavor` is a required keyword-only argument: the call fails with
    `TypeError: log_model() missing 1 required keyword-only argument: 'flavor'` after the
    whole training has run.

    ## Example
    ```python
    fe.log_model(model=model, artifact_path="model", training_set=training_set)
    ```

    ## Use instead
    ```python
    fe.log_model(model=model, artifact_path="model", flavor=mlflow.sklearn, training_set=training_set)
    ```

    ## Fix safety
    Unsafe: adds `flavor=mlflow.sklearn` / `mlflow.xgboost` / `mlflow.lightgbm` /
    `mlflow.catboost` when the estimator's library is visible in the file (the `model=`
    argument built from a class of that library, e.g. `XGBClassifier()` or an sklearn
    `Pipeline`, or all estimators constructed in the function, else the file, from one
    library). The module is written through the file's own name for `mlflow` (`mf.sklearn`
    after `import mlflow as mf`). No fix when the library is unknown or `mlflow` is not
    imported.
    """

    code = "REG004"
    name = "fe-log-model-missing-flavor"
    summary = "fe.log_model(...) without the required flavor="
    fix = Applicability.UNSAFE
    triggers = ("log_model",)

    invalid = (
        Invalid(
            "import mlflow\nfrom databricks.feature_engineering import FeatureEngineeringClient\nfrom sklearn.ensemble import RandomForestClassifier\n\n"
            "fe = FeatureEngineeringClient()\nmodel = RandomForestClassifier()\nmodel.fit(X, y)\n"
            "fe.log_model(model=model, artifact_path=\"model\", training_set=ts)\n",
            8, 1, path="train.py",
            fixed="import mlflow\nfrom databricks.feature_engineering import FeatureEngineeringClient\nfrom sklearn.ensemble import RandomForestClassifier\n\n"
            "fe = FeatureEngineeringClient()\nmodel = RandomForestClassifier()\nmodel.fit(X, y)\n"
            "fe.log_model(model=model, artifact_path=\"model\", training_set=ts, flavor=mlflow.sklearn)\n",
        ),
        Invalid(
            "# Databricks notebook source\nimport mlflow as mf\nimport xgboost as xgb\nfrom databricks.feature_engineering import FeatureEngineeringClient\n\n"
            "# COMMAND ----------\n\ndef train(ts, params):\n    booster = xgb.XGBClassifier(**params).fit(X, y)\n"
            "    FeatureEngineeringClient().log_model(\n        model=booster,\n        artifact_path=\"model\",\n        training_set=ts,\n    )\n",
            10, 5,
            fixed="# Databricks notebook source\nimport mlflow as mf\nimport xgboost as xgb\nfrom databricks.feature_engineering import FeatureEngineeringClient\n\n"
            "# COMMAND ----------\n\ndef train(ts, params):\n    booster = xgb.XGBClassifier(**params).fit(X, y)\n"
            "    FeatureEngineeringClient().log_model(\n        model=booster,\n        artifact_path=\"model\",\n        training_set=ts,\n"
            "        flavor=mf.xgboost,\n    )\n",
        ),
        Invalid(
            ipynb("import mlflow\nfrom lightgbm import LGBMRegressor\nfrom databricks.feature_engineering import FeatureEngineeringClient\nfe = FeatureEngineeringClient()",
                  ("markdown", "Log"), "def log(m):\n    fe.log_model(model=m, artifact_path=\"m\", training_set=ts)\n\nlog(LGBMRegressor().fit(X, y))"),
            2, 5, path="train.ipynb", cell=3,
            fixed=ipynb("import mlflow\nfrom lightgbm import LGBMRegressor\nfrom databricks.feature_engineering import FeatureEngineeringClient\nfe = FeatureEngineeringClient()",
                        ("markdown", "Log"), "def log(m):\n    fe.log_model(model=m, artifact_path=\"m\", training_set=ts, flavor=mlflow.lightgbm)\n\nlog(LGBMRegressor().fit(X, y))"),
        ),
        # library unknown: reported without a fix
        Invalid(
            "import mlflow\nfrom databricks.feature_engineering import FeatureEngineeringClient\nfe = FeatureEngineeringClient()\n"
            "fe.log_model(model=model, artifact_path=\"m\", training_set=ts)\n",
            4, 1, path="module.py",
        ),
        # two libraries in the file and the model argument is not followed: no fix
        Invalid(
            "import mlflow\nfrom databricks.feature_engineering import FeatureEngineeringClient\nfrom sklearn.linear_model import LogisticRegression\n"
            "from xgboost import XGBClassifier\nfe = FeatureEngineeringClient()\na = LogisticRegression()\nb = XGBClassifier()\n"
            "fe.log_model(model=best, artifact_path=\"m\", training_set=ts)\n",
            8, 1, path="module.py",
        ),
        Invalid(
            "from databricks.feature_store import FeatureStoreClient\nfs = FeatureStoreClient()\nfs.log_model(model, \"model\", training_set=ts)\n",
            3, 1, path="module.py",
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
            "fe.log_model(model=m, artifact_path=\"m\", training_set=ts, **options)\n",
            path="module.py",
        ),
        Valid("import mlflow\nmlflow.sklearn.log_model(m, \"model\")\n", path="module.py"),
        Valid("def log(fe):\n    fe.log_model(model=m, artifact_path=\"m\", training_set=ts)\n", path="module.py"),
    )

    def check(self, ctx):
        for call in ctx.index.calls:
            if not is_feature_log_model(call, workspace_client=True) or call.keyword("flavor") is not None or has_double_star(call):
                continue
            edits = ()
            guess = logged_estimator(ctx.index, call)
            alias = _mlflow_alias(ctx.index)
            flavor = f"{alias}.{guess.library}" if guess.library and alias else None
            if flavor:
                edits = (add_keyword(ctx, call.node, f"flavor={flavor}"),)
            yield self.finding(
                ctx.path,
                ctx.span(call.node),
                f"`{call.dotted}(...)` has no `flavor=` (a required keyword): the call fails with TypeError",
                edits=edits,
                fix_message=f"Add `flavor={flavor}`" if flavor else "",
            )


def _mlflow_alias(index) -> str | None:
    names = sorted(n for n, q in index.imports.items() if q == "mlflow" and n not in index.ambiguous)
    if "mlflow" in names:
        return "mlflow"
    return names[0] if names else None
