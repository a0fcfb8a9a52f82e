from __future__ import annotations

import difflib

import yaml

from mlrules.project.bundle_schema import fields_of, job_model
from mlrules.rules.base import Invalid, Valid, YamlRule
from mlrules.sources.yaml_source import iter_mapping, mapping_get

# Keys that a more specific rule reports: (model class name, key) -> rule
REPORTED_ELSEWHERE = {("NotebookTask", "parameters"): "BND003"}


class UnknownField(YamlRule):
    """
    ## What it does
    Flags a key of a bundle job that the job schema does not know: a typo such as
    `base_paramters`, `enviroment_key` or `libraries[].pypi.pacakge`, with a did-you-mean.
    Every level the schema describes is checked: the job, its tasks (and
    `for_each_task.task`), `notebook_task`, `spark_python_task`, `environments[].spec`,
    `libraries[]`, `job_clusters[].new_cluster`, schedules, notifications and so on, in the
    base `resources.jobs` and in target overrides. Mappings with free keys (`tags`,
    `base_parameters`, `spark_conf`...) are not checked.

    The schema is read from the official typed models of the `databricks-bundles` package
    (`databricks.bundles.jobs.Job`, `Task`, `NotebookTask`, `JobEnvironment`, `Library`,
    `PythonPyPiLibrary`, `JobCluster`...), not from a list copied by hand, so it follows
    Databricks' own schema as the dependency is upgraded. Only unknown keys are reported:
    a target override is partial and never has to repeat required fields.
    `notebook_task.parameters` is BND003's finding and is not reported again here; a key
    whose value only defines a YAML anchor (`_: &cluster {...}`) is ignored, as by the CLI.

    ## Why it matters
    An unknown key is dropped with at most a warning in `databricks bundle validate`: the
    job deploys without the setting. A misspelled `base_parameters` leaves the notebook's
    widgets empty, a misspelled `environment_key` runs the task without its pinned
    dependencies, a misspelled `timeout_seconds` lets a hung job run for days.

    ## Example
    ```yaml
    tasks:
      - task_key: train
        enviroment_key: default
        notebook_task:
          notebook_path: ../src/train.py
          base_paramters:
            catalog: main
    ```

    ## Use instead
    ```yaml
    tasks:
      - task_key: train
        environment_key: default
        notebook_task:
          notebook_path: ../src/train.py
          base_parameters:
            catalog: main
    ```

    ## Fix safety
    No fix: the intended key is a guess.
    """

    code = "BND008"
    name = "unknown-field"
    summary = "Job, task, environment or library key that the bundle schema does not know"
    triggers = ("jobs",)

    invalid = (
        Invalid(
            "resources:\n  jobs:\n    train:\n      tasks:\n        - task_key: t\n          enviroment_key: default\n"
            "          notebook_task:\n            notebook_path: ../src/train.py\n            base_paramters:\n              catalog: main\n",
            6, 11, path="resources/job.yml", also=((9, 13),), message_contains="did you mean 'environment_key'",
        ),
        Invalid(
            "resources:\n  jobs:\n    train:\n      tasks:\n        - task_key: t\n          libraries:\n"
            "            - pypi:\n                pacakge: mlflow==2.19.0\n",
            8, 17, path="resources/job.yml", message_contains="did you mean 'package'",
        ),
        # a target override is checked too (but never required to be complete)
        Invalid(
            "bundle:\n  name: b\ntargets:\n  prod:\n    resources:\n      jobs:\n        train:\n          timeout_second: 3600\n",
            8, 11, path="databricks.yml", message_contains="did you mean 'timeout_seconds'",
        ),
        # environments[].spec and job clusters
        Invalid(
            "resources:\n  jobs:\n    j:\n      environments:\n        - environment_key: e\n          spec:\n"
            "            client: '2'\n            dependecies: [mlflow==2.19.0]\n"
            "      job_clusters:\n        - job_cluster_key: c\n          new_cluster:\n            spark_verison: 15.4.x-scala2.12\n",
            8, 13, path="resources/job.yml", also=((12, 13),),
        ),
        # keys merged in through a YAML anchor are reported once, where they are written
        Invalid(
            "x-task: &task\n  notebok_task: {notebook_path: ./a.py}\nresources:\n  jobs:\n    j:\n      tasks:\n"
            "        - <<: *task\n          task_key: a\n        - <<: *task\n          task_key: b\n",
            2, 3, path="resources/job.yml",
        ),
    )
    valid = (
        Valid(
            "resources:\n  jobs:\n    train:\n      name: train\n      timeout_seconds: 3600\n      tags: {anything: goes}\n"
            "      environments:\n        - environment_key: default\n          spec:\n            client: '2'\n            dependencies: [mlflow==2.19.0]\n"
            "      tasks:\n        - task_key: t\n          environment_key: default\n          notebook_task:\n"
            "            notebook_path: ../src/train.py\n            base_parameters: {catalog: main, anything: goes}\n"
            "          for_each_task:\n            inputs: '[1, 2]'\n            task:\n              task_key: inner\n"
            "              spark_python_task: {python_file: ../src/x.py, parameters: ['--a', '1']}\n",
            path="resources/job.yml",
        ),
        # an unknown key that only defines a YAML anchor is ignored (as by the CLI)
        Valid(
            "resources:\n  jobs:\n    j:\n      _: &cluster\n        spark_version: 15.4.x-scala2.12\n"
            "      tasks:\n        - task_key: t\n          new_cluster: *cluster\n",
            path="resources/job.yml",
        ),
        # notebook_task.parameters is BND003's finding
        Valid(
            "resources:\n  jobs:\n    j:\n      tasks:\n        - task_key: t\n          notebook_task:\n"
            "            notebook_path: ./a.py\n            parameters: ['--catalog', 'main']\n",
            path="resources/job.yml",
        ),
        # a partial target override with only a few keys; a job given as a complex variable
        Valid(
            "bundle:\n  name: b\ntargets:\n  prod:\n    resources:\n      jobs:\n        j:\n          tasks:\n"
            "            - task_key: t\n              max_retries: 2\n        k: ${var.job}\n",
            path="databricks.yml",
        ),
    )

    def check(self, ctx):
        job = job_model()
        if job is None:
            return
        root = ctx.root
        places = [mapping_get(mapping_get(root, "resources"), "jobs")]
        for _target, (_key, node) in iter_mapping(mapping_get(root, "targets")):
            places.append(mapping_get(mapping_get(node, "resources"), "jobs"))
        seen: set[int] = set()
        for jobs in places:
            for name, (_key, node) in iter_mapping(jobs):
                yield from self._walk(ctx, node, job, f"job '{name}'", seen, 0)

    def _walk(self, ctx, node: yaml.Node, model: type, where: str, seen: set[int], depth: int):
        if not isinstance(node, yaml.MappingNode) or depth > 40:
            return
        known = fields_of(model)
        for name, (key, value) in iter_mapping(node):
            shape = known.get(name)
            if shape is None:
                if id(key) in seen or (model.__name__, name) in REPORTED_ELSEWHERE or "${" in name:
                    continue
                if _anchor_container(ctx.source.text, key, value):
                    continue  # `_: &common {...}`: a block defined for aliases, ignored like the CLI does
                seen.add(id(key))
                close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                yield self.finding(
                    ctx.path,
                    ctx.span(key),
                    f"Unknown key '{name}' in {where}{hint}: the bundle schema ({model.__name__}) has no such field, so the setting is dropped",
                )
                continue
            if shape.model is None:
                continue
            if shape.container is None:
                yield from self._walk(ctx, value, shape.model, f"{where} {name}", seen, depth + 1)
            elif shape.container == "list" and isinstance(value, yaml.SequenceNode):
                for item in value.value:
                    yield from self._walk(ctx, item, shape.model, f"{where} {name}[]", seen, depth + 1)
            elif shape.container == "dict":
                for entry, (_k, item) in iter_mapping(value):
                    yield from self._walk(ctx, item, shape.model, f"{where} {name}.{entry}", seen, depth + 1)


def _anchor_container(text: str, key: yaml.Node, value: yaml.Node) -> bool:
    """``value`` is an anchor defined right at ``key`` (``key: &name ...``), or a non-empty
    mapping/sequence made only of such anchors: the CLI does not warn about these keys."""

    def is_anchor(node: yaml.Node, after: int) -> bool:
        start = node.start_mark.index
        return text[start : start + 1] == "&" and text[after:start].strip(" \t\r\n:-") == ""

    if is_anchor(value, key.end_mark.index):
        return True
    if isinstance(value, yaml.MappingNode) and value.value:
        return all(is_anchor(v, k.end_mark.index) for k, v in value.value)
    if isinstance(value, yaml.SequenceNode) and value.value:
        return all(text[item.start_mark.index : item.start_mark.index + 1] == "&" for item in value.value)
    return False
