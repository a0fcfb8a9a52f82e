from __future__ import annotations

import os

import libcst as cst

from mlrules.model import Applicability, Position, Span
from mlrules.rules.base import Invalid, PythonRule, Valid, ipynb

EXIT_CODE = 'dbutils.notebook.exit("SUCCESS")\n'
# Resolved call prefixes that make a notebook "model work": MLflow and feature engineering.
# Words of the file text without which no call can be model work (the old rule triggers).
MODEL_WORDS = ("mlflow", "feature_engineering", "feature_store", "FeatureEngineeringClient")
MODEL_WORK_PREFIXES = ("mlflow.", "databricks.feature_engineering.", "databricks.feature_store.")
NOTEBOOK_SUFFIXES = ("", ".py", ".ipynb")
# Environment helpers (`databricks_utils.get_browser_hostname()`) and the package's own
# attributes (`mlflow.__version__.split(".")`): no tracking, no model.
NOT_MODEL_WORK = ("mlflow.utils.", "mlflow.__version__")
# Lakeflow / DLT pipeline sources: the pipeline runs them, not a notebook task.
PIPELINE_MODULES = ("dlt", "pyspark.pipelines")
# `mlflow.models.set_model(...)` marks a models-from-code file (a chain/agent definition that
# another notebook logs with `log_model(<path>)`); dbutils does not exist where it is loaded.
MODEL_FROM_CODE = ("mlflow.models.set_model", "mlflow.models.model.set_model")
# Client configuration, not model work by itself: the message names another call when there is one.
SETUP_CALLS = (
    "mlflow.set_registry_uri", "mlflow.set_tracking_uri", "mlflow.get_registry_uri", "mlflow.get_tracking_uri",
    "mlflow.models.ModelConfig",  # reads a config file: the notebook's real work comes later
)

_HEADER = "# Databricks notebook source\n"
_CMD = "\n# COMMAND ----------\n\n"


def _dbx(*cells: str) -> str:
    return _HEADER + _CMD.join(cells)


_TRAIN = "import mlflow\n\nmlflow.set_experiment(\"/Shared/churn\")\n"
_ROOT = "bundle:\n  name: churn\ninclude:\n  - resources/*.yml\ntargets:\n  dev:\n    default: true\n  prod: {}\n"


def _bundle(task: str, path: str = "../src/etl.py", job: str = "j") -> dict:
    """databricks.yml plus resources/job.yml whose job runs ``path`` in a ``task`` section."""
    return {
        "databricks.yml": _ROOT,
        "resources/job.yml": f"resources:\n  jobs:\n    {job}:\n      tasks:\n        - task_key: t\n"
        f"          {task}:\n            {'notebook_path' if task == 'notebook_task' else 'python_file'}: {path}\n",
    }


_ETL = "df = spark.table(\"raw.events\")\ndf.write.saveAsTable(\"silver.events\")\n"
_APPENDED = "\n# COMMAND ----------\n\n" + EXIT_CODE


_IDS_NB = """{
  "cells": [
    {
      "cell_type": "code",
      "execution_count": 1,
      "id": "a1",
      "metadata": {},
      "outputs": [{"name": "stdout", "output_type": "stream", "text": ["ok\\n"]}],
      "source": "import mlflow\\nmlflow.autolog()"
    }
  ],
  "metadata": {"kernelspec": {"language": "python", "name": "python3"}},
  "nbformat": 4,
  "nbformat_minor": 5
}
"""
_IDS_NB_FIXED = _IDS_NB.replace(
    """"source": "import mlflow\\nmlflow.autolog()"
    }
""",
    """"source": "import mlflow\\nmlflow.autolog()"
    },
    {
      "cell_type": "code",
      "execution_count": null,
      "id": "mlrules-41064c38",
      "metadata": {},
      "outputs": [],
      "source": [
        "dbutils.notebook.exit(\\"SUCCESS\\")\\n"
      ]
    }
""",
)


