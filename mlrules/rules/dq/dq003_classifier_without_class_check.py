from __future__ import annotations

from mlrules.analysis.labels import estimator_fits, is_classifier, label_data_elsewhere
from mlrules.analysis.remedies import CLASS_CHECK, is_test_file, searchable_text, shows_any
from mlrules.model import Severity
from mlrules.rules.base import Invalid, PythonRule, Valid, ipynb

_TRAIN = """from xgboost import XGBClassifier

train_pdf = training_set.load_df().toPandas()
X = train_pdf.drop("churned", axis=1)
y = train_pdf["churned"]
model = XGBClassifier(n_estimators=200)
model.fit(X, y)
"""


class ClassifierWithoutClassCheck(PythonRule):
    """
    ## What it does
    Flags the `.fit(...)` call of a classifier (`*Classifier` such as `XGBClassifier`,
    `LGBMClassifier`, `CatBoostClassifier`, `RandomForestClassifier`; `LogisticRegression`,
    `SVC`, `LinearSVC` - from scikit-learn, XGBoost, LightGBM, CatBoost or Spark ML) - fit
    directly, through a name, or inside a `Pipeline`/`GridSearchCV` - in a file that never
    looks at the label distribution: no `nunique`, `value_counts`, `unique(`, `distinct`
    (`countDistinct`, `COUNT(DISTINCT ...)`), `groupBy(...).count`, `len(set(`, `np.unique`,
    `bincount`, `Counter(`.

    ## Why it matters
    A label filter, a bad join or a quiet week yields a training set with one class only. The
    classifier then fails (`ValueError: ... needs samples of at least 2 classes`) or, worse,
    trains a constant model that the job logs and registers as if it worked. Checking the
    class count first lets the job skip or fail with a clear message.

    The check is searched in the whole file and in notebooks included with `%run` (markdown
    cells do not count); a file with a `%run` that is not in the project is not checked.
    Classes defined in the file and unknown estimators are never judged; `IsolationForest`
    (no label) is not a classifier here. Labels prepared in another file are not judged: a `y`
    (or Spark DataFrame) that comes, through names, tuple unpacking and the call sites of the
    enclosing function, from a project helper (`X_train, X_test, y_train, y_test =
    prepare_training_data(...)`), `self.<attr>`, or a parameter of a function never called
    here. Unit tests are not checked.

    ## Example
    ```python
    model = XGBClassifier()
    model.fit(X, y)
    ```

    ## Use instead
    ```python
    if y.nunique() < 2:
        dbutils.notebook.exit("SKIPPED: single-class label")
    model = XGBClassifier()
    model.fit(X, y)
    ```

    ## Fix safety
    No fix: what to do with single-class data (skip, fail, alert) is the author's choice.
    """

    code = "DQ003"
    name = "classifier-without-class-check"
    summary = "Classifier fit with no label-distribution (single-class) check in the file"
    severity = Severity.WARNING
    fix = None
    triggers = ("Classifier", "LogisticRegression", "SVC")

    invalid = (
        Invalid(_TRAIN, 7, 1, path="train.py", message_contains="XGBClassifier"),
        # inside a Pipeline, in a function
        Invalid(
            "from sklearn.pipeline import Pipeline\nfrom sklearn.linear_model import LogisticRegression\n"
            "from sklearn.preprocessing import StandardScaler\n\n"
            "def train(X, y):\n    pipe = Pipeline([(\"scale\", StandardScaler()), (\"clf\", LogisticRegression(max_iter=500))])\n    return pipe.fit(X, y)\n\n"
            "model = train(pdf[FEATURES], pdf[\"churned\"])\n",
            7, 12, path="train.py",
        ),
        # chained, aliased module
        Invalid("import lightgbm as lgb\nclf = lgb.LGBMClassifier().fit(X_train, y_train)\n", 2, 7, path="train.py"),
        # Spark ML, in a Databricks notebook
        Invalid(
            "# Databricks notebook source\nfrom pyspark.ml.classification import RandomForestClassifier\n\n# COMMAND ----------\n\n"
            "rf = RandomForestClassifier(labelCol=\"churned\", featuresCol=\"features\")\nrf_model = rf.fit(train_df)\n",
            7, 12,
        ),
        Invalid(
            ipynb(("markdown", "The label has two classes"), _TRAIN),
            7, 1, path="train.ipynb", cell=2,
        ),
    )
    valid = (
        Valid(_TRAIN.replace("model.fit(X, y)", "if y.nunique() < 2:\n    raise ValueError(\"single class\")\nmodel.fit(X, y)"), path="train.py"),
        Valid(_TRAIN + "print(y.value_counts())\n", path="train.py"),
        Valid(_TRAIN + "assert len(set(y)) > 1\n", path="train.py"),
        Valid(_TRAIN + "classes = np.unique(y)\n", path="train.py"),
        Valid(_TRAIN + 'display(df.groupBy("churned").count())\n', path="train.py"),
        Valid(_TRAIN + 'n = df.select(F.countDistinct("churned")).first()[0]\n', path="train.py"),
        # a regressor, an unsupervised model, an estimator that is never fit, a class of the file
        Valid("from xgboost import XGBRegressor\nXGBRegressor().fit(X, y)\n", path="train.py"),
        Valid("from sklearn.ensemble import IsolationForest\nIsolationForest().fit(X)\n", path="train.py"),
        Valid("from xgboost import XGBClassifier\nparams = XGBClassifier().get_params()\n", path="train.py"),
        Valid("class MyClassifier:\n    def fit(self, X, y):\n        pass\nMyClassifier().fit(X, y)\n", path="train.py"),
        # the label data comes from a project helper (which may check it), directly or through a call site
        Valid("from xgboost import XGBClassifier\nfrom churn.prep import prepare_training_data\n\n"
              "def fit(X_train, y_train):\n    return XGBClassifier().fit(X_train, y_train)\n\n"
              "X_train, X_test, y_train, y_test = prepare_training_data(df, FEATURES, \"churned\")\nmodel = fit(X_train, y_train)\n", path="train.py"),
        # a library function whose callers are in other files
        Valid("from xgboost import XGBClassifier\n\ndef fit(X, y):\n    return XGBClassifier().fit(X, y)\n", path="lib/models.py"),
        # unit tests build their own data
        Valid(_TRAIN, path="tests/unit/test_train.py"),
        Valid(_TRAIN, path="train_test.py"),
        # the check lives in a notebook included with %run
        Valid("# Databricks notebook source\n# MAGIC %run ./checks\n\n# COMMAND ----------\n\n" + _TRAIN, path="train.py",
              files={"checks.py": "# Databricks notebook source\ndef check_classes(y):\n    assert y.nunique() > 1\n"}),
    )

    def check(self, ctx):
        if is_test_file(ctx.path):
            return
        fits = [
            f for f in estimator_fits(ctx.index)
            if any(is_classifier(e) for e in f.estimators) and not label_data_elsewhere(ctx, f)
        ]
        if not fits:
            return
        text = searchable_text(ctx)
        if text is None or shows_any(text, CLASS_CHECK):
            return
        for fit in fits:
            classifier = next(e for e in fit.estimators if is_classifier(e))
            yield self.finding(
                ctx.path,
                ctx.span(fit.call.node),
                f"`{fit.call.dotted or 'fit'}(...)` trains {classifier.class_name} but the file never checks the label has "
                "at least two classes (no nunique/value_counts/distinct/np.unique): single-class data fails or trains a constant model",
            )
