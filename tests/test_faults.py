"""Faults around a run: files that cannot be read or written, vanish, loop, block or are huge,
a full disk, Ctrl-C, deeply nested code. Each gives a clear message and the right exit code, and
every file is left either untouched or completely fixed (never partly written)."""

from __future__ import annotations

import errno
import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time

import pytest
from conftest import EXP001_MODULE

from mlrules.engine import fixer
from mlrules.sources import limits

SEL = ("--select", "EXP001,MLR")
UNUSED = "x = 1  # noqa: EXP001\n"  # MLR002, safe fix: the comment goes
FIXED = "x = 1\n"
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def no_temp_files(root) -> bool:
    return not [n for _, _, files in os.walk(root) for n in files if n.startswith(".mlrules-")]


def run_mlrules(*args: str, cwd, timeout: float = 60, **kwargs) -> subprocess.CompletedProcess:
    """The real CLI in its own process (for hangs, crashes and signals)."""
    return subprocess.run([sys.executable, "-m", "mlrules", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, **kwargs)


# --- files that cannot be written ----------------------------------------------------------------
def test_read_only_file_is_not_written(project, cli):
    project.write("a.py", UNUSED)
    project.write("b.py", UNUSED)
    os.chmod("a.py", 0o444)
    run = cli("fix", *SEL, ".")
    assert run.exit_code == 2
    assert "error: a.py: the file is read-only; not written" in run.stderr
    assert project.read("a.py") == UNUSED.encode() and stat.S_IMODE(os.stat("a.py").st_mode) == 0o444
    assert project.read("b.py") == FIXED.encode()  # the others are fixed
    assert no_temp_files(project.root)


@pytest.mark.skipif(IS_ROOT, reason="root may write into a read-only folder; see the simulated variant below")
def test_read_only_folder_real(project, cli):
    project.write("sub/a.py", UNUSED)
    os.chmod("sub", 0o555)
    try:
        run = cli("fix", *SEL, ".")
    finally:
        os.chmod("sub", 0o755)
    assert run.exit_code == 2 and "cannot create a temporary file" in run.stderr
    assert project.read("sub/a.py") == UNUSED.encode()


def test_read_only_folder_simulated(project, cli, monkeypatch):
    project.write("sub/a.py", UNUSED)

    def mkstemp(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(fixer.tempfile, "mkstemp", mkstemp)
    run = cli("fix", *SEL, ".")
    assert run.exit_code == 2
    assert "error: sub/a.py: could not write the fix: cannot create a temporary file in" in run.stderr
    assert "Permission denied" in run.stderr
    assert project.read("sub/a.py") == UNUSED.encode()


@pytest.mark.parametrize("failing", ["write", "fsync"])
def test_disk_full_while_writing(project, cli, monkeypatch, failing):
    """ENOSPC half-way through the temp file (or at fsync): temp removed, original intact, exit 2."""
    project.write("a.py", "a = 0\n" * 200 + UNUSED)
    before = project.read("a.py")
    real_write = os.write

    def write(fd, data):
        if failing == "write" and len(data) > 10:
            real_write(fd, bytes(data[:10]))  # part of it reaches the disk
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    def fsync(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fixer.os, "write", write)
    if failing == "fsync":
        monkeypatch.setattr(fixer.os, "fsync", fsync)
    run = cli("fix", *SEL, ".")
    assert run.exit_code == 2
    assert "error: a.py: could not write the fix: No space left on device" in run.stderr
    assert project.read("a.py") == before
    assert no_temp_files(project.root)


# --- files that change, vanish, loop, block or cannot be read --------------------------------------
def _after_fixing(monkeypatch, action):
    """Run ``action`` once the fixes are computed and before they are written."""
    real = fixer.fix_files

    def fix_files(*args, **kwargs):
        outcome = real(*args, **kwargs)
        action()
        return outcome

    monkeypatch.setattr(fixer, "fix_files", fix_files)


def test_file_deleted_between_load_and_write(project, cli, monkeypatch):
    project.write("a.py", UNUSED)
    project.write("b.py", UNUSED)
    _after_fixing(monkeypatch, lambda: os.remove("a.py"))
    run = cli("fix", *SEL, ".")
    assert run.exit_code == 2
    assert "error: a.py: deleted during the run; not written" in run.stderr
    assert not os.path.exists("a.py")  # not re-created
    assert project.read("b.py") == FIXED.encode()


def test_file_changed_between_load_and_write(project, cli, monkeypatch):
    project.write("a.py", UNUSED)
    _after_fixing(monkeypatch, lambda: project.write("a.py", "y = 2  # noqa: EXP001\n"))
    run = cli("fix", *SEL, ".")
    assert run.exit_code == 2
    assert "error: a.py: changed on disk during the run; not written" in run.stderr
    assert project.read("a.py") == b"y = 2  # noqa: EXP001\n"  # the other writer's content stays


def test_file_replaced_by_a_folder_between_load_and_write(project, cli, monkeypatch):
    project.write("a.py", UNUSED)

    def swap():
        os.remove("a.py")
        os.mkdir("a.py")

    _after_fixing(monkeypatch, swap)
    run = cli("fix", *SEL, ".")
    assert run.exit_code == 2 and "a.py: no longer a regular file; not written" in run.stderr
    assert os.path.isdir("a.py")


def test_file_deleted_between_discovery_and_read(project, cli, monkeypatch):
    import mlrules.engine.runner as runner

    project.write("a.py", UNUSED)
    project.write("b.py", EXP001_MODULE)
    real = runner.discover

    def discover(*args, **kwargs):
        found = real(*args, **kwargs)
        os.remove("a.py")
        return found

    monkeypatch.setattr(runner, "discover", discover)
    run = cli("check", *SEL, "--output-format", "concise", ".")
    assert run.exit_code == 2
    assert "error: a.py: cannot read: No such file or directory" in run.stderr
    assert "b.py:2:23: EXP001" in run.stdout  # the run goes on


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symlinks here")
def test_symlink_loop(project, cli):
    project.write("good.py", EXP001_MODULE)
    os.symlink("loop_b.py", "loop_a.py")
    os.symlink("loop_a.py", "loop_b.py")
    os.makedirs("pkg")
    os.symlink("..", os.path.join("pkg", "parent"))  # a folder loop: not followed
    run = cli("check", *SEL, "--output-format", "concise", ".")
    assert run.exit_code == 2
    assert "error: loop_a.py: cannot read: Too many levels of symbolic links (a symbolic link loop)" in run.stderr
    assert "error: loop_b.py: cannot read:" in run.stderr
    assert run.stdout.count("good.py:2:23: EXP001") == 1  # reported once, not again through pkg/parent
    fix = cli("fix", *SEL, ".")
    assert fix.exit_code == 2 and os.path.islink("loop_a.py")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_fifo_is_skipped_not_read(tmp_path):
    """A FIFO never sends EOF (opening one even blocks): skipped with a notice, never opened for a read."""
    (tmp_path / ".git").mkdir()
    (tmp_path / "good.py").write_text(EXP001_MODULE)
    for name in ("pipe.py", "pipe.ipynb", "requirements.txt", "databricks.yml", "notebook_task.py"):
        os.mkfifo(tmp_path / name)
    run = run_mlrules("check", *SEL, "-v", "--output-format", "concise", ".", cwd=tmp_path, timeout=60)
    assert run.returncode == 1, run.stderr
    assert "pipe.py: skipped, not a regular file (a FIFO)" in run.stderr
    assert "databricks.yml: skipped, not a regular file (a FIFO)" in run.stderr
    assert "good.py:2:23: EXP001" in run.stdout
    # named by a bundle task and given explicitly: still not read
    os.remove(tmp_path / "databricks.yml")
    (tmp_path / "databricks.yml").write_text(
        "bundle:\n  name: b\nresources:\n  jobs:\n    j:\n      tasks:\n        - task_key: t\n          notebook_task:\n            notebook_path: ./notebook_task.py\n"
    )
    run = run_mlrules("fix", "--select", "ALL", "pipe.py", "databricks.yml", cwd=tmp_path, timeout=60)
    assert run.returncode in (0, 1) and "Traceback" not in run.stderr, run.stderr


def test_read_regular_refuses_a_fifo_without_blocking(tmp_path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    os.mkfifo(tmp_path / "p")
    with pytest.raises(limits.NotRegularFile, match="a FIFO"):
        limits.read_regular(str(tmp_path / "p"))
    with pytest.raises(limits.NotRegularFile, match="a folder"):
        limits.read_regular(str(tmp_path))


@pytest.mark.skipif(IS_ROOT, reason="root reads files without read permission; see the simulated variant below")
def test_unreadable_file_real(project, cli):
    project.write("a.py", EXP001_MODULE)
    os.chmod("a.py", 0)
    try:
        run = cli("check", *SEL, ".")
    finally:
        os.chmod("a.py", 0o644)
    assert run.exit_code == 2 and "error: a.py: cannot read: Permission denied" in run.stderr


def test_unreadable_file_simulated(project, cli, monkeypatch):
    project.write("a.py", EXP001_MODULE)
    project.write("b.py", EXP001_MODULE)
    real = limits.read_regular

    def read_regular(path, limit=None):
        if os.path.basename(path) == "a.py":
            raise PermissionError(errno.EACCES, "Permission denied")
        return real(path, limit)

    monkeypatch.setattr(limits, "read_regular", read_regular)
    run = cli("check", *SEL, "--output-format", "concise", ".")
    assert run.exit_code == 2
    assert "error: a.py: cannot read: Permission denied" in run.stderr
    assert "b.py:2:23: EXP001" in run.stdout
    fix = cli("fix", *SEL, "--unsafe-fixes", ".")
    assert fix.exit_code == 2 and project.read("a.py") == EXP001_MODULE.encode()


# --- size limits ----------------------------------------------------------------------------------------
def test_file_over_max_file_size_is_skipped(project, cli):
    with open(os.path.join(project.root, "big.py"), "wb") as fh:
        fh.truncate(50 * 1024 * 1024)  # 50 MB (sparse: quick to make)
    project.write("good.py", EXP001_MODULE)
    started = time.perf_counter()
    run = cli("check", *SEL, "--output-format", "concise", ".")
    assert time.perf_counter() - started < 10
    assert run.exit_code == 1 and "big.py" not in run.stdout + run.stderr  # quiet without -v
    verbose = cli("check", *SEL, "-v", ".")
    assert "note: big.py: skipped, 52428800 bytes is over max-file-size (10485760)" in verbose.stderr


def test_max_file_size_is_configurable(project, cli):
    project.write("mlrules.toml", "max-file-size = 100\n")
    project.write("small.py", UNUSED)
    project.write("large.py", "# " + "x" * 200 + "\n" + UNUSED)
    run = cli("fix", *SEL, "-v", ".")
    assert run.exit_code == 0, run.stderr
    assert "note: large.py: skipped, 225 bytes is over max-file-size (100)" in run.stderr
    assert project.read("small.py") == FIXED.encode()
    assert project.read("large.py").endswith(UNUSED.encode())  # skipped: never written
    project.write("mlrules.toml", "max-file-size = -1\n")
    bad = cli("check", ".")
    assert bad.exit_code == 2 and "max-file-size" in bad.stderr


# --- interruption -------------------------------------------------------------------------------------
def test_ctrl_c_is_exit_130_with_a_message(project, cli, monkeypatch):
    import mlrules.engine.runner as runner

    project.write("a.py", UNUSED)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "discover", interrupted)
    for command in ("check", "fix"):
        run = cli(command, *SEL, ".")
        assert (run.exit_code, run.stderr) == (130, "error: interrupted\n")
    assert project.read("a.py") == UNUSED.encode()


def test_ctrl_c_inside_a_write_leaves_the_file_untouched(project, cli, monkeypatch):
    """KeyboardInterrupt raised from inside the temp-file write: temp removed, original intact."""
    project.write("a.py", UNUSED)

    def write(fd, data):
        raise KeyboardInterrupt

    monkeypatch.setattr(fixer.os, "write", write)
    run = cli("fix", *SEL, ".")
    assert run.exit_code == 130 and "interrupted" in run.stderr
    assert project.read("a.py") == UNUSED.encode() and no_temp_files(project.root)


def test_sigint_during_a_write_is_held_until_the_file_is_complete(project, cli, monkeypatch):
    """A real SIGINT arriving while the temp file is written: the file is completed and renamed
    first (never half-written), then the run stops with 130 before writing the next file."""
    project.write("a.py", UNUSED)
    project.write("b.py", UNUSED)
    real_write = os.write
    sent = []

    def write(fd, data):
        if not sent:
            sent.append(True)
            os.kill(os.getpid(), signal.SIGINT)
        return real_write(fd, data)

    monkeypatch.setattr(fixer.os, "write", write)
    run = cli("fix", *SEL, ".")
    assert run.exit_code == 130 and "error: interrupted" in run.stderr
    assert project.read("a.py") == FIXED.encode()  # the write in progress completed
    assert project.read("b.py") == UNUSED.encode()  # the next one never started
    assert no_temp_files(project.root)


WRAPPER = textwrap.dedent(
    """
    import sys, time
    import mlrules.engine.fixer as fixer
    real = fixer.write_atomic
    def slow(path, data, before):
        sys.stderr.write("WRITING " + path + "\\n"); sys.stderr.flush()
        time.sleep(0.02)
        return real(path, data, before)
    fixer.write_atomic = slow
    from mlrules.cli import main
    sys.argv = ["mlrules"] + sys.argv[1:]
    main()
    """
)


@pytest.mark.skipif(not hasattr(signal, "SIGINT") or os.name == "nt", reason="POSIX signals")
def test_sigint_to_a_real_fix_run(tmp_path):
    """SIGINT to a real `mlrules fix` process in the middle of its writes: exit 130, "interrupted",
    every file either untouched or completely fixed, no temp file left."""
    (tmp_path / ".git").mkdir()
    for i in range(60):
        (tmp_path / f"f{i:02}.py").write_text(UNUSED * 3)
    (tmp_path / "wrapper.py").write_text(WRAPPER)
    process = subprocess.Popen(
        [sys.executable, str(tmp_path / "wrapper.py"), "fix", *SEL, "--no-cache", "."],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    seen = ""
    while seen.count("WRITING") < 5:
        line = process.stderr.readline()
        assert line, "the run ended before it was interrupted"
        seen += line
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, seen + err
    assert "error: interrupted" in err and "Traceback" not in err
    states = {(tmp_path / f"f{i:02}.py").read_text() for i in range(60)}
    assert states <= {UNUSED * 3, FIXED * 3} and len(states) == 2  # some fixed, the rest untouched
    assert no_temp_files(tmp_path)


@pytest.mark.skipif(os.name == "nt", reason="POSIX signals")
def test_sigint_while_linting(tmp_path):
    (tmp_path / ".git").mkdir()
    for i in range(150):
        (tmp_path / f"f{i:03}.py").write_text("import mlflow\n" * 200 + UNUSED)
    process = subprocess.Popen(
        [sys.executable, "-c", "import time, sys; from mlrules.cli import main; sys.argv=['mlrules','fix','--select','ALL','--no-cache','.']; main()"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    time.sleep(1.0)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    if process.returncode in (0, 1):
        pytest.skip("the run finished before the signal")  # a very fast machine
    assert process.returncode == 130 and "error: interrupted" in err and "Traceback" not in err, err
    assert all((tmp_path / f"f{i:03}.py").read_text().endswith((UNUSED, FIXED)) for i in range(150))
    assert no_temp_files(tmp_path)


# --- deep nesting: no crash, no RecursionError, no internal error ----------------------------------------------------
DEEP = {
    "parens_1000.py": "import mlflow\nx = " + "(" * 1000 + "1" + ")" * 1000 + "\n",
    "lists_5000.py": "import mlflow\nx = " + "[" * 5000 + "]" * 5000 + "\n",  # libcst alone: SIGSEGV
    "ifs_300.py": "import mlflow\n" + "".join(" " * i + "if x:\n" for i in range(300)) + " " * 300 + "mlflow.set_experiment('/Users/a/b')\n",
    # valid and analysed, past the default recursion limit of the tree walks (rerun with a deep stack)
    "elif_600.py": "import mlflow\nif a:\n    mlflow.set_experiment('/Users/a/b')\n" + "elif a:\n    mlflow.set_experiment('/Users/a/b')\n" * 600,
    "plus_500.py": "import mlflow\nx = " + " + ".join(["mlflow.set_experiment('/Users/a/b')"] * 500) + "\n",
    "and_12000.py": "import mlflow\nmlflow.set_experiment('/Users/a/b')\nx = " + " and ".join(["a"] * 12000) + "\n",  # libcst alone: SIGSEGV
    "attr_20000.py": "import mlflow\nx = mlflow" + ".b" * 20000 + "\n",  # libcst alone: SIGSEGV
    "unary_3000.py": "import mlflow\nx = " + "-" * 3000 + "1\n",
    # a task notebook: its facts (read by the cross-file rules) come from a deep tree too
    "nb_and_2500.py": "# Databricks notebook source\nimport mlflow\nfrom databricks.feature_engineering import FeatureEngineeringClient\n"
    "fe = FeatureEngineeringClient()\nx = dbutils.widgets.get('env')\nx = " + " and ".join(["dbutils.widgets.get('w')"] * 2500) + "\ndbutils.notebook.exit('SUCCESS')\n",
    "resources/tasks.yml": "resources:\n  jobs:\n    k:\n      tasks:\n        - task_key: t\n          notebook_task:\n            notebook_path: ../nb_and_2500.py\n",
    "databricks.yml": "bundle:\n  name: deep\ninclude: [resources/tasks.yml]\nresources:\n  jobs:\n    j:\n      x: " + "[" * 5000 + "]" * 5000 + "\n",
    "resources/block.yml": "resources:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 900)),
    "resources/bomb.yml": "resources:\n  jobs:\n    j: &a\n      <<: [*a, *a]\n      tasks: &t [*t, *t, *t]\n"
    + "".join(f"      x{i}: &x{i} [" + ", ".join([f"*x{i - 1}"] * 10 if i else ["1"] * 10) + "]\n" for i in range(7)),
}


def test_deeply_nested_files_do_not_crash(tmp_path):
    (tmp_path / ".git").mkdir()
    for name, text in DEEP.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    run = run_mlrules("check", "--select", "ALL", "--no-cache", "--output-format", "json", ".", cwd=tmp_path, timeout=120)
    assert run.returncode == 1, run.stderr  # not a crash (-11), not an internal error (2)
    assert run.stderr == ""
    findings = json.loads(run.stdout)
    mlr001 = {f["filename"]: f["message"] for f in findings if f["code"] == "MLR001"}
    # CPython refuses these too (a program that cannot run): MLR001, the others are analysed normally
    assert mlr001.keys() == {"lists_5000.py", "and_12000.py", "attr_20000.py", "unary_3000.py", "databricks.yml", "ifs_300.py", "parens_1000.py"}
    assert "too many nested parentheses" in mlr001["lists_5000.py"] and "nested too deeply" in mlr001["attr_20000.py"]
    assert "operands" in mlr001["and_12000.py"] and "nesting depth" in mlr001["databricks.yml"]
    by_file = {}
    for f in findings:
        by_file.setdefault(f["filename"], set()).add(f["code"])
    assert "EXP001" in by_file["elif_600.py"] and "EXP001" in by_file["plus_500.py"]  # analysed normally
    assert "NB006" in by_file["resources/tasks.yml"]  # widget 'w' read by the deep task notebook
    fix = run_mlrules("fix", "--select", "ALL", "--unsafe-fixes", "--no-cache", ".", cwd=tmp_path, timeout=300)
    assert fix.returncode in (0, 1) and fix.stderr == "", fix.stderr
    assert "/Users/" not in (tmp_path / "elif_600.py").read_text() + (tmp_path / "plus_500.py").read_text()


def test_deep_files_are_analysed_with_a_deep_stack(project, monkeypatch):
    """In-process (default recursion limit): the rule that hits RecursionError on a valid file is
    rerun through ``limits.call_deep`` and reports normally."""
    from mlrules.engine.config import Settings
    from mlrules.engine.runner import Linter

    calls = []
    real = limits.call_deep

    def call_deep(fn, *args, **kwargs):
        calls.append(fn)
        return real(fn, *args, **kwargs)

    monkeypatch.setattr(limits, "call_deep", call_deep)
    project.write("elif.py", DEEP["elif_600.py"])
    linter = Linter(Settings(root=project.root, select=["EXP001", "MLR001"]))
    result = linter.lint(linter.load(["elif.py"]), jobs=1)
    assert result.errors == [] and calls
    assert [f.code for f in result.findings] == ["EXP001"] * 601
    assert sys.getrecursionlimit() < limits.DEEP_RECURSION_LIMIT  # restored


def test_an_exception_that_cannot_be_printed_is_still_reported(project, cli, monkeypatch):
    """A rule failing with an exception whose str() fails (a KeyError holding a deep tree node
    did this): one clear internal error, not a crash of the run."""
    import mlrules.engine.config as config
    from mlrules.rules import all_rules
    from mlrules.rules.base import PythonRule

    class Unprintable:
        def __repr__(self):
            raise RecursionError("maximum recursion depth exceeded")

    class Raises(PythonRule):
        code = "TST020"
        name = "raises-unprintable"
        summary = "test"

        def check(self, ctx):
            raise KeyError(Unprintable())

    monkeypatch.setattr(config, "all_rules", lambda: (*all_rules(), Raises))
    project.write("a.py", EXP001_MODULE)
    run = cli("check", "--select", "TST020,EXP001", "--output-format", "concise", ".")
    assert run.exit_code == 2
    assert run.stderr.startswith("error: a.py: internal error in rule TST020: KeyError: <unprintable> at test_faults.py:")
    assert "a.py:2:23: EXP001" in run.stdout


def test_nesting_guard():
    """What reaches libcst: shallow files without any parse; deeper ones only when CPython
    accepts their nesting; a syntax error elsewhere does not hide deep brackets."""
    assert limits.surely_shallow("import mlflow\nmlflow.set_experiment('/Shared/x')\n")
    assert not limits.surely_shallow("x = " + "(" * 600 + ")" * 600)
    limits.check_nesting("x = " + "(" * 150 + "1" + ")" * 150 + "\n" + "y = a.b.c\n" * 1000)  # deep-ish, valid
    for code in ("x = " + "[" * 1300 + "]" * 1300, "x = " + " and ".join(["a"] * 7100), "x = a" + ".b" * 16000):
        with pytest.raises(limits.NestingTooDeep):
            limits.check_nesting(code)
    with pytest.raises(limits.NestingTooDeep, match="too many nested parentheses"):
        limits.check_nesting("def f(:\n    pass\nx = " + "(" * 1300 + ")" * 1300)  # CPython stops at line 1
    limits.check_nesting("def f(:\n    pass\n" + "x = (a.b + c.d)\n" * 2000)  # broken but shallow: libcst reports it
