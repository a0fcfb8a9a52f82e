from __future__ import annotations

import re

import libcst as cst

from mlrules.analysis.registry import mlflow_qualname, registry_facts
from mlrules.model import Severity
from mlrules.rules.base import Invalid, PythonRule, Valid, ipynb

STAGE_URI = re.compile(r"^models:/(?P<name>[^/@]+)/(?P<stage>Staging|Production|Archived|None)/?$", re.IGNORECASE)
STAGE_KEYWORDS = ("stage", "stages")
_STRINGS = (cst.SimpleString, cst.FormattedString, cst.ConcatenatedString)


class WorkspaceRegistryStage(PythonRule):
    """
    ## What it does
    Flags workspace-registry stages in code:

    - any `.transition_model_version_stage(...)` call;
    - a `stage=` / `stages=` argument of an MLflow call (`MlflowClient().get_latest_versions(name,
      stages=["Production"])`);
    - a model URI `models:/<name>/<stage>` with a stage (`Staging`, `Production`, `Archived`,
      `None`, any case) as a string, an f-string (`f"models:/{name}/Production"`) or a
      constant (followed through constant propagation).

    Not flagged in a file that sets, or may set, another registry than Unity Catalog
    (`mlflow.set_registry_uri("databricks")`, or a value mlflow cannot follow, in the file or
    a notebook it includes with `%run`): stages still exist there. Strings used as
    docstrings or bare expressions are not read.

    ## Why it matters
    Unity Catalog has no stages: `transition_model_version_stage` and `get_latest_versions`
    are not supported for UC models, and `models:/name/Production` fails to resolve. Code
    that worked against the workspace registry breaks after the move to Unity Catalog.

    ## Example
    ```python
    client.transition_model_version_stage(name, version, stage="Production")
    model = mlflow.pyfunc.load_model(f"models:/{name}/Production")
    ```

    ## Use instead
    ```python
    client.set_registered_model_alias(name, "champion", version)
    model = mlflow.pyfunc.load_model(f"models:/{catalog}.{schema}.churn@champion")
    ```

    ## Fix safety
    No fix: the alias that replaces a stage is the author's choice.
    """

    code = "REG006"
    name = "workspace-registry-stage"
    summary = "Model registry stage (transition_model_version_stage, stage=, models:/m/Production): UC has aliases"
    severity = Severity.WARNING
    triggers = ("stage", "models:/")

    invalid = (
        Invalid(
            "from mlflow import MlflowClient\nclient = MlflowClient()\nclient.transition_model_version_stage(name, version, stage=\"Production\")\n",
            3, 1, path="module.py",
        ),
        Invalid(
            "import mlflow\nmodel = mlflow.pyfunc.load_model(f\"models:/{model_name}/Production\")\n",
            2, 34, path="module.py",
        ),
        Invalid(
            "import mlflow\nSTAGE = \"Staging\"\nuri = \"models:/churn/\" + STAGE\nmodel = mlflow.pyfunc.load_model(uri)\n",
            3, 7, path="module.py",
        ),
        Invalid(
            "import mlflow\nclient = mlflow.MlflowClient()\nlatest = client.get_latest_versions(name, stages=[\"Production\"])\n",
            3, 43, path="module.py",
        ),
        Invalid(
            "# Databricks notebook source\nimport mlflow\n\n# COMMAND ----------\n\ndef promote(client, name, version):\n"
            "    client.transition_model_version_stage(\n        name=name, version=version, stage=\"Staging\", archive_existing_versions=True\n    )\n",
            7, 5,
        ),
        Invalid(
            ipynb(("markdown", "# Score"), "import mlflow\nscore = mlflow.pyfunc.spark_udf(spark, model_uri=\"models:/churn/production\")"),
            2, 50, path="score.ipynb", cell=2,
        ),
    )
    valid = (
        Valid("import mlflow\nmodel = mlflow.pyfunc.load_model(f\"models:/{catalog}.{schema}.churn@champion\")\n", path="module.py"),
        Valid("import mlflow\nmodel = mlflow.pyfunc.load_model(\"models:/main.ml.churn/3\")\n", path="module.py"),
        Valid("import mlflow\nmodel = mlflow.pyfunc.load_model(f\"models:/{name}/{stage_or_version}\")\n", path="module.py"),
        Valid("from mlflow import MlflowClient\nMlflowClient().set_registered_model_alias(name, \"champion\", version)\n", path="module.py"),
        Valid(
            "import mlflow\nmlflow.set_registry_uri(\"databricks\")\nmlflow.MlflowClient().transition_model_version_stage(n, v, stage=\"Production\")\n",
            path="module.py",
        ),
        Valid(
            "import mlflow\nmlflow.set_registry_uri(\"databricks-uc\" if uc else \"databricks\")\n"
            "mlflow.MlflowClient().transition_model_version_stage(n, v, stage=\"Archived\")\n",
            path="module.py",
        ),
        Valid("from pyspark.ml import Pipeline\npipeline = Pipeline(stages=[indexer, model])\nrun(stage=\"Production\")\n", path="module.py"),
        Valid('def load():\n    """Loads models:/churn/Production."""\n', path="module.py"),
    )

    def check(self, ctx):
        if not ("stage" in ctx.source.text or "models:/" in ctx.source.text):
            return
        if registry_facts(ctx).may_be_workspace:
            return
        for call in ctx.index.calls:
            attr = call.node.func.attr.value if isinstance(call.node.func, cst.Attribute) else None
            if attr == "transition_model_version_stage":
                yield self.finding(
                    ctx.path,
                    ctx.span(call.node),
                    f"`{call.dotted}(...)`: Unity Catalog has no stages; set an alias with `set_registered_model_alias(name, alias, version)`",
                )
                continue
            if not (mlflow_qualname(call, ctx.index) or "").startswith("mlflow."):
                continue
            for keyword in STAGE_KEYWORDS:
                arg = call.keyword(keyword)
                if arg is not None:
                    yield self.finding(
                        ctx.path,
                        ctx.span(arg),
                        f"`{keyword}=` in `{call.dotted}(...)`: Unity Catalog has no stages; use model aliases",
                    )
        if "models:/" not in ctx.source.text:
            return
        for node, scope in _string_expressions(ctx.index):
            value = ctx.string_value(node, scope)
            if value is None:
                continue
            match = STAGE_URI.match(value.text)
            if match is None:
                continue
            yield self.finding(
                ctx.path,
                ctx.span(node),
                f"Model URI '{value.text}' names the stage '{match.group('stage')}': Unity Catalog has no stages; "
                "use an alias ('models:/<catalog>.<schema>.<model>@champion')",
            )


def _string_expressions(index) -> list[tuple[cst.BaseExpression, cst.FunctionDef | None]]:
    """Outermost string expressions (literals, f-strings, ``+`` of them), with their function.

    Bare expression statements (docstrings) are documentation, not URIs: skipped.
    """
    found: list[tuple[cst.BaseExpression, cst.FunctionDef | None]] = []
    candidates = [n for kind in _STRINGS for n in index.nodes(kind)]
    candidates += [n for n in index.nodes(cst.BinaryOperation) if _is_string_sum(n)]
    for node in candidates:
        parent = index.parents.get(node)
        if isinstance(parent, cst.ConcatenatedString) or (isinstance(parent, cst.BinaryOperation) and _is_string_sum(parent)):
            continue  # part of a larger string expression
        if isinstance(parent, cst.Expr):
            continue
        scope = next((a for a in index.ancestors(node) if isinstance(a, cst.FunctionDef)), None)
        found.append((node, scope))
    return found


def _is_string_sum(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Add) and _has_string(node)


def _has_string(node: cst.BaseExpression) -> bool:
    if isinstance(node, _STRINGS):
        return True
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Add):
        return _has_string(node.left) or _has_string(node.right)
    return False
