from __future__ import annotations

import os

import libcst as cst

from mlrules.analysis.features import (
    TEXT_VECTORIZERS,
    client_calls,
    fitted_text_vectorizers,
    follow_name,
    model_name_from_uri,
    names_match,
    where,
)
from mlrules.analysis.index import CallSite, FileIndex
from mlrules.analysis.values import string_value
from mlrules.model import Severity
from mlrules.rules.base import Invalid, PythonRule, Valid, ipynb


_TRAIN = """from databricks.feature_engineering import FeatureEngineeringClient
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
import mlflow

fe = FeatureEngineeringClient()
vectorizer = TfidfVectorizer(max_features=5000)
X = vectorizer.fit_transform(train_pdf["ticket_text"])
clf = LogisticRegression().fit(X, train_pdf["escalated"])
fe.log_model(model=clf, artifact_path="model", flavor=mlflow.sklearn, training_set=training_set,
             registered_model_name="ml.support.escalation_model")
"""
# the training file's own finding suppressed, to check what the scoring file gets
_TRAIN_NOQA = _TRAIN.replace("training_set=training_set,\n", "training_set=training_set,  # noqa: FE008\n")
_PIPELINE_TRAIN = """from databricks.feature_engineering import FeatureEngineeringClient
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
import mlflow

fe = FeatureEngineeringClient()
pipe = Pipeline([("tfidf", TfidfVectorizer()), ("clf", LogisticRegression())])
pipe.fit(train_pdf["ticket_text"], train_pdf["escalated"])
fe.log_model(model=pipe, artifact_path="model", flavor=mlflow.sklearn, training_set=training_set,
             registered_model_name="ml.support.escalation_model")
"""
_SCORE = """# Databricks notebook source
from databricks.feature_engineering import FeatureEngineeringClient

fe = FeatureEngineeringClient()
catalog = dbutils.widgets.get("catalog")
preds = fe.score_batch(model_uri=f"models:/{catalog}.support.escalation_model@champion", df=keys_df)
"""


