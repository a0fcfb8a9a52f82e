"""The bundle model (includes, targets, variables, task paths) and the "only given files" mode."""

from __future__ import annotations

import os

import pytest

from mlrules.engine.config import Settings
from mlrules.engine.runner import Linter
from mlrules.project.go_glob import BadPattern, go_glob
from mlrules.project.model import Project

ROOT = """bundle:
  name: churn
include:
  - resources/*.yml
  - resources/*.yml
variables:
  catalog:
    default: ml_dev
  nb_folder:
    default: notebooks
  pkg:
    default: mlflow==2.19.0
targets:
  dev:
    default: true
  prod:
    variables:
      catalog: ml_prod
    resources:
      jobs:
        train:
          timeout_seconds: 7200
          tasks:
            - task_key: train
              notebook_task:
                base_parameters:
                  model_name: churn
"""

TRAIN = """resources:
  jobs:
    train:
      environments:
        - environment_key: default
          spec:
            dependencies: [&mlflow "${var.pkg}", scikit-learn==1.5.2]
      tasks:
        - task_key: train
          environment_key: default
          notebook_task:
            notebook_path: ../${var.nb_folder}/train
            base_parameters:
              catalog: ${var.catalog}
        - task_key: score
          depends_on: [{task_key: train}]
          spark_python_task:
            python_file: ${workspace.file_path}/src/score.py
"""

TRAIN_NOTEBOOK = """# Databricks notebook source
# MAGIC %pip install mlflow==2.18.0

# COMMAND ----------

catalog = dbutils.widgets.get("catalog")
model_name = dbutils.widgets.get("model_name")
"""


