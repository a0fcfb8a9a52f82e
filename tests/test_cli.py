"""The command line surface of CLI.md: exit codes, --exit-zero, --statistics, -q/-v, summaries,
``mlrules rules``, ``mlrules explain``, ``--version``."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from conftest import EXP001_MODULE, REPO_ROOT

import mlrules
from mlrules import cli as cli_module
from mlrules.rules import all_rules

SEL = ("--select", "EXP001,MLR")  # the rules these tests rely on


# --- exit codes ------------------------------------------------------------------------------------
def test_exit_0_when_clean(project, cli):
    project.write("a.py", "x = 1\n")
    run = cli("check", *SEL, ".")
    assert run.exit_code == 0
    assert run.stdout == "All checks passed!\n"


def test_exit_1_with_findings(project, cli):
    project.write("a.py", EXP001_MODULE)
    assert cli("check", *SEL, ".").exit_code == 1


def test_exit_zero_flag(project, cli):
    project.write("a.py", EXP001_MODULE)
    run = cli("check", *SEL, "--exit-zero", ".")
    assert run.exit_code == 0 and "EXP001" in run.stdout


def test_exit_2_on_usage_error_even_with_exit_zero(project, cli):
    project.write("mlrules.toml", "bogus = 1\n")
    assert cli("check", "--exit-zero", ".").exit_code == 2


def test_check_defaults_to_the_current_folder(project, cli):
    project.write("sub/a.py", EXP001_MODULE)
    run = cli("check", *SEL, "--output-format", "concise")
    assert run.exit_code == 1 and run.stdout.startswith("sub/a.py:2:23: EXP001 ")


def test_fix_exit_code_reflects_what_is_left(project, cli):
    project.write("a.py", "x = 1  # noqa: EXP001\n")  # MLR002, safe fix
    project.write("b.py", EXP001_MODULE)  # EXP001, unsafe fix
    run = cli("fix", *SEL, ".")
    assert run.exit_code == 1  # EXP001 is left: its fix is unsafe
    assert project.read("a.py") == b"x = 1\n"
    assert project.read("b.py") == EXP001_MODULE.encode()
    run = cli("fix", *SEL, "--unsafe-fixes", ".")
    assert run.exit_code == 0
    assert b"/Shared/b" in project.read("b.py")


def test_check_fix_is_fix(project, cli):
    project.write("a.py", "x = 1  # noqa: EXP001\n")
    assert cli("check", *SEL, "--fix", ".").exit_code == 0
    assert project.read("a.py") == b"x = 1\n"


# --- summaries (Ruff's wording) ------------------------------------------------------------------------
def test_summary_with_safe_and_unsafe_fixes(project, cli):
    project.write("a.py", EXP001_MODULE + "x = 1  # noqa: EXP001\n")
    out = cli("check", *SEL, ".").stdout
    assert out.endswith(
        "\nFound 2 findings.\n[*] 1 fixable with `mlrules fix`.\n(1 hidden fix can be enabled with `--unsafe-fixes`.)\n"
    )
    out = cli("check", *SEL, "--unsafe-fixes", ".").stdout
    assert out.endswith("\nFound 2 findings.\n[*] 2 fixable with `mlrules fix --unsafe-fixes`.\n")


def test_summary_with_only_unsafe_fixes(project, cli):
    project.write("a.py", EXP001_MODULE)
    out = cli("check", *SEL, "--output-format", "concise", ".").stdout
    assert out.endswith("\nFound 1 finding.\nNo fixes available (1 hidden fix can be enabled with `--unsafe-fixes`).\n")


def test_summary_after_fixing(project, cli):
    project.write("a.py", EXP001_MODULE + "x = 1  # noqa: EXP001\n")
    out = cli("fix", *SEL, ".").stdout
    assert "Found 2 findings (1 fixed, 1 remaining).\n" in out
    out = cli("fix", *SEL, "--unsafe-fixes", ".").stdout
    assert out == "Found 1 finding (1 fixed, 0 remaining).\n"


def test_no_summary_for_machine_formats(project, cli):
    project.write("a.py", EXP001_MODULE)
    for fmt in ("json", "sarif", "github"):
        assert "Found 1 finding" not in cli("check", *SEL, "--output-format", fmt, ".").stdout


# --- -q / -v ---------------------------------------------------------------------------------------------
def test_quiet_prints_findings_only(project, cli):
    project.write("a.py", EXP001_MODULE)
    run = cli("check", *SEL, "-q", "--output-format", "concise", ".")
    assert run.exit_code == 1
    assert run.stdout.splitlines() == [
        "a.py:2:23: EXP001 Experiment path '/Users/a/b' is under a user folder; use /Shared/ (e.g. '/Shared/b') [unsafe fix]"
    ]
    assert run.stderr == ""
    project.write("a.py", "x = 1\n")
    assert cli("check", *SEL, "-q", ".").stdout == ""


def test_quiet_still_prints_errors(project, cli):
    run = cli("check", "-q", "missing.py")
    assert run.exit_code == 2 and "missing.py" in run.stderr


def test_verbose_prints_configuration_skipped_files_and_counts(project, cli):
    project.write("mlrules.toml", 'select = ["EXP001", "MLR"]\n')
    project.write("a.py", "x = 1\n")
    project.write("ci.yml", "on: [push]\n")
    project.write("tmpl/databricks.yml", "bundle:\n  name: {{ .name }}\n")
    run = cli("check", "-v", ".")
    assert run.exit_code == 0
    assert "mlrules.toml" in run.stderr
    assert "ci.yml: skipped" in run.stderr and "tmpl/databricks.yml: skipped, Go template" in run.stderr
    assert re.search(r"checked 1 file in \d", run.stderr)
    quiet = cli("check", ".")
    assert quiet.stderr == ""


# --- --statistics ---------------------------------------------------------------------------------------------
def test_statistics_replaces_the_findings(project, cli):
    project.write("a.py", EXP001_MODULE + 'mlflow.set_experiment("x")\nx = 1  # noqa: EXP001\n')
    run = cli("check", *SEL, "--statistics", ".")
    assert run.exit_code == 1
    lines = run.stdout.splitlines()
    assert lines[:2] == ["2\tEXP001\t[ ] experiment-outside-shared", "1\tMLR002\t[*] unused-suppression"]
    assert "a.py:" not in run.stdout
    assert "Found 3 findings." in run.stdout
    unsafe = cli("check", *SEL, "--statistics", "--unsafe-fixes", ".").stdout.splitlines()
    assert unsafe[0] == "2\tEXP001\t[*] experiment-outside-shared"


def test_statistics_as_json(project, cli):
    project.write("a.py", EXP001_MODULE + "x = 1  # noqa: EXP001\n")
    run = cli("check", *SEL, "--statistics", "--output-format", "json", ".")
    assert json.loads(run.stdout) == [
        {"code": "EXP001", "name": "experiment-outside-shared", "count": 1, "fixable": False},
        {"code": "MLR002", "name": "unused-suppression", "count": 1, "fixable": True},
    ]


def test_statistics_when_clean(project, cli):
    project.write("a.py", "x = 1\n")
    assert cli("check", *SEL, "--statistics", ".").stdout == "All checks passed!\n"


# --- full format on a terminal ---------------------------------------------------------------------------------
def test_full_format_on_a_terminal_goes_through_rich(project, cli, monkeypatch):
    project.write("a.py", EXP001_MODULE)
    plain = cli("check", *SEL, ".").stdout
    calls = []
    real = cli_module._print_rich
    monkeypatch.setattr(cli_module, "_stdout_is_tty", lambda: True)
    monkeypatch.setattr(cli_module, "_print_rich", lambda text: (calls.append(text), real(text)))
    monkeypatch.setenv("NO_COLOR", "1")
    rich = cli("check", *SEL, ".").stdout
    assert len(calls) == 1
    assert rich == plain  # same text; colours only when the terminal takes them


def test_rich_styles_heads_codes_and_carets():
    import io

    from rich.console import Console

    out = io.StringIO()
    console = Console(file=out, force_terminal=True, color_system="standard", width=200, highlight=False, soft_wrap=True)
    text = "nb.ipynb:cell 2:3:23: EXP001 msg [unsafe fix]\n  |\n3 | x = '[bold]'\n  |     ^^^^^^^^\n"
    cli_module._print_rich(text, console)
    colored = out.getvalue()
    assert "\x1b[" in colored
    assert re.sub(r"\x1b\[[0-9;]*m", "", colored) == text  # same characters; markup in code printed as is
    assert "\x1b[1;31mEXP001" in colored  # the code in bold red


# --- rules / explain / version -----------------------------------------------------------------------------------
def test_rules_text(cli):
    run = cli("rules")
    assert run.exit_code == 0
    lines = run.stdout.splitlines()
    assert lines[0].split() == ["code", "name", "default", "fix", "summary"]
    assert [line.split()[0] for line in lines[1:]] == [r.code for r in all_rules()]
    exp = next(line for line in lines if line.startswith("EXP001 "))
    assert exp.split()[1:4] == ["experiment-outside-shared", "on", "unsafe"]


def test_rules_json(cli):
    run = cli("rules", "--output-format", "json")
    rows = json.loads(run.stdout)
    assert [r["code"] for r in rows] == sorted(r.code for r in all_rules())
    for row in rows:
        assert set(row) == {"code", "name", "default", "fix", "severity", "summary"}
        assert isinstance(row["default"], bool) and row["fix"] in ("safe", "unsafe", None)
        assert row["severity"] in ("error", "warning") and row["summary"]
    assert next(r for r in rows if r["code"] == "MLR002") == {
        "code": "MLR002",
        "name": "unused-suppression",
        "default": True,
        "fix": "safe",
        "severity": "warning",
        "summary": "A `# noqa: CODE` that suppressed nothing",
    }


def test_explain(cli):
    run = cli("explain", "exp001")
    assert run.exit_code == 0
    out = run.stdout
    assert out.startswith("# EXP001 experiment-outside-shared\n")
    assert "Default: on | Severity: error | Fix: unsafe" in out
    for section in ("## What it does", "## Why it matters", "## Example", "## Use instead", "## Fix safety", "## Options"):
        assert section in out
    assert "`experiment-root` (default '/Shared')" in out


def test_explain_unknown_code(cli):
    run = cli("explain", "NOPE001")
    assert run.exit_code == 2 and "NOPE001" in run.stderr


@pytest.mark.parametrize("rule", all_rules(), ids=lambda r: r.code)
def test_every_rule_is_documented(rule):
    docs = rule.docs()
    headings = re.findall(r"^## (.+?)\s*$", docs, re.M)
    required = ["What it does", "Why it matters", "Example", "Use instead", "Fix safety"]
    assert [h for h in headings if h in required] == required, f"{rule.code}: sections {headings}"
    for title in required:
        body = re.search(rf"^## {title}\s*\n(.*?)(?=^## |\Z)", docs, re.M | re.S).group(1)
        assert body.strip(), f"{rule.code}: empty '## {title}' section"
    assert rule.summary and "\n" not in rule.summary
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", rule.name), rule.name
    assert re.fullmatch(r"(MLR|EXP|REG|FE|DQ|NB|BND)\d{3}", rule.code), rule.code


def test_version_with_python_m():
    out = subprocess.run([sys.executable, "-m", "mlrules", "--version"], capture_output=True, text=True, cwd=REPO_ROOT, timeout=60)
    assert out.returncode == 0
    assert out.stdout.strip() == f"mlrules, version {mlrules.__version__}"


def test_help_lists_every_option_of_cli_md(cli):
    out = cli("check", "--help").stdout
    for option in (
        "--select", "--extend-select", "--ignore", "--config", "--output-format", "--exit-zero", "--statistics",
        "--no-cache", "--show-fixes", "--quiet", "--verbose", "--fix", "--unsafe-fixes", "--diff",
    ):
        assert option in out, option
    assert "--diff" in cli("fix", "--help").stdout
