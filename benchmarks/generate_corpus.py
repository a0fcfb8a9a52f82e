"""Deterministic synthetic Databricks ML repository for benchmarks.

    python benchmarks/generate_corpus.py OUT_DIR [--scale N]

Scale 1 is about 100k lines in 500 files: Databricks-source notebooks with MLflow and
feature-engineering code, plain helper modules, and a bundle (databricks.yml + one job file
per 10 notebooks). The same arguments always give byte-identical output.
"""

from __future__ import annotations

import argparse
import os
import random

NOTEBOOK_HEAD = """# Databricks notebook source
# MAGIC %md
# MAGIC # {title}

# COMMAND ----------

# MAGIC %pip install mlflow==2.19.0 scikit-learn==1.5.2 {extra}

# COMMAND ----------

import mlflow
import pandas as pd
from databricks.feature_engineering import FeatureEngineeringClient, FeatureLookup
from sklearn.ensemble import {estimator}
from sklearn.metrics import accuracy_score

catalog = dbutils.widgets.get("catalog")
schema = dbutils.widgets.get("schema")
mlflow.set_registry_uri("databricks-uc")
mlflow.set_experiment("{experiment}")
fe = FeatureEngineeringClient()
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
        lookup_key=["customer_id"],
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

NOTEBOOK_TAIL = """
# COMMAND ----------

dbutils.notebook.exit("SUCCESS")
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
            notebook_path: ../notebooks/nb_{k:04d}.py
            base_parameters:
              catalog: ${{var.catalog}}
              schema: churn
"""


def generate(out: str, scale: int = 1) -> dict:
    rng = random.Random(20261127)
    notebooks = 300 * scale
    helpers = 190 * scale
    os.makedirs(os.path.join(out, "notebooks"), exist_ok=True)
    os.makedirs(os.path.join(out, "src", "helpers"), exist_ok=True)
    os.makedirs(os.path.join(out, "resources"), exist_ok=True)
    lines = files = 0
    for k in range(notebooks):
        estimator = rng.choice(["RandomForestClassifier", "GradientBoostingClassifier", "ExtraTreesClassifier"])
        parts = [NOTEBOOK_HEAD.format(title=f"Notebook {k}", extra=rng.choice(["", "xgboost==2.1.1"]), estimator=estimator, experiment=f"/Shared/exp_{k % 17}")]
        for i in range(6):
            parts.append(NOTEBOOK_BLOCK.format(i=i, estimator=estimator, n=rng.randint(50, 400)))
        parts.append(NOTEBOOK_TAIL)
        text = "".join(parts)
        _write(os.path.join(out, "notebooks", f"nb_{k:04d}.py"), text)
        lines += text.count("\n")
        files += 1
    for i in range(helpers):
        parts = [HELPER.format(i=i)]
        for j in range(9):
            parts.append(HELPER_FUNC.format(i=i, j=j, scale=round(rng.uniform(0.5, 3.0), 3)))
        text = "".join(parts)
        _write(os.path.join(out, "src", "helpers", f"helper_{i:04d}.py"), text)
        lines += text.count("\n")
        files += 1
    jobs = notebooks // 10
    for j in range(jobs):
        tasks = "".join(TASK.format(k=k) for k in range(j * 10, j * 10 + 10))
        text = JOB.format(j=j, tasks=tasks)
        _write(os.path.join(out, "resources", f"job_{j:03d}.yml"), text)
        lines += text.count("\n")
        files += 1
    root = "bundle:\n  name: synthetic\n\ninclude:\n  - resources/*.yml\n\nvariables:\n  catalog:\n    default: ml_dev\n"
    _write(os.path.join(out, "databricks.yml"), root)
    return {"files": files + 1, "lines": lines + root.count("\n")}


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
