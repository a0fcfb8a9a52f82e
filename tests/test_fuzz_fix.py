"""Fuzzing ``fix`` (every rule, unsafe fixes included) over the generators of test_fuzz_engine.

Properties, for any input:
- no internal error, and every fix is written (``write_atomic``) without a problem;
- every fixed file still parses (``load_source`` gives a source, libcst parses Python);
- a second fix changes nothing;
- bytes outside the edits are unchanged: replaying the edits the fix loop applied onto the
  original bytes with a plain splice gives exactly the written bytes (``.py``/``.yml``); for
  ``.ipynb`` everything but the edited cells' ``source`` values is byte-identical;
- the newline style (LF / CRLF) and the byte-order mark are kept.

``MLRULES_FUZZ_EXAMPLES=N`` explores N random examples per test.
"""

from __future__ import annotations

from unittest import mock

from hypothesis import example, given
from strategies import (
    bundle_project,
    databricks_file,
    example_project,
    fixable_project,
    fuzz_settings,
    ipynb_file,
    project_dir,
    python_file,
)
from test_fuzz_engine import chdir

from mlrules.engine import fixer
from mlrules.engine.config import Settings
from mlrules.engine.runner import Linter
from mlrules.rules.base import ipynb
from mlrules.sources.ipynb import IpynbDocument
from mlrules.sources.loader import ParseProblem, Skipped, load_source
from mlrules.sources.python import PythonSource
from mlrules.sources.text import BOM

PYTHON = ("python", "python3", "ipython")


def _splice(text: str, edits, newline: str) -> str:
    """Edits applied by hand (independent of ``text.apply_edits``), contents in ``newline`` style."""
    for edit in sorted(edits, key=lambda e: (e.start, e.end), reverse=True):
        content = edit.content.replace("\r\n", "\n").replace("\n", newline)
        text = text[: edit.start] + content + text[edit.end :]
    return text


def _blanked(raw: str, doc: IpynbDocument, keep: int) -> str:
    """The notebook JSON with the source values of its first ``keep`` cells emptied and any
    cells after them cut out."""
    if len(doc.cells) > keep:
        if keep == 0:
            start, end = doc.cells[0].span[0], doc.cells[-1].span[1]
        else:
            start, end = doc.cells[keep - 1].span[1], doc.cells[-1].span[1]
        raw = raw[:start] + raw[end:]
    for cell in reversed(doc.cells[:keep]):
        if cell.source_span is not None:
            start, end = cell.source_span
            raw = raw[:start] + '""' + raw[end:]
    return raw


def _newline_style(data: bytes) -> str:
    if b"\r" not in data:
        return "lf"
    if data.count(b"\r\n") == data.count(b"\n") == data.count(b"\r"):
        return "crlf"
    return "mixed"


