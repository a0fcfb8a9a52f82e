from __future__ import annotations

import os

from mlrules.project.bundle_model import relative_to
from mlrules.rules.base import Invalid, Valid
from mlrules.rules.bundle_rule import BundleViewRule

ROOT = "bundle:\n  name: churn\ninclude:\n  - resources/*.yml\n"
NOTEBOOK = "# Databricks notebook source\nprint(1)\n"


def _job(path_line: str, kind: str = "notebook_task") -> str:
    return f"resources:\n  jobs:\n    train:\n      tasks:\n        - task_key: t\n          {kind}:\n            {path_line}\n"


class TaskPathNotFound(BundleViewRule):
    """
    ## What it does
    Flags a task's `notebook_task.notebook_path` or `spark_python_task.python_file` that
    names no file. A relative path is resolved from the folder of the YAML file that writes
    it (an included file, a target override); `${workspace.file_path}` is the bundle root and
    `${var.x}` is replaced by the variable's value for each target. A notebook path is tried
    as written and with `.py`, `.ipynb`, `.sql`, `.scala` and `.r`. The message names the
    closest existing file whose name is also alike (for a job file that no bundle root
    includes, the closest file under the nearest bundle root above it); a file that only
    shares the folder is not suggested.

    Not checked: absolute workspace paths (`/Workspace/...`, `/Repos/...`), paths with an
    unknown `${...}` part, and tasks that run from a job's `git_source`.

    ## Why it matters
    `databricks bundle deploy` fails on a missing notebook only at deploy time, often in CI
    after review; a path that is wrong for one target only (a variable) fails in production.
    Paths are relative to the YAML file, not the bundle root, which is the usual mistake
    when a job moves to `resources/`.

    ## Example
    ```yaml
    # resources/train_job.yml
    notebook_task:
      notebook_path: notebooks/train.py  # resolves to resources/notebooks/train.py
    ```

    ## Use instead
    ```yaml
    notebook_task:
      notebook_path: ../notebooks/train.py
    ```

    ## Fix safety
    No fix: the suggestion is the closest name, which may not be the intended file.
    """

    code = "BND005"
    name = "task-path-not-found"
    summary = "Task notebook_path / python_file that resolves to no file"

    invalid = (
        Invalid(
            _job("notebook_path: notebooks/train.py"),
            7, 28, path="resources/job.yml",
            files={"databricks.yml": ROOT, "notebooks/train.py": NOTEBOOK},
            message_contains="did you mean '../notebooks/train.py'",
        ),
        Invalid(
            _job("python_file: ../src/scoer.py", "spark_python_task"),
            7, 26, path="resources/job.yml",
            files={"databricks.yml": ROOT, "src/score.py": "print(1)\n"},
            message_contains="did you mean '../src/score.py'",
        ),
        # no did-you-mean for a file whose name is unlike the missing one (same folder only)
        Invalid(
            _job("python_file: ../src/jobs/main.py", "spark_python_task"),
            7, 26, path="resources/job.yml",
            files={"databricks.yml": ROOT, "src/jobs/loader_api.py": "print(1)\n"},
            message_contains="resolves to 'src/jobs/main.py', which does not exist", message_excludes="did you mean",
        ),
        # ${workspace.file_path} is the bundle root; a variable resolved per target
        Invalid(
            ROOT + "variables:\n  nb:\n    default: train\ntargets:\n  dev:\n    default: true\n  prod:\n    variables:\n      nb: training\n",
            7, 28, path="databricks.yml", report_path="resources/job.yml",
            files={"resources/job.yml": _job("notebook_path: ${workspace.file_path}/notebooks/${var.nb}"), "notebooks/train.py": NOTEBOOK},
            message_contains="(target 'prod')",
        ),
        # a job file that the bundle root forgot to include: still resolved from its own folder,
        # and the suggestion searches the bundle root above it
        Invalid(
            _job("notebook_path: ../pipelines/nightly"),
            7, 28, path="deploy/jobs/nightly.yml",
            files={"databricks.yml": "bundle:\n  name: churn\n", "pipelines/nightly.py": NOTEBOOK},
            message_contains="did you mean '../../pipelines/nightly'",
        ),
    )
    valid = (
        Valid(
            _job("notebook_path: ../notebooks/train"),  # extension tried
            path="resources/job.yml", files={"databricks.yml": ROOT, "notebooks/train.ipynb": "{}"},
        ),
        Valid(
            _job("notebook_path: /Workspace/Shared/train"),  # absolute workspace path: not checked
            path="resources/job.yml", files={"databricks.yml": ROOT},
        ),
        Valid(
            _job("notebook_path: ${var.unknown_path}/train.py"),  # unknown value
            path="resources/job.yml", files={"databricks.yml": ROOT},
        ),
        Valid(  # a job that runs from git
            "resources:\n  jobs:\n    train:\n      git_source: {git_url: 'https://github.com/a/b', git_provider: gitHub, git_branch: main}\n"
            "      tasks:\n        - task_key: t\n          notebook_task: {notebook_path: notebooks/train}\n",
            path="resources/job.yml", files={"databricks.yml": ROOT},
        ),
    )

    def check_view(self, ctx, model, bundle, view, out):
        for job in view.jobs:
            for task in job.tasks:
                run = task.run
                if run is None or not run.checkable or run.path is not None or run.candidate is None:
                    continue
                yaml_folder = os.path.dirname(os.path.abspath(run.node.source.path))
                # an orphan file (no bundle root includes it): show the path from where the run
                # stands, not from the YAML's folder (that would repeat the path as written)
                shown = relative_to(run.candidate, bundle.folder) if bundle.folder is not None else model.display_path(run.candidate)
                message = (
                    f"{run.field} '{run.written}' of task '{task.label}' (job '{job.name}') resolves to "
                    f"'{shown}', which does not exist"
                )
                if run.kind == "notebook":
                    message += " (also tried .py, .ipynb, .sql, .scala, .r)"
                suggestion = bundle.suggest(run.candidate, run.kind)
                if suggestion is not None:
                    message += f"; did you mean '{_as_written(run.written, suggestion, yaml_folder, bundle.folder)}'?"
                out.add(view, run.node.source.path, run.node.span, message)


def _as_written(written: str, suggestion: str, yaml_folder: str, root: str | None) -> str:
    """The suggestion spelled the way the path was written (relative to the YAML file, or
    after ``${workspace.file_path}``)."""
    if root is not None and written.startswith("${workspace.file_path}"):
        return "${workspace.file_path}/" + relative_to(suggestion, root)
    return relative_to(suggestion, yaml_folder)
