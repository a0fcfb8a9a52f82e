"""The bundle model: what the Databricks CLI would deploy, computed once per run.

``Project.bundle_model`` builds it lazily from the YAML sources of the run; every project rule
shares it. It holds, for each bundle root (``databricks.yml|yaml``, ``bundle.yml|yaml``):

- the files its ``include:`` entries reach (Go ``filepath.Glob``: ``*`` does not cross ``/``;
  sorted per entry, de-duplicated; includes of non-root files are ignored, as by the CLI);
- ``variables:`` and their defaults, per target with the target's overrides; ``${var.x}``,
  ``${variables.x.value}``, ``${bundle.target}``, ``${bundle.name}`` and
  ``${workspace.file_path}`` are resolved where known, and anything else is unknown (None);
- one *view* per target (or one base view when the bundle has no targets): the jobs with the
  target merged over the base (mappings deep-merged, sequences appended, then tasks merged by
  ``task_key``, job clusters by ``job_cluster_key``, environments by ``environment_key`` and
  job parameters by ``name``). A target override is partial: it only adds or replaces;
- jobs, tasks (with ``for_each_task.task``) and what they run: ``notebook_task.notebook_path``
  and ``spark_python_task.python_file`` resolved from the folder of the YAML file that defines
  the value (``${workspace.file_path}`` is the bundle root), a notebook tried with and
  without ``.py``/``.ipynb``/``.sql``/``.scala``/``.r``.

Positions are kept: every ``Node`` of the merged tree holds the ``YamlSource`` and the composed
YAML node (with its marks) of the file that defines it, so a finding on a merged value points
into the included file or the target override that wrote it.

YAML files that no bundle root reaches but that look like bundle files (top-level
``resources:``/``targets:``) become *orphan* bundles: their jobs are modelled, their variables
are unknown.
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Iterable, Iterator

import yaml

from mlrules.model import Span
from mlrules.project.go_glob import BadPattern, go_glob, has_meta
from mlrules.sources.python import PythonSource
from mlrules.sources.yaml_source import (
    MERGE_TAG,
    YamlSource,
    iter_mapping,
    mapping_get,
    mapping_pair,
    node_span,
)

if TYPE_CHECKING:
    from mlrules.project.model import Project
    from mlrules.project.notebook_facts import NotebookFacts

NOTEBOOK_EXTENSIONS = (".py", ".ipynb", ".sql", ".scala", ".r")
# Sequences of a job whose elements the CLI merges by a key after the target merge.
KEYED_SEQUENCES = (("tasks", "task_key"), ("job_clusters", "job_cluster_key"), ("environments", "environment_key"), ("parameters", "name"))
REFERENCE = re.compile(r"\$\{([^${}]+)\}")
# ${var.x} / ${var.x.field} / ${var.x[0]} and ${variables.x.value}
VARIABLE_REFERENCE = re.compile(r"\$\{(?:var|variables)\.([A-Za-z][A-Za-z0-9_-]*)")
_MAX_DEPTH = 64


# --- the merged tree ------------------------------------------------------------------------


class Node:
    """A YAML value after merging, with the source and composed node that define it.

    ``key`` is the key node under which the value was written (None for sequence items).
    For a merged mapping, ``yaml``/``key``/``source`` are those of its first definition
    (the base), while each child keeps its own.
    """

    __slots__ = ("source", "yaml", "key", "children", "items")

    def __init__(self, source: YamlSource, ynode: yaml.Node, key: yaml.Node | None, children=None, items=None) -> None:
        self.source = source
        self.yaml = ynode
        self.key = key
        self.children: dict[str, Node] | None = children
        self.items: list[Node] | None = items

    @property
    def is_map(self) -> bool:
        return self.children is not None

    @property
    def is_seq(self) -> bool:
        return self.items is not None

    @property
    def is_scalar(self) -> bool:
        return isinstance(self.yaml, yaml.ScalarNode)

    @property
    def is_null(self) -> bool:
        return isinstance(self.yaml, yaml.ScalarNode) and self.yaml.tag.endswith(":null")

    @property
    def value(self) -> str | None:
        """The text of a non-null scalar, else None."""
        if isinstance(self.yaml, yaml.ScalarNode) and not self.is_null:
            return str(self.yaml.value)
        return None

    def get(self, name: str) -> "Node | None":
        return self.children.get(name) if self.children is not None else None

    def text(self, name: str) -> str | None:
        child = self.get(name)
        return child.value if child is not None else None

    def path(self, *names: str) -> "Node | None":
        node: Node | None = self
        for name in names:
            node = node.get(name) if node is not None else None
        return node

    def mapping_items(self) -> list["Node"]:
        return [item for item in (self.items or ()) if item.is_map]

    @property
    def span(self) -> Span:
        return node_span(self.yaml)

    @property
    def key_span(self) -> Span:
        return node_span(self.key) if self.key is not None else node_span(self.yaml)

    @property
    def location(self) -> str:
        """``path:row`` of the value, for messages."""
        return f"{self.source.path}:{self.yaml.start_mark.line + 1}"

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        kind = "map" if self.is_map else "seq" if self.is_seq else repr(self.value)
        return f"<Node {kind} at {self.location}>"


_MAX_NODES = 200_000  # nodes one tree may expand to: aliases of aliases ("billion laughs") stop here


def to_node(source: YamlSource, ynode: yaml.Node | None, key: yaml.Node | None = None, depth: int = 0, _state: list | None = None) -> Node | None:
    """The tree of a composed node: merge keys resolved, aliases followed (positions of the anchor).

    An alias of one of its own ancestors (``&t [*t]``) is not followed, and one tree expands to
    at most ``_MAX_NODES`` nodes, so recursive and exponential alias structures stay small.
    """
    if ynode is None or depth > _MAX_DEPTH:
        return None
    if _state is None:
        _state = [_MAX_NODES, set()]  # [nodes left, ids of the ancestors]
    if _state[0] <= 0 or id(ynode) in _state[1]:
        return None
    _state[0] -= 1
    if isinstance(ynode, (yaml.MappingNode, yaml.SequenceNode)):
        _state[1].add(id(ynode))
        try:
            if isinstance(ynode, yaml.MappingNode):
                children: dict[str, Node] = {}
                for name, (k, v) in iter_mapping(ynode):
                    child = to_node(source, v, k, depth + 1, _state)
                    if child is not None:
                        children[name] = child
                return Node(source, ynode, key, children=children)
            items = [n for n in (to_node(source, v, None, depth + 1, _state) for v in ynode.value) if n is not None]
            return Node(source, ynode, key, items=items)
        finally:
            _state[1].discard(id(ynode))
    return Node(source, ynode, key)


def merge(base: Node | None, over: Node | None) -> Node | None:
    """``over`` merged onto ``base`` like the CLI: mappings recursively, sequences appended,
    anything else replaced. A null override keeps the base."""
    if base is None:
        return over
    if over is None or over.is_null:
        return base
    if base.is_map and over.is_map:
        children = dict(base.children)  # type: ignore[arg-type]
        for name, child in over.children.items():  # type: ignore[union-attr]
            children[name] = merge(children.get(name), child)  # type: ignore[assignment]
        return Node(base.source, base.yaml, base.key, children=children)
    if base.is_seq and over.is_seq:
        return Node(base.source, base.yaml, base.key, items=list(base.items) + list(over.items))  # type: ignore[arg-type]
    return over


def merge_by_key(sequence: Node, key: str) -> Node:
    """Elements with the same ``key`` merged into the first one (the CLI's ElementsByKey)."""
    if not sequence.is_seq:
        return sequence
    order: list[object] = []
    merged: dict[object, Node] = {}
    for index, item in enumerate(sequence.items):  # type: ignore[union-attr]
        name = item.text(key) if item.is_map else None
        ident: object = name if name is not None else ("#", index)
        if ident in merged:
            merged[ident] = merge(merged[ident], item)  # type: ignore[assignment]
        else:
            order.append(ident)
            merged[ident] = item
    return Node(sequence.source, sequence.yaml, sequence.key, items=[merged[i] for i in order])


def normalize_job(job: Node) -> Node:
    if not job.is_map:
        return job
    children = dict(job.children)  # type: ignore[arg-type]
    for name, key in KEYED_SEQUENCES:
        if name in children and children[name].is_seq:
            children[name] = merge_by_key(children[name], key)
    return Node(job.source, job.yaml, job.key, children=children)


# --- what a task runs -------------------------------------------------------------------------


@dataclass
class TaskRun:
    """``notebook_task.notebook_path`` or ``spark_python_task.python_file`` of a task."""

    kind: str  # "notebook" | "python_file"
    node: Node  # the path scalar, where it is written
    written: str  # as written
    resolved: str | None  # after ${...} substitution; None when unknown
    candidate: str | None  # absolute local path it names (before trying extensions); None when not local
    path: str | None  # the existing file (absolute), None when missing or not checkable
    checkable: bool  # a local path that must exist (not absolute in the workspace, not git, not unknown)

    @property
    def field(self) -> str:
        return "notebook_path" if self.kind == "notebook" else "python_file"


@dataclass
class Task:
    job: "Job"
    node: Node
    parent: "Task | None" = None  # the for_each_task task holding this one

    @property
    def key(self) -> str | None:
        return self.node.text("task_key")

    @property
    def label(self) -> str:
        if self.key is None and self.parent is not None:
            return f"{self.parent.label} (for_each_task)"
        return self.key or "?"

    @cached_property
    def run(self) -> TaskRun | None:
        return self.job.view.task_run(self)

    @property
    def notebook_task(self) -> Node | None:
        node = self.node.get("notebook_task")
        return node if node is not None and node.is_map else None


@dataclass
class Job:
    name: str  # the resource key
    node: Node
    view: "View"

    @property
    def key(self) -> yaml.Node | None:
        return self.node.key

    @cached_property
    def tasks(self) -> list[Task]:
        out: list[Task] = []
        tasks = self.node.get("tasks")
        for item in tasks.mapping_items() if tasks is not None else ():
            task = Task(self, item)
            out.append(task)
            inner = item.path("for_each_task", "task")
            if inner is not None and inner.is_map:
                out.append(Task(self, inner, task))
        return out

    @property
    def display_name(self) -> str:
        return self.node.text("name") or self.name

    @cached_property
    def is_training(self) -> bool:
        """The job's key, name, task keys or task paths mention ``train``."""
        words = [self.name, self.node.text("name") or ""]
        for task in self.tasks:
            words.append(task.key or "")
            if task.run is not None:
                words.append(task.run.written)
        return any("train" in w.lower() for w in words)

    def keys_of(self, sequence: str, key: str) -> set[str] | None:
        """The ``key`` values of the job's ``sequence`` (None when the sequence is not a literal list)."""
        node = self.node.get(sequence)
        if node is None:
            return set()
        if not node.is_seq:
            return None
        out: set[str] = set()
        for item in node.items:  # type: ignore[union-attr]
            if not item.is_map:
                return None
            value = item.text(key)
            if value is None:
                continue
            resolved = self.view.resolve(value)
            if resolved is None:
                return None
            out.add(resolved)
        return out


@dataclass
class IncludeEntry:
    source: YamlSource  # the file holding the entry
    node: yaml.ScalarNode
    pattern: str
    matches: list[str]  # absolute paths
    bad_pattern: bool = False
    in_root: bool = True

    @property
    def is_glob(self) -> bool:
        return has_meta(self.pattern)


# --- views: one per target ------------------------------------------------------------------


class View:
    """The bundle as deployed to one target (``target`` None: the base, for a bundle without targets)."""

    def __init__(self, bundle: "Bundle", target: str | None) -> None:
        self.bundle = bundle
        self.target = target
        self._variables: dict[str, str | None] = {}

    def __repr__(self) -> str:  # pragma: no cover
        return f"<View {self.target or '(base)'} of {self.bundle}>"

    # variables ---------------------------------------------------------------------------
    def variable_node(self, name: str) -> Node | None:
        """The value node of variable ``name`` in this view (target override first), or None."""
        if self.target is not None:
            override = self.bundle.target_variables.get(self.target, {}).get(name)
            if override is not None:
                if override.is_map:
                    if "lookup" in override.children:  # type: ignore[operator]
                        return None
                    if "default" in override.children:  # type: ignore[operator]
                        return override.get("default")
                    return override  # a complex value written as a mapping
                return override
        declaration = self.bundle.variables.get(name)
        if declaration is None:
            return None
        if declaration.is_map:
            if "lookup" in declaration.children:  # type: ignore[operator]
                return None
            return declaration.get("default")
        return declaration  # shorthand: `name: value`

    def variable(self, name: str, _depth: int = 0) -> str | None:
        """The scalar value of ``${var.name}`` in this view, or None when unknown."""
        if name in self._variables:
            return self._variables[name]
        self._variables[name] = None  # a cycle resolves to unknown
        node = self.variable_node(name)
        value = node.value if node is not None else None
        if value is not None and "${" in value:
            value = self.resolve(value, _depth + 1)
        self._variables[name] = value
        return value

    def reference(self, ref: str, extra: dict[str, str] | None = None, _depth: int = 0) -> str | None:
        ref = ref.strip()
        if extra and ref in extra:
            return extra[ref]
        if ref.startswith("var."):
            name = ref[4:]
            return self.variable(name, _depth) if re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", name) else None
        if ref.startswith("variables.") and ref.endswith(".value"):
            name = ref[len("variables.") : -len(".value")]
            return self.variable(name, _depth) if re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", name) else None
        if ref == "bundle.target":
            return self.target
        if ref == "bundle.name":
            return self.bundle.name
        return None

    def resolve(self, text: str, _depth: int = 0, extra: dict[str, str] | None = None) -> str | None:
        """``text`` with every ``${...}`` replaced; None when any reference is unknown."""
        if "${" not in text:
            return text
        if _depth > 10:
            return None
        unknown = False

        def sub(match: re.Match[str]) -> str:
            nonlocal unknown
            value = self.reference(match.group(1), extra, _depth)
            if value is None:
                unknown = True
                return ""
            return value

        out = REFERENCE.sub(sub, text)
        if unknown:
            return None
        if "${" in out:
            return self.resolve(out, _depth + 1, extra) if REFERENCE.search(out) else out
        return out

    # jobs -------------------------------------------------------------------------------------
    @cached_property
    def jobs(self) -> list[Job]:
        base = self.bundle.base_jobs
        over = self.bundle.target_jobs.get(self.target) if self.target is not None else None
        merged = merge(base, over)
        if merged is None or not merged.is_map:
            return []
        return [Job(name, normalize_job(node), self) for name, node in merged.children.items() if node.is_map]  # type: ignore[union-attr]

    def task_run(self, task: Task) -> TaskRun | None:
        for kind, holder_name, field_name in (("notebook", "notebook_task", "notebook_path"), ("python_file", "spark_python_task", "python_file")):
            holder = task.node.get(holder_name)
            if holder is None or not holder.is_map:
                continue
            value = holder.get(field_name)
            if value is None or value.value is None:
                continue
            return self._run_of(task, kind, holder, value)
        return None

    def _run_of(self, task: Task, kind: str, holder: Node, value: Node) -> TaskRun:
        written = value.value or ""
        source = (self.resolve(holder.text("source") or "") or "").upper()
        from_git = source == "GIT" or (task.job.node.get("git_source") is not None and source != "WORKSPACE")
        root = self.bundle.folder
        resolved = self.resolve(written, extra={"workspace.file_path": root} if root else None)
        if resolved is None or from_git or "://" in resolved or resolved.startswith(("dbfs:", "file:")):
            return TaskRun(kind, value, written, resolved, None, None, False)
        rooted = root is not None and "${workspace.file_path}" in written
        if resolved.startswith("/") and not rooted:
            return TaskRun(kind, value, written, resolved, None, None, False)  # a workspace path
        base = os.path.dirname(os.path.abspath(value.source.path))
        candidate = os.path.normpath(os.path.join(base, resolved))
        found = None
        for ext in ("",) + (NOTEBOOK_EXTENSIONS if kind == "notebook" else ()):
            if os.path.isfile(candidate + ext):
                found = candidate + ext
                break
        return TaskRun(kind, value, written, resolved, candidate, found, True)

    def local_file(self, value: Node, text: str | None = None) -> str | None:
        """The existing local file (absolute) that the path scalar ``value`` names (or ``text``,
        a part of it), resolved from the folder of the YAML file that writes it
        (``${workspace.file_path}`` is the bundle root); None for workspace/volume/remote
        paths, unknown values and missing files."""
        written = ((value.value if text is None else text) or "").strip()
        if not written:
            return None
        root = self.bundle.folder
        resolved = self.resolve(written, extra={"workspace.file_path": root} if root else None)
        if resolved is None or "://" in resolved or resolved.startswith(("dbfs:", "file:")):
            return None
        if resolved.startswith("/") and not (root is not None and "${workspace.file_path}" in written):
            return None  # a workspace or volume path
        path = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(value.source.path)), resolved))
        return path if os.path.isfile(path) else None


