from __future__ import annotations

import libcst as cst

from mlrules.analysis.edits import add_keyword
from mlrules.analysis.features import TrainingSet, lookup_feature_names, string_list, training_sets, where
from mlrules.analysis.labels import column_ref, label_derivations
from mlrules.model import Applicability, Edit
from mlrules.rules.base import Invalid, PythonRule, Valid, ipynb

_IMPORTS = "from databricks.feature_engineering import FeatureEngineeringClient, FeatureLookup\nfrom pyspark.sql import functions as F\n\nfe = FeatureEngineeringClient()\n"
_DERIVE = 'labels_df = raw_df.withColumn("churned", F.when(F.col("churn_rate") > 0.5, 1).otherwise(0))\n'
_LOOKUPS = 'lookups = [FeatureLookup(table_name="ml.churn.features", lookup_key="customer_id")]\n'


def _dbx(*cells: str) -> str:
    return "# Databricks notebook source\n" + "\n# COMMAND ----------\n\n".join(cells)


class LabelLeak(PythonRule):
    """
    ## What it does
    Flags a `create_training_set(...)` call (Feature Engineering or legacy Feature Store client)
    whose label becomes a feature:

    - (a) its `label=` value is listed in the `feature_names=` of a `FeatureLookup` passed in
      `feature_lookups=` (a list written in the call or a name assigned once);
    - (b) the label was derived in this file from another column L (a comparison on L:
      `withColumn(label, when(col(L) > t, 1).otherwise(0))`, `(F.col(L) > t).alias(label)`,
      `pdf[label] = (pdf[L] > t).astype(int)`, `np.where(pdf[L] > t, 1, 0)`, `assign(label=...)`)
      and L is not in `exclude_columns`.

    ## Why it matters
    A feature that is the label, or the raw rate the label was thresholded from, lets the model
    read the answer: offline metrics look perfect, and at inference the column does not exist
    (or is not known yet), so `fe.score_batch` fails or the model is useless. The seed's rule:
    use `exclude_columns=[...]` in `create_training_set` so the label source never becomes a feature.

    Form (b) stays quiet when the file shows that L is gone anyway: `.drop(L)` / `drop(columns=[L])`,
    `del df[L]`, `df.pop(L)`, or a `.select(...)`/`df[[...]]` of plain column names that keeps
    the label and not L. Unknown values (label, `exclude_columns`) are never flagged.

    ## Example
    ```python
    labels_df = raw_df.withColumn("churned", F.when(F.col("churn_rate") > 0.5, 1).otherwise(0))
    training_set = fe.create_training_set(df=labels_df, feature_lookups=lookups, label="churned")
    ```

    ## Use instead
    ```python
    training_set = fe.create_training_set(
        df=labels_df, feature_lookups=lookups, label="churned", exclude_columns=["churn_rate"]
    )
    ```

    ## Fix safety
    Form (b) has an unsafe fix: it adds L to the `exclude_columns` list written in the call, or
    adds `exclude_columns=["L"]` when the keyword is absent. It changes the model's feature set.
    No fix when `exclude_columns` is a name (the list may be shared) and none for form (a):
    which of the two the author meant is not known.
    """

    code = "FE002"
    name = "label-leak"
    summary = "Label (or the column it is derived from) becomes a feature of create_training_set()"
    fix = Applicability.UNSAFE
    triggers = ("create_training_set",)

    invalid = (
        # (a) the label is a looked-up feature
        Invalid(
            _IMPORTS
            + 'lookups = [\n    FeatureLookup(table_name="ml.churn.features", lookup_key="customer_id", feature_names=["tenure", "churned"]),\n]\n'
            + 'ts = fe.create_training_set(df=labels_df, feature_lookups=lookups, label="churned", exclude_columns=["customer_id"])\n',
            8, 6, path="train.py",
            message_contains="feature_names",
        ),
        # (a) through a module-level constant, lookups written in the call
        Invalid(
            _IMPORTS
            + 'LABEL = "churned"\nFEATURES = ["tenure", LABEL]\n'
            + "ts = fe.create_training_set(\n    df=labels_df,\n    feature_lookups=[FeatureLookup(table_name=\"t\", lookup_key=\"id\", feature_names=FEATURES)],\n    label=LABEL,\n)\n",
            7, 6, path="train.py",
        ),
        # (b) keyword absent: the fix creates it (one argument per line)
        Invalid(
            _IMPORTS + _DERIVE + _LOOKUPS
            + "training_set = fe.create_training_set(\n    df=labels_df,\n    feature_lookups=lookups,\n    label=\"churned\",\n)\n",
            7, 16, path="train.py",
            message_contains="churn_rate",
            fixed=_IMPORTS + _DERIVE + _LOOKUPS
            + "training_set = fe.create_training_set(\n    df=labels_df,\n    feature_lookups=lookups,\n    label=\"churned\",\n    exclude_columns=[\"churn_rate\"],\n)\n",
        ),
        # (b) CRLF file: the new keyword line keeps CRLF
        Invalid(
            (_IMPORTS + _DERIVE + _LOOKUPS
             + "training_set = fe.create_training_set(\n    df=labels_df,\n    feature_lookups=lookups,\n    label=\"churned\",\n)\n").replace("\n", "\r\n"),
            7, 16, path="train.py",
            fixed=(_IMPORTS + _DERIVE + _LOOKUPS
                   + "training_set = fe.create_training_set(\n    df=labels_df,\n    feature_lookups=lookups,\n    label=\"churned\",\n    exclude_columns=[\"churn_rate\"],\n)\n").replace("\n", "\r\n"),
        ),
        # (b) keyword present: L appended to the list, quote style kept
        Invalid(
            _IMPORTS + "LABEL_COLUMN = 'churned'\n" + "labels_df = raw_df.withColumn(LABEL_COLUMN, (F.col('churn_rate') >= 0.5).cast('int'))\n"
            + "ts = fe.create_training_set(df=labels_df, feature_lookups=lookups, label=LABEL_COLUMN, exclude_columns=['customer_id'])\n",
            7, 6, path="train.py",
            fixed=_IMPORTS + "LABEL_COLUMN = 'churned'\n" + "labels_df = raw_df.withColumn(LABEL_COLUMN, (F.col('churn_rate') >= 0.5).cast('int'))\n"
            + "ts = fe.create_training_set(df=labels_df, feature_lookups=lookups, label=LABEL_COLUMN, exclude_columns=['customer_id', 'churn_rate'])\n",
        ),
        # (b) pandas derivation, empty exclude list, legacy FeatureStoreClient with positional arguments
        Invalid(
            "from databricks.feature_store import FeatureStoreClient\nfs = FeatureStoreClient()\n"
            "pdf[\"is_late\"] = (pdf[\"delay_pct\"] > 0.2).astype(int)\n"
            "ts = fs.create_training_set(spark.createDataFrame(pdf), lookups, \"is_late\", [])\n",
            4, 6, path="train.py",
            fixed="from databricks.feature_store import FeatureStoreClient\nfs = FeatureStoreClient()\n"
            "pdf[\"is_late\"] = (pdf[\"delay_pct\"] > 0.2).astype(int)\n"
            "ts = fs.create_training_set(spark.createDataFrame(pdf), lookups, \"is_late\", [\"delay_pct\"])\n",
        ),
        # (b) in a Databricks notebook, derivation in one cell and the call in another, inside a function
        Invalid(
            _dbx(_IMPORTS, _DERIVE, "def build(df):\n    return fe.create_training_set(df=df, feature_lookups=[], label=\"churned\")\n"),
            14, 12,
            fixed=_dbx(_IMPORTS, _DERIVE, "def build(df):\n    return fe.create_training_set(df=df, feature_lookups=[], label=\"churned\", exclude_columns=[\"churn_rate\"])\n"),
        ),
        # (b) in an .ipynb notebook
        Invalid(
            ipynb(("markdown", "# Training set"), _IMPORTS + _DERIVE, "ts = fe.create_training_set(df=labels_df, feature_lookups=[], label=\"churned\", exclude_columns=[\"id\"])\n"),
            1, 6, path="train.ipynb", cell=3,
            fixed=ipynb(("markdown", "# Training set"), _IMPORTS + _DERIVE, "ts = fe.create_training_set(df=labels_df, feature_lookups=[], label=\"churned\", exclude_columns=[\"id\", \"churn_rate\"])\n"),
        ),
        # (b) exclude_columns through a name: reported, not fixed
        Invalid(
            _IMPORTS + _DERIVE + "EXCLUDE = [\"customer_id\"]\nts = fe.create_training_set(df=labels_df, feature_lookups=[], label=\"churned\", exclude_columns=EXCLUDE)\n",
            7, 6, path="train.py",
        ),
    )
    valid = (
        # the remedy: L excluded
        Valid(_IMPORTS + _DERIVE + 'ts = fe.create_training_set(df=labels_df, feature_lookups=[], label="churned", exclude_columns=["churn_rate"])\n', path="train.py"),
        Valid(_IMPORTS + _DERIVE + 'EXCLUDE = ["customer_id", "churn_rate"]\nts = fe.create_training_set(df=labels_df, feature_lookups=[], label="churned", exclude_columns=EXCLUDE)\n', path="train.py"),
        # L dropped, or a select that keeps only keys + label
        Valid(_IMPORTS + _DERIVE + 'ts = fe.create_training_set(df=labels_df.drop("churn_rate"), feature_lookups=[], label="churned")\n', path="train.py"),
        Valid(_IMPORTS + _DERIVE + 'base = labels_df.select("customer_id", "churned")\nts = fe.create_training_set(df=base, feature_lookups=[], label="churned")\n', path="train.py"),
        # label binarized in place (L is the label itself)
        Valid(_IMPORTS + 'df = df.withColumn("churned", F.when(F.col("churned") > 0, 1).otherwise(0))\nts = fe.create_training_set(df=df, feature_lookups=[], label="churned")\n', path="train.py"),
        # label not derived in this file; lookups without the label
        Valid(_IMPORTS + 'ts = fe.create_training_set(df=df, feature_lookups=[FeatureLookup(table_name="t", lookup_key="id", feature_names=["a", "b"])], label="churned")\n', path="train.py"),
        # unknown label or unknown exclude list
        Valid(_IMPORTS + _DERIVE + 'ts = fe.create_training_set(df=labels_df, feature_lookups=[], label=dbutils.widgets.get("label"))\n', path="train.py"),
        Valid(_IMPORTS + _DERIVE + 'ts = fe.create_training_set(df=labels_df, feature_lookups=[], label="churned", exclude_columns=get_excluded())\n', path="train.py"),
        # a different column is derived; equality is not a threshold
        Valid(_IMPORTS + 'df = df.withColumn("high_value", F.col("spend") > 100)\ndf = df.withColumn("churned", F.when(F.col("status") == "gone", 1).otherwise(0))\nts = fe.create_training_set(df=df, feature_lookups=[], label="churned")\n', path="train.py"),
        # not a feature engineering client
        Valid('x = other.create_training_set(df=df, feature_lookups=[], label="churned")\n' + _DERIVE, path="train.py"),
    )

    def check(self, ctx):
        index = ctx.index
        sets = training_sets(index)
        if not sets:
            return
        removed = None
        derivations = None
        for ts in sets:
            label = ts.label_text
            if label is None:
                continue
            call_text = f"`{ts.call.dotted}(...)`"
            for lookup in ts.lookups or ():
                names = lookup_feature_names(lookup, index)
                if names is not None and label in names:
                    yield self.finding(
                        ctx.path,
                        ctx.span(ts.call.node),
                        f"{call_text} uses '{label}' as its label, but the FeatureLookup at {where(ctx, lookup.node)} "
                        f"lists '{label}' in feature_names: the label becomes a feature",
                    )
            if ts.exclude is None:
                continue
            sources: list[str] = []
            if derivations is None:
                derivations = label_derivations(index)
            for derivation in derivations:
                if derivation.target != label:
                    continue
                for column in derivation.sources:
                    if column != label and column not in sources and column not in ts.exclude:
                        sources.append(column)
            if not sources:
                continue
            if removed is None:
                removed = _removed_columns(ctx, index)
            leaking = [c for c in sources if not removed(c, label)]
            if not leaking:
                continue
            names = ", ".join(f"'{c}'" for c in leaking)
            edits = _exclude_edits(ctx, ts, leaking)
            yield self.finding(
                ctx.path,
                ctx.span(ts.call.node),
                f"{call_text} label '{label}' is derived from {names}, which is not in exclude_columns: "
                "the raw value leaks into the features",
                edits=edits,
                fix_message=f"Add {names} to exclude_columns",
            )


