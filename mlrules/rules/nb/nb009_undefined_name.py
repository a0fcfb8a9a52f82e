from __future__ import annotations

import os
import re

import libcst as cst

from mlrules.analysis.project_paths import roots_for
from mlrules.analysis.includes import included_notebooks
from mlrules.analysis.walk import walk
from mlrules.analysis.scopes import DATABRICKS_GLOBALS, module_level_names, undefined_names
from mlrules.rules.base import Invalid, Option, PythonRule, Valid, ipynb
from mlrules.sources.magics import CELL_LANGUAGE_MAGICS

# Magics whose arguments or cell body are Python that mlrules masks (definitions there are
# invisible) or that define names themselves: a notebook using one is not checked.
PYTHON_BODY_MAGICS = frozenset({"time", "timeit", "prun", "capture", "debug", "python", "store", "load", "macro", "px", "autopx", "writefile"})


def _dbx_text(*cells: str) -> str:
    return "# Databricks notebook source\n" + "\n# COMMAND ----------\n\n".join(cells)


_SETUP = {"setup.py": _dbx_text("catalog = 'ml'\n")}


class UndefinedName(PythonRule):
    """
    ## What it does
    Flags a name read in a notebook that nothing defines: no assignment, import, `def`,
    `class`, parameter, loop or comprehension variable, `with ... as`, `except ... as`,
    walrus or `match` capture, builtin, or Databricks global (`spark`, `dbutils`, `display`,
    `displayHTML`, `sc`, `sqlContext`, `table`, `sql`, `getArgument`, `udf`, `_sqldf`, the
    IPython names `get_ipython`, `In`, `Out`, `_`..., plus option `extra-globals`), and no
    notebook that a `%run` of this notebook includes (recursively) defines it at module level.

    A notebook is a Databricks source file, an `.ipynb`, or any `.py` file that a bundle task
    of the project runs as `notebook_task.notebook_path`.

    `%run ./x` is resolved from the notebook's folder, as written and with `.py`/`.ipynb`/
    `.sql`/`.scala`/`.r`; the included notebook's module-level names (assignments, imports,
    `def`/`class`, `global` assignments in its functions, and those of its own `%run`
    targets) count as defined here, since `%run` shares one namespace. Included notebooks
    outside the files given on the command line are read from disk.
    Scopes follow Python: function, class (a method does not see class attributes),
    comprehension and lambda scopes, `global`, `nonlocal`. One finding per name, at its first
    read (the message counts the reads). Option `extra-globals` names what the runtime defines
    beyond that (an init script, a `%run` of a shared notebook outside the project).

    ## Why it matters
    A name renamed or deleted in one cell and still read in another works in the author's
    session (the old value is still in memory) and fails with `NameError` in the job, after
    the cluster has started and often after the expensive cells have run.

    Choices, all on the side of staying quiet:
    - flow-insensitive: a module-level name defined in any cell counts in every cell (cells
      are re-run and run out of order while developing; pyflakes-style order checks would
      flag working notebooks);
    - not reported: reads under `if TYPE_CHECKING:`, annotations, reads inside a `try` whose
      handler catches `NameError` (or `Exception`/`BaseException`/bare `except`), names tested
      with `"x" in globals()`, `del` targets, names set through `globals()["x"]`,
      `builtins.x`/`__builtins__.x`/`setattr(builtins, "x", ...)`, module dunders
      (`__file__`, `__builtins__`...), `true`/`false`/`null` in a JSON document pasted as a
      cell's value;
    - not reported either: reads inside a function (or a method) that the notebook never
      references nor decorates: it runs only when a notebook that `%run`s this one calls it,
      with that notebook's names;
    - not checked at all: a notebook with a `%run` that cannot be followed (an absolute
      `/Workspace/...` or `$variable` target, a missing, non-Python or unparsable file, a
      `%run` whose arguments are not modelled, a chain deeper than 5) or that includes a
      notebook whose names cannot be known (star import, `exec`, masked Python); a notebook
      that another notebook includes with `%run` (the includer defines names; looked up
      among the run's notebooks and the files under the bundle or repo root); a star import,
      `exec(...)`, `globals()` passed around or updated, and magics whose Python text is
      masked (`%%capture`, `%time`, `%python`, `%store`...);
    - plain `.py` modules are left to pyflakes/Ruff.

    ## Example
    ```python
    # COMMAND ----------
    features_df = spark.table("ml.churn.features")
    # COMMAND ----------
    model.fit(feature_df.toPandas(), y)   # feature_df: NameError
    ```

    ## Use instead
    ```python
    model.fit(features_df.toPandas(), y)
    ```

    ## Fix safety
    No fix: the intended name is unknown.
    """

    code = "NB009"
    name = "undefined-name"
    summary = "Name read in a notebook that nothing defines (NameError at run time)"
    notebooks_only = True
    options = (Option("extra-globals", [], "Extra names the runtime defines (list of strings)."),)

    invalid = (
        Invalid(
            "# Databricks notebook source\nfeatures_df = spark.table('t')\n\n# COMMAND ----------\n\ndisplay(feature_df)\n",
            6, 9, message_contains="feature_df",
        ),
        # a method does not see class attributes; a lambda body; a comprehension's condition
        Invalid(
            "# Databricks notebook source\nclass Trainer:\n    epochs = 3\n    def run(self):\n        return epochs\n\n"
            "f = lambda x: x + offset\nys = [v for v in range(3) if v > limit]\nTrainer().run()\n",
            5, 16, also=((7, 19), (8, 34)),
        ),
        # the same name read twice: one finding at the first read; the option adds other names
        Invalid(
            "# Databricks notebook source\nprint(catalog_name)\nprint(catalog_name, helper_table)\n",
            2, 7, options={"extra-globals": ["helper_table"]}, message_contains="read 2 times",
        ),
        Invalid(ipynb(("markdown", "# Train"), "import mlflow\nx = 1", "mlflow.log_param('x', y)"), 1, 23, cell=3, path="nb.ipynb"),
        # names defined by %run notebooks (recursively, .py and .ipynb) count; others are still flagged
        Invalid(
            "# Databricks notebook source\n# MAGIC %run ../_resources/setup $reset=false\n\n# COMMAND ----------\n\n"
            "df = spark.table(f'{catalog}.churn.features')\nmlflow.set_registry_uri(REGISTRY)\nprint(helper(df), CATALOG, scored_df)\n",
            8, 28, path="notebooks/train.py",
            files={
                "_resources/setup.py": _dbx_text("import mlflow\ncatalog = 'ml'\n\ndef init():\n    global CATALOG\n    CATALOG = catalog\n", "# MAGIC %run ./helpers"),
                "_resources/helpers.ipynb": ipynb("REGISTRY = 'databricks-uc'\ndef helper(df):\n    return df"),
            },
            message_contains="`scored_df`",
        ),
        # a `%run` line in a %md cell is documentation: the notebook is checked without it
        Invalid(
            "# Databricks notebook source\n# MAGIC %md\n# MAGIC Run `%run ./setup` first\n\n# COMMAND ----------\n\nprint(catalog)\n",
            7, 7, files=_SETUP,
        ),
        # a plain `.py` file that a bundle task runs as a notebook is checked
        Invalid(
            "import mlflow\nmlflow.log_metric('auc', auc_score)\n", 2, 26, path="src/train.py",
            files={
                "databricks.yml": "bundle:\n  name: x\nresources:\n  jobs:\n    j:\n      tasks:\n        - task_key: t\n"
                "          notebook_task:\n            notebook_path: ./src/train.py\n",
            },
        ),
        # a name only assigned in another function; a decorated function runs without a call here
        Invalid(
            "# Databricks notebook source\ndef a():\n    local_only = 1\n    return local_only\n\ndef b():\n    return local_only\n\nb()\n"
            "@dlt.table\ndef silver():\n    return spark.table(source_table)\n",
            7, 12, also=((10, 2), (12, 24)),
        ),
    )
    valid = (
        # Databricks globals, builtins, dunders
        Valid(
            "# Databricks notebook source\ndf = spark.table('t')\ndisplay(df)\ndisplayHTML('<b>x</b>')\nsc.setLogLevel('WARN')\n"
            "dbutils.widgets.get('x')\nsql('select 1')\ntable('t')\nudf(len)\ngetArgument('x')\nsqlContext\nprint(len([]), __file__, __name__, _sqldf)\n"
        ),
        # defined in a later cell: cells are re-run (flow-insensitive by choice)
        Valid("# Databricks notebook source\nprint(threshold)\n\n# COMMAND ----------\n\nthreshold = 0.5\n"),
        # global, nonlocal, del, comprehension and walrus variables, match captures
        Valid(
            "# Databricks notebook source\ndef setup():\n    global CATALOG\n    CATALOG = 'ml'\nsetup()\nprint(CATALOG)\n"
            "def outer():\n    n = 0\n    def inner():\n        nonlocal n\n        n += 1\n    return inner\n"
            "tmp = 1\ndel tmp\nsquares = [y for x in range(3) if (y := x * x)]\nprint(y)\n"
            "class Point:\n    x = 0\n"
            "match squares:\n    case [first, *rest]:\n        print(first, rest)\n    case {'k': v, **others}:\n        print(v, others)\n    case Point(x=px) as p:\n        print(px, p)\n"
        ),
        # try/except NameError, TYPE_CHECKING-only reads, annotations, `in globals()`
        Valid(
            "# Databricks notebook source\nfrom typing import TYPE_CHECKING\ntry:\n    dbutils_local\nexcept NameError:\n    pass\n"
            "if TYPE_CHECKING:\n    from pyspark.sql import DataFrame\n    print(OnlyForTypes)\n"
            "def f(df: DataFrame) -> 'Undefined':\n    x: AlsoUndefined = 1\n    return x\n"
            "if 'maybe' in globals():\n    print(maybe)\n"
        ),
        # __builtins__ and globals() definitions
        Valid(
            "# Databricks notebook source\nimport builtins\nbuiltins.shared_cfg = {}\n__builtins__.other = 1\nsetattr(builtins, 'third', 2)\n"
            "globals()['fourth'] = 3\nprint(shared_cfg, other, third, fourth, __builtins__)\n"
        ),
        # a %run that cannot be followed (missing file, absolute or dynamic path, an unquoted
        # path with a space, a SQL notebook): the included notebook may define anything
        Valid("# Databricks notebook source\n# MAGIC %run ./setup\n\n# COMMAND ----------\n\nprint(catalog)\n"),
        Valid("# Databricks notebook source\n# MAGIC %run /Shared/setup\n\n# COMMAND ----------\n\nprint(catalog)\n", files=_SETUP),
        Valid("# Databricks notebook source\n# MAGIC %run ./$env/setup\n\n# COMMAND ----------\n\nprint(catalog)\n", files=_SETUP),
        Valid("# Databricks notebook source\n# MAGIC %run ./My setup\n\n# COMMAND ----------\n\nprint(catalog)\n", files={"My setup.py": "x = 1\n"}),
        Valid("# Databricks notebook source\n# MAGIC %run ./ddl\n\n# COMMAND ----------\n\nprint(catalog)\n", files={"ddl.sql": "-- Databricks notebook source\nSELECT 1\n"}),
        # the included notebook (or one it includes) defines names dynamically or masks Python
        Valid("# Databricks notebook source\n# MAGIC %run ./setup\n\n# COMMAND ----------\n\nprint(col, catalog)\n", files={"setup.py": _dbx_text("from pyspark.sql.functions import *\ncatalog = 'ml'\n")}),
        Valid("# Databricks notebook source\n# MAGIC %run ./setup\n\n# COMMAND ----------\n\nprint(catalog, conf)\n", files={"setup.py": _dbx_text("# MAGIC %run ./conf"), "conf.py": _dbx_text("exec(open('c').read())\n")}),
        Valid(ipynb("%run ./setup", "print(model)"), path="nb.ipynb", files={"setup.ipynb": ipynb("%%capture\nmodel = train()")}),
        # star import, exec, globals().update: dynamic definitions
        Valid("# Databricks notebook source\nfrom pyspark.sql.functions import *\nprint(col('x'), undefined)\n"),
        Valid("# Databricks notebook source\nexec('z = 1')\nprint(z)\n"),
        Valid("# Databricks notebook source\nglobals().update({'w': 1})\nprint(w)\n"),
        # masked Python: a %%capture cell, a %time assignment
        Valid(ipynb("%%capture out\nimport mlflow\nm = 1", "print(m, out)"), path="nb.ipynb"),
        Valid("# Databricks notebook source\n%time model = train()\nprint(model)\n"),
        # class attributes read in the class body and in a comprehension there; decorators
        Valid(
            "# Databricks notebook source\nimport functools\nclass C:\n    xs = [1, 2]\n    ys = [a for a in xs]\n    zs = [b for a in xs for b in xs]\n"
            "    @functools.lru_cache\n    def f(self):\n        return C.xs, __class__\n"
        ),
        # a helper notebook: its functions run in the namespace of the notebook that %runs it
        Valid(
            "# Databricks notebook source\nimport requests\n\ndef notify(message):\n    return requests.post(webhook_url, json={'text': message})\n\n"
            "class Helper:\n    def user(self):\n        return current_user\n"
        ),
        # included by another notebook with %run: the includer defines `catalog`
        Valid(
            "# Databricks notebook source\ntable_name = f'{catalog}.churn.features'\n", path="_resources/setup.py",
            files={"train.py": "# Databricks notebook source\ncatalog = 'ml'\n\n# COMMAND ----------\n\n# MAGIC %run ./_resources/setup\n"},
        ),
        # a JSON document pasted as a cell's value (a demo's bundle configuration)
        Valid("# Databricks notebook source\n{\n  'name': 'demo',\n  'serverless': true,\n  'tasks': [{'full_refresh': false, 'x': null}]\n}\n"),
        # extra-globals; plain modules are not checked
        Valid("# Databricks notebook source\nprint(helper_table)\n", options={"extra-globals": ["helper_table"]}),
        Valid("print(undefined_in_module)\n", path="module.py"),
        # every %run resolves and the included notebooks define every name read
        Valid(
            "# Databricks notebook source\n# MAGIC %run ./setup\n\n# COMMAND ----------\n\nprint(catalog, mlflow, helper)\n",
            files={**_SETUP, "setup.py": _dbx_text("import mlflow\ncatalog = 'ml'\n", "# MAGIC %run ./lib/helpers.py"), "lib/helpers.py": "def helper():\n    pass\n"},
        ),
        # a plain `.py` file that a task runs as a spark_python_task is a script: left to Ruff
        Valid(
            "print(undefined_in_script)\n", path="src/task.py",
            files={
                "databricks.yml": "bundle:\n  name: x\nresources:\n  jobs:\n    j:\n      tasks:\n        - task_key: t\n"
                "          spark_python_task:\n            python_file: ./src/task.py\n",
            },
        ),
    )

    def check(self, ctx):
        if _masks_python(ctx.source):
            return
        included = names_from_run_targets(ctx)
        if included is None:
            return
        known = set(self.config["extra-globals"] or ()) | included | DATABRICKS_GLOBALS
        names = undefined_names(ctx.module, frozenset(known), ctx.source.code)
        if not names:
            return
        names = [n for n in names if not _json_literal_word(ctx.module, n)]
        if not names or is_run_target(ctx):
            return
        # one finding per name, at its first read
        reads: dict[str, list[cst.Name]] = {}
        for node in names:
            reads.setdefault(node.value, []).append(node)
        for name, nodes in reads.items():
            first = min((ctx.span(n) for n in nodes), key=lambda span: (span.start.row, span.start.column))
            more = f" (read {len(nodes)} times)" if len(nodes) > 1 else ""
            yield self.finding(
                ctx.path,
                first,
                f"Undefined name `{name}`{more}: no cell defines it (NameError when the notebook runs as a job)",
            )


