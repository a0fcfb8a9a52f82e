"""Hypothesis strategies for the fuzz tests: realistic ML code, notebooks and bundles, and mutations.

Everything here builds *files* (``dict[path, bytes]``): mostly-valid inputs assembled from snippets
of the code mlrules looks at (mlflow, dbutils, feature engineering, %pip, bundle jobs), plus the
rules' own documented examples, then damaged by the kinds of mutation real files suffer (cells
shuffled or cut, newline styles mixed, a BOM, non-UTF-8 bytes, broken JSON/YAML).
"""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from functools import lru_cache

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# --- bits --------------------------------------------------------------------------------------------
NAMES = st.sampled_from(["df", "model", "X", "y", "train_df", "fe", "client", "run", "name", "path", "label", "features", "spark", "pdf", "ts", "args", "e", "i", "x"])
WIDGETS = st.sampled_from(["env", "catalog", "schema", "model_name", "experiment", "run_date", "threshold"])
EXPERIMENTS = st.sampled_from(
    ["/Users/a@b.com/churn", "/Shared/churn", "churn", "./exp", "/Users/x", "", "/Workspace/Users/a/x", "/Shared/", "relative/name", "/Users/ü/ñ"]
)
MODEL_NAMES = st.sampled_from(["main.ml.churn", "churn", "cat.schema", "a.b.c.d", "", "main.ml.${var.model}", "dev_catalog.ml.model"])
TABLES = st.sampled_from(["main.fs.customers", "customers", "cat.sch.tbl", "main.fs.features_v2"])
PACKAGES = st.sampled_from(["mlflow", "mlflow==2.14.1", "scikit-learn>=1.3", "xgboost", "databricks-feature-engineering==0.6.0", "pandas==2.2.2", "numpy<2", "-r requirements.txt", "--upgrade", "./dist/pkg.whl", "git+https://x/y.git", "'a==1'", '"b>=2"', "c[extra]==1.0"])
LABELS = st.sampled_from(["churned", "label", "churn_rate", "target_pct", "y"])
NASTY_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)


