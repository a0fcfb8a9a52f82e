"""``mlrules fix``: atomic writes that keep every other byte (newlines, BOM, notebook JSON), ``--diff``,
the fix loop's convergence, and fixes that would break the file (dropped and reported)."""

from __future__ import annotations

import os
import re
import stat

import pytest
from conftest import EXP001_MODULE

from mlrules.engine import fixer
from mlrules.engine.config import Settings
from mlrules.engine.fixer import fix_files
from mlrules.engine.runner import Linter
from mlrules.model import Applicability, Edit
from mlrules.rules import all_rules
from mlrules.rules.base import PythonRule, ipynb

SEL = ("--select", "EXP001,MLR")
UNUSED = "x = 1  # noqa: EXP001\n"  # MLR002 with a safe fix: the comment goes


# --- writing ---------------------------------------------------------------------------------------------
def test_fix_keeps_lf_crlf_and_bom(project, cli):
    lf = EXP001_MODULE + UNUSED + "y = 2\n"
    project.write("lf.py", lf)
    project.write("crlf.py", lf.replace("\n", "\r\n"))
    project.write("bom.py", b"\xef\xbb\xbf" + lf.replace("\n", "\r\n").encode())
    project.write("no_final_newline.py", lf.rstrip("\n"))
    run = cli("fix", *SEL, "--unsafe-fixes", ".")
    assert run.exit_code == 0, run.stdout + run.stderr
    fixed = lf.replace("/Users/a/b", "/Shared/b").replace("  # noqa: EXP001", "")
    assert project.read("lf.py") == fixed.encode()
    assert project.read("crlf.py") == fixed.replace("\n", "\r\n").encode()
    assert project.read("bom.py") == b"\xef\xbb\xbf" + fixed.replace("\n", "\r\n").encode()
    assert project.read("no_final_newline.py") == fixed.rstrip("\n").encode()


def test_fix_keeps_mixed_newlines_outside_the_edit(project, cli):
    text = b"a = 1\r\nb = 2\nx = 1  # noqa: EXP001\r\nc = 3\n"
    project.write("a.py", text)
    assert cli("fix", *SEL, ".").exit_code == 0
    assert project.read("a.py") == b"a = 1\r\nb = 2\nx = 1\r\nc = 3\n"


def test_fix_notebook_changes_only_the_cell_source(project, cli):
    notebook = ipynb(("markdown", "# T"), "import mlflow\nmlflow.set_experiment('/Users/a/x')\n", "y = 1  # noqa: EXP001")
    notebook = notebook.replace('"metadata": {}', '"metadata": {"tags": ["keep"]}', 1)
    project.write("nb.ipynb", notebook)
    assert cli("fix", *SEL, "--unsafe-fixes", ".").exit_code == 0
    expected = notebook.replace("mlflow.set_experiment('/Users/a/x')", 'mlflow.set_experiment(\\"/Shared/x\\")').replace("y = 1  # noqa: EXP001", "y = 1")
    assert project.read("nb.ipynb").decode() == expected


def test_unfixed_files_are_not_touched(project, cli):
    project.write("clean.py", "x = 1\n")
    project.write("unsafe_only.py", EXP001_MODULE)
    project.write("fixed.py", UNUSED)
    for rel in ("clean.py", "unsafe_only.py", "fixed.py"):
        os.utime(rel, ns=(1, 1))
    assert cli("fix", *SEL, ".").exit_code == 1
    assert os.stat("clean.py").st_mtime_ns == 1 and os.stat("unsafe_only.py").st_mtime_ns == 1
    assert os.stat("fixed.py").st_mtime_ns != 1


