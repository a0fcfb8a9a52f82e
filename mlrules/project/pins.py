"""Every exact package pin of the project: ``%pip`` lines, bundle dependencies, requirements files."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from mlrules.analysis.requirements import RequirementWord, parse_named_requirement, exact_pin, pip_install_words
from mlrules.project.bundle import iter_dependency_nodes
from mlrules.sources.python import PythonSource
from mlrules.sources.yaml_source import YamlSource

from packaging.utils import canonicalize_name


@dataclass(frozen=True)
class PinLocation:
    path: str
    row: int  # 1-based


@dataclass
class PinIndex:
    # canonical package name -> version -> where it is pinned
    pins: dict[str, dict[str, list[PinLocation]]] = field(default_factory=lambda: defaultdict(dict))
    # Adds the pins of files outside the run (the project's bundle files), once, before the
    # first question: building the bundle model is only paid by runs that ask.
    _complete: object = field(default=None, repr=False, compare=False)

    def complete_with(self, loader) -> None:
        """Call ``loader(self)`` once, before the first ``versions``/``single_version``."""
        self._complete = loader

    def _completed(self) -> None:
        loader, self._complete = self._complete, None
        if loader is not None:
            loader(self)

    def add(self, name: str, version: str, location: PinLocation) -> None:
        self.pins[canonicalize_name(name)].setdefault(version, []).append(location)

    def versions(self, name: str) -> dict[str, list[PinLocation]]:
        self._completed()
        return self.pins.get(canonicalize_name(name), {})

    def single_version(self, name: str) -> str | None:
        """The version when the project pins ``name`` to exactly one version, else None."""
        versions = self.versions(name)
        return next(iter(versions)) if len(versions) == 1 else None

    # --- collecting -----------------------------------------------------------------------
    def add_python(self, source: PythonSource) -> None:
        for magic in source.magics:
            for word in pip_install_words(magic):
                self._add_word(word, source.path, source.lines.position(word.start).row)

    def add_yaml(self, source: YamlSource) -> None:
        for _job, node in iter_dependency_nodes(source.root):
            req = parse_named_requirement(str(node.value))
            version = exact_pin(req) if req else None
            if req and version:
                self.add(req.name, version, PinLocation(source.path, node.start_mark.line + 1))

    def add_requirements_text(self, path: str, text: str) -> None:
        for row, line in enumerate(text.splitlines(), start=1):
            line = line.split(" #", 1)[0].strip()
            req = parse_named_requirement(line)
            version = exact_pin(req) if req else None
            if req and version:
                self.add(req.name, version, PinLocation(path, row))

    def _add_word(self, word: RequirementWord, path: str, row: int) -> None:
        if word.requirement and word.pinned_version:
            self.add(word.requirement.name, word.pinned_version, PinLocation(path, row))