def _py_str(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def _quoted(strategy):
    return strategy.map(_py_str)


STRING_ARG = st.one_of(_quoted(EXPERIMENTS), _quoted(MODEL_NAMES), NAMES, _quoted(NASTY_TEXT), st.just('f"/Users/{user}/exp"'), st.just('"/Users/" + user'))


@st.composite
def _simple_statement(draw) -> str:
    choice = draw(st.integers(0, 39))
    n = draw(NAMES)
    w = draw(WIDGETS)
    if choice == 0:
        return draw(st.sampled_from(["import mlflow", "import mlflow.sklearn", "import mlflow as mf", "from mlflow import set_experiment", "from mlflow.tracking import MlflowClient", "import os, sys", "import argparse"]))
    if choice == 1:
        return draw(st.sampled_from([
            "from databricks.feature_engineering import FeatureEngineeringClient, FeatureLookup",
            "from databricks.feature_store import FeatureStoreClient",
            "from databricks import feature_engineering as fe_mod",
            "from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor",
            "from xgboost import XGBClassifier",
            "from pyspark.sql import functions as F",
            "from mlflow.models import infer_signature",
        ]))
    if choice == 2:
        return f"mlflow.set_experiment({draw(STRING_ARG)})"
    if choice == 3:
        return f"mlflow.set_experiment(experiment_name={draw(STRING_ARG)})"
    if choice == 4:
        return draw(st.sampled_from(['mlflow.set_registry_uri("databricks-uc")', "mlflow.autolog()", "mlflow.sklearn.autolog(disable=True)", "mlflow.end_run()", "run = mlflow.start_run()", "mlflow.autolog(disable=True)"]))
    if choice == 5:
        return f"mlflow.sklearn.log_model({n}, \"model\", registered_model_name={_py_str(draw(MODEL_NAMES))})"
    if choice == 6:
        return f"mlflow.register_model(\"runs:/{{run_id}}/model\", {_py_str(draw(MODEL_NAMES))})"
    if choice == 7:
        return "fe = FeatureEngineeringClient()"
    if choice == 8:
        keys = draw(st.sampled_from(['"customer_id"', '["customer_id", "date"]', "keys", "[]"]))
        return (
            f"ts = fe.create_training_set(df={n}, feature_lookups=[FeatureLookup(table_name={_py_str(draw(TABLES))}, lookup_key={keys})], "
            f"label={_py_str(draw(LABELS))}, exclude_columns=[\"customer_id\"])"
        )
    if choice == 9:
        flavor = draw(st.sampled_from(["flavor=mlflow.sklearn, ", ""]))
        training = draw(st.sampled_from(["training_set=ts, ", ""]))
        return f"fe.log_model(model={n}, artifact_path=\"model\", {flavor}{training}registered_model_name={_py_str(draw(MODEL_NAMES))})"
    if choice == 10:
        return f"predictions = fe.score_batch(model_uri=\"models:/{draw(MODEL_NAMES)}/Production\", df={n})"
    if choice == 11:
        return f"fe.write_table(name={_py_str(draw(TABLES))}, df={n}, mode=\"merge\")"
    if choice == 12:
        return f"dbutils.widgets.text({_py_str(w)}, {draw(_quoted(NASTY_TEXT))})"
    if choice == 13:
        return f"{n} = dbutils.widgets.get({_py_str(w)})"
    if choice == 14:
        value = draw(st.sampled_from(['"SUCCESS"', '"FAILED"', "json.dumps(result)", n]))
        return f"dbutils.notebook.exit({value})"
    if choice == 15:
        return "client = MlflowClient()"
    if choice == 16:
        return f"client.transition_model_version_stage({_py_str(draw(MODEL_NAMES))}, 1, \"Production\")"
    if choice == 17:
        return draw(st.sampled_from(["model = RandomForestClassifier()", "model = XGBClassifier(n_estimators=10)", "model = RandomForestRegressor()"]))
    if choice == 18:
        return draw(st.sampled_from(["model.fit(X, y)", "model.fit(train_df.drop(\"churned\", axis=1), train_df[\"churned\"])", "pdf = ts.load_df().toPandas()"]))
    if choice == 19:
        return draw(st.sampled_from(["df = df.fillna(0)", 'df = df.withColumn("x", F.col("x").cast("double"))', "df = df.dropna()", 'y = pdf["churned"].astype(int)']))
    if choice == 20:
        return "parser = argparse.ArgumentParser(); args = parser.parse_args()"
    if choice == 21:
        return draw(st.sampled_from(['sys.path.append(os.path.abspath(".."))', "from utils import helper", "import helpers.features as hf", "from .local import thing"]))
    if choice == 22:
        return f"%pip install {' '.join(draw(st.lists(PACKAGES, min_size=1, max_size=3)))}"
    if choice == 23:
        return f"!pip install {draw(PACKAGES)}"
    if choice == 24:
        return draw(st.sampled_from(["%run ./helpers", "%run ../shared/setup $env=dev", "%sql SELECT 1", "%md # Title", "%restart_python", "dbutils.library.restartPython()"]))
    if choice == 25:
        return f"mlflow.log_input({n}, context=\"training\")"
    if choice == 26:
        return f"spark.read.table({_py_str(draw(TABLES))}).join(features_df, on=\"customer_id\")"
    if choice == 27:
        return f"signature = infer_signature(X, model.predict(X)); mlflow.sklearn.log_model(model, \"m\", signature=signature, registered_model_name={_py_str(draw(MODEL_NAMES))})"
    if choice == 28:
        return "fs = FeatureStoreClient()"
    if choice == 29:
        return f"{n} = {draw(NAMES)}"
    if choice == 30:
        other = draw(st.sampled_from(["undefined_name", "display", "spark", "dbutils"]))
        return f"print({draw(NAMES)}, {other})"
    if choice == 31:
        return f"{n} = {draw(st.integers(-5, 10**20))}"
    if choice == 32:
        return f"{n} = {draw(_quoted(NASTY_TEXT))}"
    if choice == 33:
        return 'FEATURES = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"]'
    if choice == 34:
        return "pass"
    if choice == 35:
        return "return " + n
    if choice == 36:
        return f'{n} = f"{{{draw(NAMES)}}}/x"'
    if choice == 37:
        return 'mlflow.set_tags({"a": 1}); mlflow.log_param("p", 1)'
    if choice == 38:
        return f"client.set_registered_model_alias({_py_str(draw(MODEL_NAMES))}, \"champion\", 1)"
    return f"raise ValueError({draw(_quoted(NASTY_TEXT))})"


_SUFFIXES = st.sampled_from(["", "", "", "", "  # noqa: EXP001", "  # noqa", "  # noqa: E501", "  # noqa: XYZ999", "  # noqa: NB001, EXP001", "  # comment", "\t# tab"])


@st.composite
def simple_line(draw) -> str:
    return draw(_simple_statement()) + draw(_SUFFIXES)


_HEADERS = st.sampled_from([
    "with mlflow.start_run() as run:",
    "with mlflow.start_run(run_name=\"x\"):",
    "def train(df, label=\"churned\"):",
    "def main():",
    "if __name__ == \"__main__\":",
    "if env == \"prod\":",
    "for i in range(3):",
    "while False:",
    "try:",
    "class Trainer:",
    "async def f():",
])
_TAILS = st.sampled_from(["", "except Exception as e:", "except:", "finally:", "else:"])


def _as_block(parts) -> tuple:
    header, body, tail, tail_body = parts
    blocks = [("block", header, body)]
    if header == "try:":
        blocks.append(("block", tail if tail.startswith(("except", "finally")) else "finally:", tail_body))
    elif header.startswith("if ") and tail == "else:":
        blocks.append(("block", "else:", tail_body))
    return ("seq", blocks)


def _block_of(children):
    return st.tuples(_HEADERS, st.lists(children, min_size=1, max_size=4), _TAILS, st.lists(children, min_size=1, max_size=3)).map(_as_block)


STATEMENT_TREES = st.recursive(simple_line().map(lambda line: ("line", line)), _block_of, max_leaves=25)


def render_tree(tree, indent: str = "    ", level: int = 0) -> list[str]:
    kind = tree[0]
    pad = indent * level
    if kind == "line":
        return [pad + tree[1]]
    if kind == "seq":
        return [line for child in tree[1] for line in render_tree(child, indent, level)]
    _, header, body = tree
    return [pad + header] + [line for child in body for line in render_tree(child, indent, level + 1)]


@st.composite
def python_code(draw, max_statements: int = 12) -> str:
    """A Python module (mostly valid) of realistic ML statements, nested in with/def/if/try blocks."""
    indent = draw(st.sampled_from(["    ", "    ", "  ", "\t"]))
    trees = draw(st.lists(STATEMENT_TREES, min_size=0, max_size=max_statements))
    lines = [line for tree in trees for line in render_tree(tree, indent)]
    if draw(st.booleans()):
        lines.insert(0, "import mlflow")
    if draw(st.integers(0, 9)) == 0:
        lines.insert(draw(st.integers(0, len(lines))), draw(st.sampled_from(["# mlrules: noqa-file: NB001", "# mlrules: noqa-file", "# noqa: MLR002"])))
    end = draw(st.sampled_from(["\n", "\n", "", "\n\n"]))
    return "\n".join(lines) + end


# --- Databricks notebooks --------------------------------------------------------------------------------
HEADER = "# Databricks notebook source"
SEPARATOR = "\n\n# COMMAND ----------\n\n"


@st.composite
def databricks_cell(draw) -> str:
    kind = draw(st.integers(0, 9))
    if kind <= 4:
        return draw(python_code(max_statements=5)).rstrip("\n")
    if kind == 5:
        return "# MAGIC %md\n# MAGIC # " + draw(NASTY_TEXT).replace("\n", " ") + "\n# MAGIC text"
    if kind == 6:
        return "# MAGIC %pip install " + " ".join(draw(st.lists(PACKAGES, min_size=1, max_size=3))) + draw(st.sampled_from(["", " \\\n# MAGIC   more==1.0"]))
    if kind == 7:
        return "# MAGIC %run " + draw(st.sampled_from(["./helpers", "../setup", "/Shared/x", "./missing $a=1"]))
    if kind == 8:
        return "# MAGIC %sql\n# MAGIC SELECT * FROM t -- noqa: EXP001"
    return "# DBTITLE 1," + draw(NASTY_TEXT).replace("\n", " ") + "\n" + draw(python_code(max_statements=3)).rstrip("\n")


@st.composite
def databricks_notebook(draw) -> str:
    cells = draw(st.lists(databricks_cell(), min_size=0, max_size=6))
    cells = draw(st.permutations(cells)) if cells else cells
    return HEADER + "\n" + SEPARATOR.join(cells) + draw(st.sampled_from(["\n", "", "\n\n# COMMAND ----------\n"]))


# --- .ipynb ------------------------------------------------------------------------------------------------
def _jupyter_lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


@st.composite
def ipynb_cell(draw) -> dict:
    kind = draw(st.sampled_from(["code", "code", "code", "markdown", "raw"]))
    text = draw(python_code(max_statements=5)) if kind == "code" else "# " + draw(NASTY_TEXT)
    if kind == "code" and draw(st.integers(0, 4)) == 0:
        text = "%pip install " + draw(PACKAGES) + "\n" + text
    source: object = _jupyter_lines(text) if draw(st.booleans()) else text
    cell: dict = {"cell_type": kind, "metadata": draw(st.sampled_from([{}, {"tags": ["x"]}, {"collapsed": True}]))}
    if draw(st.booleans()):
        cell["id"] = draw(st.text("abcdef0123456789", min_size=4, max_size=8))
    if kind == "code":
        cell["execution_count"] = draw(st.sampled_from([None, 1, 7]))
        cell["outputs"] = draw(st.sampled_from([[], [{"output_type": "stream", "name": "stdout", "text": ["ok\n"]}]]))
    cell["source"] = source
    return cell


_BAD_VALUES = st.sampled_from([None, 3, "text", [], {}, [1, "a"], True, -1.5, [None]])


@st.composite
def ipynb_document(draw) -> str:
    """Notebook JSON: mostly nbformat 4, sometimes damaged (missing keys, wrong types, nbformat 3)."""
    cells = draw(st.lists(ipynb_cell(), min_size=0, max_size=5))
    language = draw(st.sampled_from(["python", "python", "python", "R", "scala", None]))
    metadata: dict = {}
    if language:
        metadata = draw(st.sampled_from([
            {"language_info": {"name": language}},
            {"kernelspec": {"language": language, "name": "k", "display_name": "K"}},
            {"application/vnd.databricks.v1+notebook": {"language": language, "notebookName": "nb"}},
        ]))
    doc: dict = {"cells": cells, "metadata": metadata, "nbformat": 4, "nbformat_minor": draw(st.sampled_from([2, 4, 5]))}
    damage = draw(st.integers(0, 11))
    if damage == 0:
        doc.pop(draw(st.sampled_from(["cells", "metadata", "nbformat", "nbformat_minor"])))
    elif damage == 1:
        doc[draw(st.sampled_from(["cells", "metadata", "nbformat"]))] = draw(_BAD_VALUES)
    elif damage == 2 and cells:
        cell = draw(st.sampled_from(cells))
        key = draw(st.sampled_from(["source", "cell_type", "metadata", "outputs", "execution_count"]))
        if draw(st.booleans()):
            cell.pop(key, None)
        else:
            cell[key] = draw(_BAD_VALUES)
    elif damage == 3:
        doc = {"nbformat": 3, "nbformat_minor": 0, "metadata": {}, "worksheets": [{"cells": [{"cell_type": "code", "input": "import mlflow\n", "language": "python"}]}]}
    elif damage == 4 and cells:
        doc["cells"][draw(st.integers(0, len(cells) - 1))] = draw(_BAD_VALUES)
    elif damage == 5:
        doc = draw(st.sampled_from([[], "notebook", 1, None, [doc]]))  # type: ignore[assignment]
    indent = draw(st.sampled_from([None, 1, 2, 4, "\t"]))
    text = json.dumps(doc, indent=indent, ensure_ascii=draw(st.booleans()), sort_keys=draw(st.booleans()))
    return text + draw(st.sampled_from(["\n", ""]))


# --- bundle YAML ------------------------------------------------------------------------------------------------
SCALARS = st.one_of(
    st.sampled_from(["x", "1", "true", "null", "~", "''", '"${var.env}"', "${var.missing}", "${var.env", "${", "}", "${bundle.target}", "'quoted: colon'", "|\n  block", ">-\n  folded", "[a, b]", "{a: 1}", "&x 1", "*undefined", "'", '"', "- a", "%TAG", "@at", "`tick`", "!!str 1", "!!binary aGk=", "0x1F", "1e400", ".nan", "2024-01-01"]),
    NASTY_TEXT.map(lambda s: json.dumps(s)),
)
JOB_KEYS = st.sampled_from(["name", "timeout_seconds", "max_concurrent_runs", "tags", "unknown_field", "job_clusters", "environments", "parameters", "email_notifications", "schedule"])
TASK_KEYS = st.sampled_from(["task_key", "depends_on", "environment_key", "job_cluster_key", "libraries", "timeout_seconds", "notebook_task", "spark_python_task", "python_wheel_task", "existing_cluster_id", "bogus_key"])


def _task(draw, index: int, notebooks: list[str]) -> list[str]:
    lines = [f"        - task_key: t{index}"]
    kind = draw(st.integers(0, 4))
    target = draw(st.sampled_from(notebooks + ["../src/missing.py", "${workspace.file_path}/x", "./nb", "/Workspace/abs"]))
    if kind <= 2:
        lines += ["          notebook_task:", f"            notebook_path: {target}"]
        if draw(st.booleans()):
            params = draw(st.lists(st.tuples(WIDGETS, SCALARS), max_size=3))
            lines.append("            base_parameters:" + ("" if params else " {}"))
            lines += [f"              {k}: {v}" for k, v in params]
        if draw(st.integers(0, 5)) == 0:
            lines += ["            parameters: [\"--env\", \"dev\"]"]
    elif kind == 3:
        lines += ["          spark_python_task:", f"            python_file: {target}", "            parameters: [\"--x\", \"1\"]"]
    else:
        lines += ["          python_wheel_task: {package_name: p, entry_point: main}"]
    if draw(st.booleans()):
        lines += ["          environment_key: " + draw(st.sampled_from(["default", "missing_env", "${var.env}"]))]
    if draw(st.booleans()):
        lines += ["          libraries:"] + [f"            - pypi: {{package: {draw(PACKAGES)!r}}}" for _ in range(draw(st.integers(1, 2)))]
    if index and draw(st.booleans()):
        lines += ["          depends_on:", f"            - task_key: t{draw(st.integers(0, index + 1))}"]
    for _ in range(draw(st.integers(0, 2))):
        lines.append(f"          {draw(TASK_KEYS)}: {draw(SCALARS)}")
    return lines


@st.composite
def bundle_yaml(draw, notebooks: tuple[str, ...] = ("../src/train.py", "./notebooks/nb.ipynb")) -> str:
    """A bundle file (root or resources) with jobs, tasks, variables, targets, anchors and merge keys."""
    lines: list[str] = []
    if draw(st.booleans()):
        lines += ["bundle:", f"  name: {draw(SCALARS)}"]
    if draw(st.booleans()):
        lines += ["include:", "  - resources/*.yml", "  - " + draw(st.sampled_from(["missing/*.yml", "resources/job.yml", "**/*.yaml", "[bad"]))]
    if draw(st.booleans()):
        lines += ["variables:"] + [f"  {w}:\n    default: {draw(SCALARS)}" for w in draw(st.lists(WIDGETS, max_size=3, unique=True))]
    anchors = draw(st.booleans())
    lines += ["resources:", "  jobs:"]
    for j in range(draw(st.integers(0, 3))):
        anchor = " &job" if anchors and j == 0 else ""
        lines.append(f"    job_{j}:{anchor}")
        if anchors and j > 0:
            lines.append("      <<: " + draw(st.sampled_from(["*job", "[*job, *job]", "*undefined", "{}"])))
        lines.append(f"      name: {draw(SCALARS)}")
        for _ in range(draw(st.integers(0, 2))):
            lines.append(f"      {draw(JOB_KEYS)}: {draw(SCALARS)}")
        if draw(st.booleans()):
            lines += ["      environments:", "        - environment_key: default", "          spec:", "            client: \"1\"", "            dependencies:"]
            lines += [f"              - {draw(PACKAGES)}" for _ in range(draw(st.integers(0, 3)))]
        lines.append("      tasks:")
        for t in range(draw(st.integers(0, 3))):
            lines += _task(draw, t, list(notebooks))
    if draw(st.booleans()):
        lines += ["  experiments:", "    exp:", f"      name: {draw(SCALARS)}"]
    if draw(st.booleans()):
        lines += ["targets:", "  dev:", "    default: true", "    variables:", f"      env: {draw(SCALARS)}", "  prod:", "    resources:", "      jobs:", "        job_0:", "          tasks:", "            - task_key: t0", "              timeout_seconds: 60"]
    return "\n".join(lines) + "\n"


@st.composite
def yaml_damage(draw, text: str) -> str:
    """YAML-specific damage: tabs, duplicate keys, huge scalars, deep nesting, alias bombs."""
    lines = text.split("\n")
    kind = draw(st.integers(0, 8))
    if kind == 0 and lines:
        i = draw(st.integers(0, len(lines) - 1))
        lines[i] = "\t" + lines[i]
    elif kind == 1 and lines:
        i = draw(st.integers(0, len(lines) - 1))
        lines.insert(i, lines[i])  # duplicate key (or list item)
    elif kind == 2:
        lines.append("  huge: " + "x" * draw(st.sampled_from([10_000, 200_000])))
    elif kind == 3:
        depth = draw(st.sampled_from([50, 300, 2000]))
        lines += ["deep:"] + ["  " * (i + 1) + f"k{i}:" for i in range(depth)]
    elif kind == 4:
        depth = draw(st.sampled_from([100, 1500, 20000]))
        lines.append("  flow: " + "[" * depth + "]" * depth)
    elif kind == 5:
        lines += ["  a: &a [x, x, x, x]", "  b: &b [*a, *a, *a, *a]", "  c: &c [*b, *b, *b, *b]", "  d: &d {<<: *undefined_or_not}", "  e: &e [*c, *c, *c, *c, *c]"]
    elif kind == 6:
        lines += ["resources:", "  jobs:", "    loop: &loop", "      <<: [*loop, *loop]", "      tasks: &tasks [*tasks, *tasks]"]
    elif kind == 7:
        lines += ["  x: ${var.a", "  y: ${var.${var.b}}", "  z: ${resources.jobs.${}.id}"]
    else:
        lines += ["---", "second: document", "...", "%YAML 1.2"]
    return "\n".join(lines)


# --- generic mutations -----------------------------------------------------------------------------------------
NASTY_FRAGMENTS = [
    "(", ")", "[", "]", "{", "}", '"""', "'''", "'", '"', "\\", "\\\n", ":", "\t", "\x0c", "\u2028", "\x85", "\r", "\r\n", "\n",
    "# COMMAND ----------", "# MAGIC %pip install x", "%pip install", "# Databricks notebook source\n", "# noqa: EXP001", "# noqa",
    "${", "}}", "{{ .x }}", "\ufeff", "\u0000", "é", "𝔘", "\U0001f600", "lambda", "yield", "await", "async ", ":=", "**", "@",
    "\n# ---------- mlrules cell boundary ----------\n", "mlflow.set_experiment('/Users/a/b')", "dbutils.notebook.exit('SUCCESS')",
]


@st.composite
def mutated(draw, text: str) -> bytes:
    """Damage a text: truncate, splice nasty fragments, drop/duplicate/shuffle lines, mix newlines, BOM, bad bytes."""
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.integers(0, 7))
        if kind == 0 and text:
            text = text[: draw(st.integers(0, len(text)))]
        elif kind == 1:
            i = draw(st.integers(0, len(text)))
            text = text[:i] + draw(st.sampled_from(NASTY_FRAGMENTS)) + text[i:]
        elif kind == 2:
            lines = text.split("\n")
            if lines:
                i = draw(st.integers(0, len(lines) - 1))
                if draw(st.booleans()):
                    del lines[i]
                else:
                    lines.insert(i, lines[i])
            text = "\n".join(lines)
        elif kind == 3:
            lines = text.split("\n")
            text = "\n".join(draw(st.permutations(lines))) if len(lines) < 40 else text
        elif kind == 4:
            # mix newline styles: each line end independently LF or CRLF (sometimes a lone CR)
            parts = text.split("\n")
            ends = draw(st.lists(st.sampled_from(["\n", "\r\n", "\r\n", "\r"]), min_size=len(parts) - 1, max_size=len(parts) - 1))
            text = "".join(p + e for p, e in zip(parts, ends + [""]))
        elif kind == 5:
            text = text.replace("\n", "\r\n")
        elif kind == 6:
            text = "\ufeff" + text
        else:
            i = draw(st.integers(0, len(text)))
            data = text.encode("utf-8", "surrogatepass")
            j = len(text[:i].encode("utf-8", "surrogatepass"))
            bad = draw(st.sampled_from([b"\xff", b"\xe9", b"\xc3", b"\x80\x80", b"\xed\xa0\x80", b"\x00"]))
            return data[:j] + bad + data[j:]
    return text.encode("utf-8", "surrogatepass")