# --- bundles --------------------------------------------------------------------------------


class Bundle:
    def __init__(self, model: "BundleModel", root: YamlSource | None, files: list[YamlSource], includes: list[IncludeEntry]) -> None:
        self.model = model
        self.root = root
        self.files = files
        self.includes = includes
        self.folder = os.path.dirname(os.path.abspath(root.path)) if root is not None else None

    def __repr__(self) -> str:  # pragma: no cover
        return f"<Bundle {self.root.path if self.root else self.files[0].path}>"

    @property
    def is_orphan(self) -> bool:
        return self.root is None

    @cached_property
    def name(self) -> str | None:
        for source in self.files:
            value = mapping_get(mapping_get(source.root, "bundle"), "name")
            if isinstance(value, yaml.ScalarNode) and "${" not in str(value.value):
                return str(value.value)
        return None

    def _section(self, *names: str) -> list[Node]:
        out = []
        for source in self.files:
            ynode = source.root
            key = None
            for name in names:
                pair = mapping_pair(ynode, name)
                if pair is None:
                    ynode = None
                    break
                key, ynode = pair
            node = to_node(source, ynode, key) if ynode is not None else None
            if node is not None:
                out.append(node)
        return out

    @cached_property
    def variables(self) -> dict[str, Node]:
        """Declared variables (top-level ``variables:`` of every file): name -> declaration."""
        out: dict[str, Node] = {}
        for section in self._section("variables"):
            for name, node in (section.children or {}).items():
                out[name] = merge(out.get(name), node)  # type: ignore[assignment]
        return out

    @cached_property
    def targets(self) -> dict[str, Node]:
        out: dict[str, Node] = {}
        for section in self._section("targets"):
            for name, node in (section.children or {}).items():
                out[name] = merge(out.get(name), node)  # type: ignore[assignment]
        return out

    @cached_property
    def target_variables(self) -> dict[str, dict[str, Node]]:
        out: dict[str, dict[str, Node]] = {}
        for name, target in self.targets.items():
            section = target.get("variables")
            out[name] = dict(section.children) if section is not None and section.is_map else {}  # type: ignore[arg-type]
        return out

    @cached_property
    def base_jobs(self) -> Node | None:
        merged: Node | None = None
        for section in self._section("resources", "jobs"):
            merged = merge(merged, section)
        return merged

    @cached_property
    def target_jobs(self) -> dict[str, Node | None]:
        return {name: target.path("resources", "jobs") for name, target in self.targets.items()}

    @cached_property
    def target_names(self) -> list[str]:
        return list(self.targets)

    @cached_property
    def views(self) -> list[View]:
        if self.targets:
            return [View(self, name) for name in self.targets]
        return [View(self, None)]

    def jobs(self) -> Iterator[Job]:
        for view in self.views:
            yield from view.jobs

    # files of the bundle folder, for did-you-mean suggestions --------------------------------
    @cached_property
    def search_folder(self) -> str:
        """The folder whose files did-you-mean suggestions come from: the bundle folder; for an
        orphan file, the folder of the nearest bundle root above it (the bundle it was probably
        meant for), else its own folder."""
        if self.folder is not None:
            return self.folder
        own = os.path.dirname(os.path.abspath(self.files[0].path))
        root = find_bundle_root(own)
        return os.path.dirname(root) if root is not None else own

    @cached_property
    def tree_files(self) -> list[str]:
        """Relative paths of the files under the bundle's search folder (hidden and build folders skipped)."""
        folder = self.search_folder
        out: list[str] = []
        for current, dirs, files in os.walk(folder):
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIP_DIRS)
            for name in sorted(files):
                out.append(os.path.relpath(os.path.join(current, name), folder))
            if len(out) > 20000:
                break
        return out

    def suggest(self, missing: str, kind: str) -> str | None:
        """The existing file closest to the absolute path ``missing`` (absolute), or None."""
        folder = self.search_folder
        extensions = NOTEBOOK_EXTENSIONS if kind == "notebook" else (".py",)
        candidates = [p for p in self.tree_files if p.lower().endswith(extensions)]
        if kind == "notebook":
            # notebook paths are often written without extension: compare both spellings
            stems = {os.path.splitext(p)[0]: p for p in candidates}
            candidates = candidates + list(stems)
        wanted = os.path.relpath(missing, folder)
        # a close path must also have a close file name: `src/jobs/main.py` is not a typo of
        # `src/jobs/loader.py` just because the folders agree
        close = [
            p for p in difflib.get_close_matches(wanted, candidates, n=5, cutoff=0.6)
            if _similar_names(p, wanted)
        ][:1]
        if not close:
            # the file name alone, anywhere in the tree
            by_name: dict[str, str] = {}
            for p in candidates:
                by_name.setdefault(os.path.basename(p), p)
            close_names = difflib.get_close_matches(os.path.basename(wanted), list(by_name), n=1, cutoff=0.8)
            if not close_names:
                return None
            close = [by_name[close_names[0]]]
        return os.path.join(folder, close[0])


