"""Read-only views that rules receive: one Python file, one YAML file, or the whole project."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import libcst as cst
import yaml

from mlrules.analysis.index import FileIndex, file_index
from mlrules.analysis.values import StringValue, string_value
from mlrules.model import Edit, Position, Span
from mlrules.project.model import Project
from mlrules.sources.python import PythonSource
from mlrules.sources.yaml_source import YamlSource, node_span

if TYPE_CHECKING:
    pass


@dataclass
class PythonContext:
    source: PythonSource
    project: Project = field(default_factory=Project)

    @property
    def path(self) -> str:
        return self.source.path

    @property
    def module(self) -> cst.Module:
        return self.source.parse()

    @property
    def index(self) -> FileIndex:
        return file_index(self.source)

    @cached_property
    def is_notebook(self) -> bool:
        """RULES.md's "a notebook": a Databricks source file, an ``.ipynb`` file, or a ``.py``
        file that a bundle task of the project runs as ``notebook_task.notebook_path`` (asked
        of the project's bundle model, which lists those files once per run).
        ``source.is_notebook`` only knows the file's own format."""
        return self.source.is_notebook or self.project.is_task_notebook(self.path)

    def span(self, node: cst.CSTNode) -> Span:
        start, end = self.source.node_range(node)
        lines = self.source.lines
        return Span(lines.position(start), lines.position(end))

    def offsets(self, node: cst.CSTNode) -> tuple[int, int]:
        return self.source.node_range(node)

    def replace(self, node: cst.CSTNode, content: str) -> Edit:
        start, end = self.offsets(node)
        return Edit(start, end, content)

    def code_for(self, node: cst.CSTNode) -> str:
        return self.module.code_for_node(node)

    def string_value(self, expr: cst.BaseExpression | None, scope: cst.FunctionDef | None = None) -> StringValue | None:
        return string_value(expr, self.index, scope)

    def line_span(self, row: int) -> Span:
        return Span(Position(row, 0), Position(row, len(self.source.lines.line(row))))

    def offset_span(self, start: int, end: int) -> Span:
        lines = self.source.lines
        return Span(lines.position(start), lines.position(end))


@dataclass
class YamlContext:
    source: YamlSource
    project: Project = field(default_factory=Project)

    @property
    def path(self) -> str:
        return self.source.path

    @property
    def root(self) -> yaml.Node | None:
        return self.source.root

    def span(self, node: yaml.Node) -> Span:
        return node_span(node)

    def offsets(self, node: yaml.Node) -> tuple[int, int]:
        return node.start_mark.index, node.end_mark.index

    def replace(self, node: yaml.Node, content: str) -> Edit:
        start, end = self.offsets(node)
        return Edit(start, end, content)


@dataclass
class ProjectContext:
    project: Project