def maybe_mutated(strategy, *, probability: int = 2):
    """Bytes of ``strategy``'s text, left intact once in ``probability`` draws."""

    @st.composite
    def build(draw) -> bytes:
        text = draw(strategy)
        if draw(st.integers(0, probability - 1)) == 0:
            return text.encode("utf-8")
        return draw(mutated(text))

    return build()


# --- the rules' own examples (the most realistic inputs there are) ---------------------------------------------
@lru_cache(maxsize=1)
def _example_projects() -> tuple[tuple[tuple[str, str], ...], ...]:
    from mlrules.rules import all_rules

    projects = []
    for rule in all_rules():
        for example in (*rule.invalid, *rule.valid):
            files = {example.path: example.code, **example.files}
            projects.append(tuple(sorted(files.items())))
    return tuple(projects)


@st.composite
def example_project(draw, mutate: bool = True) -> dict[str, bytes]:
    """One rule example's files, with one of them maybe damaged."""
    files = dict(draw(st.sampled_from(_example_projects())))
    out = {path: text.encode("utf-8") for path, text in files.items()}
    if mutate and draw(st.booleans()):
        path = draw(st.sampled_from(sorted(files)))
        text = files[path]
        if path.endswith((".yml", ".yaml")) and draw(st.booleans()):
            text = draw(yaml_damage(text))
        out[path] = draw(mutated(text))
    return out


