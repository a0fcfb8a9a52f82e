"""Configuration: ``[tool.mlrules]`` in pyproject.toml, or ``mlrules.toml`` / ``.mlrules.toml``."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from mlrules.rules import Rule, all_rules

KNOWN_KEYS = frozenset(
    {"select", "extend-select", "ignore", "per-file-ignores", "exclude", "extend-exclude", "cache-dir", "options", "max-file-size"}
)
DEFAULT_EXCLUDES = (
    ".git", ".hg", ".svn", ".venv", "venv", ".tox", ".nox", "node_modules", "build", "dist",
    "__pycache__", ".databricks", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".mlrules_cache",
    ".ipynb_checkpoints", "site-packages",
)


class ConfigError(Exception):
    """A configuration or usage error: reported with exit code 2."""


@dataclass
class Settings:
    root: str = "."  # folder holding the configuration file (or the working folder)
    config_path: str | None = None
    select: list[str] | None = None
    extend_select: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)
    per_file_ignores: dict[str, list[str]] = field(default_factory=dict)
    exclude: list[str] = field(default_factory=lambda: list(DEFAULT_EXCLUDES))
    extend_exclude: list[str] = field(default_factory=list)
    cache_dir: str = ".mlrules_cache"
    options: dict[str, dict[str, Any]] = field(default_factory=dict)
    max_file_size: int = 10 * 1024 * 1024

    def enabled_rules(self) -> list[type[Rule]]:
        """Rules selected by select/extend-select minus ignore (codes and prefixes, or ALL)."""
        rules = all_rules()
        if self.select is None:
            chosen = {r.code for r in rules if r.default_enabled}
        else:
            chosen = expand_selectors(self.select, "select")
        chosen |= expand_selectors(self.extend_select, "extend-select")
        chosen -= expand_selectors(self.ignore, "ignore")
        return [r for r in rules if r.code in chosen]

    def ignored_for(self, relpath: str) -> set[str]:
        import fnmatch

        codes: set[str] = set()
        name = os.path.basename(relpath)
        for pattern, selectors in self.per_file_ignores.items():
            if fnmatch.fnmatch(relpath, pattern) or fnmatch.fnmatch(name, pattern) or fnmatch.fnmatch(relpath, pattern.rstrip("/") + "/*"):
                codes |= expand_selectors(selectors, f"per-file-ignores.{pattern}")
        return codes


def expand_selectors(selectors: list[str], where: str) -> set[str]:
    if not selectors:
        return set()  # nothing to check: no need to import every rule (a cached run never does)
    codes = {r.code for r in all_rules()}
    out: set[str] = set()
    for raw in selectors:
        selector = raw.strip().upper()
        if not selector:
            continue
        if selector == "ALL":
            out |= codes
            continue
        matched = {c for c in codes if c.startswith(selector)}
        if not matched:
            raise ConfigError(f"unknown rule code or prefix {raw!r} in {where}")
        out |= matched
    return out


def find_config(start: str) -> str | None:
    """The nearest mlrules configuration from ``start`` upward."""
    folder = os.path.abspath(start)
    while True:
        for name in ("mlrules.toml", ".mlrules.toml"):
            candidate = os.path.join(folder, name)
            if os.path.isfile(candidate):
                return candidate
        pyproject = os.path.join(folder, "pyproject.toml")
        if os.path.isfile(pyproject) and _has_mlrules_table(pyproject):
            return pyproject
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent


def _has_mlrules_table(path: str) -> bool:
    try:
        with open(path, "rb") as fh:
            return "mlrules" in tomllib.load(fh).get("tool", {})
    except (OSError, tomllib.TOMLDecodeError):
        return False


def load_settings(config_path: str | None = None, cwd: str = ".") -> Settings:
    path = config_path or find_config(cwd)
    if path is None:
        return Settings(root=os.path.abspath(cwd))
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read configuration {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML in {path}: {exc}") from None
    table = data.get("tool", {}).get("mlrules", {}) if os.path.basename(path) == "pyproject.toml" else data
    return settings_from_table(table, path)


def _str_list(table: dict, key: str, path: str) -> list[str]:
    value = table[key]
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{path}: '{key}' must be a list of strings")
    return value


def settings_from_table(table: dict, path: str) -> Settings:
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: the mlrules configuration must be a table")
    unknown = sorted(set(table) - KNOWN_KEYS)
    if unknown:
        raise ConfigError(f"{path}: unknown configuration key {unknown[0]!r} (known: {', '.join(sorted(KNOWN_KEYS))})")
    settings = Settings(root=os.path.dirname(os.path.abspath(path)), config_path=path)
    if "select" in table:
        settings.select = _str_list(table, "select", path)
        expand_selectors(settings.select, f"select ({path})")
    for key, attr in (("extend-select", "extend_select"), ("ignore", "ignore"), ("exclude", "exclude"), ("extend-exclude", "extend_exclude")):
        if key in table:
            setattr(settings, attr, _str_list(table, key, path))
    expand_selectors(settings.extend_select, f"extend-select ({path})")
    expand_selectors(settings.ignore, f"ignore ({path})")
    if "per-file-ignores" in table:
        pfi = table["per-file-ignores"]
        if not isinstance(pfi, dict):
            raise ConfigError(f"{path}: 'per-file-ignores' must be a table of glob = [codes]")
        for pattern, codes in pfi.items():
            codes = [codes] if isinstance(codes, str) else codes
            if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
                raise ConfigError(f"{path}: per-file-ignores.{pattern!r} must be a list of codes")
            expand_selectors(codes, f"per-file-ignores.{pattern} ({path})")
            settings.per_file_ignores[pattern] = codes
    if "cache-dir" in table:
        if not isinstance(table["cache-dir"], str):
            raise ConfigError(f"{path}: 'cache-dir' must be a string")
        settings.cache_dir = table["cache-dir"]
    if "max-file-size" in table:
        if not isinstance(table["max-file-size"], int) or table["max-file-size"] <= 0:
            raise ConfigError(f"{path}: 'max-file-size' must be a positive number of bytes")
        settings.max_file_size = table["max-file-size"]
    if "options" in table:
        settings.options = validate_options(table["options"], path)
    return settings


def validate_options(options: Any, path: str) -> dict[str, dict[str, Any]]:
    if not isinstance(options, dict):
        raise ConfigError(f"{path}: 'options' must be a table of rule codes")
    by_code = {r.code: r for r in all_rules()}
    out: dict[str, dict[str, Any]] = {}
    for code, values in options.items():
        rule = by_code.get(code.upper())
        if rule is None:
            raise ConfigError(f"{path}: unknown rule code {code!r} in options")
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: options.{code} must be a table")
        known = {o.name: o for o in rule.options}
        for name, value in values.items():
            option = known.get(name)
            if option is None:
                hint = f" (known: {', '.join(known)})" if known else " (this rule has no options)"
                raise ConfigError(f"{path}: unknown option {name!r} for {rule.code}{hint}")
            if option.default is not None and not isinstance(value, type(option.default)):
                raise ConfigError(f"{path}: options.{rule.code}.{name} must be a {type(option.default).__name__}")
        out[rule.code] = dict(values)
    return out
