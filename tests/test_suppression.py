"""``# noqa: CODE``, bare ``# noqa`` and ``# mlrules: noqa-file: CODE`` in .py, .ipynb and YAML,
and the engine rules that judge them: MLR002 (unused) and MLR003 (unknown)."""

from __future__ import annotations

import re

from conftest import EXP001_MODULE

from mlrules.engine.config import Settings, load_settings
from mlrules.engine.runner import Linter
from mlrules.rules.base import YamlRule, ipynb


def check_json(cli, *args):
    # Only the rules under test: rules added later must not change these results.
    if "--select" not in args:
        args = ("--select", "EXP001,MLR", *args)
    run = cli("check", "--output-format", "json", *args)
    assert run.exit_code in (0, 1), run.stderr
    return run.json()


def located(findings):
    return sorted((f["filename"], f["cell"], f["location"]["row"], f["code"]) for f in findings)


# --- .py -------------------------------------------------------------------------------------
def test_without_noqa_the_finding_is_reported(project, cli):
    project.write("a.py", EXP001_MODULE)
    assert located(check_json(cli, ".")) == [("a.py", None, 2, "EXP001")]


def test_noqa_code_suppresses_that_code_on_that_line(project, cli):
    project.write("a.py", EXP001_MODULE.replace(")\n", ")  # noqa: EXP001\n"))
    assert check_json(cli, ".") == []


def test_noqa_code_is_case_insensitive_and_may_be_followed_by_text(project, cli):
    project.write("a.py", EXP001_MODULE.replace(")\n", ")  # NOQA:exp001  shared by design\n"))
    assert check_json(cli, ".") == []


def test_noqa_for_another_code_does_not_suppress(project, cli):
    project.write("a.py", EXP001_MODULE.replace(")\n", ")  # noqa: MLR001\n"))
    assert located(check_json(cli, ".")) == [("a.py", None, 2, "EXP001"), ("a.py", None, 2, "MLR002")]


def test_noqa_on_another_line_does_not_suppress(project, cli):
    project.write("a.py", "import mlflow  # noqa: EXP001\n" + EXP001_MODULE.split("\n", 1)[1])
    assert located(check_json(cli, ".")) == [("a.py", None, 1, "MLR002"), ("a.py", None, 2, "EXP001")]


def test_bare_noqa_suppresses_everything_on_its_line_and_is_never_unused(project, cli):
    project.write("a.py", EXP001_MODULE.replace(")\n", ")  # noqa\n") + "x = 1  # noqa\n")
    assert check_json(cli, ".") == []


def test_noqa_with_another_tools_code_is_ignored(project, cli):
    # E501 is flake8/Ruff's: it neither suppresses EXP001 nor is reported as unused or unknown.
    project.write("a.py", EXP001_MODULE.replace(")\n", ")  # noqa: E501\n") + "x = 1  # noqa: E501, F401\n")
    assert located(check_json(cli, ".")) == [("a.py", None, 2, "EXP001")]


def test_mixed_codes_suppress_ours_and_leave_theirs_alone(project, cli):
    project.write("a.py", EXP001_MODULE.replace(")\n", ")  # noqa: E501, EXP001\n"))
    assert check_json(cli, ".") == []


def test_noqa_file_suppresses_the_code_in_the_whole_file(project, cli):
    body = EXP001_MODULE + 'mlflow.set_experiment("relative")\n'
    project.write("a.py", "# mlrules: noqa-file: EXP001\n" + body)
    project.write("b.py", body + "# mlrules: noqa-file: EXP001\n")  # anywhere in the file
    project.write("c.py", body)
    assert located(check_json(cli, ".")) == [("c.py", None, 2, "EXP001"), ("c.py", None, 3, "EXP001")]


def test_noqa_file_only_suppresses_its_codes(project, cli):
    project.write("a.py", "# mlrules: noqa-file: MLR003\n" + EXP001_MODULE + "x = 1  # noqa: EXP999\n")
    assert located(check_json(cli, ".")) == [("a.py", None, 3, "EXP001")]


# --- MLR002 / MLR003 ---------------------------------------------------------------------------
def test_mlr002_reports_each_unused_code_with_a_safe_fix(project, cli):
    project.write("a.py", "x = 1  # noqa: EXP001\n")
    [finding] = check_json(cli, ".")
    assert finding["code"] == "MLR002" and finding["severity"] == "warning"
    assert (finding["location"], finding["end_location"]) == ({"row": 1, "column": 16}, {"row": 1, "column": 22})
    assert "EXP001" in finding["message"]
    assert finding["fix"]["applicability"] == "safe"
    assert cli("fix", "--select", "EXP001,MLR", ".").exit_code == 0
    assert project.read("a.py") == b"x = 1\n"


def test_mlr002_fix_keeps_the_used_codes(project, cli):
    project.write("a.py", EXP001_MODULE.replace(")\n", ")  # noqa: EXP001, MLR001\n"))
    assert located(check_json(cli, ".")) == [("a.py", None, 2, "MLR002")]
    assert cli("fix", "--select", "EXP001,MLR", ".").exit_code == 0
    assert project.read("a.py") == EXP001_MODULE.replace(")\n", ")  # noqa: EXP001\n").encode()


