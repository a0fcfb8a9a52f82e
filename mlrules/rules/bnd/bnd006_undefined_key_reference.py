from __future__ import annotations

from mlrules.project.bundle_model import close_match
from mlrules.rules.base import Invalid, Valid
from mlrules.rules.bundle_rule import BundleViewRule

ROOT = "bundle:\n  name: churn\ninclude:\n  - resources/*.yml\n"

# (task key that references, job sequence that defines, key inside it, what it is called)
REFERENCES = (
    ("environment_key", "environments", "environment_key", "environment"),
    ("job_cluster_key", "job_clusters", "job_cluster_key", "job cluster"),
)


class UndefinedKeyReference(BundleViewRule):
    """
    ## What it does
    Flags a task that refers to something its job does not define, after the target merge:
    an `environment_key` missing from the job's `environments`, a `job_cluster_key` missing
    from `job_clusters`, or a `depends_on[].task_key` naming no task of the job. Values with
    `${var.x}` are resolved per target; unknown values and lists given as a variable are not
    judged. When the reference is wrong in some targets only, the message names them.

    ## Why it matters
    The deploy fails (`environment_key ... not found`, `task ... depends on unknown task`),
    or worse, a target override renames an environment and only the production deploy
    breaks. A typo in `depends_on` turns a pipeline's order into a race.

    ## Example
    ```yaml
    environments:
      - environment_key: default
    tasks:
      - task_key: train
        environment_key: defualt
      - task_key: score
        depends_on:
          - task_key: trian
    ```

    ## Use instead
    ```yaml
        environment_key: default
        depends_on:
          - task_key: train
    ```

    ## Fix safety
    No fix: the message suggests the closest defined key.
    """

    code = "BND006"
    name = "undefined-key-reference"
    summary = "Task environment_key / job_cluster_key / depends_on that the job does not define"

    invalid = (
        Invalid(
            "resources:\n  jobs:\n    train:\n      environments:\n        - environment_key: default\n          spec: {client: '2'}\n"
            "      tasks:\n        - task_key: train\n          environment_key: defualt\n"
            "        - task_key: score\n          environment_key: default\n          depends_on:\n            - task_key: trian\n",
            9, 28, path="resources/job.yml", also=((13, 25),), files={"databricks.yml": ROOT},
            message_contains="did you mean 'default'",
        ),
        Invalid(
            "resources:\n  jobs:\n    train:\n      job_clusters:\n        - job_cluster_key: cpu\n          new_cluster: {num_workers: 1}\n"
            "      tasks:\n        - task_key: train\n          job_cluster_key: gpu\n",
            9, 28, path="resources/job.yml", files={"databricks.yml": ROOT},
        ),
        # a target override renames the environment: only that target breaks
        Invalid(
            "bundle:\n  name: churn\ninclude:\n  - resources/*.yml\ntargets:\n  dev:\n    default: true\n  prod:\n    resources:\n      jobs:\n        train:\n"
            "          tasks:\n            - task_key: train\n              environment_key: serverless\n",
            14, 32, path="databricks.yml",
            files={"resources/job.yml": "resources:\n  jobs:\n    train:\n      environments:\n        - environment_key: default\n"
                   "      tasks:\n        - task_key: train\n          environment_key: default\n"},
            message_contains="(target 'prod')",
        ),
    )
    valid = (
        # environments, clusters and tasks merged from a target override
        Valid(
            "bundle:\n  name: churn\ninclude:\n  - resources/*.yml\ntargets:\n  prod:\n    resources:\n      jobs:\n        train:\n"
            "          environments:\n            - environment_key: gpu\n          tasks:\n            - task_key: extra\n"
            "              environment_key: gpu\n              depends_on: [{task_key: train}]\n",
            path="databricks.yml",
            files={"resources/job.yml": "resources:\n  jobs:\n    train:\n      environments:\n        - environment_key: default\n"
                   "      tasks:\n        - task_key: train\n          environment_key: default\n"},
        ),
        # a variable that resolves; environments given as a complex variable (unknown)
        Valid(
            "bundle:\n  name: b\nvariables:\n  env:\n    default: default\nresources:\n  jobs:\n    a:\n"
            "      environments:\n        - environment_key: default\n      tasks:\n        - task_key: t\n          environment_key: ${var.env}\n"
            "    b:\n      environments: ${var.envs}\n      tasks:\n        - task_key: t\n          environment_key: whatever\n",
            path="databricks.yml",
        ),
    )

    def check_view(self, ctx, model, bundle, view, out):
        for job in view.jobs:
            task_keys = job.keys_of("tasks", "task_key")
            defined = {seq: job.keys_of(seq, key) for _ref, seq, key, _what in REFERENCES}
            for task in job.tasks:
                for ref, seq, _key, what in REFERENCES:
                    node = task.node.get(ref)
                    names = defined[seq]
                    if node is None or node.value is None or names is None:
                        continue
                    value = view.resolve(node.value)
                    if value is None or value in names:
                        continue
                    known = ", ".join(f"'{n}'" for n in sorted(names)) or "none"
                    hint = close_match(value, names)
                    out.add(
                        view, node.source.path, node.span,
                        f"Task '{task.label}' of job '{job.name}' uses {ref} '{value}', but the job defines no such {what} "
                        f"(defined: {known})" + (f"; did you mean '{hint}'?" if hint else ""),
                    )
                if task.parent is not None or task_keys is None:
                    continue
                depends = task.node.get("depends_on")
                for item in depends.mapping_items() if depends is not None else ():
                    node = item.get("task_key")
                    if node is None or node.value is None:
                        continue
                    value = view.resolve(node.value)
                    if value is None or value in task_keys:
                        continue
                    hint = close_match(value, task_keys)
                    out.add(
                        view, node.source.path, node.span,
                        f"Task '{task.label}' of job '{job.name}' depends on task '{value}', which the job does not have"
                        + (f"; did you mean '{hint}'?" if hint else ""),
                    )
