from __future__ import annotations

import libcst as cst

from mlrules.analysis.index import dotted_name
from mlrules.rules.base import Invalid, PythonRule, Valid, ipynb

PARSER = "argparse.ArgumentParser"
PARSE_METHODS = ("parse_args", "parse_known_args", "parse_intermixed_args", "parse_known_intermixed_args")


class ArgparseInNotebook(PythonRule):
    """
    ## What it does
    Flags, in a notebook, `argparse` parsing of the process command line:
    `ArgumentParser(...).parse_args()` (also `parse_known_args()`, and `parse_args(sys.argv[1:])`).
    The finding is at the `parse_args` call, or at `ArgumentParser(...)` when the parser is
    parsed through something the file does not show (`get_parser().parse_args()`).

    ## Why it matters
    A notebook task receives its parameters as widgets, not as command-line arguments. In a
    notebook `sys.argv` holds the kernel's own arguments: `parse_args()` exits with
    `unrecognized arguments: -f ...` (or `the following arguments are required`), and
    `parse_known_args()` silently returns only the defaults, so the job runs with the wrong
    values.

    A notebook is a Databricks source file, an `.ipynb`, or any `.py` file that a bundle task
    of the project runs as `notebook_task.notebook_path` (also without the
    `# Databricks notebook source` header): such a task gets `base_parameters` as widgets.

    Not flagged: plain `.py` files that no task runs as a notebook (scripts run as
    `spark_python_task`/`python_wheel_task` get real arguments), a file that a bundle task
    of the project runs as a `spark_python_task.python_file` (even when it has the notebook
    header or another task runs it as a notebook: its author parses real arguments there), and
    parsing of an explicit list (`parse_args([])`, `parse_args(["--x", "1"])`).

    ## Example
    ```python
    parser = argparse.ArgumentParser()
    parser.add_argument("--catalog")
    args = parser.parse_args()
    ```

    ## Use instead
    ```python
    dbutils.widgets.text("catalog", "ml_dev")
    catalog = dbutils.widgets.get("catalog")
    ```

    ## Fix safety
    No fix: widgets replace the parser, and the names and defaults are the author's call.
    """

    code = "NB005"
    name = "argparse-in-notebook"
    summary = "argparse parse_args() in a notebook (notebook tasks pass widgets, not argv)"
    notebooks_only = True
    triggers = ("ArgumentParser",)

    invalid = (
        Invalid(
            "# Databricks notebook source\nimport argparse\n\nparser = argparse.ArgumentParser()\nparser.add_argument('--catalog')\nargs = parser.parse_args()\n",
            6, 8,
        ),
        Invalid("# Databricks notebook source\nfrom argparse import ArgumentParser\nargs, _ = ArgumentParser().parse_known_args()\n", 3, 11),
        Invalid(
            "# Databricks notebook source\nimport argparse, sys\n\ndef main():\n    p = argparse.ArgumentParser()\n    return p.parse_args(sys.argv[1:])\n\nif __name__ == '__main__':\n    main()\n",
            6, 12,
        ),
        # the parse call is out of sight: the parser construction is reported
        Invalid(
            "# Databricks notebook source\nimport argparse\n\ndef get_parser():\n    return argparse.ArgumentParser(description='x')\n\nargs = get_parser().parse_args()\n",
            5, 12,
        ),
        Invalid(ipynb(("markdown", "# Params"), "import argparse\nap = argparse.ArgumentParser()\nargs = ap.parse_args()"), 3, 8, cell=2, path="nb.ipynb"),
        # a plain `.py` file (no header) that a bundle task runs as a notebook task
        Invalid(
            "import argparse\n\nparser = argparse.ArgumentParser()\nargs = parser.parse_args()\n",
            4, 8, path="src/train.py",
            files={
                "databricks.yml": "bundle:\n  name: x\ninclude:\n  - resources/*.yml\n",
                "resources/train.yml": "resources:\n  jobs:\n    train:\n      tasks:\n        - task_key: t\n"
                "          notebook_task:\n            notebook_path: ${workspace.file_path}/src/train\n",
            },
        ),
    )
    valid = (
        # a script (plain module): spark_python_task passes real arguments
        Valid("import argparse\nargs = argparse.ArgumentParser().parse_args()\n", path="train.py"),
        Valid("# Databricks notebook source\nimport argparse\nargs = argparse.ArgumentParser().parse_args([])\n"),
        Valid("# Databricks notebook source\nimport argparse\nargs = argparse.ArgumentParser().parse_args(['--x', '1'])\n"),
        Valid("# Databricks notebook source\ncatalog = dbutils.widgets.get('catalog')\n"),
        # a parser built but never used to parse argv
        Valid("# Databricks notebook source\nimport argparse\np = argparse.ArgumentParser()\np.add_argument('--x')\np.print_help()\n"),
        # a plain `.py` file that a bundle task runs as a spark_python_task (a script), or as
        # both a script and a notebook
        Valid(
            "import argparse\nargs = argparse.ArgumentParser().parse_args()\n",
            path="src/task.py",
            files={
                "databricks.yml": "bundle:\n  name: x\nresources:\n  jobs:\n    j:\n      tasks:\n        - task_key: t\n"
                "          spark_python_task:\n            python_file: ./src/task.py\n        - task_key: n\n"
                "          notebook_task:\n            notebook_path: ./src/task.py\n"
            },
        ),
        # a Databricks-source file that the bundle runs as a spark_python_task
        Valid(
            "# Databricks notebook source\nimport argparse\nargs = argparse.ArgumentParser().parse_args()\n",
            path="src/task.py",
            files={
                "databricks.yml": "bundle:\n  name: x\nresources:\n  jobs:\n    j:\n      tasks:\n        - task_key: t\n"
                "          spark_python_task:\n            python_file: ./src/task.py\n"
            },
        ),
    )

    def check(self, ctx):
        if not ctx.is_notebook:
            return
        parsers = [c for c in ctx.index.calls if c.qualname == PARSER]
        if not parsers:
            return
        reported = False
        unresolved_parse = False
        script = None
        for call in ctx.index.calls:
            method = _method(call.node)
            if method not in PARSE_METHODS or not _parses_argv(call):
                continue
            if call.qualname == f"{PARSER}().{method}":
                if script is None:
                    script = _run_as_script(ctx)
                if script:
                    return
                reported = True
                yield self.finding(
                    ctx.path,
                    ctx.span(call.node),
                    f"`{method}()` in a notebook reads the kernel's command line, not the task's parameters: "
                    "use dbutils.widgets.get(...)",
                )
            elif call.qualname is None:
                unresolved_parse = True
        if not reported and unresolved_parse and not _run_as_script(ctx):
            yield self.finding(
                ctx.path,
                ctx.span(parsers[0].node),
                "argparse.ArgumentParser in a notebook: a notebook task passes widgets, not command-line "
                "arguments; use dbutils.widgets.get(...)",
            )


def _method(call: cst.Call) -> str | None:
    return call.func.attr.value if isinstance(call.func, cst.Attribute) else None


def _parses_argv(call) -> bool:
    """No arguments, ``args=None``, or ``sys.argv``/``sys.argv[1:]``: the process command line."""
    arg = call.argument(0, "args")
    if arg is None:
        return not call.has_star_args
    value = arg.value
    if isinstance(value, cst.Name) and value.value == "None":
        return True
    if isinstance(value, cst.Subscript):
        value = value.value
    return dotted_name(value) in ("sys.argv", "argv")


def _run_as_script(ctx) -> bool:
    """A bundle task of the project runs this file as a ``spark_python_task.python_file``."""
    return bool(ctx.project.bundle_model.script_tasks(ctx.path))
