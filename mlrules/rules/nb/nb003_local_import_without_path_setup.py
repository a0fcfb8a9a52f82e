from __future__ import annotations

import os

import libcst as cst

from mlrules.analysis.local_imports import ImportSite, installs_project, project_imports
from mlrules.analysis.project_paths import ModuleLocation, ProjectRoots, depth_below, installs_own_package
from mlrules.model import Applicability, Edit
from mlrules.rules.base import Invalid, Option, PythonRule, Valid, ipynb

# Calls that change where imports are looked up (any receiver spelling: `sys.path.append`,
# `path.append` after `from sys import path`).
PATH_CALL_SUFFIXES = ("path.insert", "path.append", "path.extend")
PATH_CALLS = frozenset({"site.addsitedir", "os.chdir"})

_SETUP = "dbutils.notebook.entry_point.getDbutils().notebook().getContext().notebookPath().get()"


def _expected_setup(levels: int, subfolder: str = "") -> str:
    """The path setup block the examples expect (written out here, apart from the fix's own
    builder, so that the examples check it)."""
    target = f'_bundle_root + "/{subfolder}"' if subfolder else "_bundle_root"
    return (
        "try:\n"
        f"    _notebook_path = {_SETUP}\n"
        f'    _bundle_root = "/Workspace" + "/".join(_notebook_path.removeprefix("/Workspace").split("/")[:-{levels}])\n'
        f"    if {target} not in sys.path:\n"
        f"        sys.path.insert(0, {target})\n"
        "except Exception as _path_error:\n"
        '    print(f"Bundle path setup failed: {_path_error}")\n\n'
    )


