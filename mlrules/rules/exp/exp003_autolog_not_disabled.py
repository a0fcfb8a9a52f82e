from __future__ import annotations

import re

from mlrules.analysis.edits import insert_after_statement, module_import_statement
from mlrules.analysis.includes import included_notebooks
from mlrules.analysis.registry import flavor_of_log_model, is_log_model, mlflow_qualname
from mlrules.model import Applicability, Severity
from mlrules.rules.base import Invalid, PythonRule, Valid, ipynb

DISABLE = "mlflow.autolog(disable=True)"


def _is_autolog(call) -> bool:
    """``mlflow.autolog`` / ``mlflow.<flavor>.autolog``, also unresolved (``mlflow`` may come
    from a ``%run`` notebook): any call spelled ``...autolog(...)``."""
    return (call.qualname or call.dotted or "").rsplit(".", 1)[-1] == "autolog"


def _configures_autolog(index, text: str) -> bool:
    return any(_is_autolog(c) for c in index.calls) or "autologging.enabled" in text


# Training entry points that autologging patches (`fit`, `fit_transform`, `xgb.train`,
# `lgb.train`, keras/lightning `fit`...), also a project's `train(...)`/`fit_model(...)`.
_TRAINING = re.compile(r"^(fit|train)(_\w+)?$|^partial_fit$")
_NOT_TRAINING = frozenset({"train_test_split"})


def _trains(index) -> bool:
    """Whether the file calls anything that looks like training (autologging only logs then)."""
    for call in index.calls:
        last = (call.dotted or call.qualname or "").rsplit(".", 1)[-1]
        if _TRAINING.match(last) and last not in _NOT_TRAINING:
            return True
    return False


# Flavors whose models autologging never logs itself: a custom `PythonModel` wrapper, and
# pretrained pipelines/chains (the transformers autolog integration only silences sub-models;
# the GenAI integrations trace calls and log no model by default).
_NEVER_AUTOLOGGED = frozenset({"pyfunc", "transformers", "sentence_transformers", "langchain", "openai"})


def _pyfunc_only(logs, index) -> bool:
    """Every explicit model log is of a flavor that autologging never logs itself
    (``mlflow.pyfunc.log_model`` of a custom wrapper, ``mlflow.transformers.log_model`` of a
    pretrained pipeline...)."""
    return all(flavor_of_log_model(mlflow_qualname(c, index)) in _NEVER_AUTOLOGGED for c in logs)