def _similar_names(path: str, wanted: str) -> bool:
    """The file names (without extension) of two paths are alike (difflib ratio >= 0.6)."""
    a = os.path.splitext(os.path.basename(path))[0].lower()
    b = os.path.splitext(os.path.basename(wanted))[0].lower()
    return difflib.SequenceMatcher(None, a, b).ratio() >= 0.6


_SKIP_DIRS = frozenset({"node_modules", "venv", "build", "dist", "__pycache__", "site-packages"})
_REQUIREMENT_OPTION = re.compile(r"^(?:-r|--requirement)(?:\s+|=)(\S.*)$")


def _requirements_values(job: Job) -> Iterator[tuple[Node, str]]:
    """(scalar, path text) of the requirements files a job names: ``libraries[].requirements``
    of its tasks and ``-r <file>`` entries of its environments' ``dependencies``."""
    for task in job.tasks:
        libraries = task.node.get("libraries")
        for lib in libraries.mapping_items() if libraries is not None else ():
            value = lib.get("requirements")
            if value is not None and value.value:
                yield value, value.value
    environments = job.node.get("environments")
    for env in environments.mapping_items() if environments is not None else ():
        deps = env.path("spec", "dependencies")
        for dep in deps.items or () if deps is not None else ():
            match = _REQUIREMENT_OPTION.match((dep.value or "").strip())
            if match:
                yield dep, match.group(1).strip()


