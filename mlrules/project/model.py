"""The project as rules see it: every parsed file of the run and the facts across them."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from mlrules.project.pins import PinIndex
from mlrules.sources.python import PythonSource
from mlrules.sources.yaml_source import YamlSource


_MAX_REQUIREMENTS_BYTES = 1024 * 1024


@dataclass
class Project:
    sources: dict[str, PythonSource | YamlSource] = field(default_factory=dict)
    pins: PinIndex = field(default_factory=PinIndex)
    _facts: dict = field(default_factory=dict, repr=False, compare=False)  # path -> NotebookFacts | None
    _bundle_model: object = field(default=None, repr=False, compare=False)  # BundleModel, built on first use
    _requirements: tuple = field(default=(), repr=False, compare=False)  # requirements files read by the run

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
        project._requirements = tuple(requirements)
        project.pins.complete_with(project.add_bundle_pins)
        return project

    def add_bundle_pins(self, pins: PinIndex) -> None:
        """Pins from the files of the bundles that the run did not load (called once, on the
        first question to ``pins``): requirements files the bundle names (``libraries[].requirements``,
        ``-r <file>`` dependencies, ``requirements*.txt`` at the bundle root) and the ``%pip``
        lines of the notebooks that bundle tasks run. A partial run (pre-commit passes the
        changed files) then knows the same pins as a run over the whole bundle."""
        model = self.bundle_model
        known = {os.path.normpath(os.path.abspath(p)) for p in (*self.sources, *self._requirements)}
        for path in model.requirements_files:
            if path in known:
                continue
            known.add(path)
            try:
                from mlrules.sources.limits import read_regular

                text = read_regular(path, _MAX_REQUIREMENTS_BYTES).decode("utf-8", "replace")  # never blocks on a FIFO
            except OSError:
                continue
            pins.add_requirements_text(model.display_path(path), text)
        for path in model.task_notebook_paths:
            if path in known:
                continue
            known.add(path)
            facts = model.facts(path)
            if facts is not None:
                pins.add_python(facts.source)

    def pin_versions(self, path: str, name: str) -> dict:
        """The exact pins of ``name`` (version -> locations) that a file at ``path`` may follow:
        ``pins.versions(name)`` without the pins that sit inside the folder of a bundle root
        that does not contain ``path`` (another project of a monorepo chose that version for
        its own jobs or app). Pins outside every bundle folder are kept."""
        versions = self.pins.versions(name)
        if not versions:
            return versions
        folders = sorted({b.folder for b in self.bundle_model.bundles if b.folder}, key=len, reverse=True)
        if len(folders) < 2:
            return versions
        me = os.path.abspath(path)
        out: dict = {}
        for version, locations in versions.items():
            kept = []
            for location in locations:
                where = os.path.abspath(location.path)
                owner = next((f for f in folders if _inside(where, f)), None)
                if owner is None or _inside(me, owner):
                    kept.append(location)
            if kept:
                out[version] = kept
        return out

    def is_notebook(self, path: str) -> bool:
        """RULES.md's "a notebook": a Databricks source file, an ``.ipynb`` file, or any ``.py``
        file that a bundle task of the project runs as ``notebook_task.notebook_path``."""
        source = self.sources.get(path)
        if isinstance(source, PythonSource) and source.is_notebook:
            return True
        return self.is_task_notebook(path)

    def is_task_notebook(self, path: str) -> bool:
        """A bundle task of the project runs ``path`` as ``notebook_task.notebook_path`` (the
        bundle model lists those files once per run; this is a dictionary lookup)."""
        return bool(self.bundle_model.notebook_tasks(path))

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


def _inside(path: str, folder: str) -> bool:
    return os.path.normcase(path).startswith(os.path.normcase(folder.rstrip(os.sep) + os.sep))