class AutologNotDisabled(PythonRule):
    """
    ## What it does
    Flags a file that logs a model explicitly (`mlflow.<flavor>.log_model(...)`,
    `fe.log_model(...)`) but never calls `mlflow.autolog(disable=True)` (or
    `mlflow.<flavor>.autolog(disable=True)`). Reported at the first `log_model` call.

    Opt-in (checklist item of the seed guide). Not flagged when the file configures
    autologging itself in any way (any `mlflow.autolog(...)` / `mlflow.<flavor>.autolog(...)`
    call, whatever its arguments, or the `spark.databricks.mlflow.autologging.enabled`
    Spark setting), also in a notebook it includes with `%run` (a `%run` that cannot be
    followed keeps the rule quiet): the author has decided, and inserting a disable call
    would not change a later explicit enable.

    Also not flagged when every explicit log is `mlflow.pyfunc.log_model(...)` (a custom
    `PythonModel` wrapper) or logs a pretrained pipeline or chain (`mlflow.transformers`,
    `mlflow.sentence_transformers`, `mlflow.langchain`, `mlflow.openai`) and neither the file
    nor its `%run` notebooks train anything (no `fit`/`fit_transform`/`partial_fit`/`train`
    call): autologging only logs a model when a supported library trains one, and it never
    logs these flavors' models itself.

    ## Why it matters
    Databricks enables MLflow autologging by default. A notebook that also logs its model by
    hand gets a second model (and a second set of params and metrics), sometimes in a second
    run, and the autologged model has no feature metadata and no output schema.

    ## Example
    ```python
    import mlflow

    with mlflow.start_run():
        model.fit(X, y)
        fe.log_model(model=model, ...)
    ```

    ## Use instead
    ```python
    import mlflow
    mlflow.autolog(disable=True)
    ```

    ## Fix safety
    Safe: inserts `mlflow.autolog(disable=True)` on the line after the module-level
    `import mlflow` statement. No fix when the file has no such statement (for example only
    `import mlflow as mf`).
    """

    code = "EXP003"
    name = "autolog-not-disabled"
    summary = "Model logged explicitly while MLflow autologging stays enabled"
    severity = Severity.WARNING
    default_enabled = False
    fix = Applicability.SAFE
    triggers = ("log_model",)

    invalid = (
        Invalid(
            "import mlflow\nfrom sklearn.ensemble import RandomForestClassifier\n\nwith mlflow.start_run():\n"
            "    model = RandomForestClassifier().fit(X, y)\n    mlflow.sklearn.log_model(model, \"model\")\n",
            6, 5, path="train.py",
            fixed="import mlflow\nmlflow.autolog(disable=True)\nfrom sklearn.ensemble import RandomForestClassifier\n\nwith mlflow.start_run():\n"
            "    model = RandomForestClassifier().fit(X, y)\n    mlflow.sklearn.log_model(model, \"model\")\n",
        ),
        Invalid(
            "# Databricks notebook source\nimport mlflow\nfrom databricks.feature_engineering import FeatureEngineeringClient\n\n"
            "fe = FeatureEngineeringClient()\n\n# COMMAND ----------\n\nwith mlflow.start_run():\n"
            "    fe.log_model(model=model, artifact_path=\"model\", flavor=mlflow.sklearn, training_set=ts)\n"
            "    fe.log_model(model=model2, artifact_path=\"model2\", flavor=mlflow.sklearn, training_set=ts)\n",
            10, 5,
            fixed="# Databricks notebook source\nimport mlflow\nmlflow.autolog(disable=True)\nfrom databricks.feature_engineering import FeatureEngineeringClient\n\n"
            "fe = FeatureEngineeringClient()\n\n# COMMAND ----------\n\nwith mlflow.start_run():\n"
            "    fe.log_model(model=model, artifact_path=\"model\", flavor=mlflow.sklearn, training_set=ts)\n"
            "    fe.log_model(model=model2, artifact_path=\"model2\", flavor=mlflow.sklearn, training_set=ts)\n",
        ),
        Invalid(
            ipynb("%pip install mlflow==2.19.0", "import mlflow", ("markdown", "## Log"), "with mlflow.start_run():\n    mlflow.xgboost.log_model(booster, \"model\")\n"),
            2, 5, path="train.ipynb", cell=4,
            fixed=ipynb("%pip install mlflow==2.19.0", "import mlflow\nmlflow.autolog(disable=True)", ("markdown", "## Log"), "with mlflow.start_run():\n    mlflow.xgboost.log_model(booster, \"model\")\n"),
        ),
        # an alias: reported, but there is no `import mlflow` statement to insert after
        Invalid("import mlflow as mf\nmf.sklearn.log_model(model, \"model\")\n", 2, 1, path="module.py"),
        # the included setup notebook is followed: it does not disable autologging
        Invalid(
            "# Databricks notebook source\n# MAGIC %run ./setup\n\n# COMMAND ----------\n\nimport mlflow\nmlflow.sklearn.log_model(m, \"model\")\n",
            7, 1, files={"setup.py": "# Databricks notebook source\ncatalog = \"main\"\n"},
            fixed="# Databricks notebook source\n# MAGIC %run ./setup\n\n# COMMAND ----------\n\nimport mlflow\nmlflow.autolog(disable=True)\nmlflow.sklearn.log_model(m, \"model\")\n",
        ),
        # a pyfunc wrapper of an estimator fitted in the same file: autologging logs the estimator too
        Invalid(
            "import mlflow\n\nclf = make_classifier()\nclf.fit(X, y)\nwith mlflow.start_run():\n"
            "    mlflow.pyfunc.log_model(artifact_path=\"m\", python_model=Wrapper(clf))\n",
            6, 5, path="train.py",
            fixed="import mlflow\nmlflow.autolog(disable=True)\n\nclf = make_classifier()\nclf.fit(X, y)\nwith mlflow.start_run():\n"
            "    mlflow.pyfunc.log_model(artifact_path=\"m\", python_model=Wrapper(clf))\n",
        ),
        # a fine-tuned pipeline: the file trains, so autologging may log too
        Invalid(
            "import mlflow\n\ntrainer.train()\nmlflow.transformers.log_model(transformers_model=pipe, artifact_path=\"m\")\n",
            4, 1, path="tune.py",
            fixed="import mlflow\nmlflow.autolog(disable=True)\n\ntrainer.train()\nmlflow.transformers.log_model(transformers_model=pipe, artifact_path=\"m\")\n",
        ),
        Invalid(
            "from mlflow.sklearn import log_model\nimport mlflow\n\nlog_model(model, \"model\")\n",
            4, 1, path="module.py",
            fixed="from mlflow.sklearn import log_model\nimport mlflow\nmlflow.autolog(disable=True)\n\nlog_model(model, \"model\")\n",
        ),
    )
    valid = (
        Valid("import mlflow\nmlflow.autolog(disable=True)\nmlflow.sklearn.log_model(model, \"model\")\n", path="module.py"),
        Valid("import mlflow\nmlflow.sklearn.autolog(disable=True)\n\ndef log(model):\n    mlflow.sklearn.log_model(model, \"model\")\n", path="module.py"),
        Valid("import mlflow as mf\nmf.autolog(disable=True)\nmf.sklearn.log_model(model, \"model\")\n", path="module.py"),
        # autologging configured explicitly: the author decided
        Valid("import mlflow\nmlflow.sklearn.autolog(log_models=False)\nmlflow.sklearn.log_model(model, \"model\")\n", path="module.py"),
        Valid("import mlflow\nspark.conf.set(\"spark.databricks.mlflow.autologging.enabled\", \"false\")\nmlflow.sklearn.log_model(model, \"m\")\n", path="module.py"),
        # no model logged explicitly
        Valid("import mlflow\nwith mlflow.start_run():\n    model.fit(X, y)\n", path="module.py"),
        Valid("def log_model(m):\n    pass\n\nlog_model(model)\n", path="module.py"),
        Valid("self.log_model(model)\n", path="module.py"),
        # `mlflow` comes from a %run notebook: the autolog call is recognised by its spelling
        Valid(
            "# Databricks notebook source\n# MAGIC %run ./setup\n\n# COMMAND ----------\n\nmlflow.sklearn.autolog(log_input_examples=True)\n"
            "mlflow.sklearn.log_model(m, \"model\")\n",
            files={"setup.py": "# Databricks notebook source\nimport mlflow\n"},
        ),
        # a setup notebook included with %run disables autologging
        Valid(
            "# Databricks notebook source\n# MAGIC %run ./_resources/setup\n\n# COMMAND ----------\n\nimport mlflow\nmlflow.sklearn.log_model(m, \"model\")\n",
            path="nb/train.py",
            files={"nb/_resources/setup.py": "# Databricks notebook source\nimport mlflow\nmlflow.autolog(disable=True)\n"},
        ),
        # a custom pyfunc wrapper around models trained and logged by another job: nothing is trained here
        Valid(
            "import mlflow\n\nclass Ensemble(mlflow.pyfunc.PythonModel):\n    def predict(self, context, model_input):\n"
            "        return model_input.mean(axis=1)\n\nwith mlflow.start_run():\n"
            "    mlflow.pyfunc.log_model(artifact_path=\"ensemble\", python_model=Ensemble())\n",
            path="wrap.py",
        ),
        # a pretrained text pipeline logged as is: nothing is trained, autologging logs nothing
        Valid(
            "import mlflow\nfrom transformers import pipeline\n\nqa = pipeline(\"question-answering\", model=\"tiny-qa\")\n"
            "with mlflow.start_run():\n    mlflow.transformers.log_model(transformers_model=qa, artifact_path=\"qa\")\n",
            path="log_pretrained.py",
        ),
        # an include that cannot be followed may disable it
        Valid("# Databricks notebook source\n# MAGIC %run /Shared/setup\n\n# COMMAND ----------\n\nimport mlflow\nmlflow.sklearn.log_model(m, \"model\")\n"),
    )

    def check(self, ctx):
        logs = [c for c in ctx.index.calls if is_log_model(c, ctx.index)]
        if not logs:
            return
        if _configures_autolog(ctx.index, ctx.source.text):
            return
        included = included_notebooks(ctx)
        if not included.complete or any(_configures_autolog(n.index, n.source.text) for n in included.notebooks):
            return
        if _pyfunc_only(logs, ctx.index) and not _trains(ctx.index) and not any(_trains(n.index) for n in included.notebooks):
            return  # a wrapper of a model trained elsewhere: autologging has nothing to log here
        first = logs[0]
        edits = ()
        stmt = module_import_statement(ctx, "mlflow")
        if stmt is not None:
            edits = (insert_after_statement(ctx, stmt, DISABLE),)
        yield self.finding(
            ctx.path,
            ctx.span(first.node),
            f"`{first.dotted}(...)` logs a model explicitly but the file never calls `{DISABLE}`: "
            "Databricks autologging may log a second model and duplicate params/metrics",
            edits=edits,
            fix_message=f"Insert `{DISABLE}` after `import mlflow`",
        )