class LocalImportWithoutPathSetup(PythonRule):
    """
    ## What it does
    Flags, in a notebook, an import of a module that is a file or package of the project itself
    (found under the bundle root, the repo root, or a `src/` folder in either) when no
    `sys.path.insert(...)`/`sys.path.append(...)` runs before the import.

    A notebook is a Databricks source file, an `.ipynb`, or any `.py` file that a bundle task
    of the project runs as `notebook_task.notebook_path` (also without the
    `# Databricks notebook source` header); scripts run as `spark_python_task` and imported
    modules are not notebooks.

    The project is read from the filesystem around the notebook: the bundle root is the nearest
    folder upward holding `databricks.yml`/`databricks.yaml`/`bundle.yml`, the repo root the
    nearest folder holding `.git`.

    ## Why it matters
    A bundle deploys the project's files to `/Workspace/.../.bundle/<name>/<target>/files/`. A
    notebook task runs with its own folder on `sys.path`, not the bundle root: on serverless
    `from churn.features import build` fails with `ModuleNotFoundError` although the module was
    deployed next to the notebook's parent folder.

    Not flagged (Databricks puts the notebook's folder on `sys.path` since DBR 11.3 and on
    serverless, and the repo root for a notebook in a Git folder):
    - modules in the notebook's own folder (option `check-notebook-folder` flags them too);
    - modules at the repo root (not its `src/`) when there is no bundle file, or when no bundle
      task runs the notebook through a relative `notebook_path` (it then runs from a Git folder,
      whose root Databricks puts on `sys.path`; a task with an absolute `/Workspace/...` path
      runs such a checkout too);
    - a `sys.path.insert/append/extend`, an assignment to `sys.path`, `site.addsitedir`,
      `os.chdir`, `sc.addPyFile` or a `%run` anywhere before the import;
    - notebooks that `%pip install` a local path, a wheel, `-e ...` or a package of the same name;
    - a packaged project (`pyproject.toml`/`setup.py` at the root) whose bundle YAML installs a
      wheel or a local path (`.whl`, `python_wheel_task`, `- ..` in `dependencies`);
    - imports inside a `try` that catches `ImportError` (a fallback) or under `if TYPE_CHECKING`;
    - standard-library names and relative imports.

    ## Example
    ```python
    # notebooks/train.py in a bundle with src/churn/features.py
    from churn.features import build_features
    ```

    ## Use instead
    ```python
    import sys

    try:
        _notebook_path = dbutils.notebook.entry_point.getDbutils().notebook().getContext().notebookPath().get()
        _bundle_root = "/Workspace" + "/".join(_notebook_path.removeprefix("/Workspace").split("/")[:-2])
        if _bundle_root + "/src" not in sys.path:
            sys.path.insert(0, _bundle_root + "/src")
    except Exception as _path_error:
        print(f"Bundle path setup failed: {_path_error}")

    from churn.features import build_features
    ```

    ## Fix safety
    Safe: inserts the path-setup block above (the seed's `sys.path.insert(0, _bundle_root)`
    pattern) right before the first such import. `_bundle_root` is computed from the notebook's
    own workspace path, dropping as many segments as the notebook lies below the root (the
    notebook itself plus one per folder), so it follows the bundle to any target. `src` (or any
    other folder the modules live in) is added to the root. The block runs inside `try`, so
    the notebook still runs outside Databricks. No fix when the modules live outside the bundle
    root (a bundle only deploys its own folder unless `sync` says otherwise).
    """

    code = "NB003"
    name = "local-import-without-path-setup"
    summary = "Notebook imports a project module without sys.path setup (ModuleNotFoundError on serverless)"
    fix = Applicability.SAFE
    notebooks_only = True
    triggers = ("import",)
    options = (
        Option(
            "check-notebook-folder",
            False,
            "Also flag modules in the notebook's own folder (runtimes before DBR 11.3 do not put it on sys.path).",
        ),
    )

    _bundle = {"databricks.yml": "bundle:\n  name: churn\n", "src/churn/__init__.py": "", "src/churn/features.py": "def build():\n    pass\n"}
    _tasks = {
        **_bundle,
        "databricks.yml": "bundle:\n  name: churn\ninclude:\n  - resources/*.yml\n",
        "resources/jobs.yml": "resources:\n  jobs:\n    train:\n      tasks:\n        - task_key: train\n"
        "          notebook_task:\n            notebook_path: ../jobs/train\n        - task_key: score\n"
        "          spark_python_task:\n            python_file: ../jobs/score.py\n",
    }
    invalid = (
        Invalid(
            "# Databricks notebook source\nimport mlflow\nfrom churn.features import build\n\nbuild()\n",
            3, 6, path="notebooks/train.py", files=_bundle,
            fixed=(
                "# Databricks notebook source\nimport mlflow\n"
                "import sys\n\n"
                + _expected_setup(2, "src") +
                "from churn.features import build\n\nbuild()\n"
            ),
            message_contains="src/churn/features.py",
        ),
        # the module at the bundle root, the notebook two folders down, sys already imported;
        # the second import is covered by the same fix
        Invalid(
            "# Databricks notebook source\nimport sys\n\n# COMMAND ----------\n\nimport helpers.io as hio\nfrom helpers import io\n",
            6, 8, also=((7, 6),), path="pipelines/train/nb.py",
            files={"databricks.yml": "bundle:\n  name: x\n", "helpers/__init__.py": "", "helpers/io.py": ""},
            fixed=(
                "# Databricks notebook source\nimport sys\n\n# COMMAND ----------\n\n"
                + _expected_setup(3) +
                "import helpers.io as hio\nfrom helpers import io\n"
            ),
        ),
        # a namespace folder: `from src.churn import features` resolves through src/churn/features.py
        Invalid(
            "# Databricks notebook source\nfrom src.churn import features\n",
            2, 6, path="notebooks/nb.py",
            files={"databricks.yml": "", "src/churn/features.py": ""},
            fixed=(
                "# Databricks notebook source\nimport sys\n\n"
                + _expected_setup(2) +
                "from src.churn import features\n"
            ),
        ),
        # .ipynb: the block goes into the importing cell; a path change after the import is too late
        Invalid(
            ipynb(("markdown", "# Train"), "import mlflow", "from churn.features import build\nimport sys\nsys.path.append('..')"),
            1, 6, cell=3, path="notebooks/train.ipynb", files=_bundle,
            fixed=ipynb(
                ("markdown", "# Train"),
                "import mlflow",
                "import sys\n\n"
                + _expected_setup(2, "src") +
                "from churn.features import build\nimport sys\nsys.path.append('..')",
            ),
        ),
        # no bundle: the repo root (a .git folder) is the root; its src/ is not on sys.path
        Invalid(
            "# Databricks notebook source\nfrom common import utils\n",
            2, 6, path="jobs/nb.py",
            files={".git/HEAD": "ref: refs/heads/main\n", "src/common/__init__.py": "", "src/common/utils.py": ""},
            fixed=(
                "# Databricks notebook source\nimport sys\n\n"
                + _expected_setup(2, "src") +
                "from common import utils\n"
            ),
        ),
        # a module beside the notebook, with the option on: the notebook's folder is the root
        Invalid(
            "# Databricks notebook source\nimport mlflow\n\nfrom helpers import f\n",
            4, 6, path="nbs/nb.py", files={"databricks.yml": "", "nbs/helpers.py": ""},
            options={"check-notebook-folder": True},
            fixed=(
                "# Databricks notebook source\nimport mlflow\n\nimport sys\n\n"
                + _expected_setup(2, "nbs") +
                "from helpers import f\n"
            ),
        ),
        # a plain `.py` file (no notebook header) that a bundle task runs as a notebook
        Invalid(
            "import mlflow\nfrom churn.features import build\n",
            2, 6, path="jobs/train.py", files=_tasks,
            fixed=(
                "import mlflow\n"
                "import sys\n\n"
                + _expected_setup(2, "src") +
                "from churn.features import build\n"
            ),
        ),
        # a Git checkout that is also the bundle root, but a bundle task runs the notebook from
        # the deployed files: the root is not on sys.path there
        Invalid(
            "# Databricks notebook source\nfrom common.io import load\n",
            2, 6, path="flows/nightly.py",
            files={
                ".git/HEAD": "ref: refs/heads/main\n", "common/__init__.py": "", "common/io.py": "",
                "databricks.yml": "bundle:\n  name: x\nresources:\n  jobs:\n    nightly:\n      tasks:\n"
                "        - task_key: run\n          notebook_task:\n            notebook_path: ./flows/nightly\n",
            },
            fixed=(
                "# Databricks notebook source\nimport sys\n\n"
                + _expected_setup(2) +
                "from common.io import load\n"
            ),
        ),
        # CRLF file: the inserted block keeps the file's newlines
        Invalid(
            "# Databricks notebook source\r\nfrom churn import features\r\n",
            2, 6, path="notebooks/nb.py", files=_bundle,
            fixed=(
                "# Databricks notebook source\r\nimport sys\r\n\r\n"
                "try:\r\n"
                f"    _notebook_path = {_SETUP}\r\n"
                '    _bundle_root = "/Workspace" + "/".join(_notebook_path.removeprefix("/Workspace").split("/")[:-2])\r\n'
                '    if _bundle_root + "/src" not in sys.path:\r\n'
                '        sys.path.insert(0, _bundle_root + "/src")\r\n'
                "except Exception as _path_error:\r\n"
                '    print(f"Bundle path setup failed: {_path_error}")\r\n\r\n'
                "from churn import features\r\n"
            ),
        ),
    )
    valid = (
        # path setup before the import (the seed's pattern)
        Valid(
            "# Databricks notebook source\nimport sys\n_bundle_root = '/Workspace/x'\nsys.path.insert(0, _bundle_root)\nfrom churn.features import build\n",
            path="notebooks/train.py", files=_bundle,
        ),
        Valid("# Databricks notebook source\nfrom sys import path\npath.append('../src')\nfrom churn import features\n", path="notebooks/nb.py", files=_bundle),
        Valid("# Databricks notebook source\nimport os\nos.chdir('..')\nfrom churn import features\n", path="notebooks/nb.py", files=_bundle),
        Valid("# Databricks notebook source\nimport sys\nsys.path += ['../src']\nfrom churn import features\n", path="notebooks/nb.py", files=_bundle),
        # a %run notebook may set the path up
        Valid("# Databricks notebook source\n# MAGIC %run ../setup\n\n# COMMAND ----------\n\nfrom churn import features\n", path="notebooks/nb.py", files=_bundle),
        # the project is pip-installed
        Valid("# Databricks notebook source\n# MAGIC %pip install -e ..\n\n# COMMAND ----------\n\nfrom churn import features\n", path="notebooks/nb.py", files=_bundle),
        Valid("# Databricks notebook source\n# MAGIC %pip install churn==1.0\n\n# COMMAND ----------\n\nfrom churn import features\n", path="notebooks/nb.py", files=_bundle),
        # no bundle: a notebook in a Git folder has the repo root on sys.path
        Valid("# Databricks notebook source\nfrom common import utils\n", path="jobs/nb.py", files={".git/HEAD": "", "common/__init__.py": "", "common/utils.py": ""}),
        # bundle root = Git root, and no bundle task runs this notebook: opened from a Git folder,
        # whose root is on sys.path, so a top-level package of the checkout imports fine
        Valid(
            "# Databricks notebook source\nfrom shared.metrics import f1_at\n\nprint(f1_at(0.5))\n",
            path="exploration/drift.py",
            files={
                ".git/HEAD": "ref: refs/heads/main\n", "databricks.yml": "bundle:\n  name: drift\n",
                "shared/__init__.py": "", "shared/metrics.py": "def f1_at(t):\n    return t\n",
            },
        ),
        # a module beside the notebook is importable (the notebook's folder is on sys.path)
        Valid("# Databricks notebook source\nfrom predict import predict_batch\n", path="deployment/nb.py", files={"databricks.yml": "", "deployment/predict.py": ""}),
        # not a project module, a stdlib name, a relative import
        Valid("# Databricks notebook source\nimport mlflow\nimport logging\nfrom sklearn import svm\n", path="notebooks/nb.py", files={**_bundle, "src/logging.py": ""}),
        Valid("# Databricks notebook source\nfrom . import features\n", path="src/churn/nb.py", files=_bundle),
        # a fallback import and a type-checking-only import
        Valid(
            "# Databricks notebook source\ntry:\n    from churn import features\nexcept ImportError:\n    features = None\n"
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from churn import features\n",
            path="notebooks/nb.py", files=_bundle,
        ),
        # the bundle builds the project into a wheel that the job installs
        Valid(
            "# Databricks notebook source\nfrom churn import features\n", path="notebooks/nb.py",
            files={
                **_bundle, "pyproject.toml": "[project]\nname = 'churn'\n",
                "resources/job.yml": "resources:\n  jobs:\n    j:\n      environments:\n        - environment_key: default\n"
                "          spec:\n            dependencies:\n              - ../dist/*.whl\n",
            },
        ),
        # a folder without python files is not a module; plain modules are not notebooks
        Valid("# Databricks notebook source\nimport data\n", path="notebooks/nb.py", files={"databricks.yml": "", "data/x.csv": ""}),
        Valid("from churn import features\n", path="notebooks/job.py", files=_bundle),
        # a plain `.py` file that a task runs as a spark_python_task is a script, not a notebook
        Valid("from churn import features\n", path="jobs/score.py", files=_tasks),
    )

    def check(self, ctx):
        roots, found = project_imports(ctx.module, ctx.path)
        if not found:
            return
        if not self.config["check-notebook-folder"]:
            found = [(site, loc) for site, loc in found if not loc.beside(roots)]
        if roots.repo_root is not None and (roots.bundle_root is None or not ctx.project.bundle_model.notebook_tasks(ctx.path)):
            # no bundle, or no bundle task runs this notebook from the bundle's deployed files:
            # the notebook runs from a Git folder, whose root is on sys.path
            found = [(site, loc) for site, loc in found if not (loc.root == roots.repo_root and not loc.in_src)]
        found = [
            (site, loc)
            for site, loc in found
            if not site.guarded and not site.type_checking and not installs_own_package(loc.root)
        ]
        if not found or installs_project(ctx.source, found):
            return
        setup_at = _first_path_setup(ctx)
        flagged = [(site, loc) for site, loc in found if setup_at is None or ctx.offsets(site.statement)[0] < setup_at]
        if not flagged:
            return
        fix_edit = _fix(ctx, roots, flagged)
        for i, (site, loc) in enumerate(flagged):
            where = os.path.relpath(loc.file, loc.root).replace(os.sep, "/")
            root_name = {"bundle": "bundle root", "repo": "repo root"}.get(loc.kind, "notebook's folder")
            yield self.finding(
                ctx.path,
                ctx.span(site.name_node),
                f"`{loc.module}` is a project module ({where} under the {root_name}) but no sys.path setup runs "
                "before this import: ModuleNotFoundError on serverless and in bundle jobs",
                edits=(fix_edit,) if fix_edit is not None and i == 0 else (),
                fix_message="Insert the bundle path setup (sys.path.insert) before the import",
            )