def names_from_run_targets(ctx) -> frozenset[str] | None:
    """Names that the notebooks included with ``%run`` define at module level (recursively:
    their own ``%run`` targets too); None when that is unknown, and then the notebook is not
    checked: a ``%run`` that cannot be resolved (absolute or dynamic target, missing,
    unparsable or non-Python file, too deep), or an included notebook whose definitions
    cannot be followed (star import, ``exec``, masked Python such as ``%%capture``)."""
    if not ctx.source.magics_named("run"):
        return frozenset()
    included = included_notebooks(ctx)
    if not included.complete:
        return None
    names: set[str] = set()
    for facts in included.notebooks:
        defined = _module_level_names(facts.source)
        if defined is None:
            return None
        names |= defined
    return frozenset(names)


def _module_level_names(source) -> frozenset[str] | None:
    """The module-level names a parsed notebook defines, computed once per file and run."""
    key = "nb009.module_level_names"
    if key not in source.cache:
        source.cache[key] = None if _masks_python(source) else module_level_names(source.parse(), source.code)
    return source.cache[key]


_RUN_LINE = re.compile(r"%run\s+[\"']?([^\s\"'\\]+)")
_SKIP_DIRS = frozenset({"node_modules", "venv", "build", "dist", "__pycache__", "site-packages"})
_MAX_SCANNED_FILES = 5000
_RUN_TARGETS: dict[str, tuple[set[str], set[str], bool]] = {}
_NOTEBOOK_EXTENSIONS = (".py", ".ipynb", ".sql", ".scala", ".r")


