"""A generated Asset Bundle project for timing the bundle model against notebook parsing.

    python benchmarks/gen_bundle_project.py OUT_DIR [--jobs 50] [--notebooks 300]
    python benchmarks/gen_bundle_project.py OUT_DIR --measure

The project: ``databricks.yml`` (variables, three targets with overrides, include globs), one
resource file per job under ``resources/<domain>/`` (environments with pins, a YAML anchor,
tasks with ``base_parameters``), and Databricks-source notebooks under ``notebooks/<domain>/``
that read widgets, install pinned packages, create feature tables and look features up
(so FE003 has work). Every job runs 6 notebooks, so most notebooks are run by one job and
some by two. The same arguments always give byte-identical output.

``--measure`` generates into OUT_DIR and times, in-process, with
``--select BND,NB006,NB007,FE003``: loading, the bundle model (includes, targets, variables,
jobs, task paths: no notebook parsed), parsing every notebook with libcst, the notebook facts
the cross-file rules need, and the whole lint.
"""

from __future__ import annotations

import argparse
import os
import random
import time

DOMAINS = ("churn", "ltv", "fraud", "pricing", "support")

NOTEBOOK = '''# Databricks notebook source
# MAGIC %md
# MAGIC # {title}

# COMMAND ----------

# MAGIC %pip install mlflow==2.19.0 scikit-learn==1.5.2

# COMMAND ----------

import mlflow
from databricks.feature_engineering import FeatureEngineeringClient, FeatureLookup

catalog = dbutils.widgets.get("catalog")
schema = dbutils.widgets.get("schema")
dbutils.widgets.text("threshold", "0.5")
threshold = float(dbutils.widgets.get("threshold"))
fe = FeatureEngineeringClient()
table = f"{{catalog}}.{{schema}}.{table}"
'''

CREATE = '''
# COMMAND ----------

df = spark.table(f"{{catalog}}.{{schema}}.raw_{i}").fillna(0)
fe.create_table(name=table, primary_keys=["customer_id", "snapshot_date"], df=df)
'''

LOOKUP = '''
# COMMAND ----------

lookups = [FeatureLookup(table_name=table, lookup_key=["customer_id", "snapshot_date"])]
training_set = fe.create_training_set(df=spark.table(f"{{catalog}}.{{schema}}.labels"), feature_lookups=lookups, label="label")
'''

BLOCK = '''
# COMMAND ----------

def step_{i}(df):
    """Feature block {i}."""
    out = df.fillna(0)
    for column in ["amount_{i}", "count_{i}", "days_{i}"]:
        out = out.withColumn(column, out[column].cast("double"))
    return out.withColumn("ratio_{i}", out["amount_{i}"] / (out["count_{i}"] + 1))
'''

TAIL = '''
# COMMAND ----------

dbutils.notebook.exit("SUCCESS")
'''

ROOT = """bundle:
  name: generated

include:
  - resources/*.yml
  - resources/*/*.yml

variables:
  catalog:
    default: ml_dev
  schema:
    default: features
  mlflow_pin:
    default: mlflow==2.19.0

targets:
  dev:
    mode: development
    default: true
  staging:
    variables:
      catalog: ml_staging
  prod:
    variables:
      catalog: ml_prod
    resources:
      jobs:
{prod_overrides}
"""

JOB_HEAD = """resources:
  jobs:
    {name}:
      name: {name}-${{bundle.target}}
      timeout_seconds: 14400
      email_notifications: &alerts_{index}
        on_failure: [ml-alerts@example.com]
      environments:
        - environment_key: default
          spec:
            client: "2"
            dependencies:
              - ${{var.mlflow_pin}}
              - scikit-learn==1.5.2
      tasks:
"""

TASK = """        - task_key: {key}
          environment_key: default
{depends}          notebook_task:
            notebook_path: ../../notebooks/{notebook}
            base_parameters:
              catalog: ${{var.catalog}}
              schema: ${{var.schema}}
              threshold: "{threshold}"
"""


