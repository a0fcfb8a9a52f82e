"""Files mlrules cannot read or parse: one MLR001 (or a skip that -v explains), and the run goes on.
A rule that raises: a clear error naming the file and the rule, exit 2, other files still reported."""

from __future__ import annotations

import json

import pytest
from conftest import EXP001_MODULE

from mlrules.engine.config import Settings
from mlrules.engine.runner import Linter
from mlrules.rules import all_rules
from mlrules.rules.base import PythonRule, YamlRule, ipynb

SEL = ("--select", "EXP001,MLR")

BROKEN = [
    # (file, content, expected message fragment, row, column) - positions 1-based as printed
    ("syntax.py", "import mlflow\ndef f(:\n    pass\n", "syntax error", 2, 7),
    ("broken.ipynb", '{"cells": [', "invalid notebook JSON", 1, 12),
    ("nbformat3.ipynb", json.dumps({"nbformat": 3, "worksheets": [], "metadata": {}}), "nbformat 3", 1, 1),
    ("no_cells.ipynb", json.dumps({"nbformat": 4, "metadata": {}}), "no 'cells'", 1, 1),
    ("databricks.yml", "bundle:\n  name: [churn\n", "invalid YAML", 3, 1),
    ("resources/job.yml", "resources:\n  jobs:\n    a: b: c\n", "invalid YAML", 3, 9),
    ("binary.py", b"\x00\x01\x02\x03", "binary", 1, 1),
    ("latin1.py", 'x = "caf\xe9"\n'.encode("latin-1"), "not valid UTF-8", 1, 1),
    ("magic_syntax.py", "# Databricks notebook source\n%pip install x==1\nif True\n", "syntax error", 3, 8),
]


