from __future__ import annotations

import os

from mlrules.analysis.local_imports import installs_project, project_imports
from mlrules.rules.base import Invalid, PythonRule, Valid, ipynb


class HelperModuleImport(PythonRule):
    """
    ## What it does
    Strict variant of NB003 (opt-in): flags every import, in a notebook, of a module that is a
    file or package of the project itself (in the notebook's folder, under the bundle root, the
    repo root, or a `src/` folder in them), even when a `sys.path` setup makes it importable.

    ## Why it matters
    The seed asks to inline helper functions in the notebooks that a bundle runs: every
    project-module import depends on how the files were deployed and on the path setup, and
    is the first thing to break on serverless (`ModuleNotFoundError`). Teams that follow that
    rule enable this check to keep notebooks self-contained.

    Not flagged: standard-library and third-party modules, relative imports, imports under
    `if TYPE_CHECKING`, plain `.py` modules (only notebooks are checked: Databricks source
    files, `.ipynb` files, and `.py` files that a bundle task runs as
    `notebook_task.notebook_path`), and notebooks that `%pip install` the project themselves
    (a package of the imported name, a VCS URL, a wheel, a local path or `-e ...`): the import
    then names the installed package, not a helper file next to the notebook.

    ## Example
    ```python
    # notebooks/train.py in a bundle with src/churn/features.py
    import sys
    sys.path.insert(0, _bundle_root + "/src")
    from churn.features import build_features
    ```

    ## Use instead
    ```python
    def build_features(df):
        ...  # the helper, inlined in the notebook
    ```

    ## Fix safety
    No fix: inlining code is a decision for the author.
    """

    code = "NB004"
    name = "helper-module-import"
    summary = "Notebook imports a project helper module (strict: inline helpers instead)"
    default_enabled = False
    notebooks_only = True
    triggers = ("import",)

    _bundle = {"databricks.yml": "bundle:\n  name: churn\n", "src/churn/__init__.py": "", "src/churn/features.py": ""}
    invalid = (
        Invalid(
            "# Databricks notebook source\nimport sys\nsys.path.insert(0, '../src')\nfrom churn.features import build\n",
            4, 6, path="notebooks/train.py", files=_bundle, message_contains="src/churn/features.py",
        ),
        Invalid("# Databricks notebook source\nimport mlflow, helpers\n", 2, 16, path="nbs/nb.py", files={"nbs/helpers.py": ""}),
        Invalid(
            ipynb(("markdown", "# Score"), "try:\n    import churn\nexcept ImportError:\n    churn = None"),
            2, 12, cell=2, path="notebooks/score.ipynb", files=_bundle,
        ),
    )
    valid = (
        Valid("# Databricks notebook source\nimport mlflow\nfrom sklearn import svm\nimport json\n", path="notebooks/nb.py", files=_bundle),
        Valid("# Databricks notebook source\nfrom . import features\n", path="src/churn/nb.py", files=_bundle),
        Valid(
            "# Databricks notebook source\nfrom typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from churn import features\n",
            path="notebooks/nb.py", files=_bundle,
        ),
        Valid("from churn import features\n", path="notebooks/job.py", files=_bundle),
        # the notebook installs the project's own package (here from its Git remote) and
        # imports that installed copy: it is self-contained
        Valid(
            "# Databricks notebook source\n# MAGIC %pip install git+https://example.org/team/scorekit.git@v2\n\n"
            "# COMMAND ----------\n\nimport scorekit\nfrom scorekit.report import summary\n",
            path="checks/smoke.py",
            files={"pyproject.toml": "[project]\nname = 'scorekit'\n", "scorekit/__init__.py": "", "scorekit/report.py": ""},
        ),
    )

    def check(self, ctx):
        _, found = project_imports(ctx.module, ctx.path)
        if not found or installs_project(ctx.source, found):
            return
        for site, loc in found:
            if site.type_checking:
                continue
            where = os.path.relpath(loc.file, loc.root).replace(os.sep, "/")
            yield self.finding(
                ctx.path,
                ctx.span(site.name_node),
                f"Notebook imports the project module `{loc.module}` ({where}); inline the helper so the notebook runs on its own",
            )
