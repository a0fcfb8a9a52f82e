from __future__ import annotations

from mlrules.analysis.labels import RATE_LABEL, estimator_fits, fit_label, is_classifier, label_data_elsewhere
from mlrules.analysis.remedies import BINARIZATION, is_test_file, searchable_text, shows_any
from mlrules.rules.base import Invalid, PythonRule, Valid, ipynb

_FE = """from databricks.feature_engineering import FeatureEngineeringClient
from xgboost import XGBClassifier

fe = FeatureEngineeringClient()
training_set = fe.create_training_set(df=labels_df, feature_lookups=lookups, label="churn_rate")
pdf = training_set.load_df().toPandas()
X_train, X_test, y_train, y_test = train_test_split(pdf.drop("churn_rate", axis=1), pdf["churn_rate"])
model = XGBClassifier()
model.fit(X_train, y_train)
"""


class RateLabelForClassifier(PythonRule):
    """
    ## What it does
    Flags the `.fit(...)` call of a classifier (see DQ003 for which) whose label is named like
    a continuous rate - `*_rate`, `*_ratio`, `*_pct`, `*_percent`, `*_percentage`,
    `*_fraction`, `*_share`, `*_score` - in a file that shows no binarization: no
    `when(... > t, ...)`, `(... > t).astype(...)`/`.cast(...)`, `np.where(... > t, ...)`,
    `CASE WHEN ... > t`, `Binarizer`, `Bucketizer`, `pd.cut(`, or helper named `*binar*`.

    The label is the one the file shows: Spark ML `labelCol=`; the `y` of `fit(X, y)` followed
    to `df["col"]`/`df.pop("col")` through names assigned once; otherwise the `label=` of the
    file's only `create_training_set(...)`. An unknown label is never flagged, nor one prepared
    in another file, by Databricks AutoML or taken from a scikit-learn toy dataset (see DQ003), nor a Spark ML `Pipeline` whose stages are built elsewhere
    (a `StringIndexer` there may produce the label). Unit tests are not checked.

    ## Why it matters
    A rate between 0 and 1 is not a class. `XGBClassifier` fails with
    `XGBoostError: base_score must be in (0,1)`, scikit-learn with `Unknown label type:
    'continuous'`, and a label that happens to hold only 0.0 and 1.0 in one run breaks in the
    next. Threshold it into an integer class first (seed rule 7).

    ## Example
    ```python
    y = pdf["churn_rate"]
    XGBClassifier().fit(X, y)
    ```

    ## Use instead
    ```python
    pdf["churned"] = (pdf["churn_rate"] > 0.5).astype(int)
    XGBClassifier().fit(X, pdf["churned"])
    ```

    ## Fix safety
    No fix: the threshold is a business decision.
    """

    code = "DQ004"
    name = "rate-label-for-classifier"
    summary = "Classifier trained on a rate-like label (*_rate, *_pct, ...) with no binarization"
    fix = None
    triggers = ("Classifier", "LogisticRegression", "SVC")

    invalid = (
        # the label comes from the only training set (y from train_test_split is not followed)
        Invalid(_FE, 9, 1, path="train.py", message_contains="churn_rate"),
        # y followed through names
        Invalid(
            "from sklearn.ensemble import RandomForestClassifier\nLABEL = \"default_pct\"\ny = pdf[LABEL].values\nclf = RandomForestClassifier()\nclf.fit(pdf.drop(columns=[LABEL]), y)\n",
            5, 1, path="train.py",
        ),
        # Spark ML labelCol
        Invalid(
            "# Databricks notebook source\nfrom pyspark.ml.classification import LogisticRegression\n\n# COMMAND ----------\n\n"
            "lr = LogisticRegression(featuresCol=\"features\", labelCol=\"conversion_ratio\")\nmodel = lr.fit(train_df)\n",
            7, 9,
        ),
        Invalid(
            ipynb("from catboost import CatBoostClassifier", "y = df.pop('fraud_score')\nCatBoostClassifier().fit(df, y=y)"),
            2, 1, path="train.ipynb", cell=2,
        ),
    )
    valid = (
        # binarized in the file
        Valid(_FE.replace('model = XGBClassifier()', 'y_train = (y_train > 0.5).astype(int)\nmodel = XGBClassifier()'), path="train.py"),
        Valid("from pyspark.sql import functions as F\n" + _FE.replace('training_set = ', 'labels_df = labels_df.withColumn("churn_rate", F.when(F.col("churn_rate") > 0.5, 1).otherwise(0))\ntraining_set = '), path="train.py"),
        Valid("from sklearn.preprocessing import Binarizer\n" + _FE, path="train.py"),
        # a regressor on a rate is fine; a non-rate label; an unknown label
        Valid(_FE.replace("XGBClassifier", "XGBRegressor"), path="train.py"),
        Valid(_FE.replace("churn_rate", "churned"), path="train.py"),
        Valid("from xgboost import XGBClassifier\nXGBClassifier().fit(X_train, y_train)\n", path="train.py"),
        # the y that is fit is another column than the training set's label
        Valid(_FE.replace("model.fit(X_train, y_train)", 'model.fit(X_train, pdf["churned"])'), path="train.py"),
        # prepared by a project helper (which may binarize it)
        Valid("from xgboost import XGBClassifier\nfrom ml.utils import prepare_training_data\nfrom databricks.feature_engineering import FeatureEngineeringClient\nfe = FeatureEngineeringClient()\n"
              "X, y = prepare_training_data(df, \"serverless_adoption_ratio\")\nXGBClassifier().fit(X, y)\n"
              "ts = fe.create_training_set(df=d, feature_lookups=[], label=\"serverless_adoption_ratio\")\n", path="train.py"),
        # two training sets with different labels: which one is fit is unknown
        Valid(_FE + 'other = fe.create_training_set(df=d, feature_lookups=lookups, label="other_rate_flag")\n', path="train.py"),
    )

    def check(self, ctx):
        if is_test_file(ctx.path):
            return
        index = ctx.index
        text = None
        for fit in estimator_fits(index):
            classifier = next((e for e in fit.estimators if is_classifier(e)), None)
            if classifier is None:
                continue
            label = fit_label(fit, index)
            if label is None or label_data_elsewhere(ctx, fit) or not RATE_LABEL.search(label):
                continue
            if text is None:
                text = searchable_text(ctx) or ""
                if not text or shows_any(text, BINARIZATION):
                    return
            yield self.finding(
                ctx.path,
                ctx.span(fit.call.node),
                f"`{fit.call.dotted or 'fit'}(...)` trains {classifier.class_name} on '{label}', which looks like a continuous rate, "
                "and the file never binarizes it (when(col > t, 1) / (x > t).astype(int) / Binarizer): "
                "XGBoost fails with 'base_score must be in (0,1)'",
            )
