"""The project as rules see it: every parsed file of the run and the facts across them."""

from __future__ import annotations

from dataclasses import dataclass, field

from mlrules.project.pins import PinIndex
from mlrules.sources.python import PythonSource
from mlrules.sources.yaml_source import YamlSource


@dataclass
class Project:
    sources: dict[str, PythonSource | YamlSource] = field(default_factory=dict)
    pins: PinIndex = field(default_factory=PinIndex)

    @classmethod
    def build(cls, sources: dict[str, PythonSource | YamlSource], requirements: dict[str, str]) -> "Project":
        project = cls(dict(sources))
        for source in sources.values():
            if isinstance(source, PythonSource):
                project.pins.add_python(source)
            else:
                project.pins.add_yaml(source)
        for path, text in requirements.items():
            project.pins.add_requirements_text(path, text)
        return project

    def python_sources(self) -> list[PythonSource]:
        return [s for s in self.sources.values() if isinstance(s, PythonSource)]

    def yaml_sources(self) -> list[YamlSource]:
        return [s for s in self.sources.values() if isinstance(s, YamlSource)]
