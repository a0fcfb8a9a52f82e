"""README.md stays true: its rule table, its Quickstart commands, CI's command, the pre-commit hooks."""

from __future__ import annotations

import os
import re

import pytest
import yaml
from conftest import REPO_ROOT

import readme_table
from mlrules.cli import main

README = os.path.join(REPO_ROOT, "README.md")
CI_RUN = os.path.join(REPO_ROOT, ".ci", "run")


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as fh:
        return fh.read()


def _section(markdown: str, title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\s*\n(.*?)(?=^## |\Z)", markdown, re.M | re.S)
    assert match, f"README has no '## {title}' section"
    return match.group(1)


def _commands(section: str) -> list[str]:
    blocks = re.findall(r"```(?:sh|bash|shell|console)\n(.*?)```", section, re.S)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip() and not line.lstrip().startswith("#")]


@pytest.fixture(scope="module")
def rules():
    return readme_table.rules_json()  # `mlrules rules --output-format json`, in a subprocess


def test_readme_rule_table_matches_mlrules_rules(rules):
    readme = _read(README)
    assert readme.count(readme_table.START) == 1 and readme.count(readme_table.END) == 1
    expected = readme_table.render(rules)
    assert readme_table.current_table(readme) == expected, "README's rule table is stale: run `python tests/readme_table.py --write`"


def test_readme_table_renders_every_rule(rules):
    table = readme_table.render(rules)
    rows = table.splitlines()[2:]
    assert [row.split(" | ")[0].lstrip("| ") for row in rows] == [r["code"] for r in rules]
    for rule, row in zip(rules, rows):
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", row)[1:-1]]
        assert cells[:4] == [rule["code"], rule["name"], "on" if rule["default"] else "off", rule["fix"] or "—"]


def test_readme_table_rewrite_touches_only_the_table():
    readme = "intro\n\n<!-- rules:start -->\nold | table\n<!-- rules:end -->\n\noutro\n"
    new = readme_table.with_table(readme, "| new |\n")
    assert new == "intro\n\n<!-- rules:start -->\n| new |\n<!-- rules:end -->\n\noutro\n"
    assert readme_table.current_table(new) == "| new |\n"


def test_quickstart_has_exactly_the_two_commands():
    commands = _commands(_section(_read(README), "Quickstart"))
    assert len(commands) == 2, commands
    assert commands[0] == "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/mlrules check fixtures/"
    assert re.fullmatch(r"python3 -m venv \.venv && \.venv/bin/pip install (-q )?-e '\.\[test\]' && \.venv/bin/python -m pytest -q", commands[1])


def test_readme_test_command_is_what_ci_runs():
    readme_command = _commands(_section(_read(README), "Quickstart"))[1]
    ci_lines = [line.strip() for line in _read(CI_RUN).splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert readme_command in ci_lines, f"README: {readme_command!r}\n.ci/run: {ci_lines!r}"


def test_readme_has_the_promised_sections():
    readme = _read(README)
    for title in ("Quickstart", "Usage", "Configuration", "Suppression", "pre-commit", "GitHub Actions", "Rules", "Performance", "Safety"):
        _section(readme, title)
    assert "--output-format github" in _section(readme, "GitHub Actions")
    for word in ("--diff", "--unsafe-fixes", "mlrules rules", "mlrules explain"):
        assert word in _section(readme, "Usage")


def test_readme_documents_every_configuration_key():
    from mlrules.engine.config import KNOWN_KEYS

    section = _section(_read(README), "Configuration")
    for key in KNOWN_KEYS:
        assert f"`{key}" in section, key


def test_readme_usage_names_every_check_option():
    usage = _section(_read(README), "Usage")
    for param in main.commands["check"].params:
        for opt in param.opts:
            if opt.startswith("--") and opt not in ("--help", "--fix"):
                assert opt in usage, opt


# --- pre-commit hooks ------------------------------------------------------------------------------------
def test_pre_commit_hooks():
    with open(os.path.join(REPO_ROOT, ".pre-commit-hooks.yaml"), encoding="utf-8") as fh:
        hooks = {hook["id"]: hook for hook in yaml.safe_load(fh)}
    assert set(hooks) == {"mlrules", "mlrules-fix"}
    assert hooks["mlrules"]["entry"].split() == ["mlrules", "check"]
    assert hooks["mlrules-fix"]["entry"].split() == ["mlrules", "fix"]
    for hook in hooks.values():
        assert hook["language"] == "python"
        assert hook["types_or"] == ["python", "jupyter", "yaml"]
        assert hook["require_serial"] is True
        assert hook["entry"].split()[1] in main.commands
        assert hook["name"]