# --- whole inputs -------------------------------------------------------------------------------------------------
FILE_NAMES = {
    "py": st.sampled_from(["train.py", "src/module.py", "notebooks/nb.py"]),
    "ipynb": st.sampled_from(["nb.ipynb", "notebooks/train.ipynb"]),
    "yml": st.sampled_from(["databricks.yml", "resources/job.yml"]),
}


@st.composite
def random_bytes_file(draw) -> dict[str, bytes]:
    name = draw(st.sampled_from(["a.py", "b.ipynb", "databricks.yml", "resources/x.yml", "requirements.txt"]))
    data = draw(st.one_of(st.binary(max_size=400), st.text(max_size=200).map(lambda s: s.encode("utf-8", "surrogatepass"))))
    return {name: data}


@st.composite
def python_file(draw) -> dict[str, bytes]:
    return {draw(FILE_NAMES["py"]): draw(maybe_mutated(python_code()))}


@st.composite
def databricks_file(draw) -> dict[str, bytes]:
    return {draw(FILE_NAMES["py"]): draw(maybe_mutated(databricks_notebook()))}


@st.composite
def ipynb_file(draw) -> dict[str, bytes]:
    return {draw(FILE_NAMES["ipynb"]): draw(maybe_mutated(ipynb_document(), probability=3))}


