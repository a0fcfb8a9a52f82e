"""Configuration files, their discovery, validation (exit 2 naming the culprit) and CLI overrides."""

from __future__ import annotations

import pytest
from conftest import EXP001_MODULE

from mlrules.engine.config import Settings
from mlrules.rules import all_rules


UNDER_TEST = {"EXP001", "MLR001", "MLR002", "MLR003"}


def codes(cli, *args) -> list[str]:
    """Codes reported, among the rules these tests use (rules added later must not change them)."""
    run = cli("check", "--output-format", "json", *args)
    assert run.exit_code in (0, 1), run.stderr
    return sorted(c for c in run.codes() if c in UNDER_TEST)


def usage_error(cli, *args) -> str:
    run = cli("check", *args)
    assert run.exit_code == 2, (run.stdout, run.stderr)
    assert run.stdout == ""
    return run.stderr


@pytest.fixture
def two_findings(project):
    """EXP001 and MLR003, each in its own file."""
    project.write("a.py", EXP001_MODULE)
    project.write("b.py", "x = 1  # noqa: EXP999\n")
    return project


# --- where the configuration comes from ----------------------------------------------------------
def test_no_configuration_means_default_rules(two_findings, cli):
    assert codes(cli, ".") == ["EXP001", "MLR003"]


@pytest.mark.parametrize(
    "name, text",
    [
        ("pyproject.toml", '[project]\nname = "x"\n\n[tool.mlrules]\nselect = ["MLR"]\n'),
        ("mlrules.toml", 'select = ["MLR"]\n'),
        (".mlrules.toml", 'select = ["MLR"]\n'),
    ],
)
def test_each_configuration_file_is_read(two_findings, cli, name, text):
    two_findings.write(name, text)
    assert codes(cli, ".") == ["MLR003"]


def test_configuration_is_found_upward(two_findings, cli, monkeypatch):
    two_findings.write("mlrules.toml", 'ignore = ["EXP001"]\n')
    two_findings.write("sub/deeper/c.py", EXP001_MODULE)
    monkeypatch.chdir(two_findings.root + "/sub/deeper")
    assert codes(cli, ".", "../../a.py") == []


def test_pyproject_without_mlrules_table_is_passed_over(two_findings, cli, monkeypatch):
    two_findings.write("mlrules.toml", 'ignore = ["EXP001"]\n')
    two_findings.write("sub/pyproject.toml", '[project]\nname = "sub"\n')
    two_findings.write("sub/c.py", EXP001_MODULE)
    monkeypatch.chdir(two_findings.root + "/sub")
    assert codes(cli, ".") == []


def test_nearest_configuration_wins(two_findings, cli, monkeypatch):
    two_findings.write("mlrules.toml", 'ignore = ["EXP001"]\n')
    two_findings.write("sub/pyproject.toml", '[tool.mlrules]\nignore = ["MLR"]\n')
    two_findings.write("sub/c.py", EXP001_MODULE)
    monkeypatch.chdir(two_findings.root + "/sub")
    assert codes(cli, ".") == ["EXP001"]


def test_explicit_config_option(two_findings, cli):
    two_findings.write("mlrules.toml", 'ignore = ["EXP001"]\n')
    two_findings.write("other.toml", 'ignore = ["MLR003"]\n')
    assert codes(cli, "--config", "other.toml", ".") == ["EXP001"]
    assert "nope.toml" in usage_error(cli, "--config", "nope.toml", ".")


def test_explicit_pyproject_config(two_findings, cli):
    two_findings.write("conf/pyproject.toml", '[tool.mlrules]\nignore = ["MLR003"]\n')
    assert codes(cli, "--config", "conf/pyproject.toml", ".") == ["EXP001"]


# --- validation: exit 2, naming what is wrong ------------------------------------------------------
@pytest.mark.parametrize(
    "text, named",
    [
        ('selct = ["EXP"]\n', "selct"),
        ('select = ["EXP999"]\n', "EXP999"),
        ('select = ["XYZ"]\n', "XYZ"),
        ('extend-select = ["NOPE1"]\n', "NOPE1"),
        ('ignore = ["EXP9"]\n', "EXP9"),
        ('[per-file-ignores]\n"*.py" = ["EXP1234"]\n', "EXP1234"),
        ('[options.EXP999]\nx = 1\n', "EXP999"),
        ('[options.EXP001]\nexperiment_root = "/Shared"\n', "experiment_root"),
        ('[options.EXP001]\nexperiment-root = 3\n', "experiment-root"),
        ('select = "EXP001\n', "mlrules.toml"),  # invalid TOML
        ("select = [1]\n", "select"),
    ],
)
def test_invalid_configuration_is_exit_2_naming_it(two_findings, cli, text, named):
    two_findings.write("mlrules.toml", text)
    message = usage_error(cli, ".")
    assert message.startswith("error: ") and named in message


