"""Per-file notebook facts (mlrules.project.notebook_facts) that cross-file rules share."""

from __future__ import annotations

import pytest

from mlrules.project.model import Project
from mlrules.project.notebook_facts import (
    KeyList,
    names_may_match,
    registry_model_name,
    resolve_run_target,
    table_names_match,
)
from mlrules.rules.base import ipynb
from mlrules.sources.loader import load_source


def _project(files: dict[str, str]) -> Project:
    return Project.build({path: load_source(path, text.encode()) for path, text in files.items()}, {})


def test_facts_widgets():
    code = (
        "# Databricks notebook source\n"
        'dbutils.widgets.text("catalog", "ml_dev")\n'
        'dbutils.widgets.dropdown(name="env", defaultValue="dev", choices=["dev", "prod"])\n'
        'catalog = dbutils.widgets.get("catalog")\n'
        'table = getArgument("table", "customers")\n'
        "for name in params:\n"
        "    dbutils.widgets.text(name, '')\n"
    )
    project = _project({"nb.py": code})
    facts = project.facts("nb.py")
    assert facts is project.facts("nb.py")  # cached
    assert facts.read_widget_names == {"catalog", "table"}
    assert [r.has_default for r in facts.widget_reads] == [False, True]
    assert facts.declared_widget_names == {"catalog", "env"}
    assert [d.default for d in facts.widget_declarations[:2]] == ["ml_dev", "dev"]
    assert facts.declares_dynamic_widget and not facts.reads_dynamic_widget
    assert facts.span(facts.widget_reads[0].node).start.row == 4


@pytest.mark.parametrize(
    "line",
    ['x = dbutils.widgets.get(name)', "get = dbutils.widgets.get", "everything = dbutils.widgets.getAll()"],
)
def test_facts_dynamic_widget_reads(line):
    facts = _project({"nb.py": "# Databricks notebook source\n" + line + "\n"}).facts("nb.py")
    assert facts.reads_dynamic_widget


def test_facts_run_targets(tmp_path):
    (tmp_path / "setup.py").write_text("x = 1\n")
    path = str(tmp_path / "nb.py")
    code = (
        "# Databricks notebook source\n"
        "# MAGIC %run ./setup $catalog=main\n\n# COMMAND ----------\n\n"
        "# MAGIC %run /Workspace/Shared/init\n\n# COMMAND ----------\n\n"
        '%run "./other setup"\n'
    )
    facts = _project({path: code}).facts(path)
    targets = facts.run_targets
    assert [(t.target, t.kind, t.row) for t in targets] == [
        ("./setup", "relative", 2), ("/Workspace/Shared/init", "absolute", 6), ("./other setup", "relative", 10),
    ]
    assert targets[0].parameters == (("catalog", "main"),)
    assert code[targets[0].start:targets[0].end] == "./setup"
    resolved = dict((t.target, r) for t, r in facts.resolved_runs())
    assert resolved["./setup"].endswith("setup.py") and resolved["./other setup"] is None
    assert resolve_run_target(path, "../nowhere") is None


def test_facts_feature_engineering():
    features = (
        "from databricks.feature_engineering import FeatureEngineeringClient\n"
        "fe = FeatureEngineeringClient()\n"
        'PK = ["customer_id", "ts"]\n'
        'fe.create_table(name=f"{catalog}.churn.features", primary_keys=PK, timeseries_columns="ts", df=df)\n'
    )
    train = ipynb(
        "import mlflow\nfrom databricks.feature_engineering import FeatureLookup, FeatureEngineeringClient\n",
        'lk = FeatureLookup(table_name="ml.churn.features", lookup_key="customer_id", timestamp_lookup_key="label_ts")\n'
        "FeatureEngineeringClient().log_model(model=m, artifact_path='m', flavor=mlflow.sklearn, training_set=ts, "
        "registered_model_name='ml.churn.model')\n",
    )
    score = (
        "import mlflow\n"
        "model = mlflow.sklearn.load_model('models:/ml.churn.model@champion')\n"
        "feats = spark.read.table('ml.churn.features').select('customer_id', 'f1')\n"
        "out = df.join(feats, 'customer_id')\n"
    )
    project = _project({"features.py": features, "train.ipynb": train, "score.py": score})
    table = project.facts("features.py").feature_tables[0]
    assert table.name.text == "{catalog}.churn.features"
    assert table.key_columns() == KeyList(("customer_id", "ts"))
    assert table.non_timeseries_keys() == KeyList(("customer_id",))
    lookup = project.facts("train.ipynb").feature_lookups[0]
    assert lookup.lookup_key == KeyList(("customer_id",)) and lookup.timestamp_lookup_key == KeyList(("label_ts",))
    (registered,) = project.facts("train.ipynb").registered_models
    assert registered.name.text == "ml.churn.model" and registered.feature_aware
    assert project.facts("train.ipynb").logs_feature_aware_model
    score_facts = project.facts("score.py")
    assert [m.registered for m in score_facts.loaded_models] == [True]
    assert [j.table.text for j in score_facts.feature_table_joins] == ["ml.churn.features"]
    assert not score_facts.uses_score_batch


def test_facts_unparseable_file():
    facts = _project({"nb.py": "# Databricks notebook source\n# MAGIC %run ./x\ndef (:\n"}).facts("nb.py")
    assert not facts.parsed and facts.widget_reads == () and facts.feature_tables == ()
    assert [t.target for t in facts.run_targets] == ["./x"]


@pytest.mark.parametrize(
    "a, b, same",
    [
        ("{catalog}.churn.features", "ml.churn.features", True),
        ("features", "ml.churn.features", True),
        ("{prefix}.features", "ml.churn.features", True),
        ("ml.sales.features", "ml.churn.features", False),
        ("{catalog}.{schema}.{table}", "ml.churn.features", False),
        ("ml.churn.features_{env}", "ml.churn.features_dev", False),
        ("{cfg.catalog}.churn.FEATURES", "ml.churn.features", True),
        ("dev_{x}.churn.features", "prod.churn.features", False),
    ],
)
def test_table_names_match(a, b, same):
    assert table_names_match(a, b) is same
    assert table_names_match(b, a) is same


def test_names_may_match_and_registry_names():
    assert names_may_match("{catalog}.{db}.{model_name}", "ml.churn.churn_model")
    assert not names_may_match("{catalog}.sales.{m}", "ml.churn.churn_model")
    assert registry_model_name("models:/ml.churn.m@champion") == "ml.churn.m"
    assert registry_model_name("models:/m/3") == "m"
    assert registry_model_name("runs:/abc/model") is None