def check_fix(files: dict[str, bytes]) -> None:
    with project_dir(files) as root, chdir(root):
        linter = Linter(Settings(root=root, select=["ALL"]))
        loaded = linter.load(["."])
        originals = dict(loaded.original_bytes)
        first_sources = dict(loaded.sources)
        steps: dict[int, tuple] = {}
        keep_alive: list = []
        real_reparse = fixer.reparse

        def recording(source, edits):
            new = real_reparse(source, edits)
            if not isinstance(new, str):
                steps[id(new)] = (source, list(edits))
                keep_alive.append(new)
            return new

        with mock.patch.object(fixer, "reparse", recording):
            outcome = fixer.fix_files(linter, loaded, unsafe=True)
        assert outcome.result.errors == []
        assert not [m for m in outcome.messages if "did not converge" in m], outcome.messages

        for path, data in sorted(outcome.new_bytes.items()):
            before = originals[path]
            assert fixer.write_atomic(path, data, before) is None
            with open(path, "rb") as fh:
                assert fh.read() == data

            # it parses
            new = load_source(path, data, known_bundle_file=True)
            assert not isinstance(new, (ParseProblem, Skipped)), (path, new, data)
            if isinstance(new, PythonSource) and new.language in PYTHON:
                new.parse()

            # the chain of edits the loop applied, from the loaded source to the final one
            chain = []
            source = loaded.sources[path]
            while id(source) in steps:
                source, edits = steps[id(source)]
                chain.append((source, edits))
            chain.reverse()
            assert source is first_sources[path]
            assert data.startswith(BOM.encode()) == before.startswith(BOM.encode())

            if path.endswith(".ipynb"):
                text = source.text
                for step_source, edits in chain:
                    text = _splice(text, edits, "\n")
                raw_before = before.decode("utf-8").removeprefix(BOM)
                raw_after = data.decode("utf-8").removeprefix(BOM)
                doc_before, doc_after = IpynbDocument.parse(raw_before), IpynbDocument.parse(raw_after)
                assert doc_after.joined() == text  # the cells hold exactly the edited text
                keep = len(doc_before.cells)
                assert _blanked(raw_before, doc_before, keep) == _blanked(raw_after, doc_after, keep)
                for old_cell, new_cell in zip(doc_before.cells, doc_after.cells):
                    if old_cell.source == new_cell.source and old_cell.source_span and new_cell.source_span:
                        # an unedited cell keeps its JSON as it was
                        assert raw_before[slice(*old_cell.source_span)] == raw_after[slice(*new_cell.source_span)]
            else:
                text = before.decode("utf-8").removeprefix(BOM)
                for step_source, edits in chain:
                    assert step_source.text == text
                    text = _splice(text, edits, step_source.newline)
                expected = (BOM if before.startswith(BOM.encode()) else "") + text
                assert data == expected.encode("utf-8")
                style = _newline_style(before)
                if style != "mixed":
                    assert _newline_style(data) == style

        # a second fix changes nothing
        linter2 = Linter(Settings(root=root, select=["ALL"]))
        again = fixer.fix_files(linter2, linter2.load(["."]), unsafe=True)
        assert again.new_bytes == {}, sorted(again.new_bytes)


@fuzz_settings(60)
@given(fixable_project())
def test_fix_rule_examples_with_fixes(files):
    check_fix(files)


@fuzz_settings(30)
@given(example_project())
@example({"nb.ipynb": ipynb(("markdown", "# T"), "import mlflow\nmlflow.set_experiment('/Users/a/b')\n").replace('"source"', '"(source"', 1).encode()})
def test_fix_rule_examples_mutated(files):
    check_fix(files)


@fuzz_settings(30)
@given(python_file())
def test_fix_python_modules(files):
    check_fix(files)


@fuzz_settings(30)
@given(databricks_file())
def test_fix_databricks_notebooks(files):
    check_fix(files)


@fuzz_settings(30)
@given(ipynb_file())
def test_fix_ipynb_notebooks(files):
    check_fix(files)


@fuzz_settings(25)
@given(bundle_project())
def test_fix_bundles(files):
    check_fix(files)


def test_replay_helpers():
    """The test's own splice and blanking (so that a bug in them cannot hide one in the fixer)."""
    from mlrules.model import Edit

    assert _splice("a\r\nb\r\n", [Edit(0, 1, "x\ny"), Edit(3, 4, "")], "\r\n") == "x\r\ny\r\n\r\n"
    raw = '{"cells": [{"source": ["a\\n", "b"]}, {"source": "c"}], "nbformat": 4}'
    doc = IpynbDocument.parse(raw)
    assert _blanked(raw, doc, 2) == '{"cells": [{"source": ""}, {"source": ""}], "nbformat": 4}'
    assert _blanked(raw, doc, 1) == '{"cells": [{"source": ""}], "nbformat": 4}'
    assert _newline_style(b"a\r\nb\r\n") == "crlf" and _newline_style(b"a\nb") == "lf" and _newline_style(b"a\r\nb\n") == "mixed"