class MissingExitSignal(PythonRule):
    """
    ## What it does
    Flags a notebook that never calls `dbutils.notebook.exit(...)` and that either
    - a bundle task of the project runs (`notebook_task.notebook_path` of a job in any
      target, resolved like the CLI does), with or without model work; or
    - does model work, i.e. makes any call that resolves to MLflow (`mlflow.*`,
      `MlflowClient()...`) or feature engineering (`FeatureEngineeringClient()...`,
      `databricks.feature_engineering.*`, the legacy `databricks.feature_store`).

    A notebook is a Databricks source file, an `.ipynb`, or any `.py` file that a bundle task
    runs as `notebook_task.notebook_path` (even without the `# Databricks notebook source`
    header). The message names the task, its job and the YAML line that runs the notebook.

    Calls are resolved through imports, aliases and instances, so `import mlflow as mf` or
    `fe = FeatureEngineeringClient()` count; a file that only imports MLflow does not, and
    neither do MLflow's environment helpers (`mlflow.utils.*`, e.g.
    `databricks_utils.get_browser_hostname()`) or a version check
    (`mlflow.__version__.split(".")`).

    Not flagged:
    - plain Python modules that no bundle task runs as a notebook (they are imported, or run
      as `spark_python_task` scripts);
    - a notebook that another notebook of the project includes with `%run` (an exit there
      would end the including notebook). `%run ./x` is resolved from the including notebook's
      folder, trying the path as written and with `.py` / `.ipynb`. Absolute workspace paths
      (`%run /Shared/...`) cannot be resolved and exempt nothing.
    - a library notebook that no bundle task runs: every MLflow / feature engineering call
      sits inside a function or class and nothing at module level calls a function or class
      of the file (running it only defines helpers);
    - a models-from-code file, which calls `mlflow.models.set_model(...)`: another notebook
      logs it with `log_model(<path>)` and `dbutils` does not exist where it is loaded.
    - a Lakeflow / DLT pipeline source (it imports `dlt` or `pyspark.pipelines`): the pipeline
      runs it, not a notebook task.

    `mlflow.x(...)` also counts when the notebook never binds `mlflow` itself (it comes from
    a `%run` notebook).

    Any call spelled `<...>.notebook.exit(...)` counts as an exit, wherever it is (a function,
    a branch, an `except` handler). So does `dbutils.jobs.taskValues.set(...)`: the notebook
    hands its outcome to the job's downstream tasks (a condition task reads it), which is the
    signal a job needs.

    ## Why it matters
    A notebook task without an exit signal finishes with an empty result: the caller
    (`dbutils.notebook.run`, a job's downstream task, an orchestrator reading the run output)
    cannot tell a finished training from a notebook that silently skipped its work, and an
    error handled inside the notebook can still show up as a green run.

    ## Example
    ```python
    # Databricks notebook source
    import mlflow

    with mlflow.start_run():
        train()
    ```

    ## Use instead
    ```python
    # Databricks notebook source
    import mlflow

    with mlflow.start_run():
        train()

    # COMMAND ----------

    dbutils.notebook.exit("SUCCESS")
    ```

    ## Fix safety
    Safe: appends a final cell holding `dbutils.notebook.exit("SUCCESS")` (for a Databricks
    source file `# COMMAND ----------` plus the call, for an `.ipynb` a new code cell, for a
    plain `.py` task notebook a last line), in the file's own newline style. Review it when
    the notebook should report something more specific (`PARTIAL_FAILURE`, a JSON payload).
    """

    code = "NB001"
    name = "missing-exit-signal"
    summary = "Notebook run by a bundle task or doing MLflow / feature engineering work never calls dbutils.notebook.exit(...)"
    fix = Applicability.SAFE
    # No triggers: a notebook that a bundle task runs is flagged without any model work.
    # `check` returns before building the index for other notebooks without MODEL_WORDS.
    notebooks_only = True

    invalid = (
        Invalid(_dbx(_TRAIN), 1, 1, fixed=_dbx(_TRAIN) + _APPENDED),
        # feature engineering through an instance
        Invalid(
            _dbx("from databricks.feature_engineering import FeatureEngineeringClient\n\nfe = FeatureEngineeringClient()\n", "fe.write_table(name=\"c.s.t\", df=df)\n"),
            1, 1,
            fixed=_dbx("from databricks.feature_engineering import FeatureEngineeringClient\n\nfe = FeatureEngineeringClient()\n", "fe.write_table(name=\"c.s.t\", df=df)\n") + _APPENDED,
            message_contains="`FeatureEngineeringClient(...)` at line 4",
        ),
        # aliases, MlflowClient, no trailing newline at the end of the file
        Invalid(
            _dbx("from mlflow.tracking import MlflowClient as C\n\nC().search_runs([\"1\"])"),
            1, 1,
            fixed=_dbx("from mlflow.tracking import MlflowClient as C\n\nC().search_runs([\"1\"])") + "\n" + _APPENDED,
        ),
        # magics, markdown and a %run of another notebook do not matter
        Invalid(
            _dbx("# MAGIC %md\n# MAGIC # Train", "# MAGIC %pip install mlflow==2.19.0", "# MAGIC %run ./common", "import mlflow.sklearn\nmlflow.sklearn.autolog()\n"),
            1, 1,
            files={"common.py": "# Databricks notebook source\nx = 1\n"},
            fixed=_dbx("# MAGIC %md\n# MAGIC # Train", "# MAGIC %pip install mlflow==2.19.0", "# MAGIC %run ./common", "import mlflow.sklearn\nmlflow.sklearn.autolog()\n") + _APPENDED,
        ),
        # bare magic lines are masked, the call is still seen
        Invalid(
            _dbx("%pip install mlflow==2.19.0\n%restart_python", "import mlflow\nmlflow.log_metric(\"auc\", 0.9)\n"),
            1, 1,
            fixed=_dbx("%pip install mlflow==2.19.0\n%restart_python", "import mlflow\nmlflow.log_metric(\"auc\", 0.9)\n") + _APPENDED,
        ),
        # CRLF: the appended cell keeps CRLF
        Invalid(
            _dbx(_TRAIN).replace("\n", "\r\n"),
            1, 1,
            fixed=(_dbx(_TRAIN) + _APPENDED).replace("\n", "\r\n"),
        ),
        # .ipynb: cell 1 (markdown) row 1; the fix adds a code cell
        Invalid(
            ipynb(("markdown", "# Train\nthe model"), "%pip install mlflow==2.19.0", "import mlflow\nmlflow.autolog()"),
            1, 1, path="train.ipynb", cell=1,
            fixed=ipynb(("markdown", "# Train\nthe model"), "%pip install mlflow==2.19.0", "import mlflow\nmlflow.autolog()", EXIT_CODE),
        ),
        # .ipynb written with indent=2 and a one-cell notebook
        Invalid(
            ipynb("import mlflow as mf\nmf.start_run()\n", indent=2),
            1, 1, path="nb.ipynb", cell=1,
            fixed=ipynb("import mlflow as mf\nmf.start_run()\n", EXIT_CODE, indent=2),
        ),
        # nbformat 4.5 with cell ids, a string source and outputs: only a cell is added
        Invalid(_IDS_NB, 1, 1, path="ids.ipynb", cell=1, fixed=_IDS_NB_FIXED),
        # included by %run, but from another folder: "./helpers" is not this file
        Invalid(
            _dbx("import mlflow\nmlflow.autolog()\n"),
            1, 1, path="notebooks/helpers.py",
            files={"jobs/train.py": _dbx("# MAGIC %run ./helpers", "dbutils.notebook.exit(\"OK\")\n")},
            fixed=_dbx("import mlflow\nmlflow.autolog()\n") + _APPENDED,
        ),
        # the MLflow work is in a function that the notebook calls
        Invalid(
            _dbx("import mlflow\n\ndef main():\n    with mlflow.start_run():\n        pass\n", "main()\n"),
            1, 1, message_contains="`mlflow.start_run(...)` at line 5",
            fixed=_dbx("import mlflow\n\ndef main():\n    with mlflow.start_run():\n        pass\n", "main()\n") + _APPENDED,
        ),
        Invalid(
            _dbx("import mlflow\n\nclass Trainer:\n    def run(self):\n        mlflow.autolog()\n", "Trainer().run()\n"),
            1, 1,
            fixed=_dbx("import mlflow\n\nclass Trainer:\n    def run(self):\n        mlflow.autolog()\n", "Trainer().run()\n") + _APPENDED,
        ),
        # the message names the work, not the config read before it
        Invalid(
            _dbx("import mlflow\nconfig = mlflow.models.ModelConfig(development_config='agent.yaml')\n", "mlflow.set_experiment('/Shared/agent')\n"),
            1, 1, message_contains="`mlflow.set_experiment(...)` at line 7",
            fixed=_dbx("import mlflow\nconfig = mlflow.models.ModelConfig(development_config='agent.yaml')\n", "mlflow.set_experiment('/Shared/agent')\n") + _APPENDED,
        ),
        # the message names a call the notebook runs, not one in a serving-time method
        Invalid(
            _dbx(
                "import mlflow\n\nclass Blend(mlflow.pyfunc.PythonModel):\n    def load_context(self, context):\n"
                "        self.inner = mlflow.pyfunc.load_model(context.artifacts['inner'])\n",
                "with mlflow.start_run():\n    mlflow.pyfunc.log_model('blend', python_model=Blend())\n",
            ),
            1, 1, message_contains="`mlflow.start_run(...)` at line 10",
            fixed=_dbx(
                "import mlflow\n\nclass Blend(mlflow.pyfunc.PythonModel):\n    def load_context(self, context):\n"
                "        self.inner = mlflow.pyfunc.load_model(context.artifacts['inner'])\n",
                "with mlflow.start_run():\n    mlflow.pyfunc.log_model('blend', python_model=Blend())\n",
            ) + _APPENDED,
        ),
        # mlflow imported by the %run notebook
        Invalid(
            _dbx("# MAGIC %run ../_resources/00-setup", "with mlflow.start_run():\n    pass\n"),
            1, 1, path="notebooks/train.py",
            fixed=_dbx("# MAGIC %run ../_resources/00-setup", "with mlflow.start_run():\n    pass\n") + _APPENDED,
        ),
        # a %run line inside a %md cell is documentation, not an include
        Invalid(
            _dbx(_TRAIN), 1, 1, path="setup.py",
            files={"train.py": _dbx("# MAGIC %md\n# MAGIC %run ./setup")},
            fixed=_dbx(_TRAIN) + _APPENDED,
        ),
        # an exit in a markdown cell is text, not a call
        Invalid(
            _dbx("# MAGIC %md\n# MAGIC End with dbutils.notebook.exit(\"SUCCESS\")", _TRAIN),
            1, 1,
            fixed=_dbx("# MAGIC %md\n# MAGIC End with dbutils.notebook.exit(\"SUCCESS\")", _TRAIN) + _APPENDED,
        ),
        # a notebook that a bundle task runs: flagged without any model work
        Invalid(
            _dbx(_ETL), 1, 1, path="src/etl.py", files=_bundle("notebook_task"),
            fixed=_dbx(_ETL) + _APPENDED,
            message_contains="runs as task 't' of job 'j' (resources/job.yml:7)",
        ),
        # a plain `.py` file (no header) that a task runs as a notebook, path without extension;
        # the fix appends a last line
        Invalid(
            _ETL, 1, 1, path="src/etl.py", files=_bundle("notebook_task", "../src/etl"),
            fixed=_ETL + EXIT_CODE,
        ),
        # model work in a plain `.py` task notebook: both are named; ${workspace.file_path}
        Invalid(
            _TRAIN, 1, 1, path="src/train.py",
            files=_bundle("notebook_task", "${workspace.file_path}/src/train.py"),
            fixed=_TRAIN + EXIT_CODE,
            message_contains="does model work (`mlflow.set_experiment(...)` at line 3) and runs as task 't'",
        ),
        # an .ipynb task notebook; a task that only the prod target adds
        Invalid(
            ipynb("df = spark.table('x')\ndisplay(df)"), 1, 1, path="src/report.ipynb", cell=1,
            files={
                "databricks.yml": _ROOT.replace("prod: {}", "prod:") + "    resources:\n      jobs:\n        j:\n          tasks:\n"
                "            - task_key: report\n              notebook_task:\n                notebook_path: ./src/report.ipynb\n",
            },
            fixed=ipynb("df = spark.table('x')\ndisplay(df)", EXIT_CODE),
            message_contains="task 'report' of job 'j' (databricks.yml:15)",
        ),
        # the registry URI setting is configuration: the message names the training call
        Invalid(
            _dbx("import mlflow\nmlflow.set_registry_uri(\"databricks-uc\")\n", "with mlflow.start_run():\n    fit()\n"),
            1, 1, message_contains="`mlflow.start_run(...)` at line 7",
            fixed=_dbx("import mlflow\nmlflow.set_registry_uri(\"databricks-uc\")\n", "with mlflow.start_run():\n    fit()\n") + _APPENDED,
        ),
        # a library notebook (MLflow only inside functions) is still flagged when a task runs it
        Invalid(
            _dbx("import mlflow\n\ndef latest(name):\n    return mlflow.MlflowClient().get_registered_model(name)\n"),
            1, 1, path="src/etl.py", files=_bundle("notebook_task"),
            fixed=_dbx("import mlflow\n\ndef latest(name):\n    return mlflow.MlflowClient().get_registered_model(name)\n") + _APPENDED,
        ),
    )
    valid = (
        # checking the installed version is not model work
        Valid(_dbx("import mlflow\nassert int(mlflow.__version__.split('.')[0]) >= 3, 'needs MLflow 3'\nprint(mlflow.__version__)\n")),
        Valid(_dbx(_TRAIN, 'dbutils.notebook.exit("SUCCESS")\n')),
        Valid(_dbx(_TRAIN.replace("\n", "\r\n")).replace("\n", "\r\n") + "\r\n# COMMAND ----------\r\n\r\ndbutils.notebook.exit('OK')\r\n"),
        # plain modules are never flagged
        Valid(_TRAIN, path="train_lib.py"),
        # no model work: only an import, or unrelated calls
        Valid(_dbx("import mlflow\n", "df = spark.table(\"x\")\ndisplay(df)\n")),
        Valid(_dbx("def mlflow_like():\n    pass\n\nmlflow_like()\n")),
        # exit anywhere counts: inside a function, a branch, a handler
        Valid(_dbx(_TRAIN, "def main():\n    try:\n        mlflow.log_metric(\"a\", 1)\n    except Exception:\n        dbutils.notebook.exit(\"FAILED\")\n    dbutils.notebook.exit(json.dumps({\"status\": \"SUCCESS\"}))\n\nmain()\n")),
        # included with %run by another notebook (relative path, with/without suffix, ../)
        Valid(_dbx(_TRAIN), path="notebooks/common.py", files={"notebooks/train.py": _dbx("# MAGIC %run ./common", "dbutils.notebook.exit(\"SUCCESS\")\n")}),
        Valid(_dbx(_TRAIN), path="_resources/00-setup.py", files={"notebooks/train.py": _dbx("# MAGIC %run ../_resources/00-setup $reset=false")}),
        Valid(_dbx(_TRAIN), path="setup.py", files={"train.py": _dbx("%run \"./setup.py\"")}),
        Valid(ipynb("import mlflow\nmlflow.autolog()"), path="lib/setup.ipynb", files={"train.ipynb": ipynb("%run ./lib/setup")}),
        Valid(_dbx(_TRAIN), path="setup.py", files={"train.ipynb": ipynb("%run setup")}),
        # a library notebook: the MLflow calls only run when a caller calls its functions
        Valid(_dbx("import mlflow\n\ndef latest_version(name):\n    return mlflow.MlflowClient().get_registered_model(name)\n", "class Helper:\n    def log(self):\n        mlflow.log_metric(\"a\", 1)\n", "print('helpers loaded')\n")),
        # a models-from-code file (logged by another notebook with log_model("chain.py"))
        Valid(_dbx("import mlflow\nmlflow.langchain.autolog()\nchain = build_chain()\nmlflow.models.set_model(model=chain)\n"), path="chain.py"),
        # a pipeline source notebook
        Valid(_dbx("import dlt\nimport mlflow\n\nudf = mlflow.pyfunc.spark_udf(spark, \"models:/c.s.m@prod\")\n", "@dlt.table\ndef scored():\n    return spark.readStream.table(\"x\")\n")),
        Valid(_dbx("from pyspark import pipelines as dp\nimport mlflow\nmlflow.set_registry_uri(\"databricks-uc\")\n")),
        # `mlflow` is a local name here, not the module
        Valid(_dbx("from mlflow.utils import databricks_utils as du\n\nhost = du.get_browser_hostname()\n")),
        Valid(_dbx("mlflow = Tracker()\nmlflow.start_run()\n")),
        # .ipynb with an exit cell
        Valid(ipynb("import mlflow\nmlflow.autolog()", 'dbutils.notebook.exit("SUCCESS")'), path="train.ipynb"),
        # a task notebook with an exit; a plain `.py` run as a spark_python_task (a script)
        # or run by no task; a task notebook that another notebook includes with %run
        Valid(_dbx(_ETL, 'dbutils.notebook.exit("OK")\n'), path="src/etl.py", files=_bundle("notebook_task")),
        # a task notebook that hands its outcome to downstream tasks through task values
        Valid(_dbx(_ETL, 'dbutils.jobs.taskValues.set("is_metric_violated", False)\n'), path="src/etl.py", files=_bundle("notebook_task")),
        Valid(_TRAIN, path="src/etl.py", files=_bundle("spark_python_task", "../src/etl.py")),
        Valid(_ETL, path="src/other.py", files=_bundle("notebook_task")),
        Valid(_dbx(_ETL), path="src/etl.py", files={**_bundle("notebook_task"), "src/main.py": _dbx("# MAGIC %run ./etl")}),
        # a task notebook path from a Git source or a workspace path: not this file
        Valid(_dbx(_ETL), path="src/etl.py", files=_bundle("notebook_task", "/Workspace/Shared/src/etl")),
        # non-Python notebooks are not read
        Valid(ipynb("library(mlflow)\nmlflow_start_run()").replace('"python"', '"r"'), path="train.ipynb"),
    )

    def check(self, ctx):
        source = ctx.source
        if not ctx.is_notebook:
            return
        tasks = _run_by_bundle_task(ctx)
        if not tasks and not any(word in source.text for word in MODEL_WORDS):
            return
        if any(ctx.index.imports_module(m) for m in PIPELINE_MODULES):
            return  # a Lakeflow/DLT pipeline source: the pipeline runs it, not a notebook task
        # `mlflow` never bound in the file: it comes from a `%run` notebook (mlflow.x is MLflow)
        mlflow_global = not any("mlflow" in names for names in ctx.index.bindings.values())
        work = []
        for call in ctx.index.calls:
            dotted = call.dotted or ""
            qualname = call.qualname or ""
            if not qualname and mlflow_global and dotted.startswith("mlflow."):
                qualname = dotted
            if _is_exit(dotted) or _is_exit(qualname):
                return
            if qualname in MODEL_FROM_CODE:
                return  # a models-from-code file: logged by another notebook, never a task
            if qualname.startswith(MODEL_WORK_PREFIXES) and not qualname.startswith(NOT_MODEL_WORK):
                work.append(call)
        if not tasks and (not work or not _work_runs(ctx, work)):
            return
        if _included_by_run(ctx):
            return
        if work:
            # name the most telling call: `mlflow.x(...)` as written, else a direct API call;
            # a registry / tracking URI setting only when the notebook makes no other call
            telling = [c for c in work if (c.qualname or c.dotted or "") not in SETUP_CALLS] or work
            # a call the notebook itself runs (module/cell level) before one in a function or
            # class body (`PythonModel.load_context` runs where the model is served)
            telling = [c for c in telling if c.function is None] or telling
            shown = next((c for c in telling if (c.dotted or "").startswith("mlflow.")), None)
            shown = shown or next((c for c in telling if "()" not in (c.qualname or "")), telling[0])
            what = shown.dotted or shown.qualname
            row = ctx.span(shown.node).start.row
            where = f"cell {source.cell_at_row(row).number}" if source.kind == "ipynb" and source.cell_at_row(row) else f"line {row}"
            doing = f"does model work (`{what}(...)` at {where})"
            if tasks:
                doing += f" and {_describe(tasks)}"
        else:
            doing = _describe(tasks)
        yield self.finding(
            ctx.path,
            Span(Position(1, 0), Position(1, 0)),
            f"Notebook {doing} but never calls `dbutils.notebook.exit(...)`: a job run cannot report its outcome",
            edits=(source.append_cell_edit(EXIT_CODE),),
            fix_message='Append a cell with `dbutils.notebook.exit("SUCCESS")`',
        )


