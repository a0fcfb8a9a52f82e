from __future__ import annotations

import re

from mlrules.analysis.includes import included_notebooks
from mlrules.analysis.registry import name_parts, registering_calls, registry_facts
from mlrules.rules.base import Invalid, PythonRule, Valid, ipynb


class RegisteredNameNotThreeLevel(PythonRule):
    """
    ## What it does
    Flags a registered model name (`registered_model_name=` of a `log_model` call, or the name
    of `mlflow.register_model(model_uri, name)`) that does not have exactly three
    dot-separated parts (`catalog.schema.model`) in a file that uses the Unity Catalog
    registry (`mlflow.set_registry_uri("databricks-uc")` in the file or in a notebook it
    includes with `%run`, and no call there that sets another or an unknown registry).

    Values are followed through constant propagation; each f-string placeholder or widget
    counts as one part (`f"{catalog}.{schema}.churn"` is fine). Only what is certain is
    flagged: a fully known name that is not three parts (`"churn_model"`,
    `"ml.churn_model"`), or a name with more than three parts even with placeholders
    (`f"{catalog}.{schema}.ml.churn"`). A name with placeholders and fewer than three parts
    (`f"{full_name}"`, `f"{prefix}.churn"`) may hold the missing parts and is not flagged,
    nor is an unknown value.

    MLflow completes a one- or two-part name from the Spark session's current catalog and
    schema when that catalog is a Unity Catalog one. So a short name is not flagged when the
    file or a notebook it includes with `%run` selects them (`USE CATALOG`, `USE SCHEMA`,
    `USE DATABASE`, `USE c.s`, `spark.catalog.setCurrentCatalog/Database`), or includes a
    notebook that cannot be followed. A name with more than three parts is always flagged.

    ## Why it matters
    Unity Catalog models live in a catalog and a schema. A short name such as `churn_model`
    depends on the session's current catalog: with the default `hive_metastore` (a job
    cluster, a fresh serverless session) registration fails with an invalid-name error at
    the end of a training job that has already spent its compute, and elsewhere the model
    lands in whatever catalog and schema happen to be current.

    ## Example
    ```python
    mlflow.set_registry_uri("databricks-uc")
    mlflow.register_model(model_uri, "churn_model")
    ```

    ## Use instead
    ```python
    mlflow.register_model(model_uri, f"{catalog}.{schema}.churn_model")
    ```

    ## Fix safety
    No fix: the catalog and schema are the author's choice.
    """

    code = "REG002"
    name = "registered-name-not-three-level"
    summary = "Unity Catalog model name that is not catalog.schema.model"
    triggers = ("registered_model_name", "register_model")

    invalid = (
        Invalid(
            "import mlflow\nmlflow.set_registry_uri(\"databricks-uc\")\nmlflow.register_model(model_uri, \"churn_model\")\n",
            3, 34, path="module.py",
        ),
        Invalid(
            "import mlflow as mf\nmf.set_registry_uri(\"databricks-uc\")\nNAME = \"ml.churn\"\n"
            "mf.sklearn.log_model(model, \"model\", registered_model_name=NAME)\n",
            4, 60, path="module.py", message_contains="ml.churn",
        ),
        Invalid(
            "import mlflow\nfrom mlflow import register_model\nmlflow.set_registry_uri(\"databricks-uc\")\n"
            "register_model(model_uri=uri, name=f\"{catalog}.{schema}.ml.churn\")\n",
            4, 36, path="module.py",
        ),
        Invalid(
            "# Databricks notebook source\nimport mlflow\nfrom databricks.feature_engineering import FeatureEngineeringClient\n"
            "mlflow.set_registry_uri(\"databricks-uc\")\n\n# COMMAND ----------\n\nfe = FeatureEngineeringClient()\n"
            "fe.log_model(\n    model=model,\n    artifact_path=\"model\",\n    flavor=mlflow.sklearn,\n    training_set=ts,\n"
            "    registered_model_name=\"churn_model\",\n)\n",
            14, 27,
        ),
        Invalid(
            ipynb("import mlflow\nmlflow.set_registry_uri(\"databricks-uc\")", ("markdown", "Register"), "mlflow.register_model(f\"runs:/{run_id}/model\", \"churn\")"),
            1, 48, path="register.ipynb", cell=3,
        ),
        Invalid(
            "# Databricks notebook source\n# MAGIC %run ./setup\n\n# COMMAND ----------\n\nmlflow.set_registry_uri(\"databricks-uc\")\n"
            "mlflow.register_model(uri, f\"{catalog}.{schema}.ml.churn\")\n",
            7, 28, files={"setup.py": "# Databricks notebook source\nimport mlflow\n"},
        ),
        # the registry is set by the notebook included with %run
        Invalid(
            "# Databricks notebook source\n# MAGIC %run ./_resources/setup\n\n# COMMAND ----------\n\nimport mlflow\nmlflow.register_model(uri, \"churn\")\n",
            7, 28, files={"_resources/setup.py": "# Databricks notebook source\nimport mlflow\nmlflow.set_registry_uri(\"databricks-uc\")\n"},
        ),
    )
    valid = (
        Valid("import mlflow\nmlflow.set_registry_uri(\"databricks-uc\")\nmlflow.register_model(uri, \"main.ml.churn\")\n", path="module.py"),
        Valid("import mlflow\nmlflow.set_registry_uri(\"databricks-uc\")\nmlflow.register_model(uri, f\"{catalog}.{schema}.churn\")\n", path="module.py"),
        # a placeholder may hold the missing parts
        Valid("import mlflow\nmlflow.set_registry_uri(\"databricks-uc\")\nmlflow.register_model(uri, f\"{full_name}\")\n", path="module.py"),
        Valid("import mlflow\nmlflow.set_registry_uri(\"databricks-uc\")\nmlflow.register_model(uri, f\"{prefix}.churn\")\n", path="module.py"),
        Valid(
            "import mlflow\nmlflow.set_registry_uri(\"databricks-uc\")\nname = dbutils.widgets.get(\"model_name\")\n"
            "mlflow.sklearn.log_model(m, \"model\", registered_model_name=name)\n",
            path="module.py",
        ),
        Valid("import mlflow\ndef f(name):\n    mlflow.set_registry_uri(\"databricks-uc\")\n    mlflow.register_model(uri, name)\n", path="module.py"),
        # not the Unity Catalog registry
        Valid("import mlflow\nmlflow.register_model(uri, \"churn_model\")\n", path="module.py"),
        Valid("import mlflow\nmlflow.set_registry_uri(\"databricks\")\nmlflow.register_model(uri, \"churn_model\")\n", path="module.py"),
        Valid("import mlflow\nmlflow.set_registry_uri(registry)\nmlflow.register_model(uri, \"churn_model\")\n", path="module.py"),
        # one more registry whose value is unknown: the registry is not certain
        Valid(
            "import mlflow\n\ndef activate_uc():\n    mlflow.set_registry_uri(\"databricks-uc\")\n\n"
            "def choose(uc):\n    mlflow.set_registry_uri(\"databricks-uc\" if uc else \"databricks\")\n\n"
            "mlflow.register_model(uri, \"churn_model\")\n",
            path="module.py",
        ),
        Valid("import mlflow\nmlflow.set_registry_uri(\"databricks-uc\")\nmlflow.sklearn.log_model(m, \"model\", registered_model_name=None)\n", path="module.py"),
        # the session's catalog and schema are chosen: MLflow completes the name
        Valid(
            "import mlflow\nmlflow.set_registry_uri(\"databricks-uc\")\nspark.sql(f\"USE CATALOG {catalog}\")\nspark.sql(f\"USE SCHEMA {schema}\")\n"
            "mlflow.register_model(uri, \"churn_model\")\n",
            path="module.py",
        ),
        Valid(
            "# Databricks notebook source\n# MAGIC %run ./setup\n\n# COMMAND ----------\n\nimport mlflow\nmlflow.set_registry_uri(\"databricks-uc\")\n"
            "mlflow.register_model(uri, \"churn_model\")\n",
            files={"setup.py": "# Databricks notebook source\nspark.sql(f\"USE `{catalog}`.`{db}`\")\n"},
        ),
    )

    def check(self, ctx):
        registering = registering_calls(ctx.index)
        if not registering or not registry_facts(ctx).uses_uc:
            return
        session_scope = None
        for call, arg in registering:
            value = ctx.string_value(arg.value, call.function)
            if value is None:
                continue
            parts = name_parts(value)
            if not parts.certainly_not_three:
                continue
            if parts.count < 3:
                if session_scope is None:
                    session_scope = _selects_session_scope(ctx)
                if session_scope:
                    continue  # MLflow completes the name from the current catalog and schema
            yield self.finding(
                ctx.path,
                ctx.span(arg.value),
                f"Model name '{value.text}' has {parts.count} part{'s' if parts.count != 1 else ''}; "
                "Unity Catalog needs 'catalog.schema.model'",
            )


# `USE CATALOG c`, `USE SCHEMA s`, `USE DATABASE s`, `USE c.s`, spark.catalog.setCurrent...()
_SESSION_SCOPE = re.compile(
    r"(?i:\bUSE\s+(?:CATALOG|SCHEMA|DATABASE)\b)|\bUSE\s+[^\s;]*\.|(?i:\buse\s+[`{][^\s;]*\.)|setCurrentCatalog|setCurrentDatabase"
)


def _selects_session_scope(ctx) -> bool:
    """The file or a notebook it includes chooses the session's catalog/schema (or an include
    cannot be followed and may)."""
    included = included_notebooks(ctx)
    if not included.complete:
        return True
    return any(_SESSION_SCOPE.search(text) for text in [ctx.source.text, *(n.source.text for n in included.notebooks)])
