"""Which model estimators a file constructs: class name, library, classifier or regressor."""

from __future__ import annotations

import re
from dataclasses import dataclass

import libcst as cst

from mlrules.analysis.index import CallSite, FileIndex

_CLASSIFIER = re.compile(r"(Classifier|^LogisticRegression(CV)?$|^SVC$|^LinearSVC$|^NuSVC$|^IsolationForest$|^GaussianNB$|^MultinomialNB$|^BernoulliNB$|^Perceptron$|^RidgeClassifier(CV)?$)")
_REGRESSOR = re.compile(r"(Regressor|Regression$|^Ridge(CV)?$|^Lasso(CV)?$|^ElasticNet(CV)?$|^SVR$|^LinearSVR$|^NuSVR$|^KernelRidge$|^HuberRegressor$|^BayesianRidge$)")

FLAVOR_OF_LIBRARY = {"sklearn": "sklearn", "xgboost": "xgboost", "lightgbm": "lightgbm", "catboost": "catboost"}


@dataclass(frozen=True)
class Estimator:
    call: CallSite
    class_name: str  # e.g. "RandomForestClassifier"
    library: str | None  # "sklearn", "xgboost", "lightgbm", "catboost" or None when not imported
    kind: str  # "classifier" | "regressor"


def estimator_kind(class_name: str) -> str | None:
    if class_name == "LogisticRegression" or _CLASSIFIER.search(class_name):
        return "classifier"
    if _REGRESSOR.search(class_name):
        return "regressor"
    return None


def estimators(index: FileIndex, scope: cst.FunctionDef | None | type(...) = ...) -> list[Estimator]:
    """Estimators constructed in the file (or only in ``scope`` when given)."""
    out = []
    for call in index.calls:
        if scope is not ... and call.function is not scope:
            continue
        name = (call.qualname or call.dotted or "").rsplit(".", 1)[-1]
        if not name or not name[0].isupper() or name.endswith("()"):
            continue
        kind = estimator_kind(name)
        if kind is None:
            continue
        library = None
        if call.qualname:
            top = call.qualname.split(".", 1)[0]
            library = FLAVOR_OF_LIBRARY.get(top)
        out.append(Estimator(call, name, library, kind))
    return out
