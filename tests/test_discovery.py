"""Which files a run looks at: default excludes, exclude/extend-exclude, .gitignore, explicit paths."""

from __future__ import annotations

import pytest
from conftest import EXP001_MODULE

from mlrules.engine.config import DEFAULT_EXCLUDES


def reported(cli, *args) -> list[str]:
    run = cli("check", "--select", "EXP001", "--output-format", "json", *args)
    assert run.exit_code in (0, 1), run.stderr
    return sorted({f["filename"] for f in run.json()})


def test_default_excludes(project, cli):
    for folder in (".venv", "venv", "node_modules", "build", "dist", "__pycache__", ".databricks", ".ipynb_checkpoints", "src/build"):
        project.write(f"{folder}/a.py", EXP001_MODULE)
    project.write("src/a.py", EXP001_MODULE)
    assert reported(cli, ".") == ["src/a.py"]
    assert {".git", ".venv", "venv", "node_modules", "build", "dist", "__pycache__", ".databricks"} <= set(DEFAULT_EXCLUDES)


def test_exclude_replaces_the_defaults(project, cli):
    project.write("build/a.py", EXP001_MODULE)
    project.write("gen/a.py", EXP001_MODULE)
    project.write("mlrules.toml", 'exclude = ["gen"]\n')
    assert reported(cli, ".") == ["build/a.py"]


def test_extend_exclude_keeps_the_defaults(project, cli):
    for rel in ("build/a.py", "gen/a.py", "src/old_a.py", "src/a.py", "src/deep/x/a.py"):
        project.write(rel, EXP001_MODULE)
    project.write("mlrules.toml", 'extend-exclude = ["gen", "src/old_*.py", "src/deep/"]\n')
    assert reported(cli, ".") == ["src/a.py"]


def test_gitignore_is_respected_at_every_level(project, cli):
    project.write(".gitignore", "ignored/\n*_scratch.py\n")
    project.write("sub/.gitignore", "local.py\n")
    for rel in ("ignored/a.py", "x_scratch.py", "sub/local.py", "sub/kept.py", "kept.py"):
        project.write(rel, EXP001_MODULE)
    assert reported(cli, ".") == ["kept.py", "sub/kept.py"]


def test_gitignore_negation(project, cli):
    project.write(".gitignore", "*.py\n!keep.py\n")
    project.write("drop.py", EXP001_MODULE)
    project.write("keep.py", EXP001_MODULE)
    assert reported(cli, ".") == ["keep.py"]


@pytest.mark.parametrize("rel", ["build/a.py", "gen/a.py", "ignored/a.py", "gen/deep/a.py"])
def test_explicit_file_in_an_excluded_folder_stays_excluded(project, cli, rel):
    # pre-commit passes every changed file by name: the configuration must still apply.
    project.write(".gitignore", "ignored/\n")
    project.write("mlrules.toml", 'extend-exclude = ["gen"]\n')
    project.write(rel, EXP001_MODULE)
    project.write("ok.py", EXP001_MODULE)
    assert reported(cli, rel, "ok.py") == ["ok.py"]


def test_explicit_files_and_folders_keep_their_spelling(project, cli):
    project.write("nb/a.py", EXP001_MODULE)
    project.write("b.py", EXP001_MODULE)
    assert reported(cli, "nb/", "./b.py") == ["./b.py", "nb/a.py"]


def test_a_file_given_twice_is_linted_once(project, cli):
    project.write("a.py", EXP001_MODULE)
    run = cli("check", "--select", "EXP001", "--output-format", "json", "a.py", ".", "a.py")
    assert [f["filename"] for f in run.json()] == ["a.py"]


def test_missing_path_is_an_error_but_the_others_are_linted(project, cli):
    project.write("a.py", EXP001_MODULE)
    run = cli("check", "--select", "EXP001", "--output-format", "json", "nope.py", "a.py")
    assert run.exit_code == 2
    assert "nope.py" in run.stderr
    assert [f["filename"] for f in run.json()] == ["a.py"]


def test_only_python_notebooks_and_yaml_are_read(project, cli):
    project.write("a.txt", EXP001_MODULE)
    project.write("a.sql", EXP001_MODULE)
    project.write("a.PY", EXP001_MODULE)
    assert reported(cli, ".") == ["a.PY"]
