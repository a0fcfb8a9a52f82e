"""The shape of the package, as CONTRIBUTING.md describes it: layers whose imports point down
only, and one rule per file under ``mlrules/rules/<family>/``, named after its code."""

from __future__ import annotations

import ast
import os
import re

import pytest
from conftest import REPO_ROOT

from mlrules.rules import all_rules

PACKAGE = os.path.join(REPO_ROOT, "mlrules")

# ground up; a module may import from its own layer and the layers below it
LAYERS = {
    "mlrules": 0,  # the package's __init__ (its version)
    "mlrules.model": 0,
    "mlrules.sources": 1,
    "mlrules.analysis": 2,
    "mlrules.project": 3,
    "mlrules.rules": 4,
    "mlrules.engine": 5,
    "mlrules.output": 6,
    "mlrules.testing": 6,
    "mlrules.cli": 7,
    "mlrules.__main__": 7,
}


def _layer(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else parts[0]


def _modules() -> list[tuple[str, str]]:
    out = []
    for folder, dirs, names in os.walk(PACKAGE):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in sorted(names):
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                module = os.path.relpath(path[:-3], REPO_ROOT).replace(os.sep, ".").removesuffix(".__init__")
                out.append((module, path))
    return out


def _imports(module: str, path: str) -> list[tuple[int, str]]:
    """Every mlrules module ``module`` imports, anywhere in the file (lazy imports in functions
    and imports for type checking are dependencies too)."""
    with open(path, encoding="utf-8") as fh:
        tree = ast.parse(fh.read())
    package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            found.append((node.lineno, name))
    return sorted((line, name) for line, name in found if name == "mlrules" or name.startswith("mlrules."))


def test_every_module_has_a_layer():
    assert [m for m, _ in _modules() if _layer(m) not in LAYERS] == []


@pytest.mark.parametrize("module, path", _modules(), ids=[m for m, _ in _modules()])
def test_imports_point_down(module, path):
    own = LAYERS[_layer(module)]
    upward = [
        f"{os.path.relpath(path, REPO_ROOT)}:{line} imports {name} ({_layer(name)} is above {_layer(module)})"
        for line, name in _imports(module, path)
        if LAYERS.get(_layer(name), 0) > own
    ]
    assert upward == []


def test_the_layer_check_sees_lazy_and_relative_imports(tmp_path):
    """The check itself can fail: an import inside a function and a relative one are found."""
    path = tmp_path / "probe.py"
    path.write_text("def f():\n    from mlrules.engine.runner import Linter\nfrom ..cli import main\n")
    assert _imports("mlrules.rules.nb.probe", str(path)) == [(2, "mlrules.engine.runner"), (3, "mlrules.rules.cli")]
    path.write_text("from ...cli import main\n")
    assert _imports("mlrules.rules.nb.probe", str(path)) == [(1, "mlrules.cli")]


RULE_FILE = re.compile(r"^(?P<code>[a-z]+\d{3})_[a-z0-9_]+\.py$")


def test_one_rule_per_file_named_after_its_code():
    by_file: dict[str, list[str]] = {}
    for rule in all_rules():
        module = type(rule).__module__ if not isinstance(rule, type) else rule.__module__
        by_file.setdefault(module, []).append(rule.code)
    problems = []
    for module, codes in sorted(by_file.items()):
        parts = module.split(".")
        name = parts[-1] + ".py"
        match = RULE_FILE.match(name)
        if len(parts) != 4 or parts[1] != "rules" or match is None:
            problems.append(f"{module}: {codes} not in mlrules/rules/<family>/<code>_<name>.py")
        elif codes != [match["code"].upper()] or not codes[0].lower().startswith(parts[2]):
            problems.append(f"{module}: holds {codes}")
    assert problems == []
    rule_files = [
        name for folder, _dirs, names in os.walk(os.path.join(PACKAGE, "rules")) for name in names if RULE_FILE.match(name)
    ]
    assert len(rule_files) == len(by_file)  # no rule file without a registered rule


def test_rules_do_not_import_each_other():
    """What two rules share lives in mlrules/analysis (or project): a rule file imports no other rule file."""
    problems = []
    for module, path in _modules():
        parts = module.split(".")
        if len(parts) == 4 and parts[1] == "rules":
            problems += [
                f"{module}:{line} imports {name}"
                for line, name in _imports(module, path)
                if len(name.split(".")) >= 4 and name.split(".")[1] == "rules" and name != module
            ]
    assert problems == []
