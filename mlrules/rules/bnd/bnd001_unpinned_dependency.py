from __future__ import annotations

import yaml

from mlrules.analysis.requirements import exact_pin, parse_named_requirement
from mlrules.model import Applicability
from mlrules.project.bundle import iter_dependency_nodes
from mlrules.project.variables import resolve_variables
from mlrules.rules.base import Invalid, Valid, YamlRule
from mlrules.sources.yaml_edit import render_scalar, style_of

PINS = {"requirements.txt": "mlflow==2.19.0\nscikit-learn==1.5.2\n"}


def _job(body: str) -> str:
    return "".join(line + "\n" for line in body.split("\n"))


class UnpinnedDependency(YamlRule):
    """
    ## What it does
    Flags a package requirement of a bundle job that is not pinned to one exact version with
    `==`: an entry of a job's `environments[].spec.dependencies`, or a task's
    `libraries[].pypi.package` (also inside `for_each_task.task` and target overrides). A bare
    name (`mlflow`), a range (`mlflow>=2.0`, `~=`, `<`, `!=`) or a wildcard (`mlflow==2.*`)
    is flagged.

    Not flagged: wheels and eggs (`./dist/*.whl`), paths (`/Volumes/...`, `/Workspace/...`),
    `-r requirements.txt`, `-e .` and other pip options, VCS and URL requirements
    (`git+https://...`, `name @ https://...`). Requirements files named by
    `libraries[].requirements` are read for pins but never reported on.

    A value with `${var.x}` is judged by the variable's `default:` (declared under top-level
    `variables:` of the same bundle); the finding is reported at the reference. A variable
    without a default, declared with different defaults, or any other `${...}` reference
    (`${bundle.target}`) makes the value unknown: nothing is reported. Target overrides of a
    variable (`targets.prod.variables.x`) are not considered: the default is what every
    target without an override installs.

    ## Why it matters
    Training and serving must load a model with the same library versions. An unpinned
    dependency resolves to whatever is newest on the day the job runs, so a model logged with
    one MLflow or scikit-learn version gets deserialized with another (warnings at best,
    `AttributeError`/pickle failures at worst), and a rerun of last month's job no longer
    reproduces it.

    ## Example
    ```yaml
    environments:
      - environment_key: default
        spec:
          client: "2"
          dependencies:
            - mlflow>=2.0
            - scikit-learn
    ```

    ## Use instead
    ```yaml
          dependencies:
            - mlflow==2.19.0
            - scikit-learn==1.5.2
    ```

    ## Fix safety
    Safe, and only offered when the project pins the package to exactly one version elsewhere
    and that version satisfies the range already written (`mlflow>=2` is not "fixed" to
    `1.30.0`). The project's pins come from: other environments and task libraries of every
    bundle file (also the bundle root and included files that were not given on the command
    line: pre-commit passes only the changed files), requirements files named by
    `libraries[].requirements` or by a `-r <file>` dependency, `requirements*.txt` files of
    the run and of the bundle root's folder, and the `%pip install` lines of the run's
    notebooks and of the notebooks that bundle tasks run (read from disk when not given).
    In a repository with several bundles, a pin inside the folder of another bundle root (a
    sibling project's job or app) does not count for a file outside that folder; pins
    outside every bundle folder do. The message names where the version is pinned.
    The scalar is replaced by `name==version` (extras and environment markers kept) in the
    scalar's own quoting style. A `${var.x}` reference gets no fix: the pin belongs in the
    variable's `default:`, which may be shared by other references.
    """

    code = "BND001"
    name = "unpinned-dependency"
    summary = "Bundle job dependency not pinned to an exact `==` version"
    fix = Applicability.SAFE
    triggers = ("dependencies", "package")

    invalid = (
        # bare name, fixed from requirements.txt
        Invalid(
            _job(
                "resources:\n  jobs:\n    train:\n      environments:\n        - environment_key: default\n"
                "          spec:\n            client: \"2\"\n            dependencies:\n"
                "              - mlflow  # tracking\n              - scikit-learn==1.5.2"
            ),
            9, 17, path="resources/job.yml", files=PINS,
            fixed=_job(
                "resources:\n  jobs:\n    train:\n      environments:\n        - environment_key: default\n"
                "          spec:\n            client: \"2\"\n            dependencies:\n"
                "              - mlflow==2.19.0  # tracking\n              - scikit-learn==1.5.2"
            ),
        ),
        # range, double-quoted: quoting kept; version from another YAML environment
        Invalid(
            'resources:\n  jobs:\n    infer:\n      environments:\n        - environment_key: e\n'
            '          spec:\n            dependencies: ["mlflow>=2.0", "pandas"]\n',
            7, 28, path="resources/infer.yml", also=((7, 43),),
            files={"resources/train.yml": "resources:\n  jobs:\n    train:\n      environments:\n        - environment_key: e\n          spec:\n            dependencies:\n              - mlflow==2.19.0\n"},
            fixed='resources:\n  jobs:\n    infer:\n      environments:\n        - environment_key: e\n'
            '          spec:\n            dependencies: ["mlflow==2.19.0", "pandas"]\n',
        ),
        # single-quoted compatible release, extras kept, pin from a notebook %pip line
        Invalid(
            "resources:\n  jobs:\n    j:\n      tasks:\n        - task_key: t\n          libraries:\n"
            "            - pypi:\n                package: 'mlflow[databricks]~=2.19'\n",
            8, 26, path="resources/job.yml",
            files={"notebooks/train.py": "# Databricks notebook source\n# MAGIC %pip install mlflow==2.19.0\n"},
            fixed="resources:\n  jobs:\n    j:\n      tasks:\n        - task_key: t\n          libraries:\n"
            "            - pypi:\n                package: 'mlflow[databricks]==2.19.0'\n",
        ),
        # wildcard pin; no project pin known -> no fix
        Invalid(
            "resources:\n  jobs:\n    j:\n      tasks:\n        - task_key: t\n          libraries:\n"
            "            - pypi: {package: xgboost==2.*}\n",
            7, 31, path="resources/job.yml", fixed=None,
        ),
        # a monorepo: the pin in another bundle's folder (its app) is not this bundle's -> no fix
        Invalid(
            "bundle:\n  name: ingest\nresources:\n  jobs:\n    pull:\n      environments:\n        - environment_key: e\n"
            "          spec:\n            dependencies:\n              - requests>=2.31\n",
            10, 17, path="ingest/databricks.yml",
            files={"portal/databricks.yml": "bundle:\n  name: portal\n", "portal/app/requirements.txt": "requests==2.32.3\n"},
            fixed=None,
        ),
        # two conflicting pins elsewhere -> no fix
        Invalid(
            "resources:\n  jobs:\n    j:\n      environments:\n        - environment_key: e\n          spec:\n"
            "            dependencies:\n              - mlflow\n",
            8, 17, path="resources/job.yml",
            files={"requirements.txt": "mlflow==2.19.0\n", "requirements-dev.txt": "mlflow==2.17.0\n"},
            fixed=None,
        ),
        # written range excludes the project's pin -> no fix
        Invalid(
            "resources:\n  jobs:\n    j:\n      environments:\n        - environment_key: e\n          spec:\n"
            "            dependencies:\n              - mlflow<2\n",
            8, 17, path="resources/job.yml", files=PINS, fixed=None,
        ),
        # ${var.x}: judged by the default, reported at the reference, no fix
        Invalid(
            "bundle:\n  name: b\nvariables:\n  mlflow_req:\n    default: mlflow>=2\nresources:\n  jobs:\n    j:\n"
            "      environments:\n        - environment_key: e\n          spec:\n            dependencies:\n"
            "              - ${var.mlflow_req}\n",
            13, 17, path="databricks.yml", files=PINS, fixed=None,
            message_contains="mlflow>=2",
        ),
        # variable declared in the bundle root, referenced from an included file
        Invalid(
            "resources:\n  jobs:\n    j:\n      tasks:\n        - task_key: t\n          libraries:\n"
            "            - pypi:\n                package: \"scikit-learn${var.sk_spec}\"\n",
            8, 26, path="resources/job.yml",
            files={"databricks.yml": "bundle:\n  name: b\ninclude:\n  - resources/*.yml\nvariables:\n  sk_spec:\n    default: \">=1.5\"\n"},
            fixed=None,
        ),
        # anchors and aliases: reported once, at the anchored definition
        Invalid(
            "resources:\n  jobs:\n    a:\n      environments:\n        - environment_key: e\n          spec:\n"
            "            dependencies: &deps\n              - lightgbm\n    b:\n      environments:\n"
            "        - environment_key: e\n          spec:\n            dependencies: *deps\n",
            8, 17, path="resources/job.yml", files={"requirements.txt": "lightgbm==4.5.0\n"},
            fixed="resources:\n  jobs:\n    a:\n      environments:\n        - environment_key: e\n          spec:\n"
            "            dependencies: &deps\n              - lightgbm==4.5.0\n    b:\n      environments:\n"
            "        - environment_key: e\n          spec:\n            dependencies: *deps\n",
        ),
        # merge key: a shared environment spec merged into a job's environment
        Invalid(
            "x-spec: &spec\n  client: \"2\"\n  dependencies:\n    - pandas>=2\nresources:\n  jobs:\n    j:\n"
            "      environments:\n        - environment_key: e\n          spec:\n            <<: *spec\n",
            4, 7, path="resources/job.yml", files={"requirements.txt": "pandas==2.2.3\n"},
            fixed="x-spec: &spec\n  client: \"2\"\n  dependencies:\n    - pandas==2.2.3\nresources:\n  jobs:\n    j:\n"
            "      environments:\n        - environment_key: e\n          spec:\n            <<: *spec\n",
        ),
        # target override, for_each_task library, CRLF kept
        Invalid(
            "bundle:\r\n  name: b\r\ntargets:\r\n  prod:\r\n    resources:\r\n      jobs:\r\n        j:\r\n"
            "          tasks:\r\n            - task_key: loop\r\n              for_each_task:\r\n"
            "                inputs: '[1, 2]'\r\n                task:\r\n                  task_key: inner\r\n"
            "                  libraries:\r\n                    - pypi:\r\n                        package: mlflow!=2.18.0\r\n",
            16, 34, path="databricks.yml", files=PINS,
            fixed="bundle:\r\n  name: b\r\ntargets:\r\n  prod:\r\n    resources:\r\n      jobs:\r\n        j:\r\n"
            "          tasks:\r\n            - task_key: loop\r\n              for_each_task:\r\n"
            "                inputs: '[1, 2]'\r\n                task:\r\n                  task_key: inner\r\n"
            "                  libraries:\r\n                    - pypi:\r\n                        package: mlflow==2.19.0\r\n",
        ),
        # pins from the bundle's own files: a requirements file named by a task library (any
        # name), a `-r` dependency, and the %pip line of the notebook a task runs
        Invalid(
            "resources:\n  jobs:\n    j:\n      environments:\n        - environment_key: e\n          spec:\n"
            "            dependencies:\n              - -r ${workspace.file_path}/deps/serving.txt\n"
            "              - mlflow\n              - scikit-learn>=1.5\n              - xgboost\n"
            "      tasks:\n        - task_key: t\n          environment_key: e\n          notebook_task:\n"
            "            notebook_path: ../notebooks/train\n          libraries:\n            - requirements: ../deps/ml.txt\n",
            9, 17, also=((10, 17), (11, 17)), path="resources/job.yml",
            files={
                "databricks.yml": "bundle:\n  name: b\ninclude:\n  - resources/*.yml\n",
                "deps/ml.txt": "mlflow==2.19.0  # training\n",
                "deps/serving.txt": "scikit-learn==1.5.2\n",
                "notebooks/train.py": "# Databricks notebook source\n# MAGIC %pip install xgboost==2.1.1\n",
            },
            fixed="resources:\n  jobs:\n    j:\n      environments:\n        - environment_key: e\n          spec:\n"
            "            dependencies:\n              - -r ${workspace.file_path}/deps/serving.txt\n"
            "              - mlflow==2.19.0\n              - scikit-learn==1.5.2\n              - xgboost==2.1.1\n"
            "      tasks:\n        - task_key: t\n          environment_key: e\n          notebook_task:\n"
            "            notebook_path: ../notebooks/train\n          libraries:\n            - requirements: ../deps/ml.txt\n",
            message_contains="the project pins mlflow==2.19.0 (deps/ml.txt:1)",
        ),
        # environment marker kept
        Invalid(
            "resources:\n  jobs:\n    j:\n      environments:\n        - environment_key: e\n          spec:\n"
            "            dependencies:\n              - 'mlflow; python_version >= \"3.10\"'\n",
            8, 17, path="resources/job.yml", files=PINS,
            fixed="resources:\n  jobs:\n    j:\n      environments:\n        - environment_key: e\n          spec:\n"
            "            dependencies:\n              - 'mlflow==2.19.0; python_version >= \"3.10\"'\n",
        ),
    )
    valid = (
        Valid(
            "resources:\n  jobs:\n    j:\n      environments:\n        - environment_key: e\n          spec:\n"
            "            dependencies:\n              - mlflow==2.19.0\n              - \"scikit-learn==1.5.2\"\n"
            "              - xgboost===2.0.3\n              - 'pandas[performance]==2.2.3; python_version >= \"3.10\"'\n",
            path="resources/job.yml",
        ),
        # paths, wheels, requirements files, editable installs, VCS and URL requirements
        Valid(
            "resources:\n  jobs:\n    j:\n      environments:\n        - environment_key: e\n          spec:\n"
            "            dependencies:\n              - ./dist/*.whl\n              - /Volumes/main/libs/wheels/churn-0.1-py3-none-any.whl\n"
            "              - /Workspace/Shared/libs/helpers.whl\n              - -r /Workspace/${workspace.file_path}/requirements.txt\n"
            "              - -e .\n              - git+https://github.com/org/repo.git@v1\n"
            "              - churn @ https://example.com/churn-0.1.tar.gz\n              - ../dist/churn-0.1.tar.gz\n"
            "              - ${workspace.file_path}/dist/churn.whl\n              - --index-url https://pypi.org/simple\n",
            path="resources/job.yml",
        ),
        # variable whose default is pinned; variable without a default; unknown reference
        Valid(
            "bundle:\n  name: b\nvariables:\n  mlflow_req:\n    default: mlflow==2.19.0\n  sk:\n    description: no default\n"
            "resources:\n  jobs:\n    j:\n      environments:\n        - environment_key: e\n          spec:\n"
            "            dependencies:\n              - ${var.mlflow_req}\n              - ${var.sk}\n"
            "              - \"mlflow-skinny${var.undeclared}\"\n              - pandas==${var.pandas_version}\n",
            path="databricks.yml",
        ),
        # variable with conflicting defaults in two files of the bundle: unknown
        Valid(
            "resources:\n  jobs:\n    j:\n      tasks:\n        - task_key: t\n          libraries:\n"
            "            - pypi:\n                package: ${var.req}\n",
            path="resources/job.yml",
            files={
                "databricks.yml": "bundle:\n  name: b\ninclude: [resources/*.yml]\nvariables:\n  req:\n    default: mlflow\n",
                "resources/vars.yml": "variables:\n  req:\n    default: mlflow==2.19.0\nresources: {}\n",
            },
        ),
        # whl / requirements / maven libraries are not pypi packages
        Valid(
            "resources:\n  jobs:\n    j:\n      tasks:\n        - task_key: t\n          libraries:\n"
            "            - whl: ../dist/*.whl\n            - requirements: ../requirements.txt\n"
            "            - maven:\n                coordinates: com.example:lib:1.0\n",
            path="resources/job.yml", files={"requirements.txt": "mlflow\n"},
        ),
        # dependencies outside jobs (and non-bundle YAML) are not ours
        Valid(
            "resources:\n  pipelines:\n    p:\n      environment:\n        dependencies:\n          - mlflow\n",
            path="resources/pipeline.yml",
        ),
        Valid("dependencies:\n  - mlflow\nenvironments:\n  - spec:\n      dependencies: [pandas]\n", path="conda.yml"),
        # suppression comment
        Valid(
            "resources:\n  jobs:\n    j:\n      environments:\n        - environment_key: e\n          spec:\n"
            "            dependencies:\n              - databricks-sdk  # noqa: BND001 preinstalled, any version\n",
            path="resources/job.yml",
        ),
    )

    def check(self, ctx):
        seen: set[int] = set()
        for _job_node, node in iter_dependency_nodes(ctx.root):
            if id(node) in seen:
                continue
            seen.add(id(node))
            written = str(node.value).strip()
            if not written:
                continue
            text = resolve_variables(ctx.project, ctx.path, written) if "${" in written else written
            if text is None:
                continue
            req = parse_named_requirement(text)
            if req is None or exact_pin(req) is not None:
                continue
            via = f" (variable default '{text}')" if text != written else ""
            message = f"Dependency '{written}'{via} is not pinned to an exact version with '=='"
            edits = ()
            version = None
            if text == written:
                pinned = ctx.project.pin_versions(ctx.path, req.name)
                version = next(iter(pinned)) if len(pinned) == 1 else None
                if version is not None and not req.specifier.contains(version, prereleases=True):
                    version = None
            if version is not None:
                new_value = _pinned(req, version)
                replacement = _render(node, new_value)
                if replacement is not None:
                    edits = (ctx.replace(node, replacement),)
                    where = pinned.get(version) or ()
                    at = f" ({where[0].path}:{where[0].row})" if where else ""
                    message += f"; the project pins {req.name}=={version}{at}"
            yield self.finding(ctx.path, ctx.span(node), message, edits=edits, fix_message=f"Pin to '{new_value}'" if edits else "")


def _pinned(req, version: str) -> str:
    extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
    marker = f"; {req.marker}" if req.marker else ""
    return f"{req.name}{extras}=={version}{marker}"


def _render(node: yaml.ScalarNode, value: str) -> str | None:
    """The new scalar in the old one's quoting style; None for block scalars or multi-line plain."""
    if node.style in ("|", ">") or node.start_mark.line != node.end_mark.line:
        return None
    quote = style_of(node)
    if quote is None:
        return render_scalar(value, flow=True)
    return render_scalar(value, quote=quote, plain=False)