def test_write_is_atomic_through_a_temp_file_and_rename(project, cli, monkeypatch):
    project.write("a.py", UNUSED)
    os.chmod("a.py", 0o640)
    renames = []
    real_replace = os.replace
    monkeypatch.setattr(fixer.os, "replace", lambda src, dst: (renames.append((src, dst)), real_replace(src, dst)))
    assert cli("fix", *SEL, ".").exit_code == 0
    [(src, dst)] = renames
    assert os.path.dirname(src) == os.path.dirname(dst) == project.root
    assert os.path.basename(src).startswith(".mlrules-") and dst == os.path.join(project.root, "a.py")
    assert project.read("a.py") == b"x = 1\n"
    assert stat.S_IMODE(os.stat("a.py").st_mode) == 0o640
    assert sorted(os.listdir(".")) == [".git", "a.py"]


def test_failed_write_leaves_the_file_and_no_temp_file(project, cli, monkeypatch):
    project.write("a.py", UNUSED)

    def boom(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fixer.os, "replace", boom)
    run = cli("fix", *SEL, ".")
    assert run.exit_code == 2
    assert "a.py" in run.stderr and "No space left on device" in run.stderr
    assert project.read("a.py") == UNUSED.encode()
    assert sorted(os.listdir(".")) == [".git", "a.py"]


def test_file_changed_during_the_run_is_not_written(project):
    project.write("a.py", UNUSED)
    problem = fixer.write_atomic("a.py", b"x = 1\n", b"something else\n")
    assert problem and "changed on disk" in problem
    assert project.read("a.py") == UNUSED.encode()


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symlinks here")
def test_symlinked_file_stays_a_symlink(project, cli):
    project.write("real/a.py", UNUSED)
    os.symlink(os.path.join("real", "a.py"), "link.py")
    assert cli("fix", *SEL, "link.py").exit_code == 0
    assert os.path.islink("link.py")
    assert project.read("real/a.py") == b"x = 1\n"


# --- --diff -------------------------------------------------------------------------------------------------
def test_diff_prints_a_unified_diff_and_writes_nothing(project, cli):
    project.write("a.py", "a = 0\n" + UNUSED)
    project.write("b.py", "b = 0\n")
    before = project.snapshot()
    run = cli("fix", *SEL, "--diff", ".")
    assert run.exit_code == 1
    assert run.stdout == "--- a/a.py\n+++ b/a.py\n@@ -1,2 +1,2 @@\n a = 0\n-x = 1  # noqa: EXP001\n+x = 1\n"
    assert "Would fix 1 finding." in run.stderr
    assert project.snapshot() == before
    assert cli("check", *SEL, "--diff", ".").stdout == run.stdout  # check --diff is the same


def test_diff_empty_is_exit_0(project, cli):
    project.write("a.py", EXP001_MODULE)  # only an unsafe fix: nothing to do without --unsafe-fixes
    run = cli("fix", *SEL, "--diff", ".")
    assert (run.exit_code, run.stdout) == (0, "")
    run = cli("fix", *SEL, "--diff", "--unsafe-fixes", ".")
    assert run.exit_code == 1 and '+mlflow.set_experiment("/Shared/b")' in run.stdout


def test_diff_of_a_crlf_file(project, cli):
    project.write("a.py", UNUSED.replace("\n", "\r\n"))
    run = cli("fix", *SEL, "--diff", ".")
    assert b"-x = 1  # noqa: EXP001\r\n+x = 1\r\n" in run.stdout_bytes
    assert project.read("a.py") == UNUSED.replace("\n", "\r\n").encode()


# --- the fix loop, with test-only rules --------------------------------------------------------------------------
class Increment(PythonRule):
    """Flags ``x = N`` with N < 3; the fix adds one (so three rounds are needed)."""

    code = "TST001"
    name = "increment"
    summary = "test"
    fix = Applicability.SAFE

    def check(self, ctx):
        for m in re.finditer(r"^x = (\d+)$", ctx.source.text, re.M):
            if int(m.group(1)) < 3:
                yield self.finding(ctx.path, ctx.offset_span(m.start(1), m.end(1)), "small", edits=(Edit(m.start(1), m.end(1), str(int(m.group(1)) + 1)),), fix_message="add one")


