"""A `.py` file that a bundle task runs as a notebook is a notebook, and the project's pins
include the bundle files that the run was not given (pre-commit passes the changed files)."""

from __future__ import annotations

import os

import pytest

from mlrules.engine.config import Settings
from mlrules.engine.runner import Linter
from mlrules.project.model import Project
from mlrules.rules.context import PythonContext

ROOT = "bundle:\n  name: b\ninclude:\n  - resources/*.yml\n"
JOB = (
    "resources:\n  jobs:\n    train:\n      environments:\n        - environment_key: e\n          spec:\n"
    "            dependencies:\n              - -r ${workspace.file_path}/deps/serving.txt\n              - xgboost\n"
    "      tasks:\n        - task_key: train\n          environment_key: e\n          notebook_task:\n"
    "            notebook_path: ../src/train\n          libraries:\n            - requirements: ../deps/ml.txt\n"
    "            - pypi:\n                package: lightgbm\n"
    "        - task_key: score\n          notebook_task:\n            notebook_path: ../notebooks/score.py\n"
    "        - task_key: script\n          spark_python_task:\n            python_file: ../src/script.py\n"
)


@pytest.fixture
def bundle(project):
    project.write("databricks.yml", ROOT)
    project.write("resources/job.yml", JOB)
    project.write("requirements.txt", "pandas==2.2.3\n")
    project.write("deps/ml.txt", "mlflow==2.19.0\n")
    project.write("deps/serving.txt", "scikit-learn==1.5.2\n")
    # a plain .py (no header) run as a notebook task, with model work and an unpinned %pip
    project.write("src/train.py", "%pip install mlflow scikit-learn pandas\nimport mlflow\nmlflow.autolog()\nprint(undefined_here)\n")
    project.write("notebooks/score.py", "# Databricks notebook source\n# MAGIC %pip install xgboost==2.1.1 lightgbm==4.5.0\n")
    project.write("src/script.py", "import argparse\nargs = argparse.ArgumentParser().parse_args()\nprint(undefined_too)\n")
    project.write("src/helpers.py", "import mlflow\nmlflow.autolog()\n")
    return project


def _linted(paths):
    linter = Linter(Settings(root="."))
    loaded = linter.load(paths)
    return loaded, Project.build(loaded.sources, loaded.requirements)


def test_is_notebook_follows_notebook_tasks(bundle):
    loaded, project = _linted(["."])
    assert project.is_notebook("src/train.py") and project.is_task_notebook("src/train.py")
    assert project.is_notebook("notebooks/score.py")  # its own header
    assert not project.is_notebook("src/script.py")  # a spark_python_task script
    assert not project.is_notebook("src/helpers.py")
    assert PythonContext(loaded.sources["src/train.py"], project).is_notebook
    assert not PythonContext(loaded.sources["src/script.py"], project).is_notebook
    assert [t.key for t in project.bundle_model.notebook_tasks("src/train.py")] == ["train"]
    assert [t.key for t in project.bundle_model.script_tasks("src/script.py")] == ["script"]


def test_notebook_rules_run_on_task_notebooks_given_alone(bundle, cli):
    run = cli("check", "src/train.py", "src/script.py", "src/helpers.py", "--select", "NB001,NB005,NB009", "--no-cache", "--output-format", "json")
    found = sorted((f["filename"], f["code"]) for f in run.json())
    assert found == [("src/train.py", "NB001"), ("src/train.py", "NB009")], run.stdout
    nb001 = next(f for f in run.json() if f["code"] == "NB001")
    assert "runs as task 'train' of job 'train' (resources/job.yml:14)" in nb001["message"]


def test_pins_from_bundle_files_not_given(bundle, cli):
    run = cli("check", "src/train.py", "--select", "NB008", "--no-cache", "--output-format", "json")
    messages = sorted(f["message"] for f in run.json())
    assert len(messages) == 3, messages
    assert "as in deps/ml.txt:1" in messages[0]  # libraries[].requirements
    assert "as in requirements.txt:1" in messages[1]  # requirements*.txt at the bundle root
    assert "as in deps/serving.txt:1" in messages[2]  # `-r` environment dependency

    run = cli("fix", "src/train.py", "--select", "NB008", "--no-cache")
    assert run.exit_code == 0, run.stdout + run.stderr
    assert bundle.read("src/train.py").startswith(b"%pip install mlflow==2.19.0 scikit-learn==1.5.2 pandas==2.2.3\n")


def test_bundle_pins_from_task_notebooks_not_given(bundle, cli):
    run = cli("fix", "resources/job.yml", "--select", "BND001", "--no-cache")
    assert run.exit_code == 0, run.stdout + run.stderr
    text = bundle.read("resources/job.yml").decode()
    assert "- xgboost==2.1.1\n" in text and "package: lightgbm==4.5.0\n" in text  # notebooks/score.py's %pip


def test_pins_are_read_once_and_not_twice(bundle):
    _, project = _linted(["."])
    # every file of the run was read by the build; the bundle completion adds no duplicate
    assert [loc.path for loc in project.pins.versions("mlflow")["2.19.0"]] == ["deps/ml.txt"]
    assert [loc.path for loc in project.pins.versions("pandas")["2.2.3"]] == ["requirements.txt"]


def test_requirements_files_of_the_bundle(bundle):
    _, project = _linted(["."])
    names = sorted(os.path.relpath(p) for p in project.bundle_model.requirements_files)
    assert names == ["deps/ml.txt", "deps/serving.txt", "requirements.txt"]


def test_a_task_shared_by_targets_and_bundles_is_listed_once(project):
    # two bundles include the same job file (bundle-examples' ingestion monitoring does this)
    job = "resources:\n  jobs:\n    j:\n      tasks:\n        - task_key: t\n          notebook_task:\n            notebook_path: ./nb.py\n"
    project.write("common/job.yml", job)
    project.write("common/nb.py", "print(1)\n")
    for name in ("a", "b"):
        project.write(f"{name}/databricks.yml", "bundle:\n  name: x\ninclude:\n  - ../common/job.yml\ntargets:\n  dev: {}\n  prod: {}\n")
    _, built = _linted(["."])
    assert [t.key for t in built.bundle_model.notebook_tasks("common/nb.py")] == ["t"]