def is_run_target(ctx) -> bool:
    """Another notebook includes this one with ``%run``: they share one namespace, so the
    includer may define the names this one reads. Looks at the notebooks of the run and at
    the files under the bundle root (else the repo root, else two folders up)."""
    me = _strip_extension(os.path.abspath(ctx.path))
    stem = os.path.basename(me)
    for source in ctx.project.python_sources():
        for magic in source.magics_named("run"):
            if magic.args and _points_to(magic.args[0].text, source.path, me, stem):
                return True
    roots = roots_for(ctx.path)
    top = roots.bundle_root or roots.repo_root or os.path.dirname(roots.folder)
    targets, absolute_stems, complete = _run_targets_under(top, ctx.project)
    return me in targets or stem in absolute_stems or not complete


def _run_targets_under(top: str, project) -> tuple[set[str], set[str], bool]:
    """(resolved relative %run targets, stems of absolute %run targets, scan complete) for the
    notebooks under ``top`` that the run did not load (those were asked already); cached per
    folder and run. An incomplete scan (over ``_MAX_SCANNED_FILES`` files read) means unknown."""
    key = f"{id(project)}:{top}"
    cached = _RUN_TARGETS.get(key)
    if cached is not None:
        return cached
    loaded = {os.path.normcase(os.path.abspath(p)) for p in project.sources}
    targets: set[str] = set()
    absolute: set[str] = set()
    scanned = 0
    complete = True
    for folder, dirs, files in os.walk(top):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in _SKIP_DIRS]
        for name in files:
            if not name.endswith((".py", ".ipynb")):
                continue
            path = os.path.join(folder, name)
            if os.path.normcase(os.path.abspath(path)) in loaded:
                continue
            scanned += 1
            if scanned > _MAX_SCANNED_FILES:
                complete = False
                break
            try:
                from mlrules.sources.limits import read_regular

                text = read_regular(path, 2_000_000).decode("utf-8", "replace")  # never blocks on a FIFO
            except OSError:
                continue
            if "%run" not in text:
                continue
            for match in _RUN_LINE.finditer(text):
                target = match.group(1)
                if target.startswith("/") or target.startswith("$"):
                    absolute.add(os.path.basename(_strip_extension(target)))
                else:
                    targets.add(_strip_extension(os.path.normpath(os.path.join(folder, target))))
        if not complete:
            break
    result = (targets, absolute, complete)
    if len(_RUN_TARGETS) > 64:
        _RUN_TARGETS.clear()
    _RUN_TARGETS[key] = result
    return result


