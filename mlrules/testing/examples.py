"""Run a rule's Valid/Invalid examples in a throw-away project folder."""

from __future__ import annotations

import os
from dataclasses import dataclass

from mlrules.engine.config import Settings
from mlrules.engine.fixer import fix_files
from mlrules.engine.runner import Linter
from mlrules.model import Finding
from mlrules.rules.base import EngineRule, Invalid, Rule, Valid, ipynb  # noqa: F401 - re-exported


@dataclass
class ExampleRun:
    findings: list[Finding]
    fixed_text: str | None  # after fixing with unsafe fixes, None when nothing changed
    second_fix_changed: bool


def _write(folder: str, rel: str, text: str) -> str:
    path = os.path.join(folder, rel)
    os.makedirs(os.path.dirname(path) or folder, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)
    return path


def run_example(rule: type[Rule], example: Valid | Invalid, folder: str, *, fix: bool = False) -> ExampleRun:
    _write(folder, example.path, example.code)
    for rel, text in example.files.items():
        _write(folder, rel, text)
    settings = Settings(root=folder)
    # Engine rules (MLR) depend on the others being selected; every other rule runs alone.
    settings.select = ["ALL"] if issubclass(rule, EngineRule) else [rule.code]
    if example.options:
        settings.options = {rule.code: dict(example.options)}
    old = os.getcwd()
    os.chdir(folder)
    try:
        linter = Linter(settings)
        loaded = linter.load(["."])
        findings = [f for f in linter.lint(loaded).findings if f.code == rule.code]
        fixed_text, changed_again = None, False
        if fix:
            only_rule = Linter(settings, [r for r in settings.enabled_rules() if r.code == rule.code or rule.code.startswith("MLR")])
            outcome = fix_files(only_rule, only_rule.load(["."]), unsafe=True)
            target = os.path.normpath(example.path)
            if target in outcome.new_bytes:
                fixed_text = outcome.new_bytes[target].decode("utf-8")
                _write(folder, example.path, fixed_text)
                again = fix_files(only_rule, only_rule.load(["."]), unsafe=True)
                changed_again = bool(again.new_bytes)
        return ExampleRun(findings, fixed_text, changed_again)
    finally:
        os.chdir(old)
