from __future__ import annotations

import libcst as cst

from mlrules.analysis.edits import add_keyword, first_import_insertion
from mlrules.analysis.index import dotted_name
from mlrules.analysis.model_estimator import logged_estimator
from mlrules.analysis.registry import (
    flavor_of_log_model,
    has_double_star,
    has_keyword,
    is_feature_log_model,
    mlflow_qualname,
    name_parts,
    registry_facts,
)
from mlrules.model import Applicability
from mlrules.rules.base import Invalid, PythonRule, Valid, ipynb

# Flavors whose log_model derives a signature by itself (pipelines, chains, chat models).
SELF_DESCRIBING_FLAVORS = {
    "transformers", "sentence_transformers", "langchain", "openai", "llama_index", "dspy", "promptflow", "pyfunc",
}
AGENT_BASES = {"ChatModel", "ChatAgent", "ResponsesAgent"}
SCHEMA_NAMES = ("ColSpec", "DataType", "Schema")
SCHEMA_IMPORT = "from mlflow.types import ColSpec, DataType, Schema"
DATA_TYPE = {"regressor": "double", "classifier": "long"}


class UcModelWithoutOutputSpec(PythonRule):
    """
    ## What it does
    Flags a model registered to Unity Catalog without an output specification:

    - `fe.log_model(...)` (`FeatureEngineeringClient().log_model`) with neither
      `output_schema=` nor `signature=`. An `input_example` / `infer_input_example=True`
      alone only describes the inputs.
    - `mlflow.<flavor>.log_model(...)` with neither `signature=` nor `input_example=` (MLflow
      infers the signature from an input example).

    A call is registered to Unity Catalog when it has `registered_model_name=` and either
    the file (or a notebook it includes with `%run`) calls
    `mlflow.set_registry_uri("databricks-uc")` or the name has three parts
    (`catalog.schema.model`, an f-string placeholder counting as one part). A file that sets
    another registry explicitly (`"databricks"`) is not Unity Catalog.

    Flavors that derive a signature themselves are not flagged (`transformers`,
    `sentence_transformers`, `langchain`, `openai`, `llama_index`, `dspy`, `promptflow`), nor
    `mlflow.pyfunc.log_model` unless its `python_model=` is an instance of a class of the same
    file whose `predict` has no type hints and which is no `ChatModel`/`ChatAgent`/
    `ResponsesAgent`. Calls with `**kwargs` are not flagged.

    ## Why it matters
    Unity Catalog rejects a model version without a signature that has outputs:
    `MlflowException: Model passed for registration did not contain any signature metadata`
    (or only inputs). The training job fails at its very last step.

    ## Example
    ```python
    fe.log_model(
        model=model,
        artifact_path="model",
        flavor=mlflow.sklearn,
        training_set=training_set,
        registered_model_name=f"{catalog}.{schema}.churn_model",
        infer_input_example=True,
    )
    ```

    ## Use instead
    ```python
    from mlflow.types import ColSpec, DataType, Schema

    fe.log_model(
        ...,
        infer_input_example=True,
        output_schema=Schema([ColSpec(DataType.long)]),  # DataType.double for regressors
    )
    ```

    ## Fix safety
    Unsafe (it declares the model's output type). Only for `fe.log_model`, and only when the
    estimator class is visible in the same function or file (the logged `model=` built from
    a known class, or all estimators constructed there of one kind): adds
    `output_schema=Schema([ColSpec(DataType.double)])` for regressors
    (`*Regressor`, `LinearRegression`, `Ridge`, ...) or `DataType.long` for classifiers
    (`*Classifier`, `LogisticRegression`, `IsolationForest`, ...), and the import
    `from mlflow.types import ColSpec, DataType, Schema` after the file's first import block
    when those names are not imported yet. No fix when one of those names is bound to
    something else. `mlflow.<flavor>.log_model` has no `output_schema` and gets no fix.
    """

    code = "REG001"
    name = "uc-model-without-output-spec"
    summary = "Model registered to Unity Catalog without output_schema/signature"
    fix = Applicability.UNSAFE
    triggers = ("log_model",)

    invalid = (
        Invalid(
            "import mlflow\nfrom databricks.feature_engineering import FeatureEngineeringClient\nfrom sklearn.ensemble import RandomForestClassifier\n\n"
            "fe = FeatureEngineeringClient()\nmodel = RandomForestClassifier().fit(X, y)\n"
            "fe.log_model(model=model, artifact_path=\"model\", flavor=mlflow.sklearn, training_set=ts,"
            " registered_model_name=f\"{catalog}.{schema}.churn\", infer_input_example=True)\n",
            7, 1, path="train.py",
            fixed="import mlflow\nfrom databricks.feature_engineering import FeatureEngineeringClient\nfrom sklearn.ensemble import RandomForestClassifier\n"
            "from mlflow.types import ColSpec, DataType, Schema\n\n"
            "fe = FeatureEngineeringClient()\nmodel = RandomForestClassifier().fit(X, y)\n"
            "fe.log_model(model=model, artifact_path=\"model\", flavor=mlflow.sklearn, training_set=ts,"
            " registered_model_name=f\"{catalog}.{schema}.churn\", infer_input_example=True, output_schema=Schema([ColSpec(DataType.long)]))\n",
        ),
        # Databricks notebook, regressor, multi-line call, registry set to UC, name unknown
        Invalid(
            "# Databricks notebook source\nimport mlflow\nfrom databricks.feature_engineering import FeatureEngineeringClient\n"
            "from mlflow.types import Schema, ColSpec, DataType\nfrom xgboost import XGBRegressor\n\nmlflow.set_registry_uri(\"databricks-uc\")\n\n"
            "# COMMAND ----------\n\ndef train(training_set, model_name):\n    fe = FeatureEngineeringClient()\n"
            "    model = XGBRegressor(n_estimators=100)\n    model.fit(X, y)\n    fe.log_model(\n        model=model,\n        artifact_path=\"model\",\n"
            "        flavor=mlflow.xgboost,\n        training_set=training_set,\n        registered_model_name=model_name,\n    )\n",
            15, 5,
            fixed="# Databricks notebook source\nimport mlflow\nfrom databricks.feature_engineering import FeatureEngineeringClient\n"
            "from mlflow.types import Schema, ColSpec, DataType\nfrom xgboost import XGBRegressor\n\nmlflow.set_registry_uri(\"databricks-uc\")\n\n"
            "# COMMAND ----------\n\ndef train(training_set, model_name):\n    fe = FeatureEngineeringClient()\n"
            "    model = XGBRegressor(n_estimators=100)\n    model.fit(X, y)\n    fe.log_model(\n        model=model,\n        artifact_path=\"model\",\n"
            "        flavor=mlflow.xgboost,\n        training_set=training_set,\n        registered_model_name=model_name,\n"
            "        output_schema=Schema([ColSpec(DataType.double)]),\n    )\n",
        ),
        # .ipynb: the import goes after the first import block, the keyword into cell 3
        Invalid(
            ipynb(
                "import mlflow\nfrom databricks.feature_engineering import FeatureEngineeringClient\nfrom sklearn.linear_model import LogisticRegression",
                ("markdown", "## Train"),
                "fe = FeatureEngineeringClient()\nclf = LogisticRegression()\nclf.fit(X, y)\n"
                "fe.log_model(model=clf, artifact_path=\"m\", flavor=mlflow.sklearn, training_set=ts, registered_model_name=\"main.churn.model\")",
            ),
            4, 1, path="train.ipynb", cell=3,
            fixed=ipynb(
                "import mlflow\nfrom databricks.feature_engineering import FeatureEngineeringClient\nfrom sklearn.linear_model import LogisticRegression\n"
                "from mlflow.types import ColSpec, DataType, Schema",
                ("markdown", "## Train"),
                "fe = FeatureEngineeringClient()\nclf = LogisticRegression()\nclf.fit(X, y)\n"
                "fe.log_model(model=clf, artifact_path=\"m\", flavor=mlflow.sklearn, training_set=ts, registered_model_name=\"main.churn.model\","
                " output_schema=Schema([ColSpec(DataType.long)]))",
            ),
        ),
        # an input example alone describes the inputs only
        Invalid(
            "import mlflow\nfrom databricks.feature_engineering import FeatureEngineeringClient\nmlflow.set_registry_uri(\"databricks-uc\")\n"
            "fe = FeatureEngineeringClient()\n"
            "fe.log_model(model=pipeline, artifact_path=\"m\", flavor=mlflow.sklearn, training_set=ts, registered_model_name=name, input_example=X[:5])\n",
            5, 1, path="module.py",
        ),
        # estimator class not visible: reported without a fix
        Invalid(
            "import mlflow\nfrom databricks.feature_engineering import FeatureEngineeringClient as FEC\n\ndef log(model, ts):\n"
            "    FEC().log_model(model=model, artifact_path=\"m\", flavor=mlflow.sklearn, training_set=ts, registered_model_name=\"c.s.m\")\n",
            5, 5, path="module.py",
        ),
        # mlflow flavors: no signature and no input example; reported, never fixed
        Invalid(
            "import mlflow as mf\nmf.set_registry_uri(\"databricks-uc\")\nmf.sklearn.log_model(model, \"model\", registered_model_name=name)\n",
            3, 1, path="module.py",
        ),
        Invalid(
            "from mlflow.xgboost import log_model\nlog_model(booster, \"model\", registered_model_name=f\"{catalog}.ml.churn\")\n",
            2, 1, path="module.py",
        ),
        Invalid(
            "import mlflow\n\nclass Wrapper(mlflow.pyfunc.PythonModel):\n    def predict(self, context, model_input):\n        return self.m.predict(model_input)\n\n"
            "mlflow.pyfunc.log_model(\"model\", python_model=Wrapper(), registered_model_name=\"main.churn.wrapped\")\n",
            7, 1, path="module.py",
        ),
    )
    valid = (
        Valid(
            "import mlflow\nfrom databricks.feature_engineering import FeatureEngineeringClient\nfe = FeatureEngineeringClient()\n"
            "fe.log_model(model=m, artifact_path=\"m\", flavor=mlflow.sklearn, training_set=ts, registered_model_name=\"c.s.m\", output_schema=schema)\n",
            path="module.py",
        ),
        Valid(
            "import mlflow\nfrom databricks.feature_engineering import FeatureEngineeringClient\nfe = FeatureEngineeringClient()\n"
            "fe.log_model(model=m, artifact_path=\"m\", flavor=mlflow.sklearn, training_set=ts, registered_model_name=\"c.s.m\", signature=sig)\n",
            path="module.py",
        ),
        # not registered: no registered_model_name
        Valid(
            "import mlflow\nfrom databricks.feature_engineering import FeatureEngineeringClient\nfe = FeatureEngineeringClient()\n"
            "fe.log_model(model=m, artifact_path=\"m\", flavor=mlflow.sklearn, training_set=ts)\n",
            path="module.py",
        ),
        # not Unity Catalog: the registry is not set and the name has one part
        Valid("import mlflow\nmlflow.sklearn.log_model(m, \"model\", registered_model_name=\"churn_model\")\n", path="module.py"),
        Valid("import mlflow\nmlflow.sklearn.log_model(m, \"model\", registered_model_name=name)\n", path="module.py"),
        Valid(
            "import mlflow\nmlflow.set_registry_uri(\"databricks\")\nmlflow.sklearn.log_model(m, \"model\", registered_model_name=\"a.b.c\")\n",
            path="module.py",
        ),
        Valid("import mlflow\nmlflow.sklearn.log_model(m, \"model\", registered_model_name=\"main.ml.churn\", input_example=X[:5])\n", path="module.py"),
        Valid("import mlflow\nmlflow.sklearn.log_model(m, \"model\", registered_model_name=\"main.ml.churn\", signature=sig)\n", path="module.py"),
        Valid("import mlflow\nmlflow.sklearn.log_model(m, \"model\", registered_model_name=\"main.ml.churn\", **kwargs)\n", path="module.py"),
        Valid("import mlflow\nmlflow.transformers.log_model(pipe, \"model\", registered_model_name=\"main.ml.llm\")\n", path="module.py"),
        Valid("import mlflow\nmlflow.pyfunc.log_model(\"agent\", python_model=\"agent.py\", registered_model_name=\"main.ml.agent\")\n", path="module.py"),
        Valid(
            "import mlflow\nimport pandas as pd\n\nclass Wrapper(mlflow.pyfunc.PythonModel):\n    def predict(self, context, model_input: pd.DataFrame) -> list[float]:\n"
            "        return []\n\nmlflow.pyfunc.log_model(\"model\", python_model=Wrapper(), registered_model_name=\"main.churn.wrapped\")\n",
            path="module.py",
        ),
        Valid(
            "import mlflow\nfrom mlflow.pyfunc import ResponsesAgent\n\nclass Agent(ResponsesAgent):\n    def predict(self, request):\n        pass\n\n"
            "mlflow.pyfunc.log_model(\"agent\", python_model=Agent(), registered_model_name=\"main.ml.agent\")\n",
            path="module.py",
        ),
        Valid("def log_model(**kw):\n    pass\n\nlog_model(model=m, registered_model_name=\"a.b.c\")\n", path="module.py"),
    )

    def check(self, ctx):
        facts = None
        for call in ctx.index.calls:
            fe = is_feature_log_model(call)
            flavor = flavor_of_log_model(mlflow_qualname(call, ctx.index))
            if not fe and flavor is None:
                continue
            name_arg = call.keyword("registered_model_name")
            if name_arg is None or (isinstance(name_arg.value, cst.Name) and name_arg.value.value == "None") or has_double_star(call):
                continue
            facts = facts or registry_facts(ctx)
            if facts.explicit_other:
                continue
            value = ctx.string_value(name_arg.value, call.function)
            if not (facts.uses_uc or (value is not None and name_parts(value).three_parts)):
                continue
            written = f"{call.dotted}(...)"
            if fe:
                if has_keyword(call, "output_schema", "signature", ignore_none=True):
                    continue
                edits = self._fix(ctx, call)
                yield self.finding(
                    ctx.path,
                    ctx.span(call.node),
                    f"`{written}` registers a Unity Catalog model without `output_schema=` or `signature=`: UC rejects a model with no output specification",
                    edits=edits,
                    fix_message="Add `output_schema=` for the estimator's output type",
                )
                continue
            if has_keyword(call, "signature", "input_example", ignore_none=True):
                continue
            if flavor in SELF_DESCRIBING_FLAVORS and not (flavor == "pyfunc" and _plain_python_model(ctx, call)):
                continue
            yield self.finding(
                ctx.path,
                ctx.span(call.node),
                f"`{written}` registers a Unity Catalog model without `signature=` or `input_example=`: UC rejects a model with no signature",
            )

    def _fix(self, ctx, call):
        guess = logged_estimator(ctx.index, call)
        if guess.kind not in DATA_TYPE:
            return ()
        missing = False
        for name in SCHEMA_NAMES:
            imported = ctx.index.imports.get(name)
            if imported is None:
                if any(name in scope for scope in ctx.index.bindings.values()):
                    return ()  # the name means something else here
                missing = True
            elif imported not in (f"mlflow.types.{name}", f"mlflow.types.schema.{name}") or name in ctx.index.ambiguous:
                return ()
        edits = [add_keyword(ctx, call.node, f"output_schema=Schema([ColSpec(DataType.{DATA_TYPE[guess.kind]})])")]
        if missing:
            edits.append(first_import_insertion(ctx, SCHEMA_IMPORT))
        return tuple(edits)


def _plain_python_model(ctx, call) -> bool:
    """``python_model=`` builds a class of this file whose ``predict`` declares no types."""
    arg = call.keyword("python_model")
    expr = arg.value if arg is not None else None
    if isinstance(expr, cst.Name):
        values = ctx.index.values_of(expr.value, call.function)
        expr = values[0] if values and len(values) == 1 else None
    if not isinstance(expr, cst.Call) or not isinstance(expr.func, cst.Name):
        return False
    classes = [n for n in ctx.index.nodes(cst.ClassDef) if n.name.value == expr.func.value]
    if len(classes) != 1:
        return False
    cls = classes[0]
    for base in cls.bases:
        if (dotted_name(base.value) or "").rsplit(".", 1)[-1] in AGENT_BASES:
            return False
    body = cls.body.body if isinstance(cls.body, cst.IndentedBlock) else ()
    for stmt in body:
        if isinstance(stmt, cst.FunctionDef) and stmt.name.value == "predict":
            params = stmt.params
            return not any(p.annotation is not None for p in (*params.posonly_params, *params.params, *params.kwonly_params))
    return False
