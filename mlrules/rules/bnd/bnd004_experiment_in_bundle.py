from __future__ import annotations

import re

import yaml

from mlrules.rules.base import Invalid, Valid, YamlRule
from mlrules.sources.yaml_source import iter_mapping, mapping_get, mapping_pair


class ExperimentInBundle(YamlRule):
    """
    ## What it does
    Flags `resources.experiments` in a bundle file, at the top level or in a target override
    (`targets.<name>.resources.experiments`). The finding points at the `experiments` key.

    ## Why it matters
    A bundle deploys its experiments per target and, in `mode: development`, prefixes their
    names with `[dev <user>]`. The training code then either logs to a different experiment
    than the one the bundle created, or creates the experiment itself next to the bundle's:
    duplicate experiments, runs split between them, and permissions that only one of them
    has. Experiments belong to the code that logs to them: `mlflow.set_experiment("/Shared/...")`
    creates it on first use.

    Not flagged: an experiment that the bundle itself hands to its consumer by reference
    (`${resources.experiments.<key>.id}` or `.name` anywhere in the bundle's files, e.g. an
    app's `resources:` entry or a job parameter). The code then logs to exactly the
    experiment the bundle deployed, and an app resource can only bind an experiment by that
    reference. When only some experiments of the mapping are referenced, the message names
    the others.

    ## Example
    ```yaml
    resources:
      experiments:
        churn:
          name: /Shared/churn
    ```

    ## Use instead
    ```python
    mlflow.set_experiment("/Shared/churn")  # in the training notebook
    ```

    ## Fix safety
    No fix: removing a deployed resource from the bundle deletes it on the next deploy.
    """

    code = "BND004"
    name = "experiment-in-bundle"
    summary = "MLflow experiment defined as a bundle resource instead of in code"
    triggers = ("experiments",)

    invalid = (
        Invalid(
            "resources:\n  experiments:\n    churn:\n      name: /Shared/churn\n",
            2, 3, path="resources/experiment.yml",
        ),
        Invalid(
            "bundle:\n  name: churn\ntargets:\n  dev:\n    resources:\n      experiments:\n        churn_dev:\n          name: /Shared/churn_dev\n",
            6, 7, path="databricks.yml", message_contains="target 'dev'",
        ),
        # only one of two experiments is handed to its consumer: the other one is named
        Invalid(
            "bundle:\n  name: b\nresources:\n  experiments:\n    used:\n      name: /Shared/used\n"
            "    spare:\n      name: /Shared/spare\n  jobs:\n    j:\n      parameters:\n"
            "        - name: exp\n          default: ${resources.experiments.used.name}\n",
            4, 3, path="databricks.yml", message_contains="experiment 'spare':",
        ),
    )
    valid = (
        Valid("resources:\n  jobs:\n    train:\n      name: train\n", path="resources/job.yml"),
        # a job parameter that merely mentions experiments
        Valid(
            "resources:\n  jobs:\n    train:\n      parameters:\n        - name: experiments\n          default: /Shared/churn\n",
            path="resources/job.yml",
        ),
        # an app binds the experiment by reference: the code logs to the bundle's own experiment
        Valid(
            "bundle:\n  name: agents\nresources:\n  experiments:\n    traces:\n      name: /Shared/agent-traces\n"
            "  apps:\n    chat:\n      name: chat\n      source_code_path: ./app\n      resources:\n"
            "        - name: tracing\n          experiment:\n            experiment_id: ${resources.experiments.traces.id}\n"
            "            permission: CAN_EDIT\n",
            path="databricks.yml",
        ),
        # the reference sits in another file of the bundle (a job parameter)
        Valid(
            "resources:\n  experiments:\n    scoring:\n      name: /Shared/scoring\n",
            path="resources/experiments.yml",
            files={
                "databricks.yml": "bundle:\n  name: scoring\ninclude:\n  - resources/*.yml\n",
                "resources/job.yml": "resources:\n  jobs:\n    score:\n      parameters:\n        - name: experiment\n"
                "          default: ${resources.experiments.scoring.name}\n",
            },
        ),
    )

    def check(self, ctx):
        referenced = _referenced_experiments(ctx)
        root = ctx.root
        places = [(None, mapping_get(root, "resources"))]
        for target, (_key, node) in iter_mapping(mapping_get(root, "targets")):
            places.append((target, mapping_get(node, "resources")))
        seen: set[int] = set()
        for target, resources in places:
            pair = mapping_pair(resources, "experiments")
            if pair is None:
                continue
            key, value = pair
            if id(key) in seen or (isinstance(value, yaml.ScalarNode) and value.tag.endswith(":null")):
                continue
            seen.add(id(key))
            names = [name for name, _ in iter_mapping(value)]
            if names and all(name in referenced for name in names):
                continue  # the bundle wires every experiment to its consumer by reference
            names = [name for name in names if name not in referenced]
            what = f"experiment{'s' if len(names) != 1 else ''} {', '.join(repr(n) for n in names)}" if names else "experiments"
            where = f" in target '{target}'" if target else ""
            yield self.finding(
                ctx.path,
                ctx.span(key),
                f"Bundle defines {what}{where}: create experiments in code with "
                "`mlflow.set_experiment('/Shared/...')` (bundle experiments are duplicated per target and prefixed in development mode)",
            )


_REFERENCE = re.compile(r"\$\{resources\.experiments\.([A-Za-z0-9_-]+)\.")


def _referenced_experiments(ctx) -> set[str]:
    """Experiment keys that a `${resources.experiments.<key>.<field>}` reference names in this
    file or any file of its bundle (root and included files)."""
    texts = [ctx.source.text]
    bundle = ctx.project.bundle_model.bundle_of(ctx.path)
    if bundle is not None:
        texts.extend(source.text for source in bundle.files if source.path != ctx.path)
    return {match.group(1) for text in texts if "resources.experiments." in text for match in _REFERENCE.finditer(text)}