class RuntimeFeaturesWithScoreBatch(PythonRule):
    """
    ## What it does
    Flags, for a model whose features are computed at run time:

    - `fe.log_model(...)` in a file that fits a scikit-learn text vectorizer
      (`TfidfVectorizer`, `CountVectorizer`, `HashingVectorizer`) by itself (`vec.fit(...)`,
      `vec.fit_transform(...)`) rather than as a step of the `Pipeline` passed to `log_model`;
    - `fe.score_batch(model_uri=...)` (in any file of the project, the same one included) on a
      model that such a `fe.log_model(..., registered_model_name=...)` registers. Names are
      compared part by part; `{placeholder}` parts match any part and the model name itself
      must agree.

    ## Why it matters
    `fe.score_batch` looks up the stored features and feeds them to the model. Text vectors
    are not in any feature table: they were computed by a vectorizer that lives outside the
    logged model, so batch scoring either fails on missing columns or scores with features
    that were never computed. Models like this need a separate custom inference task that
    loads the vectorizer (or a pyfunc/`Pipeline` that contains it) and computes the features.

    A vectorizer inside the logged `Pipeline` (fit through the pipeline) is not flagged.
    Unknown model URIs and names are never matched.

    ## Example
    ```python
    X = TfidfVectorizer().fit_transform(pdf["text"])
    fe.log_model(model=LogisticRegression().fit(X, y), flavor=mlflow.sklearn, training_set=ts, ...)
    ```

    ## Use instead
    ```python
    pipe = Pipeline([("tfidf", TfidfVectorizer()), ("clf", LogisticRegression())])
    pipe.fit(pdf["text"], y)
    mlflow.sklearn.log_model(pipe, "model", registered_model_name=name)  # scored by a custom task
    ```

    ## Fix safety
    No fix: inference has to be redesigned.
    """

    code = "FE008"
    name = "runtime-features-with-score-batch"
    summary = "Model with run-time text features logged with fe.log_model or scored with fe.score_batch"
    severity = Severity.WARNING
    fix = None
    triggers = ("Vectorizer", "score_batch")

    invalid = (
        Invalid(_TRAIN, 10, 1, path="train.py", message_contains="TfidfVectorizer"),
        # score_batch in another notebook on the model the training file registers
        Invalid(_SCORE, 6, 9, path="score.py", files={"train.py": _TRAIN}, message_contains="train.py (line 10)"),
        # the same file logs and scores
        Invalid(_TRAIN + 'fe.score_batch("models:/ml.support.escalation_model/3", keys_df)\n', 10, 1, path="train.py", also=((12, 1),)),
        # a vectorizer fit directly, in a Databricks notebook; the model is a Pipeline without it
        Invalid(
            "# Databricks notebook source\n"
            "from sklearn.feature_extraction.text import CountVectorizer as CV\nfrom sklearn.pipeline import make_pipeline\n"
            "from databricks.feature_engineering import FeatureEngineeringClient\nimport mlflow\n\n# COMMAND ----------\n\n"
            "fe = FeatureEngineeringClient()\nX = CV().fit_transform(texts)\nmodel = make_pipeline(StandardScaler(with_mean=False), clf)\nmodel.fit(X, y)\n"
            "fe.log_model(model=model, artifact_path=\"m\", flavor=mlflow.sklearn, training_set=ts)\n",
            13, 1,
        ),
        Invalid(
            ipynb(("markdown", "# Train"), "from sklearn.feature_extraction.text import HashingVectorizer\nfrom databricks.feature_engineering import FeatureEngineeringClient\nimport mlflow",
                  "fe = FeatureEngineeringClient()\nhv = HashingVectorizer()\nhv.fit(texts)\nfe.log_model(model=clf, artifact_path=\"m\", flavor=mlflow.sklearn, training_set=ts)"),
            4, 1, path="train.ipynb", cell=3,
        ),
    )
    valid = (
        # the vectorizer is a step of the logged pipeline
        Valid(_PIPELINE_TRAIN, path="train.py"),
        Valid(_SCORE, path="score.py", files={"train.py": _PIPELINE_TRAIN}),
        # a vectorizer fit, but the model is logged with a plain MLflow flavor (custom inference)
        Valid(_TRAIN.replace("fe.log_model(model=clf, artifact_path=\"model\", flavor=mlflow.sklearn, training_set=training_set,", "mlflow.sklearn.log_model(clf, artifact_path=\"model\","), path="train.py"),
        # score_batch on another model, or on an unknown URI
        Valid(_SCORE.replace("escalation_model", "churn_model"), path="score.py", files={"train.py": _TRAIN_NOQA}),
        Valid(_SCORE.replace("support.escalation_model", "other.escalation_model"), path="score.py", files={"train.py": _TRAIN_NOQA}),
        Valid(_SCORE.replace('f"models:/{catalog}.support.escalation_model@champion"', 'dbutils.widgets.get("model_uri")'), path="score.py", files={"train.py": _TRAIN_NOQA}),
        # a vectorizer constructed but never fit on its own (passed to a pipeline later)
        Valid(_PIPELINE_TRAIN.replace('pipe = Pipeline([("tfidf", TfidfVectorizer()), ', 'vec = TfidfVectorizer()\npipe = Pipeline([("tfidf", vec), '), path="train.py"),
        # a Spark ML CountVectorizer is not a scikit-learn text vectorizer
        Valid("from pyspark.ml.feature import CountVectorizer\nfrom databricks.feature_engineering import FeatureEngineeringClient\nfe = FeatureEngineeringClient()\ncv = CountVectorizer(inputCol='w', outputCol='v').fit(df)\nfe.log_model(model=m, artifact_path='m', flavor=mlflow.spark, training_set=ts)\n", path="train.py"),
    )

    def check(self, ctx):
        index = ctx.index
        own = list(runtime_feature_logs(index))
        for log, vectorizer in own:
            yield self.finding(
                ctx.path,
                ctx.span(log.node),
                f"`{log.dotted}(...)` logs a model whose text features come from `{vectorizer.dotted}(...)` "
                f"({where(ctx, vectorizer.node)}), fit outside the logged model: `fe.score_batch` cannot compute them; "
                "put the vectorizer in the logged Pipeline or score with a separate custom inference task",
            )
        scores = client_calls(index, "score_batch")
        if not scores:
            return
        registered = None
        for call in scores:
            arg = call.argument(0, "model_uri")
            value = string_value(arg.value, index, call.function) if arg is not None else None
            if value is None or value.widget is not None:
                continue
            name = model_name_from_uri(value.text)
            if name is None:
                continue
            if registered is None:
                registered = _registered_runtime_models(ctx, own)
            for other_path, other_name, where_text in registered:
                if names_match(name, other_name):
                    yield self.finding(
                        ctx.path,
                        ctx.span(call.node),
                        f"`{call.dotted}(...)` scores '{name}', which {where_text} registers with text features fit outside "
                        "the model: `fe.score_batch` cannot compute them; use a separate custom inference task",
                    )
                    break


