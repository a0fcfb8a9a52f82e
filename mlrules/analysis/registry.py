"""Model logging and the model registry in one file.

Which calls log a model (``mlflow.<flavor>.log_model``, ``fe.log_model``) or register one
(``registered_model_name=``, ``mlflow.register_model``), which registry URI the file sets with
``mlflow.set_registry_uri``, and how many dot-separated parts a registered model name has.
Unknown values stay unknown: callers decide to stay quiet about them.
"""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from mlrules.analysis.includes import included_notebooks
from mlrules.analysis.index import FE_CLIENT, FS_CLIENT, CallSite, FileIndex, canonical
from mlrules.analysis.values import StringValue, string_value

FE_LOG_MODEL = f"{FE_CLIENT}.log_model"
FS_LOG_MODEL = f"{FS_CLIENT}.log_model"
SET_REGISTRY_URI = "mlflow.set_registry_uri"
REGISTER_MODEL = "mlflow.register_model"
UC_REGISTRY = "databricks-uc"


def mlflow_qualname(call: CallSite, index: FileIndex) -> str | None:
    """``call.qualname``; or, for ``mlflow.x.y(...)`` in a file that never binds ``mlflow``
    itself (a notebook that gets it from a ``%run`` setup notebook), the spelling."""
    if call.qualname is not None:
        return call.qualname
    dotted = call.dotted
    if dotted and dotted.startswith("mlflow.") and "()" not in dotted and not binds_name(index, "mlflow"):
        return canonical(dotted)
    return None


def binds_name(index: FileIndex, name: str) -> bool:
    return any(name in scope for scope in index.bindings.values())


def flavor_of_log_model(qualname: str | None) -> str | None:
    """``sklearn`` for ``mlflow.sklearn.log_model``; None for anything else."""
    if not qualname or not qualname.startswith("mlflow.") or not qualname.endswith(".log_model"):
        return None
    middle = qualname[len("mlflow.") : -len(".log_model")]
    return middle if middle and "." not in middle and "(" not in middle else None


def is_feature_log_model(call: CallSite, *, workspace_client: bool = False) -> bool:
    """``FeatureEngineeringClient().log_model`` (also ``FeatureStoreClient`` when asked)."""
    return call.qualname == FE_LOG_MODEL or (workspace_client and call.qualname == FS_LOG_MODEL)


def is_log_model(call: CallSite, index: FileIndex | None = None) -> bool:
    """A resolved model-logging call: ``mlflow.<flavor>.log_model`` or a feature client's."""
    qualname = mlflow_qualname(call, index) if index is not None else call.qualname
    return flavor_of_log_model(qualname) is not None or is_feature_log_model(call, workspace_client=True)


def has_keyword(call: CallSite, *names: str, ignore_none: bool = False) -> bool:
    """The call passes one of ``names`` by keyword (``name=None`` counts as absent with ``ignore_none``)."""
    for name in names:
        arg = call.keyword(name)
        if arg is None:
            continue
        if ignore_none and isinstance(arg.value, cst.Name) and arg.value.value == "None":
            continue
        return True
    return False


def has_double_star(call: CallSite) -> bool:
    """``**kwargs`` in the call: any keyword may be in it."""
    return any(arg.star == "**" for arg in call.node.args)


# --- registering calls and names -----------------------------------------------------------
def registered_name_arg(call: CallSite, index: FileIndex | None = None) -> cst.Arg | None:
    """The model-name argument of a registering call, or None when ``call`` registers nothing.

    ``mlflow.register_model(uri, name)`` and any ``...log_model(..., registered_model_name=...)``
    (resolved or spelled ``x.log_model``).
    """
    qualname = mlflow_qualname(call, index) if index is not None else call.qualname
    if qualname == REGISTER_MODEL:
        return call.argument(1, "name")
    arg = call.keyword("registered_model_name")
    if arg is None:
        return None
    if is_log_model(call, index) or (call.dotted or "").rsplit(".", 1)[-1] == "log_model":
        if isinstance(arg.value, cst.Name) and arg.value.value == "None":
            return None
        return arg
    return None


def registering_calls(index: FileIndex) -> list[tuple[CallSite, cst.Arg]]:
    """Every registering call of the file with its model-name argument, in source order."""
    return [(c, arg) for c in index.calls if (arg := registered_name_arg(c, index)) is not None]


@dataclass(frozen=True)
class NameParts:
    count: int  # dot-separated parts; a placeholder is one part
    placeholders: bool  # the value holds unknown parts

    @property
    def three_parts(self) -> bool:
        return self.count == 3

    @property
    def certainly_not_three(self) -> bool:
        """Fully known and not three parts, or more than three parts whatever the placeholders."""
        return self.count > 3 or (not self.placeholders and self.count != 3)