@pytest.mark.parametrize("name, content, message, row, column", BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_file_is_mlr001_and_the_run_goes_on(project, cli, name, content, message, row, column):
    project.write(name, content)
    project.write("zz_good.py", EXP001_MODULE)
    run = cli("check", *SEL, "--output-format", "json", ".")
    assert run.exit_code == 1, run.stderr
    findings = run.json()
    assert [(f["filename"], f["code"]) for f in findings] == [(name, "MLR001"), ("zz_good.py", "EXP001")]
    broken = findings[0]
    assert message in broken["message"]
    assert (broken["location"]["row"], broken["location"]["column"]) == (row, column)
    assert broken["fix"] is None
    assert run.stderr == ""


def test_all_broken_files_at_once(project, cli):
    for name, content, *_ in BROKEN:
        project.write(name, content)
    run = cli("check", *SEL, "--output-format", "json", ".")
    assert sorted(f["filename"] for f in run.json()) == sorted(b[0] for b in BROKEN)


@pytest.mark.parametrize(
    "name, content",
    [
        ("empty.py", ""),
        ("empty.ipynb", ipynb()),
        ("blank_lines.py", "\n\n\n"),
        ("crlf.py", "import os\r\n\r\nx = os.sep\r\n"),
        ("cr_only.py", "x = 1\ry = 2\r"),
        ("bom.py", b"\xef\xbb\xbfx = 1\n"),
        ("databricks.yml", ""),
        ("empty_cells.ipynb", ipynb("", ("markdown", ""), "")),
        ("r_notebook.ipynb", ipynb("library(x) # noqa: EXP001").replace('"name": "python"', '"name": "R"')),
        ("md_only.py", "# Databricks notebook source\n# MAGIC %md\n# MAGIC # Title\n"),
        # Python 3.12 syntax (PEP 701: the same quotes inside an f-string) is valid whatever
        # Python runs mlrules (DBR 16 runs 3.12)
        ("pep701.py", 'row = {"id": 7}\nlabel = f"{row["id"]}"\n'),
    ],
)
def test_valid_edge_files_are_clean(project, cli, name, content):
    project.write(name, content)
    run = cli("check", *SEL, ".")
    assert run.exit_code == 0, run.stdout + run.stderr
    assert run.stdout == "All checks passed!\n"


def test_crlf_positions_are_the_same_as_lf(project, cli):
    project.write("lf.py", EXP001_MODULE)
    project.write("crlf.py", EXP001_MODULE.replace("\n", "\r\n"))
    findings = cli("check", *SEL, "--output-format", "json", ".").json()
    assert [(f["filename"], f["location"], f["end_location"]) for f in findings] == [
        ("crlf.py", {"row": 2, "column": 23}, {"row": 2, "column": 35}),
        ("lf.py", {"row": 2, "column": 23}, {"row": 2, "column": 35}),
    ]


@pytest.mark.parametrize(
    "name, content, reason",
    [
        ("databricks.yml", "bundle:\n  name: {{ .project_name }}\n  x: [\n", "Go template"),
        ("resources/job.yml.tmpl", "resources:\n  jobs: [\n", "Go template"),
        ("resources/if.yml", "resources:\n{{- if .x }}\n  jobs: [\n{{- end }}\n", "Go template"),
        (".github/workflows/ci.yml", "on: [push\n", "not ours"),
        ("docker-compose.yaml", "services:\n  web: [\n", "not ours"),
        ("k8s.yml", "apiVersion: v1\nkind: Pod\nmetadata: {name: x  # noqa: EXP999\n", "not ours"),
        ("blob.yml", b"\x00\x01resources:\n", "not a text file"),
    ],
)
def test_yaml_that_is_not_ours_is_skipped_silently(project, cli, name, content, reason):
    project.write(name, content)
    run = cli("check", *SEL, ".")
    assert (run.exit_code, run.stdout, run.stderr) == (0, "All checks passed!\n", "")
    verbose = cli("check", *SEL, "-v", ".")
    assert f"{name}: skipped" in verbose.stderr and reason in verbose.stderr


def test_databricks_references_are_not_templates(project, cli):
    project.write("databricks.yml", "bundle:\n  name: x\n  run: '{{job.run_id}}'\n  bad: [\n")
    run = cli("check", *SEL, "--output-format", "json", ".")
    assert run.codes() == ["MLR001"]


def test_mlr001_can_be_deselected(project, cli):
    project.write("a.py", "def f(:\n")
    assert cli("check", "--select", "EXP001", ".").exit_code == 0


# --- a rule that raises ------------------------------------------------------------------------------------
class Explodes(PythonRule):
    """Raises on files named ``bad*.py``; flags ``boom`` elsewhere."""

    code = "TST010"
    name = "explodes"
    summary = "test"

    def check(self, ctx):
        if ctx.path.rsplit("/", 1)[-1].startswith("bad"):
            raise KeyError("no such thing")
        if "boom" in ctx.source.text:
            yield self.finding(ctx.path, ctx.line_span(1), "boom")


class ExplodesInYaml(YamlRule):
    code = "TST011"
    name = "explodes-in-yaml"
    summary = "test"

    def check(self, ctx):
        raise ValueError("yaml trouble")


@pytest.fixture
def with_test_rules(monkeypatch):
    import mlrules.engine.config as config

    rules = (*all_rules(), Explodes, ExplodesInYaml)
    monkeypatch.setattr(config, "all_rules", lambda: rules)


def test_rule_exception_names_file_and_rule_and_the_run_goes_on(project, cli, with_test_rules):
    project.write("a.py", "boom = 1\n")
    project.write("bad.py", "boom = 2\n" + EXP001_MODULE)
    project.write("z.py", "boom = 3\n")
    project.write("databricks.yml", "bundle:\n  name: x\n")
    run = cli("check", "--select", "TST,EXP001", "--output-format", "concise", ".")
    assert run.exit_code == 2
    errors = run.stderr.splitlines()
    assert len(errors) == 2
    assert errors[0].startswith("error: bad.py: internal error in rule TST010: KeyError: 'no such thing'")
    assert errors[1].startswith("error: databricks.yml: internal error in rule TST011: ValueError: yaml trouble")
    assert "test_broken_inputs.py" in errors[0]  # where it was raised
    reported = [line.split(" ", 2)[:2] for line in run.stdout.splitlines() if ": TST" in line or ": EXP" in line]
    # other files are reported, and other rules still ran on the file where one rule failed
    assert reported == [["a.py:1:1:", "TST010"], ["bad.py:3:23:", "EXP001"], ["z.py:1:1:", "TST010"]]


def test_rule_exception_with_exit_zero_is_still_exit_2(project, cli, with_test_rules):
    project.write("bad.py", "x = 1\n")
    assert cli("check", "--select", "TST010", "--exit-zero", ".").exit_code == 2


def test_rule_exception_in_the_linter_api(project):
    project.write("bad.py", "x = 1\n")
    linter = Linter(Settings(root=project.root), rules=[Explodes])
    result = linter.lint(linter.load(["."]))
    [error] = result.errors
    assert error.path == "bad.py" and "TST010" in error.message


def test_invalid_escapes_in_user_code_print_no_warnings(project, cli, recwarn):
    """``"\\d"`` in the user's code: Python 3.12+ warns when it parses it (3.11: a deprecation);
    that is the user's business (their own tools say so), never mlrules' output."""
    import warnings

    warnings.simplefilter("always")
    # the same statement twice: its position comes from CPython's parse of the file
    twice = 'mlflow.set_experiment("/Users/a/b")\n'
    project.write("escapes.py", 'import re\n' + EXP001_MODULE + twice + 'PATTERN = re.compile("\\d+")\n')
    run = cli("check", *SEL, "--output-format", "json", ".")
    assert [(f["code"], f["location"]["row"]) for f in run.json()] == [("EXP001", 3), ("EXP001", 4)]
    assert [str(w.message) for w in recwarn if "escape" in str(w.message)] == []
