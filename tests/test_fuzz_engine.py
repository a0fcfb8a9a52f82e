"""Fuzzing the engine (load -> lint -> output) with every rule selected.

Properties, for any input: no internal error and no exception escapes; every finding has a valid
position inside its file (row within the file's, or the ``.ipynb`` cell's, line count, column within
the line); every output format renders and the JSON/SARIF output parses.

The default run is small and derandomized; ``MLRULES_FUZZ_EXAMPLES=N`` explores N random examples
per test (e.g. ``MLRULES_FUZZ_EXAMPLES=2000 pytest tests/test_fuzz_engine.py``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from contextlib import contextmanager

from hypothesis import example, given
from hypothesis import strategies as st
from strategies import (
    any_project,
    bundle_project,
    databricks_file,
    example_project,
    fuzz_settings,
    ipynb_file,
    project_dir,
    python_file,
    random_bytes_file,
)

from mlrules.engine.config import Settings
from mlrules.engine.runner import Linter, LintResult, LoadedFiles
from mlrules.model import Finding
from mlrules.output import FORMATS, Report, render
from mlrules.sources.python import PythonSource
from mlrules.sources.text import BOM, LineIndex


@contextmanager
def chdir(path: str):
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def lint_tree(root: str) -> tuple[Linter, LoadedFiles, LintResult]:
    """The engine in-process, as ``mlrules check --select ALL .`` run in ``root`` does it."""
    with chdir(root):
        linter = Linter(Settings(root=root, select=["ALL"]))
        loaded = linter.load(["."])
        result = linter.lint(loaded)
    return linter, loaded, result


def _raw_lines(root: str, path: str) -> list[str]:
    with open(os.path.join(root, path), "rb") as fh:
        text = fh.read().decode("utf-8", "replace").removeprefix(BOM)
    index = LineIndex(text, yaml_breaks=path.endswith((".yml", ".yaml")))  # YAML rows end where YAML says
    return [index.line(row) for row in range(1, index.line_count + 1)]


def _in_lines(lines: list[str], row: int, column: int) -> bool:
    if not 1 <= row <= len(lines):
        return False
    return 0 <= column <= len(lines[row - 1].rstrip("\r"))


def position_problems(root: str, loaded: LoadedFiles, findings: list[Finding]) -> list[str]:
    """Findings whose start or end is not inside their file (or their notebook cell)."""
    bad = []
    for f in findings:
        source = loaded.sources.get(f.path)
        span = f.span
        if isinstance(source, PythonSource) and source.kind == "ipynb":
            if f.cell is None or f.cell_span is None:
                bad.append(f"{f.code} at {f.span} in {f.path}: no cell")
                continue
            cell = source.cells[f.cell - 1]
            lines = source.text[cell.start : cell.end].split("\n")
            span = f.cell_span
        elif source is not None:
            lines = [source.lines.line(row) for row in range(1, source.lines.line_count + 1)]
        else:  # a parse problem: positions are in the raw file (JSON text, YAML text...)
            lines = _raw_lines(root, f.path)
        s, e = span.start, span.end
        if not (_in_lines(lines, s.row, s.column) and _in_lines(lines, e.row, e.column) and (s.row, s.column) <= (e.row, e.column)):
            bad.append(f"{f.code} at {s.row}:{s.column}-{e.row}:{e.column} in {f.path} ({len(lines)} lines): {f.message}")
    return bad


def check_engine(files: dict[str, bytes]) -> None:
    with project_dir(files) as root:
        _, loaded, result = lint_tree(root)
        assert result.errors == [], result.errors  # no internal error (and nothing unreadable)
        assert position_problems(root, loaded, result.findings) == []
        report = Report(result.findings, dict(loaded.sources), 0, True, True)
        for fmt in FORMATS:
            text = render(fmt, report)
            if fmt in ("json", "sarif"):
                json.loads(text)
        assert len(json.loads(render("json", report))) == len(result.findings)


# --- the properties over each kind of input -----------------------------------------------------------------
@fuzz_settings(40)
@given(random_bytes_file())
def test_random_bytes(files):
    check_engine(files)


@fuzz_settings(40)
@given(python_file())
@example({"train.py": b"with mlflow.start_run() as run:\r\r\n    from"})  # CPython counts a lone CR as a line end
@example({"m.py": b"\xef\xbb\xbf\xef\xbb\xbfimport mlflow\r\nfe.log_model(model=m, flavor=mlflow.sklearn)\r\n"})  # a second BOM: libcst drops it
def test_python_modules(files):
    check_engine(files)


@fuzz_settings(40)
@given(databricks_file())
@example({"nb.py": b"# Databricks notebook source\nimport mlflow\nwith mlflow.start_run():\n\r"})
def test_databricks_notebooks(files):
    check_engine(files)


@fuzz_settings(40)
@given(ipynb_file())
@example({"nb.ipynb": b"{\r"})  # an error position after a lone CR at the end
def test_ipynb_notebooks(files):
    check_engine(files)


@fuzz_settings(30)
@given(bundle_project())
@example({"databricks.yml": b"resources:\n  jobs:\r  experiments:\n    exp:\n      name: x\n"})  # YAML ends lines at a lone CR
@example({"databricks.yml": b"resources:\r\r\n  jobs:\r\r\n    j:\r\r\n      tasks:\r\r\n        - task_key: t\r\r\n            notebook_path: x\r\r\n"})
@example({"databricks.yml": b"bundle:\n  name: x\nresources:\n  jobs:\n    j: &a\n      <<: [*a, *a]\n      tasks: &t [*t, *t]\n"})  # merge/alias bombs
def test_bundles(files):
    check_engine(files)


@fuzz_settings(50)
@given(example_project())
def test_rule_examples_mutated(files):
    check_engine(files)


# --- the command line, in a real process (a few runs) --------------------------------------------------------------
@fuzz_settings(3)
@given(st.lists(any_project(), min_size=6, max_size=6))
def test_cli_json_output_always_parses(projects):
    """Trees of damaged files of every kind through the real CLI: the JSON parses, no internal error."""
    files = {f"p{index}/{path}": data for index, project in enumerate(projects) for path, data in project.items()}
    with project_dir(files) as root:
        run = subprocess.run(
            [sys.executable, "-m", "mlrules", "check", "--select", "ALL", "--no-cache", "--output-format", "json", "."],
            cwd=root, capture_output=True, timeout=120,
        )
    assert run.returncode in (0, 1), run.stderr.decode()
    assert b"internal error" not in run.stderr and b"Traceback" not in run.stderr
    findings = json.loads(run.stdout)
    assert all(f["location"]["row"] >= 1 and f["location"]["column"] >= 1 for f in findings)
