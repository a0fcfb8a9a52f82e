from __future__ import annotations

import libcst as cst

from mlrules.analysis.registry import mlflow_qualname
from mlrules.analysis.runs import run_contexts
from mlrules.rules.base import Invalid, PythonRule, Valid, ipynb

LOG_INPUT = ("mlflow.log_input", "mlflow.log_inputs", "mlflow.tracking.fluent.log_input", "mlflow.tracking.fluent.log_inputs")


class DatasetLoggedOutsideRun(PythonRule):
    """
    ## What it does
    Flags `mlflow.log_input(...)` (also `mlflow.log_inputs(...)`) that can run with no active
    MLflow run:

    - at module (notebook cell) level, outside any `with mlflow.start_run(...)`;
    - inside a function that does not open a run itself and that has at least one call site
      in the same file, none of which runs inside a run context, directly
      (`with mlflow.start_run():` around the call) or through another such function (the
      call sits in a function whose own call sites are all outside runs).

    A function with no call site in the file is not flagged: it may be called from anywhere.
    The rule also stays quiet when the file shows that a run may be open after all: a
    `start_run` that is not a `with` item (`mlflow.start_run()`, `run = mlflow.start_run()`)
    before the call, a function that calls `start_run` itself, checks `mlflow.active_run()`,
    is decorated, is a method, or is passed around as a value (`fmin(fn=objective)`); and
    about calls inside a `lambda`.

    ## Why it matters
    With no active run, `mlflow.log_input` starts a new run of its own: the dataset lands in
    an empty run of the experiment, not in the training run, and the training run shows no
    dataset lineage in the UI.

    ## Example
    ```python
    dataset = mlflow.data.from_spark(train_df, table_name="main.churn.training")
    mlflow.log_input(dataset, context="training")

    with mlflow.start_run():
        model.fit(X, y)
    ```

    ## Use instead
    ```python
    with mlflow.start_run():
        mlflow.log_input(dataset, context="training")
        model.fit(X, y)
    ```

    ## Fix safety
    No fix: moving the call into the right run needs a human.
    """

    code = "EXP002"
    name = "dataset-logged-outside-run"
    summary = "mlflow.log_input(...) that can run with no active MLflow run"
    triggers = ("log_input",)

    invalid = (
        Invalid(
            "# Databricks notebook source\nimport mlflow\n\ndataset = mlflow.data.from_spark(train_df, table_name=\"main.churn.training\")\n"
            "mlflow.log_input(dataset, context=\"training\")\n\n# COMMAND ----------\n\nwith mlflow.start_run():\n    model.fit(X, y)\n",
            5, 1,
        ),
        Invalid(
            "import mlflow\n\n\ndef log_training_data(df):\n    dataset = mlflow.data.from_pandas(df)\n"
            "    mlflow.log_input(dataset, context=\"training\")\n\n\nlog_training_data(train_df)\n"
            "with mlflow.start_run():\n    model.fit(X, y)\n",
            6, 5, path="train.py", message_contains="log_training_data",
        ),
        Invalid(
            "import mlflow as mf\n\nmf.log_input(mf.data.from_pandas(pdf))\n",
            3, 1, path="module.py", message_contains="mf.log_input",
        ),
        Invalid(
            "from mlflow import log_input, start_run\n\nlog_input(ds)\nwith start_run():\n    pass\n",
            3, 1, path="module.py",
        ),
        # through another function: log_dataset is only called from prepare, called outside runs
        Invalid(
            "import mlflow\n\ndef log_dataset(ds):\n    mlflow.log_input(ds)\n\ndef prepare(ds):\n    log_dataset(ds)\n    return ds\n\n"
            "prepare(ds)\nprepare(other)\n",
            4, 5, path="module.py",
        ),
        # a run opened in another function's body does not cover a later call at its side
        Invalid(
            "import mlflow\n\ndef log_dataset(ds):\n    mlflow.log_input(ds)\n\n"
            "def train():\n    with mlflow.start_run():\n        fit()\n\nlog_dataset(ds)\ntrain()\n",
            4, 5, path="module.py",
        ),
        Invalid(
            ipynb(("markdown", "# Train"), "import mlflow\ndataset = mlflow.data.from_pandas(pdf)", "mlflow.log_input(dataset)\nwith mlflow.start_run():\n    fit()"),
            1, 1, path="train.ipynb", cell=3,
        ),
    )
    valid = (
        Valid("import mlflow\nwith mlflow.start_run():\n    mlflow.log_input(ds, context=\"training\")\n", path="module.py"),
        Valid("import mlflow as mf\nwith mf.start_run() as run:\n    if ok:\n        mf.log_input(ds)\n", path="module.py"),
        # no call site in the file: may be called from inside a run anywhere
        Valid("import mlflow\n\ndef log_dataset(ds):\n    mlflow.log_input(ds)\n", path="module.py"),
        # called inside a run
        Valid("import mlflow\n\ndef log_dataset(ds):\n    mlflow.log_input(ds)\n\nwith mlflow.start_run():\n    log_dataset(ds)\n", path="module.py"),
        # one call site inside a run is enough
        Valid(
            "import mlflow\n\ndef log_dataset(ds):\n    mlflow.log_input(ds)\n\nlog_dataset(a)\nwith mlflow.start_run():\n    log_dataset(b)\n",
            path="module.py",
        ),
        # through another function that is called inside a run
        Valid(
            "import mlflow\n\ndef log_dataset(ds):\n    mlflow.log_input(ds)\n\ndef train(ds):\n    log_dataset(ds)\n    fit(ds)\n\n"
            "with mlflow.start_run():\n    train(ds)\n",
            path="module.py",
        ),
        # the function opens a run itself
        Valid(
            "import mlflow\n\ndef train(ds):\n    with mlflow.start_run():\n        mlflow.log_input(ds)\n        fit(ds)\n\ntrain(ds)\n",
            path="module.py",
        ),
        Valid("import mlflow\n\ndef train(ds):\n    run = mlflow.start_run()\n    mlflow.log_input(ds)\n\ntrain(ds)\n", path="module.py"),
        # a run left open by a plain start_run earlier in the notebook
        Valid(
            "# Databricks notebook source\nimport mlflow\nmlflow.start_run(run_name=\"train\")\n\n# COMMAND ----------\n\nmlflow.log_input(ds)\n"
            "\n# COMMAND ----------\n\nmlflow.end_run()\n",
        ),
        # passed as a value: the caller is unknown
        Valid(
            "import mlflow\nfrom hyperopt import fmin\n\ndef objective(params):\n    mlflow.log_input(ds)\n    return 0.0\n\n"
            "with mlflow.start_run():\n    fmin(fn=objective, space=space)\n",
            path="module.py",
        ),
        Valid("import mlflow\n\nclass Trainer:\n    def log(self, ds):\n        mlflow.log_input(ds)\n\nTrainer().log(ds)\n", path="module.py"),
        Valid("import mlflow\n\ndef log_dataset(ds):\n    if mlflow.active_run():\n        mlflow.log_input(ds)\n\nlog_dataset(ds)\n", path="module.py"),
        Valid("from mlflow import MlflowClient\nMlflowClient().log_inputs(run_id, [dataset_input])\n", path="module.py"),
        Valid("def log_input(ds):\n    print(ds)\n\nlog_input(ds)\n", path="module.py"),
        Valid("import mlflow\nlog = lambda ds: mlflow.log_input(ds)\nwith mlflow.start_run():\n    log(ds)\n", path="module.py"),
    )

    def check(self, ctx):
        runs = None
        for call in ctx.index.calls:
            if call.in_run or mlflow_qualname(call, ctx.index) not in LOG_INPUT:
                continue
            if _in_lambda(ctx.index, call):
                continue  # runs whenever the lambda is called: unknown
            runs = runs or run_contexts(ctx.index)
            written = f"{call.dotted}(...)"
            scope = call.function
            if runs.checks_active_run(scope):
                continue
            if scope is None:
                if runs.may_be_in_run(call):
                    continue
                message = (
                    f"`{written}` runs outside any `with mlflow.start_run()`: "
                    "the dataset is logged to a new run of its own, not the training run"
                )
            else:
                if runs.function_may_run_in_run(scope):
                    continue
                name = scope.name.value
                message = (
                    f"`{written}` in `{name}()`, which opens no run and is only called outside "
                    "`with mlflow.start_run()`: the dataset is logged to a new run of its own, not the training run"
                )
            yield self.finding(ctx.path, ctx.span(call.node), message)


def _in_lambda(index, call) -> bool:
    for parent in index.ancestors(call.node):
        if isinstance(parent, cst.Lambda):
            return True
        if isinstance(parent, cst.FunctionDef):
            return False
    return False
