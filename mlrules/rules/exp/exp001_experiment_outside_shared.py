from __future__ import annotations

import json

from mlrules.analysis.index import MLFLOW_CLIENT
from mlrules.model import Applicability
from mlrules.rules.base import Invalid, Option, PythonRule, Valid

EXPERIMENT_CALLS = {
    "mlflow.set_experiment": 0,
    "mlflow.create_experiment": 0,
    f"{MLFLOW_CLIENT}.create_experiment": 0,
}
USER_PREFIXES = ("/Users/", "/Workspace/Users/")


class ExperimentOutsideShared(PythonRule):
    """
    ## What it does
    Flags `mlflow.set_experiment(...)`, `mlflow.create_experiment(...)` and
    `MlflowClient().create_experiment(...)` (positional or `experiment_name=`/`name=`) whose
    value is under a user folder (`/Users/...`, `/Workspace/Users/...`) or relative (no
    leading `/`).

    ## Why it matters
    A job runs as a service principal or another user: `/Users/<you>/...` fails when the
    folder does not exist for the runner, and a relative name silently lands in the run's
    folder. Experiments shared by a team and its jobs belong under `/Shared/`.

    Values are followed through simple constant propagation (literals, f-strings, names
    assigned once). Unknown values (a widget, a parameter) are never flagged, and neither is
    `experiment_id=`.

    ## Example
    ```python
    mlflow.set_experiment(f"/Users/{user}/exps/churn")
    ```

    ## Use instead
    ```python
    mlflow.set_experiment("/Shared/churn")
    ```

    ## Fix safety
    Unsafe: rewrites the value to `<experiment-root>/<last path segment>`, which changes where
    runs are logged. Only applied when the value is written in the call itself.
    """

    code = "EXP001"
    name = "experiment-outside-shared"
    summary = "Experiment path under /Users/ or relative instead of /Shared/"
    fix = Applicability.UNSAFE
    triggers = ("experiment",)
    options = (Option("experiment-root", "/Shared", "Folder where experiments belong."),)

    invalid = (
        Invalid(
            'import mlflow\nmlflow.set_experiment("/Users/a@b.com/churn")\n',
            2, 23, path="module.py",
            fixed='import mlflow\nmlflow.set_experiment("/Shared/churn")\n',
        ),
        Invalid(
            'import mlflow as mf\nuser = "a"\nmf.set_experiment(experiment_name=f"/Users/{user}/exps/churn")\n',
            3, 35, path="module.py",
            fixed='import mlflow as mf\nuser = "a"\nmf.set_experiment(experiment_name="/Shared/churn")\n',
        ),
        Invalid(
            'from mlflow import set_experiment\nEXP = "churn_experiment"\n\nset_experiment(EXP)\n',
            4, 16, path="module.py",
        ),
        Invalid(
            '# Databricks notebook source\nfrom mlflow.tracking import MlflowClient\n\n# COMMAND ----------\n\nMlflowClient().create_experiment("/Workspace/Users/me/x")\n',
            6, 34,
            fixed='# Databricks notebook source\nfrom mlflow.tracking import MlflowClient\n\n# COMMAND ----------\n\nMlflowClient().create_experiment("/Shared/x")\n',
        ),
        Invalid(
            'import mlflow\nmlflow.set_experiment(f"/Users/{u}/{name}")\n',
            2, 23, path="module.py",
            fixed='import mlflow\nmlflow.set_experiment(f"/Shared/{name}")\n',
        ),
        Invalid(
            'import mlflow\nmlflow.set_experiment("/Users/a/churn")\n',
            2, 23, path="module.py", options={"experiment-root": "/Shared/ml"},
            fixed='import mlflow\nmlflow.set_experiment("/Shared/ml/churn")\n',
        ),
    )
    valid = (
        Valid('import mlflow\nmlflow.set_experiment("/Shared/churn")\n', path="module.py"),
        Valid('import mlflow\nmlflow.set_experiment(experiment_id="123")\n', path="module.py"),
        Valid('import mlflow\nmlflow.set_experiment(dbutils.widgets.get("experiment"))\n', path="module.py"),
        Valid('import mlflow\ndef f(name):\n    mlflow.set_experiment(name)\n', path="module.py"),
        Valid('import mlflow\nmlflow.set_experiment(f"{root}/churn")\n', path="module.py"),
        Valid('import mlflow\nmlflow.set_experiment("/Shared/ml/churn")\n', path="module.py", options={"experiment-root": "/Shared/ml"}),
        Valid('def set_experiment(x): pass\nset_experiment("/Users/a/b")\n', path="module.py"),
    )

    def check(self, ctx):
        root = "/" + self.config["experiment-root"].strip("/")
        for call in ctx.index.calls:
            if call.qualname not in EXPERIMENT_CALLS:
                continue
            arg = call.argument(0, "experiment_name") or call.keyword("name")
            if arg is None:
                continue
            value = ctx.string_value(arg.value, call.function)
            if value is None or value.widget is not None:
                continue
            path = value.text
            if path.startswith(root + "/") or path == root:
                continue
            if path.startswith(USER_PREFIXES):
                problem = "is under a user folder"
            elif not path.startswith(("/", "{")):
                problem = "is relative (it lands in the run's folder)"
            else:
                continue
            last = path.rstrip("/").rsplit("/", 1)[-1]
            target = f"{root}/{last}"
            edits = ()
            if last and "{" not in last and _is_literal(arg.value):
                edits = (ctx.replace(arg.value, json.dumps(target)),)
            elif last and _is_literal(arg.value):
                edits = (ctx.replace(arg.value, "f" + json.dumps(target)),)
            yield self.finding(
                ctx.path,
                ctx.span(arg.value),
                f"Experiment path '{path}' {problem}; use {root}/ (e.g. '{target}')",
                edits=edits,
                fix_message=f"Use '{target}'",
            )

def _is_literal(node) -> bool:
    import libcst as cst

    return isinstance(node, (cst.SimpleString, cst.FormattedString, cst.ConcatenatedString))
