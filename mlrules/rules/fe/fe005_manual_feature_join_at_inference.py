from __future__ import annotations

from mlrules.analysis.features import location
from mlrules.analysis.features import where as line_of
from mlrules.analysis.index import dotted_name
from mlrules.project.notebook_facts import (
    created_feature_tables,
    iter_facts,
    names_may_match,
    registry_model_name,
    table_names_match,
    tables_named,
)
from mlrules.rules.base import Invalid, ProjectRule, Valid, ipynb

FEATURES = """# Databricks notebook source
from databricks.feature_engineering import FeatureEngineeringClient

fe = FeatureEngineeringClient()
catalog = dbutils.widgets.get("catalog")
fe.create_table(name=f"{catalog}.churn.customer_features", primary_keys="customer_id", df=features_df)
"""

TRAIN = """# Databricks notebook source
import mlflow
from databricks.feature_engineering import FeatureEngineeringClient, FeatureLookup

fe = FeatureEngineeringClient()
catalog = dbutils.widgets.get("catalog")
training_set = fe.create_training_set(
    df=labels_df,
    feature_lookups=[FeatureLookup(table_name=f"{catalog}.churn.customer_features", lookup_key="customer_id")],
    label="churned",
)
fe.log_model(
    model=model,
    artifact_path="model",
    flavor=mlflow.sklearn,
    training_set=training_set,
    registered_model_name=f"{catalog}.churn.churn_model",
)
"""

AUTOML_REGISTER = """# Databricks notebook source
import mlflow
catalog = dbutils.widgets.get("catalog")
mlflow.register_model(f"runs:/{run_id}/model", f"{catalog}.churn.churn_model")
"""

INFERENCE = """# Databricks notebook source
import mlflow

catalog = dbutils.widgets.get("catalog")
model = mlflow.pyfunc.spark_udf(spark, f"models:/{catalog}.churn.churn_model@champion")

# COMMAND ----------

customers = spark.table(f"{catalog}.churn.customers_to_score")
features = spark.table(f"{catalog}.churn.customer_features")
scored = customers.join(features, on="customer_id").withColumn("prediction", model())
"""


