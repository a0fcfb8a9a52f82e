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
    _facts: dict = field(default_factory=dict, repr=False, compare=False)  # path -> NotebookFacts | None
    _bundle_model: object = field(default=None, repr=False, compare=False)  # BundleModel, built on first use

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

    def facts(self, path: str):
        """Per-file notebook facts (widgets, %run, feature tables, models), computed once and cached.

        See ``mlrules.project.notebook_facts.NotebookFacts``; None for YAML or unknown paths.
        """
        from mlrules.project.notebook_facts import facts_for

        return facts_for(self, path)

    @property
    def bundle_model(self):
        """Bundles, includes, variables, targets, jobs and tasks (``mlrules.project.bundle_model``),
        built once on first use and shared by every rule of the run."""
        if self._bundle_model is None:
            from mlrules.project.bundle_model import BundleModel

            self._bundle_model = BundleModel(self)
        return self._bundle_model

    def python_sources(self) -> list[PythonSource]:
        return [s for s in self.sources.values() if isinstance(s, PythonSource)]

    def yaml_sources(self) -> list[YamlSource]:
        return [s for s in self.sources.values() if isinstance(s, YamlSource)]
