from __future__ import annotations

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
    )
    valid = (
        Valid("resources:\n  jobs:\n    train:\n      name: train\n", path="resources/job.yml"),
        # a job parameter that merely mentions experiments
        Valid(
            "resources:\n  jobs:\n    train:\n      parameters:\n        - name: experiments\n          default: /Shared/churn\n",
            path="resources/job.yml",
        ),
    )

    def check(self, ctx):
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
            what = f"experiment{'s' if len(names) != 1 else ''} {', '.join(repr(n) for n in names)}" if names else "experiments"
            where = f" in target '{target}'" if target else ""
            yield self.finding(
                ctx.path,
                ctx.span(key),
                f"Bundle defines {what}{where}: create experiments in code with "
                "`mlflow.set_experiment('/Shared/...')` (bundle experiments are duplicated per target and prefixed in development mode)",
            )
