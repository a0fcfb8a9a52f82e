"""Recording what a file's rules asked the project, so a cached result knows when it is stale.

A file rule sees ``ctx.project``. While a file is linted the engine hands its rules a
``RecordingProxy`` instead: every method call on the project (or on an object reached through
its attributes, such as ``project.pins.single_version("mlflow")``) is recorded with a digest of
its answer. A cached result stays valid exactly as long as replaying those questions against
the current project gives the same answers: editing a bundle YAML invalidates only the
notebooks whose rules asked something whose answer changed.
"""

from __future__ import annotations

from typing import Any

from mlrules.engine.cache import digest

Query = tuple[tuple[str, ...], str, str]  # (attribute path, repr of the arguments, answer digest)

_PLAIN = (str, int, float, bool, bytes, type(None))


class RecordingProxy:
    __slots__ = ("_target", "_path", "_log")

    def __init__(self, target: Any, log: list[Query], path: tuple[str, ...] = ()) -> None:
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_path", path)
        object.__setattr__(self, "_log", log)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        path = self._path + (name,)
        if callable(value) and not isinstance(value, type):
            def call(*args: Any, **kwargs: Any) -> Any:
                result = value(*args, **kwargs)
                self._log.append((path, repr((args, sorted(kwargs.items()))), digest(result)))
                return result

            return call
        if isinstance(value, _PLAIN) or isinstance(value, (tuple, frozenset)):
            self._log.append((path, "", digest(value)))
            return value
        return RecordingProxy(value, self._log, path)

    def __iter__(self):
        # iterating a collection reads all of it
        items = list(self._target)
        self._log.append((self._path + ("__iter__",), "", digest(items)))
        return iter(items)

    def __len__(self) -> int:
        n = len(self._target)
        self._log.append((self._path + ("__len__",), "", digest(n)))
        return n

    def __contains__(self, item: Any) -> bool:
        found = item in self._target
        self._log.append((self._path + ("__contains__",), repr(item), digest(found)))
        return found

    def __getitem__(self, key: Any) -> Any:
        value = self._target[key]
        self._log.append((self._path + ("__getitem__",), repr(key), digest(value)))
        return value


def replay(project: Any, queries: list[Query]) -> bool:
    """True when every recorded question gets the same answer from ``project`` now."""
    import ast

    for path, args, answer in queries:
        try:
            target = project
            for name in path[:-1]:
                target = getattr(target, name)
            last = path[-1]
            if last == "__iter__":
                value = list(target)
            elif last == "__len__":
                value = len(target)
            elif last == "__contains__":
                value = ast.literal_eval(args) in target
            elif last == "__getitem__":
                value = target[ast.literal_eval(args)]
            else:
                value = getattr(target, last)
                if args:
                    call_args, call_kwargs = ast.literal_eval(args)
                    value = value(*call_args, **dict(call_kwargs))
        except Exception:
            return False
        if digest(value) != answer:
            return False
    return True