def _is_exit(name: str) -> bool:
    """`dbutils.notebook.exit(...)`, or `dbutils.jobs.taskValues.set(...)`: the outcome reaches
    the job's downstream tasks (an `if/else` condition task reads it)."""
    return name == "notebook.exit" or name.endswith((".notebook.exit", "jobs.taskValues.set"))


def _work_runs(ctx, work) -> bool:
    """False for a library notebook: every model-work call is inside a function or class and
    nothing at module level calls a function or class of the file (running it only defines)."""
    if any(call.function is None for call in work):
        return True
    local = set(ctx.index.functions) | {node.name.value for node in ctx.index.nodes(cst.ClassDef)}
    for call in ctx.index.calls:
        if call.function is None and call.dotted and call.dotted.split(".", 1)[0].removesuffix("()") in local:
            return True
    return False


def _run_by_bundle_task(ctx) -> list:
    """The bundle tasks (of every bundle and target of the project) that run this file as
    `notebook_task.notebook_path`: such a notebook is flagged without model work, and a plain
    `.py` file among them is a notebook too (RULES.md "a notebook")."""
    return ctx.project.bundle_model.notebook_tasks(ctx.path)


def _describe(tasks) -> str:
    """``runs as task 't' of job 'j' (resources/job.yml:12)``, plus how many more tasks run it."""
    first = tasks[0]
    text = f"runs as task '{first.label}' of job '{first.job.name}' ({first.run.node.location})"
    if len(tasks) > 1:
        text += f" and {len(tasks) - 1} more task{'s' if len(tasks) > 2 else ''}"
    return text


