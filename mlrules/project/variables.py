"""Bundle variables: ``${var.x}`` resolved from ``variables.x.default``.

Deliberately small: one lookup function (plus a substitution helper built on it) so that the
full bundle model (includes, target merge) can absorb it later.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

import yaml

from mlrules.sources.yaml_source import iter_mapping, mapping_get

if TYPE_CHECKING:
    from mlrules.project.model import Project

# ${var.name} as the Databricks CLI spells it (segments joined by single '-' or '_')
VAR_REFERENCE = re.compile(r"\$\{var\.([A-Za-z]+(?:[-_]?[A-Za-z0-9]+)*)\}")
ANY_REFERENCE = re.compile(r"\$\{[^}]*\}")


def variable_default(project: "Project", path: str, name: str) -> str | None:
    """The scalar ``default:`` of variable ``name`` as seen from the bundle YAML at ``path``.

    Declarations are top-level ``variables:`` of the bundle YAML files that belong to the
    same bundle as ``path``: the bundle root and the files its ``include:`` reaches (from
    ``project.bundle_model``); for a file that no root includes, the files under the deepest
    bundle root folder above it (every loaded YAML file when no root is loaded). None when the variable is undeclared, has no scalar default
    (``type: complex``, lookup), or is declared with different defaults.
    """
    sources = project.yaml_sources()
    roots = sorted(
        (os.path.dirname(os.path.abspath(s.path)) for s in sources if s.is_bundle_root),
        key=len,
        reverse=True,
    )

    def bundle_of(file_path: str) -> str | None:
        folder = os.path.dirname(os.path.abspath(file_path))
        for root in roots:
            if folder == root or folder.startswith(root.rstrip(os.sep) + os.sep):
                return root
        return None

    mine = bundle_of(path)
    modelled = project.bundle_model.bundle_of(path)  # the root and the files its include: reaches
    if modelled is not None:
        sources = modelled.files
    found: set[str] = set()
    for source in sources:
        if modelled is None and bundle_of(source.path) != mine:
            continue
        for var_name, (_key, decl) in iter_mapping(mapping_get(source.root, "variables")):
            if var_name != name:
                continue
            default = mapping_get(decl, "default")
            if not isinstance(default, yaml.ScalarNode) or default.tag.endswith(":null"):
                return None  # declared without a usable default: unknown
            found.add(str(default.value))
    return found.pop() if len(found) == 1 else None


def resolve_variables(project: "Project", path: str, text: str, _depth: int = 0) -> str | None:
    """``text`` with every ``${var.x}`` replaced by its default; None when any reference
    (a variable without default, ``${bundle.target}``...) stays unknown."""
    if "${" not in text:
        return text
    if _depth > 5:
        return None
    unknown = False

    def sub(match: re.Match[str]) -> str:
        nonlocal unknown
        value = variable_default(project, path, match.group(1))
        if value is None:
            unknown = True
            return ""
        return value

    out = VAR_REFERENCE.sub(sub, text)
    if unknown:
        return None
    if ANY_REFERENCE.search(out):
        return resolve_variables(project, path, out, _depth + 1) if VAR_REFERENCE.search(out) else None
    return out