@st.composite
def bundle_project(draw) -> dict[str, bytes]:
    """A bundle root, maybe a resources file, and the notebooks its tasks run (any of them damaged)."""
    files: dict[str, bytes] = {}
    root = draw(bundle_yaml(notebooks=("src/train.py", "notebooks/nb.ipynb", "src/missing.py")))
    if draw(st.booleans()):
        root = draw(yaml_damage(root))
    files["databricks.yml"] = draw(maybe_mutated(st.just(root), probability=3))
    if draw(st.booleans()):
        files["resources/job.yml"] = draw(maybe_mutated(bundle_yaml(notebooks=("../src/train.py", "../notebooks/nb.ipynb")), probability=3))
    files["src/train.py"] = draw(maybe_mutated(st.one_of(databricks_notebook(), python_code()), probability=3))
    if draw(st.booleans()):
        files["notebooks/nb.ipynb"] = draw(maybe_mutated(ipynb_document(), probability=4))
    if draw(st.booleans()):
        files["requirements.txt"] = draw(st.sampled_from([b"mlflow==2.1\nscikit-learn\n", b"\xff\xfe", b"-e .\n"]))
    return files


def any_project():
    """Every kind of input, weighted towards realistic ones."""
    return st.one_of(
        example_project(),
        python_file(),
        databricks_file(),
        ipynb_file(),
        bundle_project(),
        random_bytes_file(),
    )