# --- the model ------------------------------------------------------------------------------


def bundle_root_includes(root: YamlSource) -> list[IncludeEntry]:
    """The ``include:`` entries of a bundle root with the files each one matches."""
    return _includes_of(root, in_root=True)


def _includes_of(source: YamlSource, in_root: bool) -> list[IncludeEntry]:
    node = mapping_get(source.root, "include")
    if not isinstance(node, yaml.SequenceNode):
        return []
    folder = os.path.dirname(os.path.abspath(source.path))
    out = []
    for item in node.value:
        if not isinstance(item, yaml.ScalarNode) or not str(item.value).strip():
            continue
        pattern = str(item.value)
        try:
            matches = go_glob(folder, pattern) if in_root and not os.path.isabs(pattern) else []
            bad = False
        except BadPattern:
            matches, bad = [], True
        out.append(IncludeEntry(source, item, pattern, matches, bad, in_root))
    return out


def included_paths(root: YamlSource) -> list[str]:
    """Absolute paths of the YAML files a root's ``include:`` reaches, in CLI order, de-duplicated."""
    seen = {os.path.normpath(os.path.abspath(root.path))}
    out = []
    for entry in bundle_root_includes(root):
        for match in entry.matches:
            if match in seen or not match.lower().endswith((".yml", ".yaml")):
                continue
            seen.add(match)
            out.append(match)
    return out


