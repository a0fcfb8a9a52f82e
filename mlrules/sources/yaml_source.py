"""Bundle YAML with positions: composed nodes (every key and scalar keeps its line/column).

Merge keys (``<<: *anchor``) and aliases are resolved by the helpers below, so rules see the
merged mapping while positions still point at the text that defines each value.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Iterator

import yaml

from mlrules.model import Position, Span
from mlrules.sources.text import LineIndex, newline_of

try:  # the C composer is several times faster and keeps the same marks
    _Loader = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - libyaml missing
    _Loader = yaml.SafeLoader

BUNDLE_ROOT_NAMES = frozenset({"databricks.yml", "databricks.yaml", "bundle.yml", "bundle.yaml"})
BUNDLE_TOP_KEYS = frozenset({"resources", "targets", "bundle"})
_BUNDLE_TOP_LINE = re.compile(r"^(resources|targets|bundle)\s*:", re.M)

# Databricks' own dynamic value references look like templates but are not: {{job.run_id}},
# {{tasks.x.values.y}}, {{secrets/scope/key}}, {{job.parameters.p}}.
_DATABRICKS_REFERENCE = re.compile(
    r"\{\{\s*(?:job|task|tasks|secrets|parent_run|run|backfill|workspace|bundle|input"
    r"|job_id|run_id|start_date|start_time|task_retry_count|parent_run_id|task_key)\b[\w./\-\[\]]*\s*\}\}"
)
_DOUBLE_BRACE = re.compile(r"\{\{.*?\}\}", re.S)

MERGE_TAG = "tag:yaml.org,2002:merge"


def is_go_template(path: str, text: str) -> bool:
    """A Go-templated file (``{{ .Var }}``, ``{{- if }}``...) is a template, not a bundle."""
    if path.endswith(".tmpl"):
        return True
    if "{{" not in text:
        return False
    stripped = _DATABRICKS_REFERENCE.sub("", text)
    return bool(_DOUBLE_BRACE.search(stripped))


def looks_like_bundle(path: str, text: str) -> bool:
    """Cheap pre-check, before parsing, of whether a YAML file may be ours."""
    return os.path.basename(path) in BUNDLE_ROOT_NAMES or bool(_BUNDLE_TOP_LINE.search(text))


class YamlParseError(ValueError):
    def __init__(self, message: str, row: int, column: int):
        super().__init__(message)
        self.row = row
        self.column = column


@dataclass
class YamlSource:
    path: str
    text: str
    had_bom: bool
    newline: str
    root: yaml.Node | None
    _lines: LineIndex | None = field(default=None, repr=False)

    @cached_property
    def lines(self) -> LineIndex:
        return LineIndex(self.text, yaml_breaks=True)  # rows as the YAML parser's marks count them

    @property
    def is_bundle_root(self) -> bool:
        return os.path.basename(self.path) in BUNDLE_ROOT_NAMES

    @property
    def has_bundle_keys(self) -> bool:
        if not isinstance(self.root, yaml.MappingNode):
            return False
        return any(k in BUNDLE_TOP_KEYS for k, _ in iter_mapping(self.root))

    def render(self, new_text: str) -> str:
        return new_text


def load_yaml(path: str, text: str, had_bom: bool) -> YamlSource:
    """Compose the first document. Raises YamlParseError with a position."""
    try:
        docs = yaml.compose_all(text, Loader=_Loader)
        root = next(iter(docs), None)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        row, col = (1, 0)
        if mark is not None:  # from the character offset: libyaml's row can be one past the end
            position = LineIndex(text, yaml_breaks=True).position(min(max(mark.index, 0), len(text)))
            row, col = position.row, position.column
        raise YamlParseError(f"invalid YAML: {exc.problem or exc.context}", row, col) from None
    except yaml.YAMLError as exc:
        raise YamlParseError(f"invalid YAML: {exc}", 1, 0) from None
    except RecursionError:
        raise YamlParseError("invalid YAML: nested too deeply", 1, 0) from None
    return YamlSource(path, text, had_bom, newline_of(text), root)


# --- node helpers -------------------------------------------------------------------------
def node_span(node: yaml.Node) -> Span:
    return Span(Position(node.start_mark.line + 1, node.start_mark.column), Position(node.end_mark.line + 1, node.end_mark.column))


def iter_mapping(node: yaml.Node, _depth: int = 0, _merged: set[int] | None = None) -> Iterator[tuple[str, tuple[yaml.Node, yaml.Node]]]:
    """(key text, (key node, value node)) of a mapping, merge keys resolved (own keys win).

    A mapping merged twice (``<<: [*a, *a]``, or merging itself) adds nothing the second time:
    each is expanded once, so alias cycles and merge "bombs" stay linear.
    """
    if not isinstance(node, yaml.MappingNode) or _depth > 50:
        return
    if _merged is None:
        _merged = set()
    if id(node) in _merged:
        return
    _merged.add(id(node))
    own: dict[str, tuple[yaml.Node, yaml.Node]] = {}
    merged: list[tuple[str, tuple[yaml.Node, yaml.Node]]] = []
    for key, value in node.value:
        if key.tag == MERGE_TAG or (isinstance(key, yaml.ScalarNode) and key.value == "<<" and key.style is None):
            sources = value.value if isinstance(value, yaml.SequenceNode) else [value]
            for src in sources:
                merged.extend(iter_mapping(src, _depth + 1, _merged))
            continue
        if isinstance(key, yaml.ScalarNode):
            own[str(key.value)] = (key, value)
    seen = set(own)
    for name, pair in merged:
        if name not in seen:
            seen.add(name)
            yield name, pair
    yield from own.items()


def mapping_get(node: yaml.Node | None, key: str) -> yaml.Node | None:
    pair = mapping_pair(node, key)
    return pair[1] if pair else None


def mapping_pair(node: yaml.Node | None, key: str) -> tuple[yaml.Node, yaml.Node] | None:
    if node is None:
        return None
    for name, pair in iter_mapping(node):
        if name == key:
            return pair
    return None


def scalar(node: yaml.Node | None) -> str | None:
    if isinstance(node, yaml.ScalarNode):
        return node.value
    return None


def sequence(node: yaml.Node | None) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []
