"""Two mlrules processes on the same tree at once: no file (and no cache entry) is ever corrupted.

The write path checks that a file is unchanged since it was read and replaces it (temp file +
rename) under a lock on its folder, so concurrent runs take turns: one writes, the other sees
the new content and does not write ("changed on disk during the run").
"""

from __future__ import annotations

import multiprocessing
import json
import os
import shutil
import subprocess
import sys

import pytest
from conftest import EXP001_MODULE

from mlrules.engine import fixer
from mlrules.rules.base import ipynb

UNUSED = "x = 1  # noqa: EXP001\n"
NOTEBOOK = "# Databricks notebook source\n%pip install scikit-learn\n\n# COMMAND ----------\n\nimport mlflow\nmlflow.set_experiment('/Users/a/x')\n" + UNUSED


def make_tree(root, count: int = 16) -> None:
    (root / ".git").mkdir(exist_ok=True)
    for i in range(count):
        kind = i % 4
        if kind == 0:
            (root / f"m{i:02}.py").write_text(EXP001_MODULE + UNUSED)
        elif kind == 1:
            (root / f"n{i:02}.py").write_bytes(NOTEBOOK.replace("\n", "\r\n").encode())
        elif kind == 2:
            (root / f"j{i:02}.ipynb").write_text(ipynb("import mlflow\nmlflow.set_experiment('/Users/a/x')\n", "y = 1  # noqa: EXP001"))
        else:
            (root / f"c{i:02}.py").write_text("clean = 1\n")


def snapshot(root) -> dict[str, bytes]:
    out = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in (".git", ".mlrules_cache")]
        for name in files:
            path = os.path.join(folder, name)
            with open(path, "rb") as fh:
                out[os.path.relpath(path, root)] = fh.read()
    return out


def start(root, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "mlrules", *args], cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "MLRULES_JOBS": "2"},
    )


@pytest.mark.parametrize("cache", ["--no-cache", None])
def test_two_fix_runs_at_once(tmp_path, cache):
    args = ["fix", "--select", "ALL", "--unsafe-fixes", "--output-format", "concise"] + ([cache] if cache else []) + ["."]
    reference = tmp_path / "reference"
    reference.mkdir()
    make_tree(reference)
    run = subprocess.run([sys.executable, "-m", "mlrules", *args], cwd=reference, capture_output=True, text=True, timeout=120)
    assert run.returncode in (0, 1), run.stderr
    expected = snapshot(reference)

    for attempt in range(2):
        tree = tmp_path / f"tree{attempt}"
        tree.mkdir()
        make_tree(tree)
        first, second = start(tree, *args), start(tree, *args)
        outputs = [p.communicate(timeout=180) for p in (first, second)]
        for process, (out, err) in zip((first, second), outputs):
            assert process.returncode in (0, 1, 2), err
            assert "Traceback" not in err and "internal error" not in err, err
            errors = [line for line in err.splitlines() if line.startswith("error:")]
            assert all(line.endswith("changed on disk during the run; not written") for line in errors), err
            assert (process.returncode == 2) == bool(errors)
        assert snapshot(tree) == expected  # every file fixed exactly once, completely
        again = subprocess.run([sys.executable, "-m", "mlrules", *args], cwd=tree, capture_output=True, text=True, timeout=120)
        assert again.returncode in (0, 1) and snapshot(tree) == expected
        if cache:
            assert_cache_intact(tree / ".mlrules_cache")


def assert_cache_intact(folder) -> None:
    """Every entry complete (its signature verifies, it unpickles); no temp file left behind."""
    from mlrules.engine.cache import Cache

    if not folder.exists():
        return
    cache = Cache(str(folder))
    for path in folder.rglob("*"):
        if path.is_file() and path.suffix == ".pickle":
            assert cache.get(path.parent.parent.name, path.stem) is not None, path
        assert not path.name.startswith(".tmp-"), path


def test_two_check_runs_at_once_share_the_cache(tmp_path):
    make_tree(tmp_path, count=24)
    args = ["check", "--select", "ALL", "--output-format", "json", "."]
    plain = subprocess.run([sys.executable, "-m", "mlrules", *args[:-1], "--no-cache", "."], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    for _ in range(2):
        processes = [start(tmp_path, *args) for _ in range(2)]
        results = [(p.communicate(timeout=180), p.returncode) for p in processes]
        for (out, err), code in results:
            assert code == 1 and err == "", err
            assert out == plain.stdout
    assert_cache_intact(tmp_path / ".mlrules_cache")
    warm = subprocess.run([sys.executable, "-m", "mlrules", *args], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert warm.stdout == plain.stdout


# --- the write path itself, raced by several processes -------------------------------------------------------------
def _racer(path: str, data: bytes, before: bytes, barrier, results, slow: bool) -> None:
    if slow:  # widen the window between the content check and the rename
        import time

        real = fixer.os.write

        def write(fd, chunk):
            time.sleep(0.05)
            return real(fd, chunk)

        fixer.os.write = write
    barrier.wait()
    results.put((data, fixer.write_atomic(path, data, before)))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_racing_writers_exactly_one_wins(tmp_path):
    """N processes read the same content and each writes its own fix: exactly one write lands;
    every other one sees the change and refuses; the file is never a mix of two writes."""
    context = multiprocessing.get_context("fork")
    path = str(tmp_path / "a.py")
    original = b"original = 1\n" * 1000
    for round_ in range(6):
        with open(path, "wb") as fh:
            fh.write(original)
        writers = 4
        barrier, results = context.Barrier(writers), context.Queue()
        datas = [(f"writer_{n} = {round_}\n" * (500 + n)).encode() for n in range(writers)]
        processes = [context.Process(target=_racer, args=(path, d, original, barrier, results, round_ % 2 == 0)) for d in datas]
        for p in processes:
            p.start()
        outcomes = [results.get(timeout=60) for _ in processes]
        for p in processes:
            p.join(timeout=60)
        winners = [data for data, problem in outcomes if problem is None]
        assert len(winners) == 1, outcomes
        assert all("changed on disk during the run; not written" in problem for _, problem in outcomes if problem is not None)
        with open(path, "rb") as fh:
            assert fh.read() == winners[0]
        assert [n for n in os.listdir(tmp_path) if n.startswith(".mlrules-")] == []


def test_fix_into_a_copy_is_unaffected_by_a_concurrent_check(tmp_path):
    """A check reading files while a fix replaces them sees either the old or the new file."""
    make_tree(tmp_path, count=24)
    copy = tmp_path.parent / (tmp_path.name + "_expected")
    shutil.copytree(tmp_path, copy)
    subprocess.run([sys.executable, "-m", "mlrules", "fix", "--select", "ALL", "--unsafe-fixes", "--no-cache", "."], cwd=copy, capture_output=True, timeout=120)
    fixing = start(tmp_path, "fix", "--select", "ALL", "--unsafe-fixes", "--no-cache", ".")
    checking = start(tmp_path, "check", "--select", "ALL", "--no-cache", "--output-format", "json", ".")
    (_, fix_err), (check_out, check_err) = fixing.communicate(timeout=180), checking.communicate(timeout=180)
    assert fixing.returncode in (0, 1) and fix_err == "", fix_err
    assert checking.returncode in (0, 1) and "internal error" not in check_err and "Traceback" not in check_err
    assert isinstance(json.loads(check_out), list)  # complete output, whichever files it saw
    assert snapshot(tmp_path) == snapshot(copy)
    shutil.rmtree(copy)
