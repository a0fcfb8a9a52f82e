"""``--stdin-filename``: an editor pipes its unsaved buffer in; mlrules lints it as that file,
in the project on disk around it, and (fixing) prints the fixed content and nothing else on
stdout. The file on disk is never read for its content nor written."""

from __future__ import annotations

import json
import os

import pytest
from conftest import EXP001_MODULE

from mlrules.rules.base import ipynb

FIXED = EXP001_MODULE.replace("/Users/a/b", "/Shared/b")

ROOT = "bundle:\n  name: demo\ninclude:\n  - resources/*.yml\n"
JOB = """resources:
  jobs:
    train:
      name: train
      tasks:
        - task_key: train
          notebook_task:
            notebook_path: ../notebooks/train.py
            base_parameters:
              catalog: main
"""
ON_DISK = "# Databricks notebook source\ncatalog = dbutils.widgets.get('catalog')\ndbutils.notebook.exit('ok')\n"
BUFFER = ON_DISK.replace("dbutils.notebook", "threshold = dbutils.widgets.get('threshold')\ndbutils.notebook")


def codes(run) -> list[tuple[str, str, int]]:
    return [(f["filename"], f["code"], f["location"]["row"]) for f in json.loads(run.stdout)]


def test_check_lints_the_buffer_as_the_named_file(project, cli):
    project.write("train.py", "x = 1\n")  # what is on disk does not matter
    run = cli("check", "--output-format", "json", "--stdin-filename", "train.py", input=EXP001_MODULE)
    assert run.exit_code == 1
    assert codes(run) == [("train.py", "EXP001", 2)]
    project.write("same.py", EXP001_MODULE)
    from_disk = cli("check", "--output-format", "json", "same.py")
    assert run.stdout == from_disk.stdout.replace("same.py", "train.py")


def test_the_buffer_is_linted_in_its_project(project, cli):
    """Cross-file facts come from disk: what the %run target defines, whether it exists."""
    project.write("notebooks/setup.py", "# Databricks notebook source\nshared = 1\n")
    project.write("notebooks/other.py", "# Databricks notebook source\nprint(undefined_elsewhere)\n")
    buffer = "# Databricks notebook source\n# MAGIC %run ./setup\n\n# COMMAND ----------\n\nprint(shared, missing_name)\n"
    run = cli("check", "--select", "NB009,NB010", "--output-format", "json", "--stdin-filename", "notebooks/train.py", input=buffer)
    assert codes(run) == [("notebooks/train.py", "NB009", 6)]  # other.py is not reported
    missing = cli(
        "check", "--select", "NB010", "--output-format", "json", "--stdin-filename", "notebooks/train.py",
        input=buffer.replace("./setup", "./setpu"),
    )
    assert codes(missing) == [("notebooks/train.py", "NB010", 2)]


def test_a_bundle_yaml_buffer_stands_for_the_file_in_its_bundle(project, cli):
    """The bundle root on disk includes resources/*.yml: the buffer replaces the job file."""
    project.write("databricks.yml", ROOT)
    project.write("resources/job.yml", JOB)
    project.write("notebooks/train.py", BUFFER)  # reads 'catalog' and 'threshold'
    on_disk = cli("check", "--select", "NB006", "--output-format", "json", ".")
    assert codes(on_disk) == [("resources/job.yml", "NB006", 7)]
    supplied = JOB + "              threshold: '0.5'\n"
    run = cli("check", "--select", "NB006", "--output-format", "json", "--stdin-filename", "resources/job.yml", input=supplied)
    assert codes(run) == []
    assert project.read("resources/job.yml").decode() == JOB


def test_a_file_that_is_not_on_disk_yet(project, cli):
    run = cli("check", "--output-format", "json", "--stdin-filename", "src/new.py", input=EXP001_MODULE)
    assert codes(run) == [("src/new.py", "EXP001", 2)]


def test_a_notebook_buffer(project, cli):
    run = cli("check", "--select", "EXP001", "--output-format", "json", "--stdin-filename", "nb.ipynb", input=ipynb(("markdown", "# t"), EXP001_MODULE))
    [finding] = json.loads(run.stdout)
    assert (finding["cell"], finding["location"]["row"]) == (2, 2)


def test_fix_prints_the_fixed_buffer_and_reports_on_stderr(project, cli):
    project.write("train.py", EXP001_MODULE)
    run = cli("fix", "--unsafe-fixes", "--stdin-filename", "train.py", input=EXP001_MODULE)
    assert run.exit_code == 0
    assert run.stdout_bytes == FIXED.encode()
    assert "Found 1 finding (1 fixed, 0 remaining)." in run.stderr
    assert project.read("train.py").decode() == EXP001_MODULE  # never written
    again = cli("fix", "--unsafe-fixes", "--stdin-filename", "train.py", input=run.stdout_bytes)
    assert again.stdout_bytes == FIXED.encode()


def test_fix_keeps_crlf_and_bom_of_the_buffer(project, cli):
    data = b"\xef\xbb\xbf" + EXP001_MODULE.replace("\n", "\r\n").encode()
    run = cli("fix", "--unsafe-fixes", "--stdin-filename", "train.py", input=data)
    assert run.stdout_bytes == b"\xef\xbb\xbf" + FIXED.replace("\n", "\r\n").encode()


@pytest.mark.parametrize("content", ["def broken(:\n", "x = 1\n"], ids=["unparseable", "nothing to fix"])
def test_fix_echoes_a_buffer_it_cannot_or_need_not_change(project, cli, content):
    run = cli("fix", "--stdin-filename", "train.py", input=content)
    assert run.stdout == content
    assert run.exit_code == (1 if "broken" in content else 0)


def test_fix_diff_prints_the_diff_only(project, cli):
    run = cli("fix", "--unsafe-fixes", "--diff", "--stdin-filename", "train.py", input=EXP001_MODULE)
    assert run.exit_code == 1
    assert run.stdout.startswith("--- a/train.py\n+++ b/train.py\n")
    assert '+mlflow.set_experiment("/Shared/b")' in run.stdout
    assert not os.path.exists("train.py")


def test_an_excluded_path_is_left_alone(project, cli):
    project.write("pyproject.toml", '[tool.mlrules]\nextend-exclude = ["scratch/"]\n')
    run = cli("check", "--stdin-filename", "scratch/t.py", input=EXP001_MODULE)
    assert (run.exit_code, run.stdout) == (0, "All checks passed!\n")
    fixed = cli("fix", "--unsafe-fixes", "--stdin-filename", "scratch/t.py", input=EXP001_MODULE)
    assert fixed.stdout == EXP001_MODULE  # an editor replacing its buffer gets it back unchanged


def test_a_syntax_error_in_the_buffer(project, cli):
    run = cli("check", "--output-format", "json", "--stdin-filename", "t.py", input="import mlflow\ndef f(:\n")
    assert codes(run) == [("t.py", "MLR001", 2)]


@pytest.mark.parametrize(
    "args, message",
    [
        (("check", "-"), "needs --stdin-filename"),
        (("check", "--stdin-filename", "t.py", "other.py"), "give no other paths"),
    ],
)
def test_usage_errors(project, cli, args, message):
    run = cli(*args, input="x = 1\n")
    assert run.exit_code == 2 and message in run.stderr


def test_no_cache_is_written_for_a_buffer(project, cli):
    cli("check", "--stdin-filename", "t.py", input=EXP001_MODULE)
    assert not os.path.exists(".mlrules_cache")