def _removed_columns(ctx, index):
    """A predicate: does the file visibly remove ``column`` (keeping ``label``)?"""
    dropped: set[str] = set()
    selections: list[list[str]] = []
    for call in index.calls:
        func = call.node.func
        if not isinstance(func, cst.Attribute):
            continue
        method = func.attr.value
        scope = call.function
        if method in ("drop", "pop"):
            for arg in call.node.args:
                if arg.keyword is None or arg.keyword.value in ("columns", "labels", "cols"):
                    dropped.update(string_list(arg.value, index, scope) or ())
        elif method == "select":
            names = []
            for arg in call.node.args:
                if arg.keyword is not None or arg.star:
                    break
                single = string_list(arg.value, index, scope)
                if single is not None:
                    names.extend(single)
                    continue
                ref = column_ref(arg.value, index, scope)
                if ref is None:
                    break
                names.append(ref)
            else:
                selections.append(names)
    from mlrules.analysis.walk import walk

    for node in walk(ctx.module):
        if isinstance(node, cst.Del):
            for target in _del_targets(node.target):
                ref = column_ref(target, index, None)
                if ref is not None:
                    dropped.add(ref)
        elif isinstance(node, cst.Subscript) and len(node.slice) == 1 and isinstance(node.slice[0].slice, cst.Index):
            inner = node.slice[0].slice.value
            if isinstance(inner, cst.List):
                names = string_list(inner, index, None)
                if names is not None:
                    selections.append(names)

    def removed(column: str, label: str) -> bool:
        if column in dropped:
            return True
        return any(label in names and column not in names for names in selections)

    return removed


