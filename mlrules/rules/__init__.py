"""Rule registry: every ``<family>/<code>_<name>.py`` module under this package holds one rule."""

from __future__ import annotations

import importlib
import pkgutil
import re
from functools import lru_cache

from mlrules.rules.base import EngineRule, ProjectRule, PythonRule, Rule, YamlRule

_RULE_MODULE = re.compile(r"^[a-z]+\d{3}_\w+$")

__all__ = ["all_rules", "rule_by_code", "Rule", "PythonRule", "YamlRule", "ProjectRule", "EngineRule"]


@lru_cache(maxsize=1)
def all_rules() -> tuple[type[Rule], ...]:
    found: dict[str, type[Rule]] = {}
    for family in pkgutil.iter_modules(__path__):
        if not family.ispkg:
            continue
        package = importlib.import_module(f"{__name__}.{family.name}")
        for info in pkgutil.iter_modules(package.__path__):
            if not _RULE_MODULE.match(info.name):
                continue
            module = importlib.import_module(f"{package.__name__}.{info.name}")
            rules = [
                obj
                for obj in vars(module).values()
                if isinstance(obj, type) and issubclass(obj, Rule) and obj.__module__ == module.__name__ and "code" in vars(obj)
            ]
            if len(rules) != 1:
                raise RuntimeError(f"{module.__name__} must define exactly one rule, found {len(rules)}")
            rule = rules[0]
            if rule.code in found:
                raise RuntimeError(f"duplicate rule code {rule.code}")
            if not info.name.startswith(rule.code.lower() + "_"):
                raise RuntimeError(f"{module.__name__}: module name must start with {rule.code.lower()}_")
            found[rule.code] = rule
    return tuple(found[code] for code in sorted(found))


def rule_by_code(code: str) -> type[Rule] | None:
    for rule in all_rules():
        if rule.code == code.upper():
            return rule
    return None
