"""Deterministic synthetic Databricks ML repository for benchmarks.

    python benchmarks/generate_corpus.py OUT_DIR [--scale N]

Scale 1 is about 100k lines in 500 files:

- 300 notebooks with MLflow and feature-engineering code (one in ten written as ``.ipynb``),
  each a few hundred lines: widgets, ``%pip`` pins, feature lookups and training sets, runs,
  logged and registered models, and an exit signal. Some of them carry the mistakes mlrules
  looks for (an unpinned ``%pip install``, an experiment under ``/Users``, no
  ``dbutils.notebook.exit``, a widget no task supplies, a lookup with the wrong number of
  keys), so a run has findings to report; one in five ``%run``s a shared setup notebook.
- 190 plain helper modules (no MLflow), a few feature-table notebooks, the shared setup
  notebook;
- a bundle: ``databricks.yml`` with variables and targets, and one job file per ten notebooks
  (environments with pins, notebook tasks with ``base_parameters``).

The folder also gets an empty ``.git`` folder: it is a repository root, as a real project is.
``OUT_DIR`` is emptied of generated files first; the same arguments always give byte-identical
output.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil

NOTEBOOK_HEAD = """# Databricks notebook source
# MAGIC %md
# MAGIC # {title}

# COMMAND ----------

# MAGIC %pip install mlflow==2.19.0 scikit-learn==1.5.2 {extra}

# COMMAND ----------
{setup}
import mlflow
import pandas as pd
from databricks.feature_engineering import FeatureEngineeringClient, FeatureLookup
from sklearn.ensemble import {estimator}
from sklearn.metrics import accuracy_score

catalog = dbutils.widgets.get("catalog")
schema = dbutils.widgets.get("schema")
{widget}mlflow.set_registry_uri("databricks-uc")
mlflow.set_experiment("{experiment}")
fe = FeatureEngineeringClient()
"""

SETUP_RUN = """
# MAGIC %run ../_resources/setup

# COMMAND ----------
"""

NOTEBOOK_BLOCK = """
# COMMAND ----------

def build_features_{i}(df):
    \"\"\"Feature block {i}: ratios and cleaned numerics.\"\"\"
    out = df.fillna(0)
    for column in ["amount_{i}", "count_{i}", "days_{i}"]:
        out = out.withColumn(column, out[column].cast("double"))
    out = out.withColumn("ratio_{i}", out["amount_{i}"] / (out["count_{i}"] + 1))
    return out


features_{i} = build_features_{i}(spark.table(f"{{catalog}}.{{schema}}.raw_{i}"))
lookups_{i} = [
    FeatureLookup(
        table_name=f"{{catalog}}.{{schema}}.features_{i}",
        lookup_key={lookup_key},
        feature_names=["ratio_{i}", "amount_{i}"],
    )
]
training_set_{i} = fe.create_training_set(
    df=spark.table(f"{{catalog}}.{{schema}}.labels"),
    feature_lookups=lookups_{i},
    label="churned",
    exclude_columns=["customer_id"],
)
pdf_{i} = training_set_{i}.load_df().toPandas()
print(pdf_{i}["churned"].value_counts())
with mlflow.start_run(run_name="block_{i}"):
    model_{i} = {estimator}(n_estimators={n})
    model_{i}.fit(pdf_{i}.drop("churned", axis=1), pdf_{i}["churned"])
    mlflow.log_metric("accuracy", accuracy_score(pdf_{i}["churned"], model_{i}.predict(pdf_{i}.drop("churned", axis=1))))
"""

NOTEBOOK_LOG = """
# COMMAND ----------

with mlflow.start_run(run_name="final"):
    fe.log_model(
        model=model_0,
        artifact_path="model",
        flavor=mlflow.sklearn,
        training_set=training_set_0,
        registered_model_name=f"{{catalog}}.{{schema}}.churn_{k}",
    )
"""

NOTEBOOK_TAIL = """
# COMMAND ----------

try:
    summary = {{"status": "SUCCESS", "blocks": {blocks}}}
except Exception as exc:
    raise RuntimeError("summary failed") from exc
dbutils.notebook.exit("SUCCESS")
"""

FEATURE_TABLE = """# Databricks notebook source
# MAGIC %md
# MAGIC # Feature table {i}

# COMMAND ----------

from databricks.feature_engineering import FeatureEngineeringClient

catalog = dbutils.widgets.get("catalog")
schema = dbutils.widgets.get("schema")
fe = FeatureEngineeringClient()
df = spark.table(f"{{catalog}}.{{schema}}.raw_{i}").fillna(0)
df = df.withColumn("amount_{i}", df["amount_{i}"].cast("double"))
fe.create_table(
    name=f"{{catalog}}.{{schema}}.features_{i}",
    primary_keys=["customer_id"],
    df=df,
    description="features for block {i}",
)
dbutils.notebook.exit("SUCCESS")
"""

SETUP = """# Databricks notebook source
# MAGIC %md
# MAGIC Shared setup, included with %run.

# COMMAND ----------

import mlflow

shared_catalog = "ml_shared"
mlflow.set_registry_uri("databricks-uc")
"""

HELPER = '''"""Helper module {i}: plain Python without MLflow."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class Window{i}:
    start: int
    end: int

    def length(self) -> int:
        return self.end - self.start

'''

HELPER_FUNC = '''
def transform_{i}_{j}(values: list[float], scale: float = {scale}) -> list[float]:
    """Scale, clip and log-transform values (block {j})."""
    result = []
    for value in values:
        if value is None or math.isnan(value):
            result.append(0.0)
            continue
        scaled = value * scale
        result.append(math.log1p(max(scaled, 0.0)))
    return result