def _first_path_setup(ctx) -> int | None:
    """Offset of the first statement that changes the import path (or a %run), or None."""
    offsets: list[int] = []
    for call in ctx.index.calls:
        dotted = call.dotted or ""
        qual = call.qualname or ""
        if (
            dotted.endswith(PATH_CALL_SUFFIXES)
            or qual in PATH_CALLS
            or dotted in PATH_CALLS
            or dotted.endswith(".addPyFile")
        ):
            offsets.append(ctx.offsets(call.node)[0])
    for node in ctx.index.nodes(cst.Assign):
        if any(_is_sys_path(t.target) for t in node.targets):
            offsets.append(ctx.offsets(node)[0])
    for node in ctx.index.nodes(cst.AugAssign):
        if _is_sys_path(node.target):
            offsets.append(ctx.offsets(node)[0])
    offsets.extend(m.start for m in ctx.source.magics if m.name == "run")
    return min(offsets) if offsets else None


def _is_sys_path(target: cst.BaseExpression) -> bool:
    """``sys.path`` (``sys.path = [...]``, ``sys.path += [...]``) or ``sys.path[:0]``."""
    if isinstance(target, cst.Subscript):
        target = target.value
    return isinstance(target, cst.Attribute) and target.attr.value == "path" and isinstance(target.value, cst.Name) and target.value.value == "sys"