class BundleModel:
    def __init__(self, project: "Project") -> None:
        self.project = project
        self.by_abs: dict[str, str] = {}
        for path in project.sources:
            self.by_abs.setdefault(os.path.normpath(os.path.abspath(path)), path)
        self._disk: dict[str, "NotebookFacts | None"] = {}
        self.bundles: list[Bundle] = []
        self._build()

    def _build(self) -> None:
        yaml_sources = [s for s in self.project.sources.values() if isinstance(s, YamlSource)]
        claimed: set[str] = set()
        for root in yaml_sources:
            if not root.is_bundle_root:
                continue
            files = [root]
            claimed.add(root.path)
            for match in included_paths(root):
                path = self.by_abs.get(match)
                source = self.project.sources.get(path) if path else None
                if isinstance(source, YamlSource):
                    files.append(source)
                    claimed.add(source.path)
            includes = bundle_root_includes(root)
            for source in files[1:]:
                includes.extend(_includes_of(source, in_root=False))
            self.bundles.append(Bundle(self, root, files, includes))
        for source in yaml_sources:
            if source.path not in claimed and source.has_bundle_keys:
                self.bundles.append(Bundle(self, None, [source], []))

    def bundle_of(self, path: str) -> Bundle | None:
        """The bundle (root and included files) that the YAML file ``path`` belongs to, or None
        when no bundle root of the run includes it."""
        if not hasattr(self, "_bundle_by_path"):
            self._bundle_by_path: dict[str, Bundle] = {}
            for bundle in self.bundles:
                if not bundle.is_orphan:
                    for source in bundle.files:
                        self._bundle_by_path.setdefault(source.path, bundle)
        return self._bundle_by_path.get(path)

    # what bundle tasks run --------------------------------------------------------------------
    @cached_property
    def _runs_by_path(self) -> dict[tuple[str, str], list[Task]]:
        """(kind, absolute path) -> the tasks that run that existing file, over every view of
        every bundle; a task that several targets (or several bundles including the same
        file) share is listed once."""
        out: dict[tuple[str, str], list[Task]] = {}
        seen: set[tuple] = set()
        for bundle in self.bundles:
            for job in bundle.jobs():
                for task in job.tasks:
                    run = task.run
                    if run is None or run.path is None:
                        continue
                    key = (run.kind, os.path.normpath(run.path))
                    ident = (job.name, task.label, run.node.source.path, run.node.yaml.start_mark.index, key)
                    if ident not in seen:
                        seen.add(ident)
                        out.setdefault(key, []).append(task)
        return out

    def notebook_tasks(self, path: str) -> list[Task]:
        """The tasks whose ``notebook_task.notebook_path`` is the file at ``path`` (computed once
        per run for all files; a lookup is a dictionary access)."""
        return self._runs_by_path.get(("notebook", os.path.normpath(os.path.abspath(path))), [])

    def script_tasks(self, path: str) -> list[Task]:
        """The tasks whose ``spark_python_task.python_file`` is the file at ``path``."""
        return self._runs_by_path.get(("python_file", os.path.normpath(os.path.abspath(path))), [])

    @cached_property
    def task_notebook_paths(self) -> list[str]:
        """Absolute paths of every existing file that a ``notebook_task`` runs."""
        return [path for kind, path in self._runs_by_path if kind == "notebook"]

    @cached_property
    def requirements_files(self) -> list[str]:
        """Absolute paths of the requirements files of the bundles (read for pins): files named
        by a task's ``libraries[].requirements`` or by ``-r <file>`` in an environment's
        ``dependencies``, and the ``requirements*.txt`` files in each bundle root's folder."""
        out: dict[str, None] = {}
        for bundle in self.bundles:
            if bundle.folder is not None:
                try:
                    names = sorted(os.listdir(bundle.folder))
                except OSError:
                    names = []
                for name in names:
                    path = os.path.join(bundle.folder, name)
                    if name.endswith(".txt") and "requirements" in name.lower() and os.path.isfile(path):
                        out.setdefault(os.path.normpath(path), None)
            for view in bundle.views:
                for job in view.jobs:
                    for value, text in _requirements_values(job):
                        path = view.local_file(value, text)
                        if path is not None:
                            out.setdefault(path, None)
        return list(out)

    # sources -------------------------------------------------------------------------------
    def source_at(self, abs_path: str) -> PythonSource | YamlSource | None:
        path = self.by_abs.get(os.path.normpath(abs_path))
        return self.project.sources.get(path) if path is not None else None

    def reportable(self, path: str) -> bool:
        """Findings may only be reported on files of the run."""
        return path in self.project.sources

    def facts(self, abs_path: str) -> "NotebookFacts | None":
        """Notebook facts of the file at ``abs_path``: from the run, else read from disk once."""
        path = self.by_abs.get(os.path.normpath(abs_path))
        if path is not None:
            return self.project.facts(path)
        key = os.path.normpath(abs_path)
        if key not in self._disk:
            self._disk[key] = _facts_from_disk(key)
        return self._disk[key]

    def display_path(self, abs_path: str) -> str:
        path = self.by_abs.get(os.path.normpath(abs_path))
        if path is not None:
            return path
        rel = os.path.relpath(abs_path)
        return abs_path if rel.startswith("..") else rel