def _included_by_run(ctx) -> bool:
    """True when another notebook of the project `%run`s this file (relative paths only)."""
    me = _normalize(ctx.path)
    for other in ctx.project.python_sources():
        if other.path == ctx.path or not other.magics_named("run") or not ctx.project.is_notebook(other.path):
            continue
        folder = os.path.dirname(os.path.abspath(other.path))
        for magic in other.magics_named("run"):
            cell = other.cell_at_row(magic.row)
            if magic.shell or (cell is not None and cell.kind == "magic" and cell.magic not in (None, "run")):
                continue  # `!run`, or a line of a %md/%sh cell that starts with %run
            target = _run_target(magic.arg_text)
            if not target or target.startswith("/"):
                continue
            resolved = os.path.normpath(os.path.join(folder, target))
            if any(_normalize(resolved + suffix) == me for suffix in NOTEBOOK_SUFFIXES):
                return True
    return False


def _run_target(arg_text: str) -> str | None:
    """The notebook path of a `%run` line: the first word, or a quoted path."""
    text = arg_text.strip()
    if not text:
        return None
    if text[0] in "'\"":
        end = text.find(text[0], 1)
        return text[1:end] if end > 0 else None
    return text.split()[0]


def _normalize(path: str) -> str:
    return os.path.normcase(os.path.normpath(os.path.abspath(path)))