def _fix(ctx, roots: ProjectRoots, flagged: list[tuple[ImportSite, ModuleLocation]]) -> Edit | None:
    root = roots.bundle_root or roots.repo_root or roots.folder
    depth = depth_below(roots.folder, root)
    if depth is None:
        return None
    subpaths: list[str] = []
    for _, loc in flagged:
        rel = os.path.relpath(loc.base, root)
        if rel.startswith(os.pardir):
            return None  # outside the root the fix can compute (not deployed with the bundle)
        rel = "" if rel == os.curdir else rel.replace(os.sep, "/")
        if rel not in subpaths:
            subpaths.append(rel)
    top = flagged[0][0].top
    start = ctx.offsets(top)[0]
    lines = ctx.source.lines
    start = lines.offset(lines.position(start).row, 0)
    needs_sys = not _imports_sys_before(ctx, top)
    return Edit(start, start, path_setup_block(depth, subpaths, import_sys=needs_sys))


def path_setup_block(depth: int, subpaths: list[str], *, import_sys: bool = True) -> str:
    """The seed's bundle path setup: the root ``depth`` folders above the notebook, plus ``subpaths``."""
    lines = ["import sys", ""] if import_sys else []
    lines += [
        "try:",
        f"    _notebook_path = {_SETUP}",
        f'    _bundle_root = "/Workspace" + "/".join(_notebook_path.removeprefix("/Workspace").split("/")[:-{depth + 1}])',
    ]
    for sub in subpaths:
        target = "_bundle_root" if not sub else f'_bundle_root + "/{sub}"'
        lines += [f"    if {target} not in sys.path:", f"        sys.path.insert(0, {target})"]
    lines += ["except Exception as _path_error:", '    print(f"Bundle path setup failed: {_path_error}")', ""]
    return "\n".join(lines) + "\n"


def _imports_sys_before(ctx, top: cst.CSTNode) -> bool:
    for stmt in ctx.module.body:
        if stmt is top:
            return False
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if isinstance(small, cst.Import) and any(dotted_is(a.name, "sys") and a.asname is None for a in small.names):
                    return True
    return False


def dotted_is(node: cst.BaseExpression, name: str) -> bool:
    return isinstance(node, cst.Name) and node.value == name
