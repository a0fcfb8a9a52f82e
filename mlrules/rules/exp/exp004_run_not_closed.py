from __future__ import annotations

import libcst as cst

from mlrules.analysis.registry import mlflow_qualname
from mlrules.analysis.runs import START_RUN, run_contexts
from mlrules.model import Severity
from mlrules.rules.base import Invalid, PythonRule, Valid, ipynb


class RunNotClosed(PythonRule):
    """
    ## What it does
    Flags `mlflow.start_run(...)` called as a plain statement (`mlflow.start_run()`) or
    assigned to a name (`run = mlflow.start_run()`) instead of used as a `with` item, when the
    same scope (function, or module/notebook level) has no `mlflow.end_run()` after it.

    Not flagged: a run assigned to a name that is later used as a `with` item
    (`with run:`), returned or yielded (the caller closes it); a `start_run` stored on an
    attribute (`self.run = ...`) or used inside a larger expression; any file that refers to
    `end_run` in another function (it may close the run from there).

    ## Why it matters
    The run stays active. The next notebook cell, the next `start_run()` (which fails with
    "Run ... is already active") or the next job task on the same cluster logs into it, and
    the run shows as RUNNING forever when the notebook fails before its end.

    ## Example
    ```python
    mlflow.start_run(run_name="train")
    mlflow.log_metric("auc", auc)
    ```

    ## Use instead
    ```python
    with mlflow.start_run(run_name="train"):
        mlflow.log_metric("auc", auc)
    ```

    ## Fix safety
    No fix: wrapping the following code in a `with` block needs a human.
    """

    code = "EXP004"
    name = "run-not-closed"
    summary = "mlflow.start_run() outside a with block and never ended"
    severity = Severity.WARNING
    triggers = ("start_run",)

    invalid = (
        Invalid("import mlflow\nmlflow.start_run(run_name=\"train\")\nmlflow.log_metric(\"auc\", auc)\n", 2, 1, path="module.py"),
        Invalid(
            "import mlflow as mf\n\ndef train():\n    run = mf.start_run()\n    mf.log_param(\"a\", 1)\n    return 1\n",
            4, 11, path="module.py", message_contains="mf.start_run",
        ),
        Invalid(
            "from mlflow import start_run, end_run\nend_run()\nactive: object = start_run()\nlog()\n",
            3, 18, path="module.py",
        ),
        Invalid(
            "# Databricks notebook source\nimport mlflow\n\n# COMMAND ----------\n\nmlflow.start_run()\n\n# COMMAND ----------\n\nmlflow.log_metric(\"rmse\", 0.3)\n",
            6, 1,
        ),
        Invalid(ipynb("import mlflow", ("markdown", "Start"), "run = mlflow.start_run(experiment_id=exp_id)\nmlflow.log_param(\"k\", 3)"), 1, 7, path="train.ipynb", cell=3),
        # `mlflow` comes from a notebook included with %run: the spelling is enough
        Invalid(
            "# Databricks notebook source\n# MAGIC %run ./setup\n\n# COMMAND ----------\n\nmlflow.start_run(run_name=\"train\")\n",
            6, 1, files={"setup.py": "# Databricks notebook source\nimport mlflow\n"},
        ),
    )
    valid = (
        Valid("import mlflow\nwith mlflow.start_run():\n    mlflow.log_metric(\"auc\", 1.0)\n", path="module.py"),
        Valid("import mlflow\nmlflow.start_run()\nmlflow.log_metric(\"auc\", 1.0)\nmlflow.end_run()\n", path="module.py"),
        Valid(
            "# Databricks notebook source\nimport mlflow\nmlflow.start_run()\n\n# COMMAND ----------\n\ntry:\n    train()\nfinally:\n    mlflow.end_run()\n",
        ),
        Valid("import mlflow\nrun = mlflow.start_run()\nwith run:\n    log()\n", path="module.py"),
        Valid("import mlflow\n\ndef begin():\n    run = mlflow.start_run()\n    return run\n", path="module.py"),
        Valid("import mlflow\n\ndef begin():\n    return mlflow.start_run()\n", path="module.py"),
        Valid("import mlflow\n\ndef begin():\n    mlflow.start_run()\n\ndef finish():\n    mlflow.end_run()\n", path="module.py"),
        Valid("import mlflow\nimport atexit\nmlflow.start_run()\natexit.register(mlflow.end_run)\n", path="module.py"),
        Valid("import mlflow\n\nclass T:\n    def __init__(self):\n        self.run = mlflow.start_run()\n", path="module.py"),
        Valid("client.start_run()\n", path="module.py"),
    )

    def check(self, ctx):
        runs = None
        for call in ctx.index.calls:
            if mlflow_qualname(call, ctx.index) != START_RUN:
                continue
            target = _plain_statement_target(call)
            if target is False:
                continue
            runs = runs or run_contexts(ctx.index)
            if runs.end_run_after(call):
                continue
            if isinstance(target, str) and (_used_as_with_item(ctx, target, call.function) or target in runs.returned_names(call.function)):
                continue
            yield self.finding(
                ctx.path,
                ctx.span(call.node),
                f"`{call.dotted}(...)` opens a run that is never closed: use `with {call.dotted}(...):` or call `mlflow.end_run()`",
            )


def _plain_statement_target(call) -> str | None | bool:
    """None for a bare statement, the name for `name = call`, False for anything else."""
    stmt = call.statement
    if not isinstance(stmt, cst.SimpleStatementLine):
        return False
    for small in stmt.body:
        if isinstance(small, cst.Expr) and small.value is call.node:
            return None
        if isinstance(small, cst.Assign) and small.value is call.node:
            if len(small.targets) == 1 and isinstance(small.targets[0].target, cst.Name):
                return small.targets[0].target.value
            return False
        if isinstance(small, cst.AnnAssign) and small.value is call.node:
            return small.target.value if isinstance(small.target, cst.Name) else False
    return False


def _used_as_with_item(ctx, name: str, scope) -> bool:
    return any(isinstance(item.item, cst.Name) and item.item.value == name and s is scope for item, s in ctx.index.with_items)
