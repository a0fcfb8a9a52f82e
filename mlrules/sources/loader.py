"""Turning a path's bytes into a source object, or a precise reason why not."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from mlrules.sources.ipynb import NotebookFormatError
from mlrules.sources.python import PythonSource, load_python
from mlrules.sources.text import DecodeError, decode
from mlrules.sources.yaml_source import YamlParseError, YamlSource, is_go_template, load_yaml, looks_like_bundle

Source = Union[PythonSource, YamlSource]

PYTHON_SUFFIXES = (".py", ".ipynb")
YAML_SUFFIXES = (".yml", ".yaml")


@dataclass(frozen=True)
class ParseProblem:
    """The file is ours but cannot be parsed: becomes an MLR001 finding."""

    path: str
    message: str
    row: int
    column: int


@dataclass(frozen=True)
class Skipped:
    """The file is not ours (non-bundle YAML, a Go template) or not text: verbose mode says why."""

    path: str
    reason: str


LoadResult = Union[PythonSource, YamlSource, ParseProblem, Skipped]


def file_kind(path: str) -> str | None:
    lower = path.lower()
    if lower.endswith(".ipynb"):
        return "ipynb"
    if lower.endswith(".py"):
        return "python"
    if lower.endswith(YAML_SUFFIXES) or lower.endswith(".yml.tmpl") or lower.endswith(".yaml.tmpl"):
        return "yaml"
    return None


def load_source(path: str, data: bytes, *, known_bundle_file: bool = False) -> LoadResult:
    """Decode and parse ``data`` read from ``path``.

    ``known_bundle_file`` marks YAML reached by a bundle's ``include:``; such a file is ours
    even without top-level bundle keys.
    """
    kind = file_kind(path)
    try:
        text, had_bom = decode(data)
    except DecodeError as exc:
        if kind == "yaml" and not known_bundle_file:
            return Skipped(path, f"not a text file: {exc}")
        return ParseProblem(path, f"cannot read file: {exc}", 1, 0)
    if kind == "yaml":
        if is_go_template(path, text):
            return Skipped(path, "Go template (not a bundle file)")
        ours = known_bundle_file or looks_like_bundle(path, text)
        if not ours:
            return Skipped(path, "YAML without bundle keys (not ours)")
        try:
            source = load_yaml(path, text, had_bom)
        except YamlParseError as exc:
            return ParseProblem(path, str(exc), *_inside(text, exc.row, exc.column, yaml_breaks=True))
        if not (known_bundle_file or source.is_bundle_root or source.has_bundle_keys):
            return Skipped(path, "YAML without bundle keys (not ours)")
        return source
    try:
        source = load_python(path, text, had_bom, ipynb=kind == "ipynb")
    except NotebookFormatError as exc:
        return ParseProblem(path, str(exc), *_inside(text, exc.row, exc.column))
    return source


def _inside(text: str, row: int, column: int, yaml_breaks: bool = False) -> tuple[int, int]:
    """A parser's error position, moved inside the text's lines (an error at the very end of a
    file, or past a line's ``\r``, points just after the last character of that line)."""
    from mlrules.sources.text import LineIndex

    lines = LineIndex(text, yaml_breaks=yaml_breaks)
    row = min(max(row, 1), lines.line_count)
    return row, min(max(column, 0), len(lines.line(row)))
