"""End to end over fixtures/: every rule is exercised, and ``fix --unsafe-fixes`` changes exactly the
lines of the reported fixes, keeps every other byte (LF and CRLF copies), and is idempotent."""

from __future__ import annotations

import difflib
import json
import os
import re
import shutil

import pytest
from conftest import REPO_ROOT, Project

FIXTURES = os.path.join(REPO_ROOT, "fixtures")
ALL = ("--select", "ALL", "--no-cache")


def rule_codes(cli) -> set[str]:
    return {row["code"] for row in json.loads(cli("rules", "--output-format", "json").stdout)}


def test_every_rule_has_a_violation_in_the_fixtures(cli, monkeypatch):
    monkeypatch.chdir(REPO_ROOT)
    run = cli("check", "fixtures/", *ALL, "--output-format", "json")
    assert run.exit_code == 1, f"exit {run.exit_code}: {run.stderr}"
    assert run.stderr == ""
    missing = sorted(rule_codes(cli) - set(run.codes()))
    assert not missing, f"no violation in fixtures/ for: {', '.join(missing)} (see fixtures/README.md)"


def test_quickstart_check_of_fixtures_runs_clean_of_errors(cli, monkeypatch):
    monkeypatch.chdir(REPO_ROOT)
    run = cli("check", "fixtures/", "--no-cache")
    assert run.exit_code == 1 and run.stderr == ""
    assert re.search(r"^Found \d+ findings?\.$", run.stdout, re.M)


# --- fix on a copy ----------------------------------------------------------------------------------
def _to_crlf(root: str) -> None:
    for folder, _, files in os.walk(root):
        for name in files:
            if name.endswith((".py", ".yml", ".yaml", ".ipynb", ".txt")):
                path = os.path.join(folder, name)
                with open(path, "rb") as fh:
                    data = fh.read()
                with open(path, "wb") as fh:
                    fh.write(data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))


@pytest.fixture(params=["lf", "crlf"])
def fixtures_copy(request, tmp_path, monkeypatch) -> Project:
    shutil.copytree(FIXTURES, tmp_path / "fixtures")
    (tmp_path / ".git").mkdir()
    if request.param == "crlf":
        _to_crlf(str(tmp_path / "fixtures"))
    monkeypatch.chdir(tmp_path)
    project = Project(tmp_path)
    project.crlf = request.param == "crlf"
    return project


def _allowed_rows(findings: list[dict]) -> dict[tuple[str, int | None], set[int]]:
    """(file, cell) -> rows that some reported fix edits (1-based; cell-relative for .ipynb)."""
    allowed: dict[tuple[str, int | None], set[int]] = {}
    for f in findings:
        for edit in f["fix"]["edits"]:
            rows = allowed.setdefault((f["filename"], f["cell"]), set())
            rows.update(range(edit["location"]["row"], edit["end_location"]["row"] + 1))
    return allowed


def _changes_outside(before: str, after: str, allowed: set[int]) -> list[str]:
    """Lines the fix changed that no reported edit covers (difflib over lines, 1-based rows)."""
    a, b = before.splitlines(keepends=True), after.splitlines(keepends=True)
    problems = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        if i1 == i2:  # pure insertion before original row i1 + 1
            if not ({i1, i1 + 1} & allowed):
                problems.append(f"inserted before row {i1 + 1}: {b[j1:j2]!r}")
            continue
        outside = [row for row in range(i1 + 1, i2 + 1) if row not in allowed]
        if outside:
            problems.append(f"rows {outside} changed: {a[i1:i2]!r} -> {b[j1:j2]!r}")
    return problems


def _notebook_problems(before: bytes, after: bytes, allowed_any_cell: set[int]) -> list[str]:
    """Outside cell sources nothing changes; appended cells are code cells; source diffs stay in edit rows."""
    old, new = json.loads(before), json.loads(after)
    problems = []
    strip = lambda cell: {k: v for k, v in cell.items() if k != "source"}  # noqa: E731
    if {k: v for k, v in old.items() if k != "cells"} != {k: v for k, v in new.items() if k != "cells"}:
        problems.append("notebook metadata changed")
    for i, cell in enumerate(old["cells"]):
        if i >= len(new["cells"]) or strip(cell) != strip(new["cells"][i]):
            problems.append(f"cell {i + 1} changed outside its source")
            continue
        src = lambda c: "".join(c["source"]) if isinstance(c["source"], list) else c["source"]  # noqa: E731
        problems += [f"cell {i + 1}: {p}" for p in _changes_outside(src(cell), src(new["cells"][i]), allowed_any_cell)]
    problems += [f"appended cell {i + 1} is not code" for i, c in enumerate(new["cells"][len(old["cells"]) :]) if c.get("cell_type") != "code"]
    return problems


def test_fix_unsafe_removes_fixable_findings_and_keeps_every_other_byte(fixtures_copy, cli):
    before = fixtures_copy.snapshot()
    found = cli("check", "fixtures", *ALL, "--output-format", "json")
    assert found.exit_code == 1, found.stderr
    fixable = [f for f in found.json() if f["fix"] is not None]
    assert fixable, "fixtures/ has no fixable finding: nothing to test"

    run = cli("fix", "fixtures", *ALL, "--unsafe-fixes", "--output-format", "json")
    assert run.exit_code in (0, 1), run.stderr
    assert run.stderr == "", run.stderr  # no dropped fix, no non-convergence, no write error
    left = [f"{f['filename']}:{f['location']['row']}: {f['code']}" for f in run.json() if f["fix"] is not None]
    assert left == [], f"fixable findings left after fix --unsafe-fixes: {left}"

    after = fixtures_copy.snapshot()
    assert set(after) == set(before), "fix created or removed files"
    fixed_files = {f["filename"] for f in fixable}
    allowed = _allowed_rows(fixable)
    problems = []
    for rel in sorted(before):
        if rel not in fixed_files:
            if after[rel] != before[rel]:
                problems.append(f"{rel}: changed although no fix was reported for it")
            continue
        if rel.endswith(".ipynb"):
            rows = set().union(*(r for (path, _), r in allowed.items() if path == rel))
            problems += [f"{rel}: {p}" for p in _notebook_problems(before[rel], after[rel], rows)]
        else:
            problems += [f"{rel}: {p}" for p in _changes_outside(before[rel].decode(), after[rel].decode(), allowed[(rel, None)])]
        if fixtures_copy.crlf and not rel.endswith(".ipynb"):
            if re.search(rb"(?<!\r)\n", after[rel]):
                problems.append(f"{rel}: a bare LF in a CRLF file after fixing")
        if before[rel].startswith(b"\xef\xbb\xbf") != after[rel].startswith(b"\xef\xbb\xbf"):
            problems.append(f"{rel}: BOM changed")
    assert not problems, "\n".join(problems)

    again = cli("fix", "fixtures", *ALL, "--unsafe-fixes", "--output-format", "json")
    assert again.stderr == ""
    assert fixtures_copy.snapshot() == after, "a second fix run changed files"
