from __future__ import annotations

from mlrules.analysis.labels import estimator_fits, fit_label, is_classifier, is_regressor, label_data_elsewhere
from mlrules.analysis.remedies import DOUBLE_CAST, INT_CAST, is_test_file, searchable_text, shows_any
from mlrules.model import Severity
from mlrules.rules.base import Invalid, PythonRule, Valid, ipynb

_TRAIN = """from sklearn.ensemble import GradientBoostingClassifier

pdf = training_set.load_df().toPandas()
y = pdf["churned"]
model = GradientBoostingClassifier()
model.fit(pdf.drop(columns=["churned"]), y)
"""
_REGRESS = """from sklearn.ensemble import RandomForestRegressor

y = pdf["revenue"]
RandomForestRegressor().fit(X, y)
"""


class LabelNotCast(PythonRule):
    """
    ## What it does
    Opt-in. Flags the `.fit(...)` call of a classifier or regressor (scikit-learn, XGBoost,
    LightGBM, CatBoost, Spark ML) trained on a known label column (see DQ004 for how the label
    is found) in a file with no cast to the label type anywhere:

    - classifier: no cast to an integer type (`.cast("int")`, `IntegerType()`/`LongType()`,
      `.astype(int)`, `CAST(... AS INT)`) and no `StringIndexer`/`LabelEncoder`;
    - regressor: no cast to double (`.cast("double")`, `DoubleType()`, `.astype("float64")`,
      `CAST(... AS DOUBLE)`).

    ## Why it matters
    Labels read from gold tables are often DECIMAL, BOOLEAN or STRING. The model then learns
    (and its signature records) that type: a classifier predicts `"1"` or `1.0` instead of
    `1`, a regressor's output schema does not match `DataType.double`, and downstream
    consumers break. Seed rule 10: cast to INT for classification, DOUBLE for regression,
    before training.

    Off by default: a label that is already the right type in the table needs no cast, which
    a static check cannot know. The cast is searched in the whole file and `%run` notebooks.
    Labels prepared in another file, Spark ML pipelines with stages built elsewhere, and unit
    tests are not judged (see DQ003/DQ004).

    ## Example
    ```python
    y = pdf["churned"]
    GradientBoostingClassifier().fit(X, y)
    ```

    ## Use instead
    ```python
    y = pdf["churned"].astype(int)
    GradientBoostingClassifier().fit(X, y)
    ```

    ## Fix safety
    No fix.
    """

    code = "DQ005"
    name = "label-not-cast"
    summary = "Label used for training with no cast to int (classification) or double (regression)"
    severity = Severity.WARNING
    default_enabled = False
    fix = None
    triggers = ("fit",)

    invalid = (
        Invalid(_TRAIN, 6, 1, path="train.py", message_contains="'churned'"),
        Invalid(_REGRESS, 4, 1, path="train.py", message_contains="double"),
        # an int cast does not help a regressor
        Invalid(_REGRESS + "pdf['id'] = pdf['id'].astype(int)\n", 4, 1, path="train.py"),
        Invalid(
            "# Databricks notebook source\nfrom pyspark.ml.classification import GBTClassifier\n\n# COMMAND ----------\n\nmodel = GBTClassifier(labelCol=\"label\").fit(train_df)\n",
            6, 9,
        ),
        Invalid(ipynb(("markdown", "# Train"), _TRAIN), 6, 1, path="train.ipynb", cell=2),
        # a Spark ML pipeline whose stages are all written here
        Invalid(
            "from pyspark.ml import Pipeline\nfrom pyspark.ml.feature import VectorAssembler\nfrom pyspark.ml.regression import GBTRegressor\n"
            "va = VectorAssembler(inputCols=cols, outputCol=\"features\")\nPipeline(stages=[va, GBTRegressor(labelCol=\"revenue\")]).fit(df)\n",
            5, 1, path="train.py",
        ),
    )
    valid = (
        Valid(_TRAIN.replace('y = pdf["churned"]', 'y = pdf["churned"].astype(int)'), path="train.py"),
        Valid(_TRAIN + 'labels_df = labels_df.withColumn("churned", F.col("churned").cast("int"))\n', path="train.py"),
        Valid(_REGRESS.replace('y = pdf["revenue"]', 'y = pdf["revenue"].astype("float64")'), path="train.py"),
        Valid('# Databricks notebook source\nfrom pyspark.ml.feature import StringIndexer\nfrom pyspark.ml.classification import LogisticRegression\nidx = StringIndexer(inputCol="y", outputCol="label")\nLogisticRegression().fit(idx.fit(df).transform(df))\n'),
        # Spark ML stages built in another module may index the label
        Valid("from pyspark.ml import Pipeline\nfrom pyspark.ml.classification import GBTClassifier\nstages = model_instance.create_preprocessing_stages()\n"
              "pipeline = Pipeline(stages=stages + [GBTClassifier(labelCol=\"label\")])\nmodel = pipeline.fit(train_df)\n", path="train.py"),
        # unknown label, unknown model
        Valid("from xgboost import XGBClassifier\nXGBClassifier().fit(X_train, y_train)\n", path="train.py"),
        Valid('y = pdf["churned"]\nmodel.fit(X, y)\n', path="train.py"),
    )

    def check(self, ctx):
        if is_test_file(ctx.path):
            return
        index = ctx.index
        text = None
        shown: dict[str, bool] = {}
        for fit in estimator_fits(index):
            classifier = next((e for e in fit.estimators if is_classifier(e)), None)
            regressor = None if classifier is not None else next((e for e in fit.estimators if is_regressor(e)), None)
            estimator = classifier or regressor
            if estimator is None:
                continue
            label = fit_label(fit, index)
            if label is None or label_data_elsewhere(ctx, fit):
                continue
            if text is None:
                text = searchable_text(ctx) or ""
            if not text:
                return
            wanted = "int" if classifier is not None else "double"
            if wanted not in shown:
                shown[wanted] = shows_any(text, INT_CAST if wanted == "int" else DOUBLE_CAST)
            if shown[wanted]:
                continue
            yield self.finding(
                ctx.path,
                ctx.span(fit.call.node),
                f"`{fit.call.dotted or 'fit'}(...)` trains {estimator.class_name} on label '{label}', which the file never casts to {wanted}: "
                "the label keeps the table's type (DECIMAL, string, ...) into training and the model's signature",
            )
