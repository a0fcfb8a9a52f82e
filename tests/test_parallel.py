"""Worker processes: the same findings, in the same order, as a serial run; a worker that dies
costs time, not results; small runs stay in one process. No timing here."""

from __future__ import annotations

import os

import pytest
from conftest import run_cli

from mlrules.engine import parallel
from mlrules.engine.config import load_settings
from mlrules.engine.runner import Linter
from mlrules.rules.base import ipynb

NOTEBOOK = """# Databricks notebook source
# MAGIC %pip install mlflow==2.19.0 {extra}

# COMMAND ----------

import mlflow
from databricks.feature_engineering import FeatureEngineeringClient, FeatureLookup

catalog = dbutils.widgets.get("catalog")
{widget}mlflow.set_experiment("{experiment}")
fe = FeatureEngineeringClient()
lookups = [FeatureLookup(table_name="ml.churn.features", lookup_key={keys})]
with mlflow.start_run():
    mlflow.log_metric("auc", 0.9)
{exit}"""

FEATURES = """# Databricks notebook source
from databricks.feature_engineering import FeatureEngineeringClient

fe = FeatureEngineeringClient()
fe.create_table(name="ml.churn.features", primary_keys=["customer_id"], df=spark.table("x"))
dbutils.notebook.exit("SUCCESS")
"""

TASK = """        - task_key: t{k}
          notebook_task:
            notebook_path: ../notebooks/nb_{k:02d}.{ext}
            base_parameters:
              catalog: dev
"""


def make_project(project, count: int = 40) -> None:
    tasks = []
    for k in range(count):
        text = NOTEBOOK.format(
            extra="shap" if k % 3 == 0 else "",
            widget='threshold = dbutils.widgets.get("threshold")\n' if k % 4 == 1 else "",
            experiment=f"/Users/me@example.com/e{k}" if k % 5 == 2 else "/Shared/e",
            keys='["customer_id", "day"]' if k % 6 == 3 else '["customer_id"]',
            exit='dbutils.notebook.exit("SUCCESS")\n' if k % 7 else "",
        )
        if k % 8 == 5:
            cells = [c for c in text.split("\n# COMMAND ----------\n") if c.strip()]
            cells = [c.replace("# Databricks notebook source\n", "").replace("# MAGIC ", "") for c in cells]
            project.write(f"notebooks/nb_{k:02d}.ipynb", ipynb(*cells))
            ext = "ipynb"
        else:
            project.write(f"notebooks/nb_{k:02d}.py", text)
            ext = "py"
        tasks.append(TASK.format(k=k, ext=ext))
    project.write("notebooks/features.py", FEATURES)
    project.write("notebooks/broken.py", "# Databricks notebook source\nimport mlflow\ndef (:\n")
    project.write("src/util.py", "def f(x):\n    return x  # noqa: NB001\n")
    project.write("databricks.yml", "bundle:\n  name: p\ninclude:\n  - resources/*.yml\n")
    project.write("resources/jobs.yml", "resources:\n  jobs:\n    j:\n      name: j\n      tasks:\n" + "".join(tasks))


def cli_output(monkeypatch, jobs: str, *args: str):
    monkeypatch.setenv("MLRULES_JOBS", jobs)
    run = run_cli("check", ".", "--no-cache", *args)
    return run.exit_code, run.stdout_bytes, run.stderr


@pytest.mark.skipif(not parallel.can_fork(), reason="worker processes need fork")
@pytest.mark.parametrize("fmt", ["json", "full"])
def test_parallel_output_is_the_serial_output(project, monkeypatch, fmt):
    make_project(project)
    serial = cli_output(monkeypatch, "1", "--output-format", fmt)
    assert serial[0] == 1 and serial[1]
    for _ in range(2):
        assert cli_output(monkeypatch, "2", "--output-format", fmt) == serial
        assert cli_output(monkeypatch, "3", "--output-format", fmt) == serial


@pytest.mark.skipif(not parallel.can_fork(), reason="worker processes need fork")
def test_parallel_run_uses_workers_and_finds_everything(project, monkeypatch):
    make_project(project)
    used = []
    original = parallel._parallel

    def spy(worker, heavy, light, jobs):
        used.append(len(heavy))
        return original(worker, heavy, light, jobs)

    monkeypatch.setattr(parallel, "_parallel", spy)
    linter = Linter(load_settings(None))
    loaded = linter.load(["."])
    parallel_result = linter.lint(loaded, jobs=2, drop_trees=True)
    assert used, "a run of this size should use worker processes"
    serial = Linter(load_settings(None))
    serial_result = serial.lint(serial.load(["."]), jobs=1)
    assert parallel_result.findings == serial_result.findings
    assert parallel_result.errors == serial_result.errors
    codes = {f.code for f in parallel_result.findings}
    assert {"NB001", "NB006", "NB008", "EXP001", "FE003", "MLR001"} <= codes, codes


@pytest.mark.skipif(not parallel.can_fork(), reason="worker processes need fork")
def test_a_worker_that_dies_costs_time_not_results(project, monkeypatch):
    make_project(project)
    expected = cli_output(monkeypatch, "1", "--output-format", "json")
    original = parallel._work

    def dying(paths):
        if any(p.endswith("nb_07.py") for p in paths):
            os._exit(3)  # a crash in the native parser, the OOM killer...
        return original(paths)

    monkeypatch.setattr(parallel, "_work", dying)
    assert cli_output(monkeypatch, "2", "--output-format", "json") == expected


def test_small_runs_stay_in_one_process(project, monkeypatch):
    for k in range(5):
        project.write(f"nb_{k}.py", "# Databricks notebook source\nimport mlflow\nmlflow.autolog()\n")

    def refuse(*args, **kwargs):
        raise AssertionError("a small run started worker processes")

    monkeypatch.setattr(parallel, "_parallel", refuse)
    linter = Linter(load_settings(None))
    result = linter.lint(linter.load(["."]), jobs=4)
    assert [f.code for f in result.findings] == ["NB001"] * 5


@pytest.mark.skipif(not parallel.can_fork(), reason="worker processes need fork")
def test_parallel_and_cached_runs_agree(project, monkeypatch):
    make_project(project)
    monkeypatch.setenv("MLRULES_JOBS", "2")
    cold = run_cli("check", ".", "--output-format", "json", "--no-cache").stdout_bytes
    first = run_cli("check", ".", "--output-format", "json").stdout_bytes
    warm = run_cli("check", ".", "--output-format", "json").stdout_bytes
    project.write("notebooks/nb_01.py", project.read("notebooks/nb_01.py").decode() + "x = 1\n")
    edited = run_cli("check", ".", "--output-format", "json").stdout_bytes
    assert cold == first == warm
    assert edited == run_cli("check", ".", "--output-format", "json", "--no-cache").stdout_bytes
