"""Imports of a file that name modules of its own project (NB003, NB004).

Every ``import x.y`` / ``from x.y import z`` statement is listed with the module-level statement
that holds it and whether it runs under ``if TYPE_CHECKING`` or inside a ``try`` that catches
``ImportError``; ``project_imports`` then keeps the ones that resolve on the filesystem
(``mlrules.analysis.project_paths``).
"""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst
from packaging.utils import canonicalize_name

from mlrules.analysis.index import dotted_name
from mlrules.analysis.project_paths import ModuleLocation, ProjectRoots, find_module, roots_for
from mlrules.analysis.requirements import pip_install_words

IMPORT_ERROR_CATCHERS = frozenset({"ImportError", "ModuleNotFoundError", "Exception", "BaseException"})


@dataclass(frozen=True)
class ImportSite:
    statement: cst.Import | cst.ImportFrom
    name_node: cst.BaseExpression  # what a finding points at: the module name as written
    candidates: tuple[str, ...]  # dotted names to resolve, most general first
    top: cst.CSTNode  # the module-level statement holding the import
    guarded: bool  # inside a ``try`` whose handlers catch ImportError (or broader)
    type_checking: bool  # under ``if TYPE_CHECKING:``


def import_sites(module: cst.Module) -> list[ImportSite]:
    """Every absolute import statement, in file order (walks statements only: fast)."""
    cached = _CACHE.get(id(module))
    if cached is not None and cached[0] is module:
        return cached[1]
    sites: list[ImportSite] = []
    for statement in module.body:
        _walk(statement, statement, False, False, sites)
    if len(_CACHE) > 8:
        _CACHE.clear()
    _CACHE[id(module)] = (module, sites)
    return sites


_CACHE: dict[int, tuple[cst.Module, list[ImportSite]]] = {}


def _walk(node: cst.CSTNode, top: cst.CSTNode, guarded: bool, type_checking: bool, out: list[ImportSite]) -> None:
    if isinstance(node, cst.SimpleStatementLine):
        for small in node.body:
            if isinstance(small, cst.Import):
                for alias in small.names:
                    name = dotted_name(alias.name)
                    if name:
                        out.append(ImportSite(small, alias.name, (name,), top, guarded, type_checking))
            elif isinstance(small, cst.ImportFrom) and not small.relative and small.module is not None:
                module = dotted_name(small.module)
                if not module:
                    continue
                names = [module]
                if not isinstance(small.names, cst.ImportStar):
                    names += [f"{module}.{n}" for n in (dotted_name(a.name) for a in small.names) if n]
                out.append(ImportSite(small, small.module, tuple(names), top, guarded, type_checking))
        return
    if isinstance(node, cst.Try):
        _walk_block(node.body, top, guarded or bool(_catches_import_error(node)), type_checking, out)
        for handler in node.handlers:
            _walk_block(handler.body, top, guarded, type_checking, out)
        for extra in (node.orelse, node.finalbody):
            if extra is not None:
                _walk_block(extra.body, top, guarded, type_checking, out)
        return
    if isinstance(node, cst.If):
        _walk_block(node.body, top, guarded, type_checking or bool(_is_type_checking(node.test)), out)
        if node.orelse is not None:
            if isinstance(node.orelse, cst.If):
                _walk(node.orelse, top, guarded, type_checking, out)
            else:
                _walk_block(node.orelse.body, top, guarded, type_checking, out)
        return
    body = getattr(node, "body", None)
    if isinstance(body, cst.BaseSuite):
        _walk_block(body, top, guarded, type_checking, out)
    for attribute in ("orelse", "handlers", "finalbody"):
        extra = getattr(node, attribute, None)
        if isinstance(extra, (cst.Else, cst.Finally)):
            _walk_block(extra.body, top, guarded, type_checking, out)
        elif isinstance(extra, (list, tuple)):
            for handler in extra:
                _walk_block(handler.body, top, guarded, type_checking, out)
    for case in getattr(node, "cases", ()) or ():
        _walk_block(case.body, top, guarded, type_checking, out)


def _walk_block(block: cst.BaseSuite, top, guarded, type_checking, out) -> None:
    if isinstance(block, cst.IndentedBlock):
        for statement in block.body:
            _walk(statement, top, guarded, type_checking, out)
    elif isinstance(block, cst.SimpleStatementSuite):
        _walk(cst.SimpleStatementLine(body=block.body), top, guarded, type_checking, out)


def project_imports(module: cst.Module, path: str) -> tuple[ProjectRoots, list[tuple[ImportSite, ModuleLocation]]]:
    """The roots of ``path`` and its import sites whose module resolves inside the project (in file order)."""
    roots = roots_for(path)
    out = []
    for site in import_sites(module):
        for dotted in site.candidates:
            location = find_module(dotted, roots)
            if location is not None:
                out.append((site, location))
                break
    return roots, out


def _catches_import_error(node: cst.Try) -> int:
    for handler in node.handlers:
        if handler.type is None:
            return 1
        types = handler.type.elements if isinstance(handler.type, cst.Tuple) else [handler.type]
        for item in types:
            expr = item.value if isinstance(item, cst.Element) else item
            name = dotted_name(expr)
            if name and name.rsplit(".", 1)[-1] in IMPORT_ERROR_CATCHERS:
                return 1
    return 0


def _is_type_checking(test: cst.BaseExpression) -> int:
    name = dotted_name(test)
    return int(bool(name) and name.rsplit(".", 1)[-1] == "TYPE_CHECKING")


def installs_project(source, found: list[tuple[ImportSite, ModuleLocation]]) -> bool:
    """The notebook pip-installs its own project: a local path, a wheel, an editable project,
    a VCS URL, or a package named like one of the imported project modules (``found``, from
    ``project_imports``). The imports then name the installed package."""
    wanted = {canonicalize_name(loc.module.split(".")[0]) for _, loc in found}
    for magic in source.magics:
        if any(t.text in ("-e", "--editable") or t.text.startswith("--editable=") for t in magic.args):
            if magic.name in ("pip", "pip3") or "pip" in magic.arg_text:
                return True
        for word in pip_install_words(magic):
            if word.requirement is None or word.name in wanted:
                return True
    return False