'''

JOB = """resources:
  jobs:
    job_{j}:
      name: job-{j}
      timeout_seconds: 3600
      environments:
        - environment_key: default
          spec:
            client: "2"
            dependencies:
              - mlflow==2.19.0
              - scikit-learn==1.5.2
      tasks:
{tasks}"""

TASK = """        - task_key: task_{k}
          environment_key: default
          notebook_task:
            notebook_path: ../notebooks/nb_{k:04d}.{ext}
            base_parameters:
              catalog: ${{var.catalog}}
              schema: churn
"""

ROOT = """bundle:
  name: synthetic

include:
  - resources/*.yml

variables:
  catalog:
    default: ml_dev

targets:
  dev:
    default: true
  prod:
    variables:
      catalog: ml_prod
"""


def notebook_text(k: int, rng: random.Random) -> tuple[str, int]:
    estimator = rng.choice(["RandomForestClassifier", "GradientBoostingClassifier", "ExtraTreesClassifier"])
    extra = rng.choice(["", "xgboost==2.1.1", "lightgbm==4.5.0"])
    if k % 7 == 3:
        extra += " shap"  # NB008: no pin
    experiment = f"/Users/someone@example.com/exp_{k % 17}" if k % 13 == 5 else f"/Shared/exp_{k % 17}"  # EXP001
    widget = 'threshold = float(dbutils.widgets.get("threshold"))\n' if k % 11 == 4 else ""  # NB006
    setup = SETUP_RUN if k % 5 == 2 else ""
    blocks = 6 + k % 3
    parts = [NOTEBOOK_HEAD.format(title=f"Notebook {k}", extra=extra.strip(), estimator=estimator, experiment=experiment, widget=widget, setup=setup)]
    for i in range(blocks):
        key = '["customer_id", "region"]' if (k % 19 == 7 and i == 0) else '["customer_id"]'  # FE003
        parts.append(NOTEBOOK_BLOCK.format(i=i, estimator=estimator, n=rng.randint(50, 400), lookup_key=key))
    if k % 3 == 0:
        parts.append(NOTEBOOK_LOG.format(k=k))
    if k % 17 != 9:  # NB001: no exit signal
        parts.append(NOTEBOOK_TAIL.format(blocks=blocks))
    return "".join(parts), blocks


def to_ipynb(text: str) -> str:
    """A Databricks source notebook as nbformat 4 JSON (magic comments become cell magics)."""
    cells = []
    for raw in text.split("\n# COMMAND ----------\n")[0:]:
        lines = raw.split("\n")
        if lines and lines[0] == "# Databricks notebook source":
            lines = lines[1:]
        source = "\n".join(line[len("# MAGIC "):] if line.startswith("# MAGIC ") else line for line in lines).strip("\n")
        if not source:
            continue
        if source.startswith("%md"):
            cells.append({"cell_type": "markdown", "metadata": {}, "source": source[4:].splitlines(keepends=True)})
        else:
            cells.append({"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": source.splitlines(keepends=True)})
    doc = {"cells": cells, "metadata": {"language_info": {"name": "python"}}, "nbformat": 4, "nbformat_minor": 5}
    return json.dumps(doc, indent=1) + "\n"


def generate(out: str, scale: int = 1) -> dict:
    rng = random.Random(20261127)
    notebooks = 300 * scale
    helpers = 190 * scale
    tables = 6
    for folder in ("notebooks", "src", "resources", "_resources", "features", ".git"):
        shutil.rmtree(os.path.join(out, folder), ignore_errors=True)
    os.makedirs(os.path.join(out, "notebooks"), exist_ok=True)
    os.makedirs(os.path.join(out, "src", "helpers"), exist_ok=True)
    os.makedirs(os.path.join(out, "resources"), exist_ok=True)
    os.makedirs(os.path.join(out, "_resources"), exist_ok=True)
    os.makedirs(os.path.join(out, "features"), exist_ok=True)
    os.makedirs(os.path.join(out, ".git"), exist_ok=True)
    lines = files = 0

    def write(rel: str, text: str) -> None:
        nonlocal lines, files
        _write(os.path.join(out, rel), text)
        lines += text.count("\n")
        files += 1

    extensions = []
    for k in range(notebooks):
        text, _ = notebook_text(k, rng)
        if k % 10 == 6:
            write(os.path.join("notebooks", f"nb_{k:04d}.ipynb"), to_ipynb(text))
            extensions.append("ipynb")
        else:
            write(os.path.join("notebooks", f"nb_{k:04d}.py"), text)
            extensions.append("py")
    for i in range(tables):
        write(os.path.join("features", f"table_{i}.py"), FEATURE_TABLE.format(i=i))
    write(os.path.join("_resources", "setup.py"), SETUP)
    for i in range(helpers):
        parts = [HELPER.format(i=i)]
        for j in range(9):
            parts.append(HELPER_FUNC.format(i=i, j=j, scale=round(rng.uniform(0.5, 3.0), 3)))
        write(os.path.join("src", "helpers", f"helper_{i:04d}.py"), "".join(parts))
    for j in range(notebooks // 10):
        tasks = "".join(TASK.format(k=k, ext=extensions[k]) for k in range(j * 10, j * 10 + 10))
        write(os.path.join("resources", f"job_{j:03d}.yml"), JOB.format(j=j, tasks=tasks))
    write("databricks.yml", ROOT)
    return {"files": files, "lines": lines}


def _write(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--scale", type=int, default=1)
    args = parser.parse_args()
    stats = generate(args.out, args.scale)
    print(f"{stats['files']} files, {stats['lines']} lines in {args.out}")


if __name__ == "__main__":
    main()
