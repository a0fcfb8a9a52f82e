"""Every rule's own examples: invalid ones flag at the exact position, valid ones stay quiet,
fixes give the exact expected text and are idempotent."""

from __future__ import annotations

import os

import pytest

from mlrules.rules import all_rules
from mlrules.testing.examples import run_example

CASES = [(rule, kind, i, ex) for rule in all_rules() for kind in ("valid", "invalid") for i, ex in enumerate(getattr(rule, kind))]


def _id(case) -> str:
    rule, kind, i, _ = case
    return f"{rule.code}-{kind}-{i}"


def test_every_rule_has_examples():
    for rule in all_rules():
        assert rule.invalid, f"{rule.code} has no invalid examples"
        assert rule.valid, f"{rule.code} has no valid examples"


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_example(case, tmp_path):
    rule, kind, _, example = case
    run = run_example(rule, example, str(tmp_path), fix=kind == "invalid")
    if kind == "valid":
        assert run.findings == [], [f"{f.path}:{f.span.start.row}:{f.span.start.column + 1} {f.message}" for f in run.findings]
        return
    expected_path = os.path.normpath(example.report_path or example.path)
    got = sorted(
        ((f.cell_span or f.span).start.row, (f.cell_span or f.span).start.column + 1) for f in run.findings if os.path.normpath(f.path) == expected_path
    )
    expected = sorted([(example.row, example.column), *example.also])
    assert got == expected, [f"{f.path}:{f.span.start.row}:{f.span.start.column + 1} {f.message}" for f in run.findings]
    if example.cell is not None:
        assert [f.cell for f in run.findings] == [example.cell] * len(run.findings)
    if example.message_contains:
        assert any(example.message_contains in f.message for f in run.findings)
    if example.message_excludes:
        assert not any(example.message_excludes in f.message for f in run.findings), [f.message for f in run.findings]
    if example.fixed is None:
        assert all(f.fix is None for f in run.findings), "example declares no fix but the rule offers one"
        assert run.fixed_text is None
    else:
        assert run.fixed_text == example.fixed
        assert not run.second_fix_changed, "applying the fix again changed the file"
