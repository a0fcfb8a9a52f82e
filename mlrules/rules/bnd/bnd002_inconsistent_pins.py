from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from packaging.utils import canonicalize_name

from mlrules.analysis.requirements import (
    exact_pin,
    parse_named_requirement,
    pip_install_words,
)
from mlrules.model import Applicability, Edit, Span
from mlrules.project.bundle_model import Job, Node, View
from mlrules.rules.base import Invalid, Valid
from mlrules.rules.bundle_rule import BundleViewRule, TargetedFindings
from mlrules.sources.python import PythonSource

ROOT = "bundle:\n  name: churn\ninclude:\n  - resources/*.yml\n"


def _env_job(name: str, *deps: str, notebook: str = "../notebooks/nb.py") -> str:
    lines = "".join(f"              - {d}\n" for d in deps)
    return (
        f"resources:\n  jobs:\n    {name}:\n      environments:\n        - environment_key: default\n          spec:\n"
        f"            client: \"2\"\n            dependencies:\n{lines}"
        f"      tasks:\n        - task_key: {name}_task\n          environment_key: default\n"
        f"          notebook_task:\n            notebook_path: {notebook}\n"
    )


@dataclass
class Pin:
    package: str  # canonical name
    name: str  # as written
    version: str
    node: Node  # the scalar, where it is written
    job: Job
    via_variable: bool
    training: bool

    @property
    def where(self) -> str:
        return f"job '{self.job.name}' ({self.node.location})"


class InconsistentPins(BundleViewRule):
    """
    ## What it does
    Flags the same package pinned to different exact versions in one bundle: across jobs
    (training vs inference), across environments of a job, or between a bundle pin and a
    `%pip install name==version` line of a notebook that the bundle runs (reported on the
    `%pip` line). Pins are read from `environments[].spec.dependencies` and
    `libraries[].pypi.package` after the target merge, per target, with `${var.x}` values
    resolved; one finding per deviating entry, naming the location it disagrees with.

    The reference version is the one pinned by the training job (a job whose key, name,
    task keys or notebook paths mention `train`) when it pins exactly one, else the most
    common version. Entries with environment markers (`; python_version < "3.10"`) are
    not compared.

    ## Why it matters
    A model pickled with `scikit-learn==1.5.2` in the training job and unpickled with
    `1.3.0` in the inference job fails or, worse, predicts differently; MLflow warns about
    the mismatch at best. The seed's first rule: pin exact versions in training AND
    inference, and the same ones.

    ## Example
    ```yaml
    # resources/training_job.yml
    dependencies: [mlflow==2.19.0, scikit-learn==1.5.2]
    # resources/inference_job.yml
    dependencies: [mlflow==2.19.0, scikit-learn==1.3.0]
    ```

    ## Use instead
    ```yaml
    # resources/inference_job.yml
    dependencies: [mlflow==2.19.0, scikit-learn==1.5.2]
    ```

    ## Fix safety
    Unsafe: rewrites the version to the reference version (the training job's, else the most
    common), which changes what the job installs. No fix when there is no single reference
    version or when the pin comes from a `${var.x}` default (shared by other references).
    """

    code = "BND002"
    name = "inconsistent-pins"
    summary = "Same package pinned to different versions across jobs, environments or task notebooks"
    fix = Applicability.UNSAFE

    invalid = (
        Invalid(
            _env_job("churn_inference", "mlflow==2.19.0", "scikit-learn==1.3.0"),
            10, 17, path="resources/inference_job.yml",
            files={"databricks.yml": ROOT, "resources/training_job.yml": _env_job("churn_training", "mlflow==2.19.0", "scikit-learn==1.5.2")},
            message_contains="job 'churn_training'",
            fixed=_env_job("churn_inference", "mlflow==2.19.0", "scikit-learn==1.5.2"),
        ),
        # no training job: the most common version wins; quoting kept
        Invalid(
            _env_job("c", '"pandas==2.1.0"'),
            9, 17, path="resources/c.yml",
            files={"databricks.yml": ROOT, "resources/a.yml": _env_job("a", "pandas==2.2.3"), "resources/b.yml": _env_job("b", "pandas==2.2.3")},
            fixed=_env_job("c", '"pandas==2.2.3"'),
        ),
        # a %pip pin in a notebook the bundle runs
        Invalid(
            "# Databricks notebook source\n# MAGIC %pip install mlflow==2.18.0 pandas\n",
            2, 22, path="notebooks/nb.py",
            files={"databricks.yml": ROOT, "resources/train.yml": _env_job("train", "mlflow==2.19.0")},
            message_contains="%pip",
            fixed="# Databricks notebook source\n# MAGIC %pip install mlflow==2.19.0 pandas\n",
        ),
        # a pin from a variable: reported at the reference, no fix
        Invalid(
            _env_job("score", "${var.sklearn}"),
            9, 17, path="resources/score.yml",
            files={"databricks.yml": ROOT + "variables:\n  sklearn:\n    default: scikit-learn==1.3.0\n",
                   "resources/train.yml": _env_job("train", "scikit-learn==1.5.2")},
            fixed=None,
        ),
    )
    valid = (
        Valid(
            _env_job("churn_inference", "mlflow==2.19.0", "scikit-learn==1.5.2"),
            path="resources/inference_job.yml",
            files={"databricks.yml": ROOT, "resources/training_job.yml": _env_job("churn_training", "mlflow==2.19.0", "scikit-learn==1.5.2"),
                   "notebooks/nb.py": "# Databricks notebook source\n# MAGIC %pip install mlflow==2.19.0\n"},
        ),
        # different bundles may pin differently; unpinned entries are BND001's business
        Valid(
            _env_job("a", "mlflow==2.19.0"),
            path="one/resources/a.yml",
            files={"one/databricks.yml": ROOT, "two/databricks.yml": ROOT, "two/resources/b.yml": _env_job("b", "mlflow==2.18.0", "pandas>=2")},
        ),
        # a notebook no task runs
        Valid(
            "# Databricks notebook source\n# MAGIC %pip install mlflow==2.18.0\n",
            path="notebooks/other.py", files={"databricks.yml": ROOT, "resources/train.yml": _env_job("train", "mlflow==2.19.0")},
        ),
    )

    def check_view(self, ctx, model, bundle, view, out):
        by_package: dict[str, list[Pin]] = {}
        for pin in _pins(view):
            by_package.setdefault(pin.package, []).append(pin)
        for pins in by_package.values():
            if len({p.version for p in pins}) > 1:
                self._report_yaml(out, view, pins)
        self._report_notebooks(out, view, by_package)

    def _report_yaml(self, out: TargetedFindings, view: View, pins: list[Pin]) -> None:
        reference = _reference(pins)
        for pin in pins:
            if reference is not None and pin.version == reference.version:
                continue
            other = reference or next(p for p in pins if p.version != pin.version)
            message = f"{pin.name} pinned to {pin.version} here (job '{pin.job.name}'), but to {other.version} in {other.where}"
            edits: tuple[Edit, ...] = ()
            if reference is not None and not pin.via_variable:
                source = pin.node.source
                edit = _version_edit(source.text, pin.node.yaml.start_mark.index, pin.node.yaml.end_mark.index, pin.version, reference.version)
                edits = (edit,) if edit else ()
            if pin.via_variable:
                message += " (the pin comes from a variable's default)"
            out.add(view, pin.node.source.path, pin.node.span, message, edits=edits, fix_message=f"Pin {pin.name}=={reference.version if reference else ''}")

    def _report_notebooks(self, out: TargetedFindings, view: View, by_package: dict[str, list[Pin]]) -> None:
        model = view.bundle.model
        seen: set[str] = set()
        for job in view.jobs:
            for task in job.tasks:
                run = task.run
                if run is None or run.kind != "notebook" or run.path is None or run.path in seen:
                    continue
                seen.add(run.path)
                source = model.source_at(run.path)
                if not isinstance(source, PythonSource) or not model.reportable(source.path):
                    continue
                for magic in source.magics:
                    for word in pip_install_words(magic):
                        req, version = word.requirement, word.pinned_version
                        if req is None or version is None or req.marker is not None:
                            continue
                        pins = by_package.get(canonicalize_name(req.name))
                        if not pins:
                            continue
                        reference = _reference(pins)
                        if reference is not None:
                            if version == reference.version:
                                continue
                            other = reference
                        else:
                            if version in {p.version for p in pins}:
                                continue
                            other = pins[0]
                        edit = _version_edit(source.text, word.start, word.end, version, reference.version) if reference else None
                        span = Span(source.lines.position(word.start), source.lines.position(word.end))
                        out.add(
                            view, source.path, span,
                            f"%pip installs {req.name}=={version}, but the bundle pins {other.version} in {other.where} "
                            f"and runs this notebook in job '{job.name}'",
                            edits=(edit,) if edit else (), fix_message=f"Pin {req.name}=={other.version}",
                        )


