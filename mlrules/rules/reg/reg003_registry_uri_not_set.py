from __future__ import annotations

from mlrules.analysis.edits import insert_after_statement, module_import_statement
from mlrules.analysis.registry import importers_set_registry, name_parts, registering_calls, registry_facts
from mlrules.model import Applicability
from mlrules.rules.base import Invalid, PythonRule, Valid, ipynb

SET_UC = 'mlflow.set_registry_uri("databricks-uc")'


class RegistryUriNotSet(PythonRule):
    """
    ## What it does
    Flags a file that registers a three-part model name (`catalog.schema.model` in
    `registered_model_name=` or `mlflow.register_model(uri, name)`; an f-string placeholder
    counts as one part) but never calls `mlflow.set_registry_uri("databricks-uc")`.
    Reported at the first registering call of the file.

    Not flagged when the file sets the registry in any other way: a
    `mlflow.set_registry_uri(...)` call with any value (also unknown or non-UC ones: the
    author chose), a `registry_uri=` argument (`MlflowClient(registry_uri=...)`), a
    `model_registry_uri=` argument (`FeatureEngineeringClient(model_registry_uri=...)`), or
    the `MLFLOW_REGISTRY_URI` environment variable; nor when a notebook it includes with
    `%run` does so, or when such an include cannot be followed (absolute or dynamic target,
    file not found).

    Not flagged either in a plain module (not a notebook) whose three-part registering calls
    are all inside functions, when another file of the project imports that module and sets
    the registry in one of these ways: the library function registers for its caller, which
    chose the registry before calling it.

    Reported at the first registering call even when a later one holds the three-part name
    (the rule is about the file, like EXP003).

    ## Why it matters
    The default registry depends on the workspace and the runtime: Unity Catalog only when
    the workspace's default catalog is a Unity Catalog one and the cluster runs Databricks
    Runtime 13.3 LTS+ or MLflow 3 (some older workspaces are exempt); otherwise the legacy
    workspace registry, which rejects a three-level name. The same notebook then registers
    on one cluster and fails on another (an older job cluster, a different workspace).
    Setting the registry explicitly makes it behave the same everywhere.

    ## Example
    ```python
    import mlflow

    mlflow.register_model(model_uri, f"{catalog}.{schema}.churn_model")
    ```

    ## Use instead
    ```python
    import mlflow
    mlflow.set_registry_uri("databricks-uc")
    ```

    ## Fix safety
    Safe: inserts `mlflow.set_registry_uri("databricks-uc")` at module level on the line
    after the `import mlflow` statement. No fix without a module-level `import mlflow`.
    """

    code = "REG003"
    name = "registry-uri-not-set"
    summary = "Three-part model name registered without mlflow.set_registry_uri(\"databricks-uc\")"
    fix = Applicability.SAFE
    triggers = ("registered_model_name", "register_model")

    invalid = (
        Invalid(
            "import mlflow\n\nmlflow.register_model(model_uri, \"main.ml.churn\")\n",
            3, 1, path="module.py",
            fixed="import mlflow\nmlflow.set_registry_uri(\"databricks-uc\")\n\nmlflow.register_model(model_uri, \"main.ml.churn\")\n",
        ),
        Invalid(
            "# Databricks notebook source\nimport os\nimport mlflow\nfrom databricks.feature_engineering import FeatureEngineeringClient\n\n"
            "# COMMAND ----------\n\nfe = FeatureEngineeringClient()\n\ndef train(model_name):\n"
            "    fe.log_model(model=m, artifact_path=\"m\", flavor=mlflow.sklearn, training_set=ts, registered_model_name=model_name)\n"
            "    mlflow.register_model(uri, f\"{catalog}.{schema}.churn\")\n",
            11, 5,
            fixed="# Databricks notebook source\nimport os\nimport mlflow\nmlflow.set_registry_uri(\"databricks-uc\")\nfrom databricks.feature_engineering import FeatureEngineeringClient\n\n"
            "# COMMAND ----------\n\nfe = FeatureEngineeringClient()\n\ndef train(model_name):\n"
            "    fe.log_model(model=m, artifact_path=\"m\", flavor=mlflow.sklearn, training_set=ts, registered_model_name=model_name)\n"
            "    mlflow.register_model(uri, f\"{catalog}.{schema}.churn\")\n",
        ),
        Invalid(
            ipynb("%pip install mlflow==2.19.0", "import mlflow\nimport pandas as pd", ("markdown", "## Register"),
                  "with mlflow.start_run():\n    mlflow.sklearn.log_model(m, \"model\", registered_model_name=\"main.ml.churn\")"),
            2, 5, path="train.ipynb", cell=4,
            fixed=ipynb("%pip install mlflow==2.19.0", "import mlflow\nmlflow.set_registry_uri(\"databricks-uc\")\nimport pandas as pd", ("markdown", "## Register"),
                        "with mlflow.start_run():\n    mlflow.sklearn.log_model(m, \"model\", registered_model_name=\"main.ml.churn\")"),
        ),
        # the included notebook is followed and does not set it
        Invalid(
            "# Databricks notebook source\n# MAGIC %run ./config\n\n# COMMAND ----------\n\nimport mlflow\nmlflow.register_model(uri, f\"{catalog}.{db}.churn\")\n",
            7, 1, files={"config.py": "# Databricks notebook source\ncatalog = \"main\"\ndb = \"ml\"\n"},
            fixed="# Databricks notebook source\n# MAGIC %run ./config\n\n# COMMAND ----------\n\nimport mlflow\nmlflow.set_registry_uri(\"databricks-uc\")\n"
            "mlflow.register_model(uri, f\"{catalog}.{db}.churn\")\n",
        ),
        # a library function whose importer does not set the registry either
        Invalid(
            "import mlflow\n\n\ndef publish(run_id):\n    mlflow.register_model(f\"runs:/{run_id}/model\", \"main.sales.forecast\")\n",
            5, 5, path="src/forecast/publisher.py",
            files={
                "databricks.yml": "bundle:\n  name: forecast\n",
                "notebooks/publish.py": "# Databricks notebook source\nfrom forecast.publisher import publish\n\npublish(run_id)\n",
            },
            fixed="import mlflow\nmlflow.set_registry_uri(\"databricks-uc\")\n\n\ndef publish(run_id):\n    mlflow.register_model(f\"runs:/{run_id}/model\", \"main.sales.forecast\")\n",
        ),
        # an alias only: reported without a fix
        Invalid("import mlflow as mf\nmf.register_model(uri, name=\"main.ml.churn\")\n", 2, 1, path="module.py"),
    )
    valid = (
        Valid("import mlflow\nmlflow.set_registry_uri(\"databricks-uc\")\nmlflow.register_model(uri, \"main.ml.churn\")\n", path="module.py"),
        Valid("import mlflow as mf\nmf.set_registry_uri(\"databricks-uc\")\nmf.register_model(uri, \"main.ml.churn\")\n", path="module.py"),
        Valid("import mlflow\nmlflow.set_registry_uri(registry_uri)\nmlflow.register_model(uri, \"main.ml.churn\")\n", path="module.py"),
        Valid(
            "import mlflow\nfrom databricks.feature_engineering import FeatureEngineeringClient\nfe = FeatureEngineeringClient(model_registry_uri=\"databricks-uc\")\n"
            "fe.log_model(model=m, artifact_path=\"m\", flavor=mlflow.sklearn, training_set=ts, registered_model_name=\"main.ml.churn\")\n",
            path="module.py",
        ),
        Valid("import os, mlflow\nos.environ[\"MLFLOW_REGISTRY_URI\"] = \"databricks-uc\"\nmlflow.register_model(uri, \"main.ml.churn\")\n", path="module.py"),
        # a setup notebook included with %run sets it (or may: an include that cannot be followed)
        Valid(
            "# Databricks notebook source\n# MAGIC %run ../_resources/00-setup $reset=false\n\n# COMMAND ----------\n\nimport mlflow\n"
            "mlflow.register_model(uri, f\"{catalog}.{db}.churn\")\n",
            path="notebooks/register.py",
            files={"_resources/00-setup.py": "# Databricks notebook source\nimport mlflow\nmlflow.set_registry_uri(\"databricks-uc\")\n"},
        ),
        Valid("# Databricks notebook source\n# MAGIC %run /Workspace/Shared/setup\n\n# COMMAND ----------\n\nimport mlflow\nmlflow.register_model(uri, \"a.b.c\")\n"),
        # a library class registers for its callers; the notebook that imports it sets the registry
        Valid(
            "import mlflow\n\n\nclass Publisher:\n    def publish(self, run_id):\n"
            "        return mlflow.register_model(f\"runs:/{run_id}/model\", f\"{self.catalog}.sales.forecast\")\n",
            path="src/forecast/publisher.py",
            files={
                "databricks.yml": "bundle:\n  name: forecast\n",
                "notebooks/publish.py": "# Databricks notebook source\nimport mlflow\nfrom forecast.publisher import Publisher\n\n"
                "mlflow.set_registry_uri(\"databricks-uc\")\nPublisher().publish(run_id)\n",
            },
        ),
        # not three parts (or unknown)
        Valid("import mlflow\nmlflow.register_model(uri, \"churn_model\")\n", path="module.py"),
        Valid("import mlflow\nmlflow.register_model(uri, f\"{full_name}\")\n", path="module.py"),
        Valid("import mlflow\nmlflow.sklearn.log_model(m, \"model\", registered_model_name=model_name)\n", path="module.py"),
        Valid("import mlflow\nmlflow.set_tag(\"registered_model_name\", \"a.b.c\")\n", path="module.py"),
    )

    def check(self, ctx):
        registering = registering_calls(ctx.index)
        if not registering:
            return
        three = [
            call for call, arg in registering
            if (value := ctx.string_value(arg.value, call.function)) is not None and name_parts(value).three_parts
        ]
        if not three or registry_facts(ctx).may_be_set:
            return
        if not ctx.is_notebook and all(call.function is not None for call in three) and importers_set_registry(ctx):
            return  # a library function: the files that import and call it set the registry
        first = registering[0][0]
        stmt = module_import_statement(ctx, "mlflow")
        edits = (insert_after_statement(ctx, stmt, SET_UC),) if stmt is not None else ()
        yield self.finding(
            ctx.path,
            ctx.span(first.node),
            f"`{first.dotted}(...)` registers a Unity Catalog model but the file never calls `{SET_UC}`",
            edits=edits,
            fix_message=f"Insert `{SET_UC}` after `import mlflow`",
        )
