from __future__ import annotations

import difflib
import os

from mlrules.project.notebook_facts import RUN_EXTENSIONS, NotebookFacts, resolve_run_target
from mlrules.rules.base import Invalid, PythonRule, Valid, ipynb

_SETUP = "# Databricks notebook source\ncatalog = dbutils.widgets.get(\"catalog\")\n"


class RunTargetMissing(PythonRule):
    """
    ## What it does
    Flags a `%run <path>` (a `# MAGIC %run` line, a bare `%run` line or an `.ipynb` magic)
    whose relative target does not exist next to the notebook. The target is resolved from
    the notebook's own folder on disk and tried as written and with `.py`, `.ipynb`, `.sql`,
    `.scala` and `.r` appended (workspace notebooks have no extension; their exported files
    do).

    Absolute workspace paths (`/Shared/...`, `/Workspace/...`, `/Repos/...`) and targets
    built from variables (`$path`, `{path}`) are not checked, nor IPython's `%run -m module`.
    The check looks at the files on disk, so it is right even when the run covers only some
    of the project's files.

    ## Why it matters
    `%run` of a missing notebook fails the whole notebook (and its job) with
    `Notebook not found` at the first cell, often after a rename or a move that the caller
    did not follow. Names the included notebook defines then never exist either.

    ## Example
    ```python
    # Databricks notebook source
    # MAGIC %run ./missing_setup
    ```

    ## Use instead
    ```python
    # Databricks notebook source
    # MAGIC %run ./setup
    ```

    ## Fix safety
    No fix: which notebook was meant is for a person to decide. The message suggests the
    closest existing name in the folder when there is one.
    """

    code = "NB010"
    name = "run-target-missing"
    summary = "`%run` target notebook does not exist"
    triggers = ("%run",)

    invalid = (
        Invalid(
            "# Databricks notebook source\n# MAGIC %run ./missing_setup\n\n# COMMAND ----------\n\nprint(catalog)\n",
            2, 14, path="notebooks/train.py",
            files={"notebooks/setup.py": _SETUP},
            message_contains="./missing_setup",
        ),
        Invalid(
            "# Databricks notebook source\n# MAGIC %run ../common/setup $catalog=main\n",
            2, 14, path="notebooks/train.py",
            files={"notebooks/common/setup.py": _SETUP},
        ),
        Invalid(
            "# Databricks notebook source\n%run \"./my setup\"\n",
            2, 6, path="notebooks/train.py",
        ),
        Invalid(
            ipynb(("markdown", "# Train"), "%run ./includes/setup\n", "print(catalog)\n"),
            1, 6, cell=2, path="notebooks/train.ipynb",
            files={"notebooks/include/setup.py": _SETUP},
            message_contains="did you mean",
        ),
    )
    valid = (
        Valid(
            "# Databricks notebook source\n# MAGIC %run ./setup\n",
            path="notebooks/train.py", files={"notebooks/setup.py": _SETUP},
        ),
        Valid(
            "# Databricks notebook source\n# MAGIC %run ../includes/setup $catalog=main\n",
            path="notebooks/train.py", files={"includes/setup.ipynb": ipynb("x = 1\n")},
        ),
        Valid(
            "# Databricks notebook source\n# MAGIC %run ./queries\n",
            path="notebooks/train.py", files={"notebooks/queries.sql": "-- Databricks notebook source\nSELECT 1\n"},
        ),
        Valid(
            "# Databricks notebook source\n# MAGIC %run /Workspace/Shared/setup\n\n# COMMAND ----------\n\n# MAGIC %run /Repos/team/proj/setup\n",
            path="notebooks/train.py",
        ),
        Valid("# Databricks notebook source\n# MAGIC %run $setup_path\n", path="notebooks/train.py"),
        Valid(
            "# Databricks notebook source\n# MAGIC %md\n# MAGIC %run ./not_a_command\n",
            path="notebooks/train.py",
        ),
        Valid(ipynb("%run ./setup.py\n"), path="nb/analysis.ipynb", files={"nb/setup.py": "x = 1\n"}),
        Valid(ipynb("%run -m mypkg.tool\n"), path="nb/analysis.ipynb"),
    )

    def check(self, ctx):
        facts = ctx.project.facts(ctx.path) or NotebookFacts(ctx.source)
        for target in facts.run_targets:
            if not target.is_relative:
                continue
            if resolve_run_target(ctx.path, target.target) is not None:
                continue
            hint = _closest(ctx.path, target.target)
            message = f"`%run {target.target}`: no notebook `{target.target}` (tried .py/.ipynb/.sql/.scala/.r) relative to this notebook's folder"
            if hint:
                message += f"; did you mean `{hint}`?"
            yield self.finding(ctx.path, ctx.offset_span(target.start, target.end), message)


def _closest(notebook_path: str, target: str) -> str | None:
    """The existing target closest to ``target`` (same spelling style), if one is close."""
    base = os.path.dirname(notebook_path) or "."
    folder, _, stem = target.rstrip("/").rpartition("/")
    candidates: dict[str, str] = {}
    # the same folder, and (when the folder itself is wrong) the siblings of the folder
    search = [(folder, os.path.normpath(os.path.join(base, folder or ".")))]
    parent, _, leaf = folder.rpartition("/")
    if folder and not os.path.isdir(search[0][1]) and leaf not in (".", ".."):
        parent_dir = os.path.normpath(os.path.join(base, parent or "."))
        if os.path.isdir(parent_dir):
            for entry in _listdir(parent_dir):
                if os.path.isdir(os.path.join(parent_dir, entry)):
                    prefix = f"{parent}/{entry}" if parent else entry
                    search.append((prefix, os.path.join(parent_dir, entry)))
    for prefix, directory in search:
        for entry in _listdir(directory):
            name = entry
            for ext in RUN_EXTENSIONS[1:]:
                if entry.endswith(ext):
                    name = entry[: -len(ext)]
                    break
            written = f"{prefix}/{name}" if prefix else name
            candidates.setdefault(written, written)
    if not candidates:
        return None
    wanted = f"{folder}/{stem}" if folder else stem
    best = difflib.get_close_matches(wanted, list(candidates), n=1, cutoff=0.75)
    return best[0] if best else None


def _listdir(path: str) -> list[str]:
    try:
        return sorted(e for e in os.listdir(path) if not e.startswith("."))
    except OSError:
        return []
