"""The job schema as Databricks publishes it: the typed models of the ``databricks-bundles`` package.

Each model is a dataclass whose field names are the YAML keys (``databricks.bundles.jobs.Job``,
``Task``, ``NotebookTask``, ``JobEnvironment``, ``Library``, ``PythonPyPiLibrary``,
``JobCluster``...). Field types say what lies below a key: another model (a mapping with a
known set of keys), a list of models, a ``dict[str, ...]`` (free keys such as ``tags``,
``base_parameters``, ``spark_conf``), or a plain value. ``Variable`` alternatives
(``${var.x}``) and ``Optional`` are unwrapped. Nothing is copied by hand: upgrading the
dependency upgrades the schema.
"""

from __future__ import annotations

import dataclasses
import enum
import typing
from dataclasses import dataclass
from functools import lru_cache
from types import NoneType, UnionType


@dataclass(frozen=True)
class FieldShape:
    container: str | None  # None (one value), "list" or "dict"
    model: type | None  # the dataclass describing each value, None for plain values


@lru_cache(maxsize=1)
def job_model() -> type | None:
    """``databricks.bundles.jobs.Job``, or None when the package is not installed."""
    try:
        from databricks.bundles.jobs import Job
    except Exception:  # pragma: no cover - the package is a dependency
        return None
    return Job


def _is_variable(tpe) -> bool:
    origin = typing.get_origin(tpe) or tpe
    return getattr(origin, "__name__", "") == "Variable" and getattr(origin, "__module__", "").startswith("databricks.bundles")


def _unwrap(tpe) -> object:
    """Drop ``Variable[...]`` and ``None`` alternatives of a Union."""
    origin = typing.get_origin(tpe)
    if origin in (typing.Union, UnionType):
        args = [a for a in typing.get_args(tpe) if a is not NoneType and not _is_variable(a)]
        if len(args) == 1:
            return _unwrap(args[0])
        return tpe
    return tpe


def _shape(tpe) -> FieldShape:
    tpe = _unwrap(tpe)
    origin = typing.get_origin(tpe)
    if origin in (list, typing.List):
        (item,) = typing.get_args(tpe) or (None,)
        item = _unwrap(item)
        return FieldShape("list", item if _is_model(item) else None)
    if origin in (dict, typing.Dict):
        args = typing.get_args(tpe)
        value = _unwrap(args[1]) if len(args) == 2 else None
        return FieldShape("dict", value if _is_model(value) else None)
    return FieldShape(None, tpe if _is_model(tpe) else None)


def _is_model(tpe) -> bool:
    return isinstance(tpe, type) and dataclasses.is_dataclass(tpe) and not issubclass(tpe, enum.Enum)


@lru_cache(maxsize=None)
def fields_of(model: type) -> dict[str, FieldShape]:
    """YAML key -> shape of its value, for one model class."""
    try:
        hints = typing.get_type_hints(model)
    except Exception:  # pragma: no cover - unresolvable annotation: fall back to raw types
        hints = {f.name: f.type for f in dataclasses.fields(model)}
    return {f.name: _shape(hints.get(f.name, f.type)) for f in dataclasses.fields(model) if not f.name.startswith("_")}