def runtime_feature_logs(index: FileIndex):
    """(fe.log_model call, vectorizer construction) pairs of this file."""
    fitted = fitted_text_vectorizers(index)
    if not fitted:
        return
    for log in client_calls(index, "log_model"):
        model = log.argument(0, "model")
        if model is None and log.has_star_args:
            continue  # the model is in *args: unknown
        if model is not None and _contains(model.value, fitted, index, log.function):
            continue
        yield log, fitted[0]


def _contains(expr, fitted: list[CallSite], index: FileIndex, scope, depth: int = 0) -> bool:
    """Whether the logged model is built from one of the vectorizers (a Pipeline step).

    Follows construction only: a ``.fit(X, y)`` call stands for its receiver, so training data
    computed by the vectorizer does not make it part of the model.
    """
    if depth > 8 or expr is None:
        return False
    target = follow_name(expr, index, scope)
    if isinstance(target, cst.Call):
        if target in {v.node for v in fitted}:
            return True
        func = target.func
        if isinstance(func, cst.Attribute) and func.attr.value in ("fit", "fit_transform", "set_params", "set_output"):
            return _contains(func.value, fitted, index, scope, depth + 1)
        return any(_contains(a.value, fitted, index, scope, depth + 1) for a in target.args)
    if isinstance(target, (cst.List, cst.Tuple)):
        return any(
            _contains(e.value, fitted, index, scope, depth + 1) for e in target.elements
        )
    return False


def _registered_runtime_models(ctx, own) -> list[tuple[str, str, str]]:
    """(path, registered model name, description) of fe.log_model calls with run-time features, project-wide."""
    from mlrules.rules.context import PythonContext

    out = []
    for source in ctx.project.python_sources():
        if source.path == ctx.path:
            pairs, index, other = own, ctx.index, ctx
        else:
            if "log_model" not in source.text or not any(v in source.text for v in TEXT_VECTORIZERS):
                continue
            other = PythonContext(source, ctx.project)
            try:
                index = other.index
            except Exception:  # a file that does not parse is reported elsewhere
                continue
            pairs = list(runtime_feature_logs(index))
        for log, _ in pairs:
            arg = log.keyword("registered_model_name")
            value = string_value(arg.value, index, log.function) if arg is not None else None
            if value is None or value.widget is not None:
                continue
            if source.path == ctx.path:
                described = f"this file ({where(ctx, log.node)})"
            else:
                described = f"{_relative(source.path, ctx.path)} ({where(other, log.node)})"
            out.append((source.path, value.text, described))
    return out


def _relative(path: str, start_file: str) -> str:
    try:
        return os.path.relpath(path, os.path.dirname(start_file) or ".").replace(os.sep, "/")
    except ValueError:
        return path