def test_mlr002_only_for_selected_codes(project, cli):
    project.write("a.py", "x = 1  # noqa: EXP001\n")
    assert check_json(cli, "--ignore", "EXP001", ".") == []
    assert check_json(cli, "--select", "EXP001", ".") == []  # MLR002 itself not selected


def test_mlr002_not_reported_when_the_file_does_not_parse(project, cli):
    # No rule saw the file: its noqa comments cannot be judged unused.
    project.write("a.py", "x = 1  # noqa: EXP001\ndef f(:\n")
    assert [f["code"] for f in check_json(cli, ".")] == ["MLR001"]


def test_mlr003_reports_unknown_codes_of_our_families_only(project, cli):
    project.write("a.py", "x = 1  # noqa: EXP999, XYZ123, E501\n")
    [finding] = check_json(cli, ".")
    assert finding["code"] == "MLR003" and "EXP999" in finding["message"]
    assert finding["location"] == {"row": 1, "column": 16} and finding["fix"] is None


def test_mlr003_disabled_with_ignore(project, cli):
    project.write("a.py", "x = 1  # noqa: EXP999\n")
    assert check_json(cli, "--ignore", "MLR003", ".") == []


# --- .ipynb ------------------------------------------------------------------------------------
NB_FINDING = "mlflow.set_experiment('/Users/a/x')"


def test_ipynb_noqa_in_a_cell(project, cli):
    project.write("n.ipynb", ipynb(("markdown", "# title"), "import mlflow", NB_FINDING + "  # noqa: EXP001\n" + NB_FINDING))
    assert located(check_json(cli, ".")) == [("n.ipynb", 3, 2, "EXP001")]


def test_ipynb_bare_noqa_and_unused_and_unknown(project, cli):
    project.write("n.ipynb", ipynb("import mlflow", ("markdown", "text"), NB_FINDING + "  # noqa\nx = 1  # noqa: EXP001\ny = 2  # noqa: NB999"))
    assert located(check_json(cli, ".")) == [("n.ipynb", 3, 2, "MLR002"), ("n.ipynb", 3, 3, "MLR003")]


def test_ipynb_noqa_file_in_any_cell(project, cli):
    project.write("n.ipynb", ipynb("import mlflow\n" + NB_FINDING, "# mlrules: noqa-file: EXP001", NB_FINDING))
    assert check_json(cli, ".") == []


# --- YAML --------------------------------------------------------------------------------------
BUNDLE = "bundle:\n  name: churn\n"


def test_yaml_unknown_and_unused_codes(project, cli):
    project.write("databricks.yml", BUNDLE + "variables:  # noqa: EXP999\n  x:\n    default: 1  # noqa: EXP001\n")
    assert located(check_json(cli, ".")) == [("databricks.yml", None, 3, "MLR003"), ("databricks.yml", None, 5, "MLR002")]


def test_yaml_noqa_file(project, cli):
    project.write("databricks.yml", "# mlrules: noqa-file: MLR003, MLR002\n" + BUNDLE + "variables:  # noqa: EXP999\n  x:\n    default: 1  # noqa: EXP001\n")
    assert check_json(cli, ".") == []


class FlagBad(YamlRule):
    """A test-only rule: every ``BAD`` in a bundle file."""

    code = "TST001"
    name = "test-bad"
    summary = "test"

    def check(self, ctx):
        for m in re.finditer("BAD", ctx.source.text):
            yield self.finding(ctx.path, _span(ctx, m), "BAD here")


def _span(ctx, m):
    from mlrules.model import Span

    return Span(ctx.source.lines.position(m.start()), ctx.source.lines.position(m.end()))


def _lint_yaml(project, text):
    project.write("databricks.yml", text)
    linter = Linter(Settings(root=project.root), rules=[FlagBad])
    return [(f.code, f.span.start.row) for f in linter.lint(linter.load(["."])).findings]


def test_yaml_line_noqa_suppresses_a_yaml_rule(project):
    assert _lint_yaml(project, BUNDLE + "a: BAD\nb: BAD  # noqa: TST001\nc: BAD  # noqa\nd: BAD # noqa: E501\n") == [("TST001", 3), ("TST001", 6)]


def test_yaml_noqa_file_suppresses_a_yaml_rule(project):
    assert _lint_yaml(project, BUNDLE + "a: BAD\n# mlrules: noqa-file: TST001\nb: BAD\n") == []


def test_settings_per_file_ignores_and_noqa_file_work_together(project):
    project.write("mlrules.toml", '[per-file-ignores]\n"databricks.yml" = ["MLR003"]\n')
    project.write("databricks.yml", BUNDLE + "x: 1  # noqa: EXP999\n")
    linter = Linter(load_settings())
    assert linter.lint(linter.load(["."])).findings == []