def name_parts(value: StringValue) -> NameParts:
    """Parts of ``catalog.schema.model``; dots inside ``{placeholders}`` do not split."""
    depth = 0
    count = 1
    for ch in value.text:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth = max(depth - 1, 0)
        elif ch == "." and depth == 0:
            count += 1
    return NameParts(count, value.placeholders > 0 or value.widget is not None)


# --- the registry URI ------------------------------------------------------------------------
@dataclass(frozen=True)
class RegistryFacts:
    calls: int  # mlflow.set_registry_uri(...) calls (in the file and the notebooks it %runs)
    uc: int  # ... whose known value is databricks-uc
    other: int  # ... whose known value is another registry (workspace "databricks", ...)
    unknown: int  # ... whose value is unknown (a variable, a widget, a conditional)
    configured_elsewhere: bool  # registry_uri= / model_registry_uri= keyword or MLFLOW_REGISTRY_URI
    includes_unknown: bool  # a %run that could not be followed (it may set the registry)

    @property
    def uses_uc(self) -> bool:
        """The file sets the registry to Unity Catalog, and to nothing else or unknown."""
        return self.uc > 0 and self.other == 0 and self.unknown == 0

    @property
    def explicit_other(self) -> bool:
        """The file sets a known registry that is not Unity Catalog (and never UC)."""
        return self.other > 0 and self.uc == 0

    @property
    def may_be_workspace(self) -> bool:
        """The file sets (or may set) a registry that is not Unity Catalog."""
        return self.other > 0 or self.unknown > 0

    @property
    def may_be_set(self) -> bool:
        """Anything that sets or may set the registry: a call with any value, a keyword, an
        environment variable, an include that could not be followed."""
        return self.calls > 0 or self.configured_elsewhere or self.includes_unknown


def is_uc_registry(uri: str) -> bool:
    return uri == UC_REGISTRY or uri.startswith(UC_REGISTRY + "://")


def registry_facts(ctx) -> RegistryFacts:
    """What the file (a ``PythonContext``) and the notebooks it includes with ``%run`` say
    about the registry URI."""
    included = included_notebooks(ctx)
    calls = uc = other = unknown = 0
    elsewhere = False
    for index, text in [(ctx.index, ctx.source.text)] + [(n.index, n.source.text) for n in included.notebooks]:
        for call in index.calls:
            if call.qualname != SET_REGISTRY_URI and (call.dotted or "").rsplit(".", 1)[-1] != "set_registry_uri":
                continue  # by spelling too: `mlflow` may come from a %run notebook
            calls += 1
            arg = call.argument(0, "uri")
            value = string_value(arg.value, index, call.function) if arg is not None else None
            if value is None or not value.fully_known:
                unknown += 1
            elif is_uc_registry(value.text):
                uc += 1
            else:
                other += 1
        elsewhere = elsewhere or "MLFLOW_REGISTRY_URI" in text or any(
            c.keyword("registry_uri") is not None or c.keyword("model_registry_uri") is not None for c in index.calls
        )
    return RegistryFacts(calls, uc, other, unknown, elsewhere, not included.complete)


# --- callers in other files ------------------------------------------------------------------
def importers_set_registry(ctx) -> bool:
    """Some other Python file of the project imports this module (``import pkg.mod``,
    ``from pkg.mod import f``, ``from pkg import mod``) and sets or may set the registry
    (``set_registry_uri`` with any value, ``registry_uri=``/``model_registry_uri=``, or
    ``MLFLOW_REGISTRY_URI``): a library function that registers a model relies on that caller."""
    import os

    from mlrules.analysis.local_imports import import_sites
    from mlrules.analysis.project_paths import find_module, roots_for

    me = os.path.abspath(ctx.path)
    stem = os.path.splitext(os.path.basename(me))[0]
    if stem == "__init__":
        stem = os.path.basename(os.path.dirname(me))
    for source in ctx.project.python_sources():
        text = source.text
        if os.path.abspath(source.path) == me or stem not in text:
            continue
        if "set_registry_uri" not in text and "registry_uri" not in text and "MLFLOW_REGISTRY_URI" not in text:
            continue
        facts = ctx.project.facts(source.path)
        if facts is None or facts.module is None or facts.index is None:
            continue
        roots = roots_for(source.path)
        imports_me = any(
            (location := find_module(dotted, roots)) is not None and os.path.abspath(location.file) == me
            for site in import_sites(facts.module)
            for dotted in site.candidates
            if stem in dotted
        )
        if not imports_me:
            continue
        if "MLFLOW_REGISTRY_URI" in text or any(
            (call.dotted or "").rsplit(".", 1)[-1] == "set_registry_uri"
            or call.keyword("registry_uri") is not None
            or call.keyword("model_registry_uri") is not None
            for call in facts.index.calls
        ):
            return True
    return False