class Flip(PythonRule):
    """Never satisfied: ``a`` becomes ``b`` and ``b`` becomes ``a``."""

    code = "TST002"
    name = "flip"
    summary = "test"
    fix = Applicability.SAFE

    def check(self, ctx):
        for m in re.finditer(r"^flip = ([ab])$", ctx.source.text, re.M):
            yield self.finding(ctx.path, ctx.offset_span(m.start(1), m.end(1)), "flip", edits=(Edit(m.start(1), m.end(1), "b" if m.group(1) == "a" else "a"),))


class Breaks(PythonRule):
    """Its fix leaves a syntax error: ``y = 1`` -> ``y = (``."""

    code = "TST003"
    name = "breaks"
    summary = "test"
    fix = Applicability.SAFE

    def check(self, ctx):
        for m in re.finditer(r"^y = 1$", ctx.source.text, re.M):
            yield self.finding(ctx.path, ctx.offset_span(m.start(), m.end()), "breaks", edits=(Edit(m.start() + 4, m.end(), "("),), fix_message="break it")


def _fix(project, rules, text, path="a.py"):
    project.write(path, text)
    linter = Linter(Settings(root=project.root), rules=rules)
    outcome = fix_files(linter, linter.load([path]), unsafe=False)
    return outcome, outcome.new_bytes.get(path, b"").decode()


def test_fix_loop_converges_over_several_rounds(project):
    outcome, text = _fix(project, [Increment], "x = 0\nz = 9\nx = 2\n")
    assert text == "x = 3\nz = 9\nx = 3\n"
    assert outcome.fixed == {"a.py": 4} and outcome.messages == [] and outcome.result.findings == []


def test_fix_loop_stops_when_it_does_not_converge(project):
    outcome, text = _fix(project, [Flip], "flip = a\n")
    last = "ab"[fixer.MAX_ROUNDS % 2]  # the file as of the last round
    assert text == ("" if last == "a" else "flip = b\n")  # "": unchanged, nothing to write
    assert any("did not converge" in m and "a.py" in m for m in outcome.messages)
    assert outcome.fixed["a.py"] == fixer.MAX_ROUNDS


def test_fix_that_would_not_parse_is_dropped_and_reported(project):
    outcome, text = _fix(project, [Breaks, Increment], "y = 1\nx = 2\n")
    assert text == "y = 1\nx = 3\n"  # the good fix is applied, the bad one dropped
    assert any("dropped the fix 'break it'" in m and "a.py" in m for m in outcome.messages), outcome.messages
    assert [f.code for f in outcome.result.findings] == ["TST003"]  # still reported


def test_fix_that_would_not_parse_in_a_notebook(project):
    outcome, text = _fix(project, [Breaks], ipynb("y = 1"), path="nb.ipynb")
    assert text == "" and any("dropped" in m for m in outcome.messages)


@pytest.fixture
def with_test_rules(monkeypatch):
    """The test rules become selectable on the command line."""
    import mlrules.engine.config as config

    rules = (*all_rules(), Increment, Breaks)
    monkeypatch.setattr(config, "all_rules", lambda: rules)


def test_dropped_fix_through_the_cli(project, cli, with_test_rules):
    project.write("a.py", "y = 1\nx = 2\n")
    run = cli("fix", "--select", "TST", ".")
    assert run.exit_code == 1
    assert "warning: a.py: dropped the fix 'break it'" in run.stderr
    assert project.read("a.py") == b"y = 1\nx = 3\n"
    assert "a.py:1:1: TST003 breaks" in run.stdout


def test_second_fix_run_changes_nothing(project, cli, with_test_rules):
    project.write("a.py", "x = 0\n" + UNUSED)
    assert cli("fix", "--select", "TST001,MLR", ".").exit_code == 0
    after = project.snapshot()
    run = cli("fix", "--select", "TST001,MLR", ".")
    assert run.exit_code == 0 and run.stdout == "All checks passed!\n"
    assert project.snapshot() == after
