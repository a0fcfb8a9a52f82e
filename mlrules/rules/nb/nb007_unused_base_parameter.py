from __future__ import annotations

from mlrules.model import Severity
from mlrules.project.bundle_model import close_match
from mlrules.project.task_widgets import widget_use
from mlrules.rules.base import Invalid, Valid
from mlrules.rules.bundle_rule import BundleViewRule

ROOT = "bundle:\n  name: churn\ninclude:\n  - resources/*.yml\n"
NOTEBOOK = '# Databricks notebook source\ncatalog = dbutils.widgets.get("catalog")\nschema = getArgument("schema")\n'


def _job(params: str, name: str = "train", notebook: str = "../notebooks/train.py") -> str:
    lines = "".join(f"              {p}\n" for p in params.split(", "))
    return (
        f"resources:\n  jobs:\n    {name}:\n      tasks:\n        - task_key: {name}\n          notebook_task:\n"
        f"            notebook_path: {notebook}\n            base_parameters:\n{lines}"
    )


class UnusedBaseParameter(BundleViewRule):
    """
    ## What it does
    Cross-file. Flags a key of a task's `notebook_task.base_parameters` that the notebook it
    runs never reads: no `dbutils.widgets.get("key")` / `getArgument("key")` in the notebook
    or in the notebooks it includes with `%run`, no widget declared under that name, and the
    name does not appear in a `%sql`/`%scala`/`%r` cell (`${key}`, `:key`). Catches typos such
    as `catalgo`, with a did-you-mean. Checked per target after the target merge; a notebook
    run by two jobs is checked against each job's parameters.

    Not flagged when the notebook reads a widget by a non-literal name, reads them all
    (`dbutils.widgets.getAll()`, `getCurrentBindings()`), hands `dbutils` to a helper, or has
    a `%run` that cannot be resolved: the key may be read there. A key whose value records
    where the deployment came from (`${bundle.git.commit}`, `${bundle.git.origin_url}`: the
    MLOps Stacks `git_source_info` convention) is run metadata, not an input, and is not flagged.

    ## Why it matters
    The parameter is silently ignored: the notebook reads its own default instead (a typo in
    `catalgo: ml_prod` trains the production model on the dev catalog), or a widget that
    was renamed in the notebook keeps being passed under its old name.

    ## Example
    ```yaml
    base_parameters:
      catalgo: ml_prod
    ```

    ## Use instead
    ```yaml
    base_parameters:
      catalog: ml_prod
    ```

    ## Fix safety
    No fix: the key may be meant for a notebook change still to come.
    """

    code = "NB007"
    name = "unused-base-parameter"
    summary = "base_parameters key that the task's notebook never reads"
    severity = Severity.WARNING

    invalid = (
        Invalid(
            _job("catalgo: ml_prod, schema: churn"), 9, 15, path="resources/job.yml",
            files={"databricks.yml": ROOT, "notebooks/train.py": NOTEBOOK},
            message_contains="did you mean 'catalog'",
        ),
        # one notebook run by two jobs: only the job that passes the unused key is flagged
        Invalid(
            _job("catalog: main, model_version: '3'", name="score"), 10, 15, path="resources/score.yml",
            files={"databricks.yml": ROOT, "notebooks/train.py": NOTEBOOK, "resources/train.yml": _job("catalog: main, schema: s")},
        ),
    )
    valid = (
        Valid(_job("catalog: main, schema: churn"), path="resources/job.yml", files={"databricks.yml": ROOT, "notebooks/train.py": NOTEBOOK}),
        # read by a non-literal name
        Valid(
            _job("catalog: main, anything: x"), path="resources/job.yml",
            files={"databricks.yml": ROOT, "notebooks/train.py": NOTEBOOK + 'params = {k: dbutils.widgets.get(k) for k in ["anything"]}\n'},
        ),
        # read in a %run include, in a %sql cell, or declared as a widget
        Valid(
            _job("catalog: main, schema: s, threshold: '0.5', env: dev, table: t"), path="resources/job.yml",
            files={
                "databricks.yml": ROOT,
                "notebooks/train.py": NOTEBOOK + "\n# COMMAND ----------\n\n# MAGIC %run ./common\n\n# COMMAND ----------\n\n"
                "# MAGIC %sql\n# MAGIC SELECT * FROM ${table}\n\n# COMMAND ----------\n\ndbutils.widgets.dropdown(\"env\", \"dev\", [\"dev\", \"prod\"])\n",
                "notebooks/common.py": '# Databricks notebook source\nthreshold = float(dbutils.widgets.get("threshold"))\n',
            },
        ),
        # run metadata: the git provenance of the deployment
        Valid(
            _job("catalog: main, schema: s, git_source_info: 'commit:${bundle.git.commit}'"), path="resources/job.yml",
            files={"databricks.yml": ROOT, "notebooks/train.py": NOTEBOOK},
        ),
        # dbutils handed to a helper
        Valid(
            _job("catalog: main, schema: s, other: o"), path="resources/job.yml",
            files={"databricks.yml": ROOT, "notebooks/train.py": NOTEBOOK + "from helpers import params\np = params(dbutils)\n"},
        ),
    )

    def check_view(self, ctx, model, bundle, view, out):
        for job in view.jobs:
            for task in job.tasks:
                notebook_task = task.notebook_task
                run = task.run
                if notebook_task is None or run is None or run.kind != "notebook" or run.path is None:
                    continue
                params = notebook_task.get("base_parameters")
                if params is None or not params.is_map:
                    continue
                use = widget_use(model, run.path)
                if use is None or use.dynamic or not use.complete:
                    continue
                known = use.reads | use.declared
                for key, value in params.children.items():  # type: ignore[union-attr]
                    if key in known or use.mentions(key):
                        continue
                    if "${bundle.git." in (value.value or ""):
                        continue  # deployment provenance recorded with the run, not an input

                    hint = close_match(key, known)
                    key_node = value.key
                    span = value.key_span if key_node is not None else value.span
                    out.add(
                        view, value.source.path, span,
                        f"base_parameters key '{key}' of task '{task.label}' (job '{job.name}') is never read by "
                        f"{model.display_path(run.path)}" + (f"; did you mean '{hint}'?" if hint else ""),
                    )