def test_invalid_pyproject_key_names_file_and_key(two_findings, cli):
    two_findings.write("pyproject.toml", "[tool.mlrules]\nline-length = 88\n")
    message = usage_error(cli, ".")
    assert "line-length" in message and "pyproject.toml" in message


@pytest.mark.parametrize("option", ["--select", "--extend-select", "--ignore"])
def test_unknown_code_on_the_command_line_is_exit_2(two_findings, cli, option):
    message = usage_error(cli, option, "EXP001,BOGUS42", ".")
    assert "BOGUS42" in message and option in message


def test_unknown_command_line_option_is_exit_2(two_findings, cli):
    run = cli("check", "--frobnicate", ".")
    assert run.exit_code == 2 and "--frobnicate" in run.stderr


def test_unknown_output_format_is_exit_2(two_findings, cli):
    run = cli("check", "--output-format", "xml", ".")
    assert run.exit_code == 2 and "xml" in run.stderr


# --- command line overrides the file ------------------------------------------------------------------
def test_select_on_the_command_line_replaces_the_file(two_findings, cli):
    two_findings.write("mlrules.toml", 'select = ["MLR"]\n')
    assert codes(cli, "--select", "EXP001", ".") == ["EXP001"]


def test_extend_select_adds_to_the_file(two_findings, cli):
    two_findings.write("mlrules.toml", 'select = ["MLR"]\n')
    assert codes(cli, "--extend-select", "EXP", ".") == ["EXP001", "MLR003"]


def test_ignore_adds_to_the_file(two_findings, cli):
    two_findings.write("mlrules.toml", 'select = ["EXP001", "MLR003"]\n')
    assert codes(cli, "--ignore", "MLR", ".") == ["EXP001"]


def test_select_all_and_prefixes():
    every = {r.code for r in all_rules()}
    assert {r.code for r in Settings(select=["ALL"]).enabled_rules()} == every
    assert {r.code for r in Settings(select=["mlr"]).enabled_rules()} == {"MLR001", "MLR002", "MLR003"}
    assert {r.code for r in Settings(select=["ALL"], ignore=["MLR00"]).enabled_rules()} == every - {"MLR001", "MLR002", "MLR003"}
    default = {r.code for r in all_rules() if r.default_enabled}
    assert {r.code for r in Settings().enabled_rules()} == default
    opt_in = sorted(every - default)
    if opt_in:
        assert {r.code for r in Settings(extend_select=[opt_in[0]]).enabled_rules()} == default | {opt_in[0]}


# --- per-file-ignores ---------------------------------------------------------------------------------------
def test_per_file_ignores_glob_folder_and_name(project, cli):
    for rel in ("notebooks/a.py", "notebooks/deep/b.py", "src/c.py", "scratch_d.py", "e.py"):
        project.write(rel, EXP001_MODULE)
    project.write(
        "mlrules.toml",
        '[per-file-ignores]\n"notebooks/*.py" = ["EXP001"]\n"src/" = ["EXP"]\n"scratch_*.py" = ["ALL"]\n',
    )
    run = cli("check", "--output-format", "json", ".")
    assert sorted(f["filename"] for f in run.json()) == ["e.py"]


def test_per_file_ignores_are_relative_to_the_configuration(project, cli, monkeypatch):
    project.write("mlrules.toml", '[per-file-ignores]\n"sub/*.py" = ["EXP001"]\n')
    project.write("sub/a.py", EXP001_MODULE)
    monkeypatch.chdir(project.root + "/sub")
    assert codes(cli, ".") == []


# --- rule options reach the rule ---------------------------------------------------------------------------------------
def test_rule_option_from_the_configuration_reaches_the_rule(project, cli):
    project.write("a.py", 'import mlflow\nmlflow.set_experiment("/Users/me/churn")\n')

    def fix_content():
        run = cli("check", "--select", "EXP001", "--output-format", "json", ".")
        [finding] = run.json()
        return finding["fix"]["edits"][0]["content"]

    assert fix_content() == '"/Shared/churn"'
    project.write("pyproject.toml", '[tool.mlrules.options.EXP001]\nexperiment-root = "/Shared/ml"\n')
    assert fix_content() == '"/Shared/ml/churn"'
    project.write("pyproject.toml", '[tool.mlrules.options.EXP001]\nexperiment-root = "/Users/me"\n')
    assert cli("check", "--select", "EXP001", ".").exit_code == 0