class ManualFeatureJoinAtInference(ProjectRule):
    """
    ## What it does
    Cross-file. Flags a join in a file that loads a registered model
    (`mlflow.pyfunc.load_model`, `mlflow.pyfunc.spark_udf` or `mlflow.<flavor>.load_model` on a
    `models:/...` URI) when one side of the join reads a feature table that the project
    creates with `fe.create_table`: `.join(spark.table(T))`, `spark.read.table(T)` (or
    `fe.read_table(name=T)`) assigned to a name and joined, also after `select`/`filter`/
    `toPandas`-like steps and with pandas `merge`. Table names match as in FE003.

    `fe.score_batch` only works for models logged with `fe.log_model(..., training_set=...)`,
    so the model must be one: either the project registers the loaded name (matched like table
    names) with `fe.log_model(..., registered_model_name=...)`, or no registration in the
    project may be that model without feature metadata (known name parts agree) and the
    project logs some model with `fe.log_model(..., training_set=...)`.

    Not flagged: a file that calls `fe.score_batch` anywhere, a model URI that is unknown or
    not `models:/...`, a table the project does not create as a feature table, a model that
    the project registers only without feature metadata (`mlflow.register_model` of an AutoML
    run, `mlflow.<flavor>.log_model`).

    ## Why it matters
    A model logged with `fe.log_model` carries its feature lookups: `fe.score_batch` joins
    exactly the features, keys and point-in-time rules used in training. A hand-written join
    drifts from them (another key, a missing timestamp condition, a renamed column) and the
    model silently scores on skewed inputs.

    ## Example
    ```python
    model = mlflow.pyfunc.spark_udf(spark, f"models:/{catalog}.churn.churn_model@champion")
    features = spark.table(f"{catalog}.churn.customer_features")
    scored = customers.join(features, on="customer_id").withColumn("prediction", model())
    ```

    ## Use instead
    ```python
    fe = FeatureEngineeringClient()
    scored = fe.score_batch(model_uri=f"models:/{catalog}.churn.churn_model@champion", df=customers)
    ```

    ## Fix safety
    No fix: the scoring DataFrame and the model's lookups must be checked by a person.
    """

    code = "FE005"
    name = "manual-feature-join-at-inference"
    summary = "Inference joins a feature table by hand instead of fe.score_batch"

    invalid = (
        Invalid(
            INFERENCE, 11, 10, path="notebooks/batch_inference.py", files={"notebooks/features.py": FEATURES, "notebooks/train.py": TRAIN},
            message_contains="customer_features",
        ),
        Invalid(
            ipynb(
                ("markdown", "# Score"),
                "import mlflow\nmodel = mlflow.sklearn.load_model('models:/ml.churn.churn_model/3')\n",
                "pdf = (\n    spark.table('ml.churn.scoring_input')\n"
                "    .join(spark.read.table('ml.churn.customer_features').select('customer_id', 'tenure_days'), 'customer_id')\n"
                "    .toPandas()\n)\n",
            ),
            2, 5, cell=3, path="score.ipynb", files={"features.py": FEATURES, "train.py": TRAIN},
            message_contains="(cell 2, line 2)",
        ),
        Invalid(
            """import mlflow
from databricks.feature_engineering import FeatureEngineeringClient

fe = FeatureEngineeringClient()
model = mlflow.pyfunc.load_model(model_uri="models:/ml.churn.churn_model@champion")
feats = fe.read_table(name="ml.churn.customer_features").toPandas()
pdf = input_pdf.merge(feats, on="customer_id")
""",
            7, 7, path="score.py", files={"features.py": FEATURES, "train.py": TRAIN},
        ),
    )
    valid = (
        Valid(
            """# Databricks notebook source
from databricks.feature_engineering import FeatureEngineeringClient

fe = FeatureEngineeringClient()
customers = spark.table("ml.churn.customers_to_score")
scored = fe.score_batch(model_uri="models:/ml.churn.churn_model@champion", df=customers)
""",
            path="notebooks/batch_inference.py", files={"notebooks/features.py": FEATURES},
        ),
        # score_batch anywhere in the file shows the remedy
        Valid(
            INFERENCE + "\nfe_scored = fe.score_batch(model_uri=uri, df=customers)\n",
            path="notebooks/batch_inference.py", files={"notebooks/features.py": FEATURES, "notebooks/train.py": TRAIN},
        ),
        # the model is registered without feature metadata (an AutoML run): score_batch cannot serve it
        Valid(INFERENCE, path="notebooks/batch_inference.py", files={"notebooks/features.py": FEATURES, "notebooks/register.py": AUTOML_REGISTER}),
        # nothing in the project logs a model with fe.log_model
        Valid(INFERENCE, path="notebooks/batch_inference.py", files={"notebooks/features.py": FEATURES}),
        # the joined table is not a feature table of the project
        Valid(
            INFERENCE, path="notebooks/batch_inference.py",
            files={"notebooks/features.py": FEATURES.replace("customer_features", "order_features"), "notebooks/train.py": TRAIN},
        ),
        # no registered model is loaded (a run URI), or the URI is unknown
        Valid(INFERENCE.replace('f"models:/{catalog}.churn.churn_model@champion"', '"runs:/abc/model"'), path="nb.py", files={"features.py": FEATURES, "train.py": TRAIN}),
        Valid(INFERENCE.replace('f"models:/{catalog}.churn.churn_model@champion"', "model_uri"), path="nb.py", files={"features.py": FEATURES, "train.py": TRAIN}),
        # a training notebook joining features, no model loaded
        Valid(
            ipynb("labels = spark.table('ml.churn.labels')\ntrain = labels.join(spark.table('ml.churn.customer_features'), 'customer_id')\n"),
            path="train_manual.ipynb", files={"features.py": FEATURES, "train.py": TRAIN},
        ),
    )

    def check(self, ctx):
        tables = created_feature_tables(ctx.project)
        if not tables:
            return
        registrations = [
            reg for facts in iter_facts(ctx.project, "log_model", "register_model", "create_registered_model")
            for reg in facts.registered_models if reg.name is not None
        ]
        logs_with_features = any(f.logs_feature_aware_model for f in iter_facts(ctx.project, "training_set"))
        for facts in iter_facts(ctx.project, "load_model", "spark_udf"):
            if facts.uses_score_batch:
                continue
            loads = [m for m in facts.loaded_models if m.registered and _serves_features(m, registrations, logs_with_features)]
            if not loads:
                continue
            load = loads[0]
            reported = set()
            for join in facts.feature_table_joins:
                matches = tables_named(tables, join.table, facts.path)
                if not matches or id(join.node) in reported:
                    continue
                reported.add(id(join.node))
                where, table = matches[0]
                written = dotted_name(join.node.func)
                method = written if written and len(written) <= 40 else "." + join.node.func.attr.value
                yield self.finding(
                    facts.path,
                    facts.span(join.node),
                    f"`{method}(...)` joins feature table '{join.table.text}' (created at {location(where, table.node)}) "
                    f"by hand after loading registered model '{load.uri.text}' "
                    f"with `{load.call}` ({line_of(facts, load.node)}); use `fe.score_batch(model_uri=..., df=<keys only>)`",
                )


def _serves_features(load, registrations, logs_with_features: bool) -> bool:
    """Could ``fe.score_batch`` serve this model (it was logged with feature metadata)?"""
    name = registry_model_name(load.uri.text)
    if not name:
        return False
    if any(r.feature_aware for r in registrations if table_names_match(name, r.name.text)):
        return True
    # a registration that may be this model (known parts agree) without feature metadata: unsure
    if any(not r.feature_aware and names_may_match(name, r.name.text) for r in registrations):
        return False
    return logs_with_features