_MAX_DISK_BYTES = 10 * 1024 * 1024


def _facts_from_disk(path: str) -> "NotebookFacts | None":
    from mlrules.project.notebook_facts import NotebookFacts
    from mlrules.sources.loader import load_source

    if not path.lower().endswith((".py", ".ipynb")):
        return None
    try:
        from mlrules.sources.limits import read_regular

        data = read_regular(path, _MAX_DISK_BYTES)  # OSError for a FIFO (never blocks) or a larger file
        display = os.path.relpath(path)
        source = load_source(path if display.startswith("..") else display, data)
    except Exception:
        return None
    return NotebookFacts(source) if isinstance(source, PythonSource) else None


# --- helpers for rules ----------------------------------------------------------------------


def reference_span(source: YamlSource, node: yaml.Node, needle: str) -> Span:
    """The span of ``needle`` inside scalar ``node`` when it is written there literally on one
    line, else the scalar's span."""
    start, end = node.start_mark.index, node.end_mark.index
    raw = source.text[start:end]
    at = raw.find(needle)
    if at >= 0 and "\n" not in raw[: at + len(needle)] and raw.count(needle) == 1:
        lines = source.lines
        return Span(lines.position(start + at), lines.position(start + at + len(needle)))
    return node_span(node)


def iter_scalars(node: yaml.Node | None, depth: int = 0, seen: set[int] | None = None) -> Iterator[yaml.ScalarNode]:
    """Every value scalar (not keys) under ``node``, each composed node once."""
    seen = set() if seen is None else seen
    if node is None or depth > _MAX_DEPTH or id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.ScalarNode):
        yield node
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from iter_scalars(item, depth + 1, seen)
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.tag == MERGE_TAG:
                continue
            yield from iter_scalars(value, depth + 1, seen)