def _write(root, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = os.path.join(str(root), rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)


@pytest.fixture
def bundle(project):
    _write(project.root, {
        "databricks.yml": ROOT,
        "resources/train.yml": TRAIN,
        "resources/vars.yml": "variables:\n  extra:\n    default: x\n",  # no bundle keys: ours through include
        "resources/nested/ignored.yml": "resources:\n  jobs:\n    nested: {name: n}\n",
        "notebooks/train.py": TRAIN_NOTEBOOK,
        "src/score.py": "print('score')\n",
    })
    return project


def _model(paths=(".",)):
    linter = Linter(Settings(root="."))
    loaded = linter.load(list(paths))
    return linter, loaded, Project.build(loaded.sources, loaded.requirements).bundle_model


def test_go_glob_star_does_not_cross_slash(tmp_path):
    _write(tmp_path, {"r/a.yml": "", "r/b.yaml": "", "r/sub/c.yml": "", "r/.hidden.yml": ""})
    rel = lambda paths: [os.path.relpath(p, tmp_path) for p in paths]  # noqa: E731
    assert rel(go_glob(str(tmp_path), "r/*.yml")) == ["r/.hidden.yml", "r/a.yml"]
    assert rel(go_glob(str(tmp_path), "r/**/*.yml")) == ["r/sub/c.yml"]
    assert rel(go_glob(str(tmp_path), "r/[ab].y?ml")) == ["r/b.yaml"]
    assert rel(go_glob(str(tmp_path), "r/[^a]*")) == ["r/.hidden.yml", "r/b.yaml", "r/sub"]
    assert go_glob(str(tmp_path), "r/missing.yml") == []
    with pytest.raises(BadPattern):
        go_glob(str(tmp_path), "r/[a.yml")


def test_includes_targets_variables_and_task_paths(bundle):
    _linter, loaded, model = _model()
    assert "resources/vars.yml" in loaded.sources  # included, so ours without bundle keys
    assert loaded.only is None
    (b,) = [x for x in model.bundles if not x.is_orphan]
    assert [f.path for f in b.files] == ["databricks.yml", "resources/train.yml", "resources/vars.yml"]
    assert set(b.variables) == {"catalog", "nb_folder", "pkg", "extra"}
    assert [i.pattern for i in b.includes] == ["resources/*.yml", "resources/*.yml"]
    # resources/nested/ignored.yml is reached by no include: an orphan, modelled on its own
    assert [x.files[0].path for x in model.bundles if x.is_orphan] == ["resources/nested/ignored.yml"]

    views = {v.target: v for v in b.views}
    assert set(views) == {"dev", "prod"}
    assert views["dev"].resolve("${var.catalog}/${bundle.target}") == "ml_dev/dev"
    assert views["prod"].resolve("${variables.catalog.value}") == "ml_prod"
    assert views["prod"].resolve("${workspace.current_user.userName}") is None

    dev_train, prod_train = views["dev"].jobs[0], views["prod"].jobs[0]
    assert dev_train.node.get("timeout_seconds") is None
    assert prod_train.node.text("timeout_seconds") == "7200"
    # tasks merged by task_key: prod adds a parameter, keeps the base's notebook path
    dev_task, prod_task = dev_train.tasks[0], prod_train.tasks[0]
    assert set(dev_task.notebook_task.get("base_parameters").children) == {"catalog"}
    assert set(prod_task.notebook_task.get("base_parameters").children) == {"catalog", "model_name"}
    assert len(prod_train.tasks) == 2
    # positions stay those of the defining file
    model_name = prod_task.notebook_task.path("base_parameters", "model_name")
    assert model_name.source.path == "databricks.yml" and model_name.span.start.row == 27
    assert prod_task.notebook_task.key.start_mark.line + 1 == 11 and prod_task.notebook_task.source.path == "resources/train.yml"
    # notebook path: variable resolved, extension tried, relative to the YAML file
    run = dev_task.run
    assert run.resolved == "../notebooks/train" and run.path == os.path.abspath("notebooks/train.py")
    # ${workspace.file_path} is the bundle root
    assert dev_train.tasks[1].run.path == os.path.abspath("src/score.py")
    assert dev_train.is_training


def test_only_given_files_builds_the_whole_bundle(bundle):
    """pre-commit passes changed files: the model still sees the whole bundle, findings stay on them."""
    settings = Settings(root=".")
    settings.select = ["BND002", "NB006", "NB007", "BND005"]
    linter = Linter(settings)

    # only the notebook: the bundle (root, includes) is read from disk; BND002 on its %pip line
    loaded = linter.load(["notebooks/train.py"])
    assert loaded.only == {"notebooks/train.py"}
    assert {"databricks.yml", "resources/train.yml", "resources/vars.yml"} <= loaded.context
    findings = linter.lint(loaded).findings
    assert [(f.code, f.path, f.span.start.row) for f in findings] == [("BND002", "notebooks/train.py", 2)]

    # only the job file: NB006 is found with the notebook read from disk (not loaded)
    loaded = linter.load(["resources/train.yml"])
    assert "notebooks/train.py" not in loaded.sources
    findings = linter.lint(loaded).findings
    assert [(f.code, f.path) for f in findings] == [("NB006", "resources/train.yml")]
    assert "(target 'dev')" in findings[0].message and "notebooks/train.py:7" in findings[0].message

    # everything given: the same findings, no restriction
    loaded = linter.load(["."])
    assert loaded.only is None and not loaded.context
    assert sorted((f.code, f.path) for f in linter.lint(loaded).findings) == [("BND002", "notebooks/train.py"), ("NB006", "resources/train.yml")]


def test_only_given_files_through_the_cli(bundle, cli):
    run = cli("check", "databricks.yml", "--select", "BND,NB006,NB007", "--output-format", "json")
    # findings of the bundle live in resources/train.yml and the notebook: none on databricks.yml
    assert run.exit_code == 0, run.stdout + run.stderr
    run = cli("check", "resources/train.yml", "--select", "BND,NB006,NB007", "--output-format", "json")
    assert run.exit_code == 1
    assert {f["filename"] for f in run.json()} == {"resources/train.yml"}


def test_fix_in_only_mode_touches_given_files(bundle, cli):
    before = bundle.read("resources/train.yml")
    run = cli("fix", "notebooks/train.py", "--select", "BND002", "--unsafe-fixes")
    assert run.exit_code == 0, run.stdout + run.stderr
    assert b"mlflow==2.19.0" in bundle.read("notebooks/train.py")
    assert bundle.read("resources/train.yml") == before