def _pins(view: View) -> list[Pin]:
    out: list[Pin] = []
    seen: dict[int, Pin] = {}
    for job in view.jobs:
        nodes: list[Node] = []
        environments = job.node.get("environments")
        for env in environments.mapping_items() if environments is not None else ():
            deps = env.path("spec", "dependencies")
            nodes.extend(deps.items or () if deps is not None else ())
        for task in job.tasks:
            libraries = task.node.get("libraries")
            for lib in libraries.mapping_items() if libraries is not None else ():
                package = lib.path("pypi", "package")
                if package is not None:
                    nodes.append(package)
        for node in nodes:
            text = node.value
            if text is None:
                continue
            resolved = view.resolve(text)
            req = parse_named_requirement(resolved) if resolved else None
            version = exact_pin(req) if req is not None else None
            if req is None or version is None or req.marker is not None:
                continue
            if id(node.yaml) in seen:  # one YAML node shared through an anchor
                seen[id(node.yaml)].training |= job.is_training
                continue
            pin = Pin(canonicalize_name(req.name), req.name, version, node, job, resolved != text, job.is_training)
            seen[id(node.yaml)] = pin
            out.append(pin)
    return out


def _reference(pins: list[Pin]) -> Pin | None:
    """The training job's version when it pins exactly one, else the most common one."""
    training = [p for p in pins if p.training]
    if training and len({p.version for p in training}) == 1:
        return training[0]
    counts = Counter(p.version for p in pins).most_common()
    if len(counts) == 1 or counts[0][1] > counts[1][1]:
        return next(p for p in pins if p.version == counts[0][0])
    return None


def _version_edit(text: str, start: int, end: int, old: str, new: str) -> Edit | None:
    """Replace the version after ``==`` inside text[start:end] (only when it is written there once)."""
    raw = text[start:end]
    matches = list(re.finditer(r"===?\s*(" + re.escape(old) + r")(?![\w.+!-])", raw))
    if len(matches) != 1:
        return None
    m = matches[0]
    return Edit(start + m.start(1), start + m.end(1), new)