def _points_to(target: str, caller: str, me: str, stem: str) -> bool:
    target = target.strip("\"'")
    if target.startswith(("/", "$")):
        return os.path.basename(_strip_extension(target)) == stem
    resolved = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(caller)), target))
    return _strip_extension(resolved) == me


def _strip_extension(path: str) -> str:
    root, ext = os.path.splitext(path)
    return root if ext.lower() in _NOTEBOOK_EXTENSIONS else path


def _json_literal_word(module: cst.Module, node: cst.Name) -> bool:
    """``true``/``false``/``null`` in a dict or list literal that a cell only displays (a JSON
    document pasted as the cell's value, e.g. a demo's bundle configuration)."""
    if node.value not in ("true", "false", "null"):
        return False
    for statement in module.body:
        if isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1:
            expr = statement.body[0]
            if isinstance(expr, cst.Expr) and isinstance(expr.value, (cst.Dict, cst.List)) and _contains(expr.value, node):
                return True
    return False


def _contains(tree: cst.CSTNode, target: cst.CSTNode) -> bool:
    return any(node is target for node in walk(tree))


def _masks_python(source) -> bool:
    for magic in source.magics:
        if magic.name in PYTHON_BODY_MAGICS:
            return True
        if source.text.startswith("%%", magic.start) and magic.name not in CELL_LANGUAGE_MAGICS:
            return True
    return False