def _del_targets(target):
    if isinstance(target, (cst.Tuple, cst.List)):
        return [e.value for e in target.elements]
    return [target]


def _exclude_edits(ctx, ts: TrainingSet, columns: list[str]) -> tuple[Edit, ...]:
    quote = _quote_of(ts)
    words = [quote + c.replace("\\", "\\\\").replace(quote, "\\" + quote) + quote for c in columns]
    if ts.exclude_arg is None:
        if ts.call.has_star_args:
            return ()
        return (add_keyword(ctx, ts.call.node, "exclude_columns=[" + ", ".join(words) + "]"),)
    value = ts.exclude_arg.value
    if not isinstance(value, cst.List) or any(isinstance(e, cst.StarredElement) for e in value.elements):
        return ()
    if not value.elements:
        start, _ = ctx.offsets(value)
        open_at = ctx.source.text.find("[", start)
        return (Edit(open_at + 1, open_at + 1, ", ".join(words)),)
    _, end = ctx.offsets(value.elements[-1].value)
    return (Edit(end, end, ", " + ", ".join(words)),)


def _quote_of(ts: TrainingSet) -> str:
    candidates = []
    if ts.exclude_arg is not None and isinstance(ts.exclude_arg.value, cst.List):
        candidates.extend(e.value for e in ts.exclude_arg.value.elements)
    if ts.label_arg is not None:
        candidates.append(ts.label_arg.value)
    for node in candidates:
        if isinstance(node, cst.SimpleString) and node.quote in ("'", '"'):
            return node.quote
    return '"'
