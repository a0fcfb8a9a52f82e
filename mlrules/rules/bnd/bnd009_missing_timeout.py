from __future__ import annotations

from mlrules.model import Severity
from mlrules.rules.base import Invalid, Valid
from mlrules.rules.bundle_rule import BundleViewRule

ROOT = "bundle:\n  name: churn\ninclude:\n  - resources/*.yml\n"


class MissingTimeout(BundleViewRule):
    """
    ## What it does
    Flags a bundle job without `timeout_seconds` (after the target merge) whose tasks do not
    all set their own. The finding points at the job's key and names the notebook tasks
    that have no timeout either. A job-level timeout bounds every task of the run, so tasks
    of a job that has one are not reported; an explicit `timeout_seconds: 0` is taken as a
    deliberate choice. A job without tasks (a placeholder, or one whose tasks only some
    targets add: those targets' views are checked) runs no compute and is not reported, nor
    is a job whose tasks only start other jobs (`run_job_task`, judged on their own) or
    branch (`condition_task`).

    Opt-in (`extend-select = ["BND009"]`).

    ## Why it matters
    A notebook that hangs (a stuck cluster, a `collect()` on a huge table, a lock on a
    feature table) keeps its compute running with no limit: the default is no timeout.
    The seed's job templates set one (`timeout_seconds: 14400` for training).

    ## Example
    ```yaml
    resources:
      jobs:
        churn_training:
          tasks:
            - task_key: train
              notebook_task: {notebook_path: ../notebooks/train.py}
    ```

    ## Use instead
    ```yaml
    resources:
      jobs:
        churn_training:
          timeout_seconds: 14400
          tasks: ...
    ```

    ## Fix safety
    No fix: the right limit depends on the job.
    """

    code = "BND009"
    name = "missing-timeout"
    summary = "Job (and its notebook tasks) without timeout_seconds"
    severity = Severity.WARNING
    default_enabled = False

    invalid = (
        # an orchestrator that also refreshes a pipeline itself: that task runs compute
        Invalid(
            "resources:\n  jobs:\n    nightly:\n      tasks:\n        - task_key: refresh\n          run_job_task: {job_id: 11}\n"
            "        - task_key: dlt\n          pipeline_task: {pipeline_id: abc}\n",
            3, 5, path="resources/job.yml", files={"databricks.yml": ROOT},
        ),
        Invalid(
            "resources:\n  jobs:\n    churn_training:\n      tasks:\n        - task_key: train\n"
            "          notebook_task: {notebook_path: ../nb.py}\n",
            3, 5, path="resources/job.yml", files={"databricks.yml": ROOT}, message_contains="'train'",
        ),
        # the timeout is only set for prod
        Invalid(
            "resources:\n  jobs:\n    j:\n      tasks:\n        - task_key: a\n          notebook_task: {notebook_path: ../nb.py}\n",
            3, 5, path="resources/job.yml",
            files={"databricks.yml": ROOT + "targets:\n  dev: {default: true}\n  prod:\n    resources:\n      jobs:\n        j:\n          timeout_seconds: 3600\n"},
            message_contains="(target 'dev')",
        ),
    )
    valid = (
        # an orchestrator: its tasks start other jobs (each judged on its own) and branch
        Valid(
            "resources:\n  jobs:\n    nightly:\n      tasks:\n        - task_key: refresh\n          run_job_task: {job_id: 11}\n"
            "        - task_key: gate\n          depends_on: [{task_key: refresh}]\n"
            "          condition_task: {op: EQUAL_TO, left: '1', right: '1'}\n",
            path="resources/job.yml", files={"databricks.yml": ROOT},
        ),
        # a placeholder job with no tasks yet: nothing runs, nothing to bound
        Valid("resources:\n  jobs:\n    rollback:\n      name: rollback\n", path="resources/job.yml", files={"databricks.yml": ROOT}),
        Valid(
            "resources:\n  jobs:\n    j:\n      timeout_seconds: 14400\n      tasks:\n        - task_key: a\n          notebook_task: {notebook_path: ../nb.py}\n",
            path="resources/job.yml", files={"databricks.yml": ROOT},
        ),
        Valid(
            "resources:\n  jobs:\n    j:\n      tasks:\n        - task_key: a\n          timeout_seconds: 600\n          notebook_task: {notebook_path: ../nb.py}\n",
            path="resources/job.yml", files={"databricks.yml": ROOT},
        ),
        # the timeout comes from a target override in every target
        Valid(
            "resources:\n  jobs:\n    j:\n      tasks:\n        - task_key: a\n          notebook_task: {notebook_path: ../nb.py}\n",
            path="resources/job.yml",
            files={"databricks.yml": ROOT + "targets:\n  prod:\n    resources:\n      jobs:\n        j:\n          timeout_seconds: 3600\n"},
        ),
    )

    def check_view(self, ctx, model, bundle, view, out):
        for job in view.jobs:
            if job.node.get("timeout_seconds") is not None or job.key is None:
                continue
            tasks = [t for t in job.tasks if t.parent is None]
            lacking = [t for t in tasks if t.node.get("timeout_seconds") is None and not _orchestration_only(t)]
            if not lacking:  # every task has its own, or the job runs no compute of its own
                continue
            notebooks = [t.label for t in lacking if t.notebook_task is not None]
            detail = f" and neither do its notebook tasks {', '.join(repr(n) for n in notebooks)}" if notebooks else ""
            out.add(
                view, job.node.source.path, job.node.key_span,
                f"Job '{job.name}' has no timeout_seconds{detail}: a hung run keeps its compute with no limit",
            )


# tasks that run no compute of their own: another job (judged on its own), a branch
_ORCHESTRATION = ("run_job_task", "condition_task")


def _orchestration_only(task) -> bool:
    return any(task.node.get(kind) is not None for kind in _ORCHESTRATION)