def generate(out: str, jobs: int = 50, notebooks: int = 300) -> None:
    rng = random.Random(20240601)
    paths = []
    for n in range(notebooks):
        domain = DOMAINS[n % len(DOMAINS)]
        rel = f"{domain}/step_{n:03d}.py"
        paths.append(rel)
        text = NOTEBOOK.format(title=f"{domain} step {n}", table=f"{domain}_features_{n % 20}")
        text += CREATE.format(i=n) if n % 20 == n % 40 else LOOKUP
        for i in range(rng.randint(4, 10)):
            text += BLOCK.format(i=i)
        text += TAIL
        _write(out, f"notebooks/{rel}", text)
    overrides = []
    for j in range(jobs):
        domain = DOMAINS[j % len(DOMAINS)]
        name = f"{domain}_job_{j:02d}"
        body = JOB_HEAD.format(name=name, index=j)
        previous = None
        for t in range(6):
            notebook = paths[(j * 6 + t) % notebooks]
            depends = f"          depends_on:\n            - task_key: {previous}\n" if previous else ""
            key = f"t{t}_{os.path.splitext(os.path.basename(notebook))[0]}"
            body += TASK.format(key=key, depends=depends, notebook=notebook, threshold=rng.choice(["0.3", "0.5", "0.7"]))
            previous = key
        if j % 5 == 0:
            body += f"    {name}_copy:\n      name: copy\n      email_notifications: *alerts_{j}\n"
        _write(out, f"resources/{domain}/{name}.yml", body)
        if j % 10 == 0:
            overrides.append(f"        {name}:\n          timeout_seconds: 7200\n")
    _write(out, "databricks.yml", ROOT.format(prod_overrides="".join(overrides) or "        {}\n"))


def _write(root: str, rel: str, text: str) -> None:
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(text)


def measure(out: str) -> None:
    from mlrules.engine.config import Settings
    from mlrules.engine.runner import Linter
    from mlrules.project.model import Project
    from mlrules.project.task_widgets import widget_use
    from mlrules.sources.python import PythonSource

    cwd = os.getcwd()
    os.chdir(out)
    try:
        settings = Settings(root=".")
        settings.select = ["BND", "NB006", "NB007", "FE003"]
        from mlrules.engine.config import expand_selectors

        expand_selectors(settings.select, "--select")

        def timed(label, func):
            start = time.perf_counter()
            value = func()
            print(f"{label:<48} {time.perf_counter() - start:7.3f} s")
            return value

        linter = Linter(settings)
        loaded = timed("load (read, decode, YAML compose, cell split)", lambda: linter.load(["."]))
        project = Project.build(loaded.sources, loaded.requirements)

        def model():
            m = project.bundle_model
            for bundle in m.bundles:
                for view in bundle.views:
                    for job in view.jobs:
                        for task in job.tasks:
                            task.run  # noqa: B018 - resolve every task path
            return m

        m = timed("bundle model (includes, targets, jobs, paths)", model)
        notebooks = [s for s in loaded.sources.values() if isinstance(s, PythonSource)]
        timed(f"libcst parse of {len(notebooks)} notebooks", lambda: [s.parse() for s in notebooks])

        def facts():
            for bundle in m.bundles:
                for view in bundle.views:
                    for job in view.jobs:
                        for task in job.tasks:
                            if task.run is not None and task.run.path:
                                widget_use(m, task.run.path)

        timed("notebook widget facts (index over parsed CST)", facts)
        fresh = Linter(settings)
        result = timed("whole run: load + lint BND,NB006,NB007,FE003", lambda: fresh.lint(fresh.load(["."])))
        jobs = sum(len(v.jobs) for b in m.bundles for v in b.views)
        print(f"{len(m.bundles)} bundle(s), {jobs} job views, {len(result.findings)} findings")
    finally:
        os.chdir(cwd)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out")
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--notebooks", type=int, default=300)
    parser.add_argument("--measure", action="store_true", help="generate, then time the model against notebook parsing")
    args = parser.parse_args()
    generate(args.out, args.jobs, args.notebooks)
    if args.measure:
        measure(args.out)


if __name__ == "__main__":
    main()