def close_match(word: str, choices: Iterable[str], cutoff: float = 0.6) -> str | None:
    found = difflib.get_close_matches(word, sorted(set(choices)), n=1, cutoff=cutoff)
    return found[0] if found else None


def relative_to(path: str, folder: str) -> str:
    rel = os.path.relpath(path, folder)
    return rel.replace(os.sep, "/")


def find_bundle_root(folder: str, memo: dict[str, str | None] | None = None) -> str | None:
    """The nearest bundle root file at or above ``folder`` (absolute), or None.

    The walk stops at a repository root (a folder holding ``.git``) or the file-system root.
    ``memo`` (folder -> answer) saves the walk for folders already seen in the same run.
    """
    from mlrules.sources.yaml_source import BUNDLE_ROOT_NAMES

    memo = {} if memo is None else memo
    walked: list[str] = []
    current = os.path.abspath(folder)
    found: str | None = None
    for _ in range(64):
        if current in memo:
            found = memo[current]
            break
        walked.append(current)
        hit = next((os.path.join(current, n) for n in sorted(BUNDLE_ROOT_NAMES) if os.path.isfile(os.path.join(current, n))), None)
        if hit is not None:
            found = hit
            break
        parent = os.path.dirname(current)
        if os.path.exists(os.path.join(current, ".git")) or parent == current:
            break
        current = parent
    for path in walked:
        memo[path] = found
    return found


__all__ = [
    "Bundle",
    "BundleModel",
    "IncludeEntry",
    "Job",
    "Node",
    "Task",
    "TaskRun",
    "View",
    "bundle_root_includes",
    "close_match",
    "find_bundle_root",
    "included_paths",
    "iter_scalars",
    "reference_span",
]
