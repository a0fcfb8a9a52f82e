from __future__ import annotations

import yaml

from mlrules.project.bundle_model import (
    VARIABLE_REFERENCE,
    close_match,
    iter_scalars,
    reference_span,
)
from mlrules.rules.base import Invalid, ProjectRule, Valid
from mlrules.rules.bundle_rule import distinct
from mlrules.sources.yaml_source import iter_mapping

ROOT = "bundle:\n  name: churn\ninclude:\n  - resources/*.yml\nvariables:\n  catalog:\n    default: ml_dev\n"


class UndefinedVariable(ProjectRule):
    """
    ## What it does
    Flags a `${var.x}` (also `${var.x.field}` and `${variables.x.value}`) whose variable `x`
    is not declared under the top-level `variables:` of the bundle: the root file or any file
    its `include:` reaches. A value assigned only in a target (`targets.prod.variables.x`) is
    not a declaration. The finding points at the reference inside the value.

    YAML files that no bundle root includes are not checked (their declarations are unknown).

    ## Why it matters
    `databricks bundle validate` and `deploy` stop with `reference does not exist: ${var.x}`;
    a typo such as `${var.catlog}` in a rarely deployed target is found in production.

    ## Example
    ```yaml
    variables:
      catalog:
        default: ml_dev
    ...
          base_parameters:
            catalog: ${var.catlog}
    ```

    ## Use instead
    ```yaml
            catalog: ${var.catalog}
    ```

    ## Fix safety
    No fix: the message suggests the closest declared variable.
    """

    code = "BND007"
    name = "undefined-variable"
    summary = "${var.x} reference to a variable the bundle does not declare"

    invalid = (
        Invalid(
            "resources:\n  jobs:\n    train:\n      tasks:\n        - task_key: t\n          notebook_task:\n"
            "            notebook_path: ../nb.py\n            base_parameters:\n              catalog: ${var.catlog}\n"
            "              schema: \"${var.catalog}_${variables.schema.value}\"\n",
            9, 24, path="resources/job.yml", also=((10, 39),), files={"databricks.yml": ROOT},
            message_contains="did you mean 'catalog'",
        ),
        # assigned in a target but never declared
        Invalid(
            ROOT + "targets:\n  prod:\n    variables:\n      schema: prod\nresources:\n  jobs:\n    j:\n      name: ${var.schema}-job\n",
            15, 13, path="databricks.yml",
        ),
    )
    valid = (
        Valid(
            "resources:\n  jobs:\n    j:\n      name: ${var.catalog}-${bundle.target}\n      tags: {owner: '${workspace.current_user.userName}'}\n",
            path="resources/job.yml", files={"databricks.yml": ROOT},
        ),
        # declared in an included file; complex variable fields
        Valid(
            ROOT + "resources:\n  jobs:\n    j:\n      job_clusters:\n        - job_cluster_key: c\n          new_cluster: ${var.cluster}\n"
            "      name: ${var.cluster.spark_version}\n",
            path="databricks.yml",
            files={"resources/vars.yml": "variables:\n  cluster:\n    type: complex\n    default: {spark_version: 15.4.x-scala2.12}\n"},
        ),
        # a name built from another reference; scripts are not interpolated
        Valid(
            ROOT + "  foo_x:\n    default: x\n  tail:\n    default: x\n  final:\n    default: ${var.foo_${var.tail}}\n"
            "scripts:\n  hello:\n    content: echo ${var.SHELL_VAR}\n",
            path="databricks.yml",
        ),
        # a file no bundle root includes: declarations unknown
        Valid("resources:\n  jobs:\n    j:\n      name: ${var.anything}\n", path="other/job.yml", files={"databricks.yml": ROOT}),
    )

    def check(self, ctx):
        return distinct(self._check(ctx))

    def _check(self, ctx):
        model = ctx.project.bundle_model
        for bundle in model.bundles:
            if bundle.is_orphan:
                continue
            declared = set(bundle.variables)
            for source in bundle.files:
                if not model.reportable(source.path):
                    continue
                for node in _interpolated_scalars(source.root):
                    text = str(node.value)
                    if "${" not in text:
                        continue
                    for match in VARIABLE_REFERENCE.finditer(text):
                        name = match.group(1)
                        if name in declared or text.startswith("${", match.end()):
                            continue  # declared, or a name built from another reference: ${var.foo_${var.tail}}
                        hint = close_match(name, declared)
                        reference = _reference_text(text, match.start())
                        yield self.finding(
                            source.path,
                            reference_span(source, node, reference),
                            f"{reference} refers to variable '{name}', which the bundle does not declare under `variables:`"
                            + (f"; did you mean '{hint}'?" if hint else ""),
                        )


def _interpolated_scalars(root):
    """Scalars the CLI interpolates: everything but the ``scripts:`` section (run as written)."""
    if root is None:
        return
    if isinstance(root, yaml.MappingNode):
        for name, (_key, value) in iter_mapping(root):
            if name != "scripts":
                yield from iter_scalars(value)
    else:
        yield from iter_scalars(root)


def _reference_text(text: str, start: int) -> str:
    end = text.find("}", start)
    return text[start : end + 1] if end != -1 else text[start:]
