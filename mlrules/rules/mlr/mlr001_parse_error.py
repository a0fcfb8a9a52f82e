from mlrules.rules.base import EngineRule, Invalid, Valid


class ParseError(EngineRule):
    """
    ## What it does
    Reports a file that mlrules owns but cannot parse: a Python syntax error (after notebook
    magics are masked), an `.ipynb` that is not valid nbformat 4 JSON, invalid bundle YAML,
    or a file that is not UTF-8 text.

    ## Why it matters
    Every other rule is blind to a file it cannot parse, and Databricks fails the same file at
    run time. One finding at the error position; the run goes on with every other file.

    Go-templated YAML (`{{ .var }}`, `{{- if ...}}`, `*.tmpl`) is a template, not a bundle:
    it is skipped silently (`-v` says so). Databricks' own `{{job.run_id}}`-style references are
    not templates. YAML that is not a bundle file (CI workflows, Compose) is never reported.

    ## Example
    ```python
    def train(:
    ```

    ## Use instead
    Fix the syntax error.

    ## Fix safety
    No fix.
    """

    code = "MLR001"
    name = "parse-error"
    summary = "A notebook, module or bundle file that cannot be parsed"
    invalid = (
        Invalid("x = (1,\n", 1, 5, path="module.py"),
        Invalid("import mlflow\nmlflow.set_experiment(\n", 2, 22, path="module.py"),
        Invalid("bundle:\n  name: [a\n", 3, 1, path="databricks.yml"),
        Invalid('{"cells": [', 1, 12, path="nb.ipynb"),
    )
    valid = (
        Valid("# Databricks notebook source\n%pip install mlflow==2.1.0\n"),
        Valid("bundle:\n  name: x\n  url: '{{job.run_id}}'\n", path="databricks.yml"),
        Valid("bundle:\n  name: {{ .project_name }}\n  x: [\n", path="databricks.yml"),
        Valid("on: [push\n", path=".github/workflows/ci.yml"),
    )
