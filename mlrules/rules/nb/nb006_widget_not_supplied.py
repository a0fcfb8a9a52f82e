from __future__ import annotations

from mlrules.project.bundle_model import Job
from mlrules.project.task_widgets import widget_use
from mlrules.rules.base import Invalid, Valid, ipynb
from mlrules.rules.bundle_rule import BundleViewRule

ROOT = "bundle:\n  name: churn\ninclude:\n  - resources/*.yml\n"
NOTEBOOK = (
    "# Databricks notebook source\n"
    'catalog = dbutils.widgets.get("catalog")\n'
    'model_name = dbutils.widgets.get("model_name")\n'
)


def _job(params: str = "catalog: main", extra: str = "", notebook: str = "../notebooks/train.py") -> str:
    return (
        f"resources:\n  jobs:\n    train:\n{extra}      tasks:\n        - task_key: train\n"
        f"          notebook_task:\n            notebook_path: {notebook}\n            base_parameters: {{{params}}}\n"
    )


class WidgetNotSupplied(BundleViewRule):
    """
    ## What it does
    Cross-file. Flags a bundle task whose notebook reads a widget
    (`dbutils.widgets.get("x")`, `getArgument("x")`) that nothing supplies: the notebook
    (and the notebooks it includes with `%run`) declares no default for it
    (`dbutils.widgets.text/dropdown/combobox/multiselect("x", ...)`), and neither the task's
    `notebook_task.base_parameters` nor the job's `parameters:` name it. Reported at the
    task's `notebook_task` key, naming the notebook and the line of the read; checked per
    target after the target merge.

    Not flagged: reads with a default (`getArgument("x", "default")`), reads inside a `try`
    with an `except`, notebooks with a `%run` that cannot be resolved, and jobs that another
    job starts with `run_job_task` (parameters may come from the caller).

    ## Why it matters
    The job fails at the first cell with `InputWidgetNotDefined: No input widget named x is
    defined` - after the cluster started, often in the nightly run of a target whose
    override forgot the parameter.

    ## Example
    ```yaml
    notebook_task:
      notebook_path: ../notebooks/train.py
      base_parameters:
        catalog: main            # the notebook also reads "model_name"
    ```

    ## Use instead
    ```yaml
      base_parameters:
        catalog: main
        model_name: churn
    ```
    or give the widget a default in the notebook: `dbutils.widgets.text("model_name", "churn")`.

    ## Fix safety
    No fix: the value to pass is not known.
    """

    code = "NB006"
    name = "widget-not-supplied"
    summary = "Task notebook reads a widget that neither base_parameters nor a default supplies"

    invalid = (
        Invalid(
            _job(), 6, 11, path="resources/job.yml",
            files={"databricks.yml": ROOT, "notebooks/train.py": NOTEBOOK},
            message_contains="'model_name' (notebooks/train.py:3)",
        ),
        # an .ipynb notebook, and a target override that replaces the parameters
        Invalid(
            "resources:\n  jobs:\n    score:\n      tasks:\n        - task_key: score\n          notebook_task:\n"
            "            notebook_path: ../notebooks/score.ipynb\n            base_parameters:\n              catalog: main\n",
            6, 11, path="resources/job.yml",
            files={
                "databricks.yml": ROOT + "targets:\n  dev: {default: true}\n  prod:\n    resources:\n      jobs:\n        score:\n"
                "          parameters:\n            - name: model_name\n              default: churn\n",
                "notebooks/score.ipynb": ipynb("%pip install mlflow==2.19.0", 'c = dbutils.widgets.get("catalog")\nm = dbutils.widgets.get("model_name")'),
            },
            message_contains="(notebooks/score.ipynb:cell 2:2) with no default, and neither the task's base_parameters nor the job's parameters supply it (target 'dev')",
        ),
    )
    valid = (
        Valid(_job("catalog: main, model_name: churn"), path="resources/job.yml", files={"databricks.yml": ROOT, "notebooks/train.py": NOTEBOOK}),
        # a default declared in the notebook; job-level parameters
        Valid(
            _job("catalog: main", extra="      parameters:\n        - name: other\n          default: x\n"),
            path="resources/job.yml",
            files={"databricks.yml": ROOT, "notebooks/train.py": NOTEBOOK.replace("model_name = ", 'dbutils.widgets.text("model_name", "churn")\nmodel_name = ')},
        ),
        Valid(
            _job("catalog: main", extra="      parameters:\n        - name: model_name\n          default: churn\n"),
            path="resources/job.yml", files={"databricks.yml": ROOT, "notebooks/train.py": NOTEBOOK},
        ),
        # declared in a %run include; read with a default; read inside try/except
        Valid(
            _job("catalog: main"),
            path="resources/job.yml",
            files={
                "databricks.yml": ROOT,
                "notebooks/train.py": "# Databricks notebook source\n# MAGIC %run ./setup\n\n# COMMAND ----------\n\n"
                'c = dbutils.widgets.get("catalog")\nm = dbutils.widgets.get("model_name")\ne = getArgument("env", "dev")\n'
                'try:\n    x = dbutils.widgets.get("x")\nexcept Exception:\n    x = None\n',
                "notebooks/setup.py": '# Databricks notebook source\ndbutils.widgets.text("model_name", "churn")\n',
            },
        ),
        # a %run that cannot be resolved: the include may declare it
        Valid(
            _job("catalog: main"),
            path="resources/job.yml",
            files={"databricks.yml": ROOT, "notebooks/train.py": "# Databricks notebook source\n# MAGIC %run /Shared/setup\n" + NOTEBOOK.split("\n", 1)[1]},
        ),
    )

    def check_view(self, ctx, model, bundle, view, out):
        called = _jobs_started_by_other_jobs(view.jobs)
        for job in view.jobs:
            if job.name in called:
                continue
            job_parameters = job.keys_of("parameters", "name")
            if job_parameters is None:
                continue
            for task in job.tasks:
                notebook_task = task.notebook_task
                run = task.run
                if notebook_task is None or run is None or run.kind != "notebook" or run.path is None:
                    continue
                params = notebook_task.get("base_parameters")
                if params is not None and not params.is_map and not params.is_null:
                    continue  # given as a variable: unknown
                supplied = set(params.children) if params is not None and params.is_map else set()  # type: ignore[arg-type]
                use = widget_use(model, run.path)
                if use is None or not use.complete:
                    continue
                note = (
                    " (notebook_task.parameters passes no widgets: use base_parameters)"
                    if notebook_task.get("parameters") is not None
                    else ""
                )
                reported: set[str] = set()
                for read in use.own_reads:
                    name = read.name
                    if name in reported or name in supplied or name in job_parameters or name in use.declared:
                        continue
                    if use.protected(read):
                        continue
                    reported.add(name)  # type: ignore[arg-type]
                    out.add(
                        view, notebook_task.source.path, notebook_task.key_span,
                        f"Task '{task.label}' (job '{job.name}') runs {model.display_path(run.path)}, which reads widget "
                        f"'{name}' ({use.where(read)}) with no default, and neither the task's base_parameters "
                        "nor the job's parameters supply it" + note,
                    )


def _jobs_started_by_other_jobs(jobs: list[Job]) -> set[str]:
    """Jobs that a ``run_job_task`` of another job starts (``${resources.jobs.<name>.id}``)."""
    out: set[str] = set()
    for job in jobs:
        for task in job.tasks:
            job_id = task.node.path("run_job_task", "job_id")
            text = job_id.value if job_id is not None else None
            if text and text.startswith("${resources.jobs.") and text.endswith(".id}"):
                out.add(text[len("${resources.jobs.") : -len(".id}")])
    return out