# --- running the engine on generated files --------------------------------------------------------------------
FUZZ_EXAMPLES_ENV = "MLRULES_FUZZ_EXAMPLES"


def fuzz_settings(default: int):
    """``default`` examples, derandomized (the suite stays fast and deterministic);
    ``MLRULES_FUZZ_EXAMPLES=N`` runs N random examples instead (a longer, exploring run)."""
    wanted = os.environ.get(FUZZ_EXAMPLES_ENV)
    return settings(
        max_examples=int(wanted) if wanted else default,
        derandomize=not wanted,
        deadline=None,
        database=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much, HealthCheck.large_base_example],
    )


@contextmanager
def project_dir(files: dict[str, bytes]):
    """A temporary folder holding ``files`` (with a ``.git`` marker so nothing above it is read)."""
    with tempfile.TemporaryDirectory(prefix="mlrules-fuzz-") as root:
        os.mkdir(os.path.join(root, ".git"))
        for rel, data in files.items():
            path = os.path.join(root, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as fh:
                fh.write(data)
        yield root


# --- inputs that fixes apply to --------------------------------------------------------------------------------------
@st.composite
def gently_mutated(draw, text: str, path: str = "x.py") -> bytes:
    """Changes that keep the file valid: newline styles (LF, CRLF, mixed), a BOM, no final
    newline, extra blank lines, an unused ``# noqa`` line (Python)."""
    for _ in range(draw(st.integers(0, 2))):
        kind = draw(st.integers(0, 5 if path.endswith(".py") else 3))
        if kind == 0:
            text = text.replace("\n", "\r\n")
        elif kind == 1:
            parts = text.split("\n")
            ends = draw(st.lists(st.sampled_from(["\n", "\r\n"]), min_size=len(parts) - 1, max_size=len(parts) - 1))
            text = "".join(p + e for p, e in zip(parts, ends + [""]))
        elif kind == 2:
            text = "\ufeff" + text
        elif kind == 3:
            text = text.rstrip("\r\n")
        elif kind == 4:
            text = text + draw(st.sampled_from(["\n\n", "\n# trailing comment\n", "\nx_unused = 1  # noqa: EXP001\n"]))
        else:
            lines = text.split("\n")
            i = draw(st.integers(0, len(lines)))
            lines.insert(i, draw(st.sampled_from(["", "# comment", "# noqa: NB001"])))
            text = "\n".join(lines)
    return text.encode("utf-8")


@lru_cache(maxsize=1)
def _fixable_examples() -> tuple[tuple[tuple[str, str], ...], str]:
    from mlrules.rules import all_rules

    out = []
    for rule in all_rules():
        for example in rule.invalid:
            if example.fixed is not None:
                out.append((tuple(sorted({example.path: example.code, **example.files}.items())), example.path))
    return tuple(out)


@st.composite
def fixable_project(draw) -> dict[str, bytes]:
    """A rule example that has a fix, its files kept valid but in varied newline/BOM styles."""
    files, main = draw(st.sampled_from(_fixable_examples()))
    out = {}
    for path, text in files:
        out[path] = draw(gently_mutated(text, path)) if path == main or draw(st.booleans()) else text.encode("utf-8")
    return out
