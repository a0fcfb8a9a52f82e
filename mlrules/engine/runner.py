"""Running rules over files: load, build the project, lint, suppress, locate."""

from __future__ import annotations

import ast
import os
import traceback
from dataclasses import dataclass, field

from mlrules.engine.config import Settings
from mlrules.engine.discovery import discover
from mlrules.engine.suppression import Suppressions
from mlrules.model import FileError, Finding, Position, Severity, Span
from mlrules.project.model import Project
from mlrules.rules import EngineRule, ProjectRule, PythonRule, Rule, YamlRule, all_rules
from mlrules.rules.context import ProjectContext, PythonContext, YamlContext
from mlrules.sources.loader import ParseProblem, Skipped, Source, load_source
from mlrules.sources.python import PythonSource

MLR001 = "MLR001"


@dataclass
class LoadedFiles:
    sources: dict[str, Source] = field(default_factory=dict)
    original_bytes: dict[str, bytes] = field(default_factory=dict)
    problems: dict[str, ParseProblem] = field(default_factory=dict)
    requirements: dict[str, str] = field(default_factory=dict)
    errors: list[FileError] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    # Set when files outside the given paths were loaded for the project model (the bundle
    # that given files belong to): findings are then reported on these given paths only.
    only: set[str] | None = None
    context: set[str] = field(default_factory=set)  # the files loaded for the model only


@dataclass
class LintResult:
    findings: list[Finding] = field(default_factory=list)
    errors: list[FileError] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)


class Linter:
    def __init__(self, settings: Settings, rules: list[type[Rule]] | None = None) -> None:
        self.settings = settings
        rule_classes = settings.enabled_rules() if rules is None else rules
        self.selected = {r.code for r in rule_classes}
        self.known = {r.code for r in all_rules()}
        make = lambda cls: cls(settings.options.get(cls.code))  # noqa: E731 - configured options reach the rule
        self.python_rules = [make(r) for r in rule_classes if issubclass(r, PythonRule)]
        self.yaml_rules = [make(r) for r in rule_classes if issubclass(r, YamlRule)]
        self.project_rules = [make(r) for r in rule_classes if issubclass(r, ProjectRule)]
        self.rule_by_code = {r.code: r for r in rule_classes if not issubclass(r, EngineRule)}

    # --- loading ----------------------------------------------------------------------------
    def load(self, paths: list[str]) -> LoadedFiles:
        found = discover(paths, self.settings.exclude + self.settings.extend_exclude, self.settings.root)
        loaded = LoadedFiles()
        for missing in found.missing:
            loaded.errors.append(FileError(missing, "no such file or folder"))
        for path in found.files:
            self.load_one(path, loaded)
        self.load_bundle_context(paths, found.files, loaded)
        for path in found.requirements:
            try:
                with open(path, "rb") as fh:
                    loaded.requirements[path] = fh.read(self.settings.max_file_size).decode("utf-8", "replace")
            except OSError:
                pass
        return loaded

    def load_bundle_context(self, paths: list[str], given: list[str], loaded: LoadedFiles) -> None:
        """Complete the bundles that the given files belong to (pre-commit passes changed files).

        For every bundle root among or above the given paths, the root and the YAML files its
        ``include:`` reaches are loaded even when not given (a given YAML file that an include
        reaches is ours even without top-level bundle keys). Files loaded only for the project
        model go to ``loaded.context`` and ``loaded.only`` then limits findings to the given
        files. The notebooks that bundle tasks run are read by the model itself when needed.
        """
        from mlrules.project.bundle_model import find_bundle_root, included_paths
        from mlrules.sources.yaml_source import YamlSource

        def key(path: str) -> str:
            return os.path.normpath(os.path.abspath(path))

        known = {key(p): p for p in [*loaded.sources, *loaded.problems]}
        given_keys = {key(p): p for p in given}
        roots: dict[str, None] = {k: None for k, p in known.items() if isinstance(loaded.sources.get(p), YamlSource) and loaded.sources[p].is_bundle_root}
        folders = {os.path.dirname(k) for k in given_keys} | {key(p) for p in paths if os.path.isdir(p)}
        memo: dict[str, str | None] = {}
        for folder in sorted(folders):
            root = find_bundle_root(folder, memo)
            if root is not None:
                roots.setdefault(key(root), None)
        context: set[str] = set()
        scratch = LoadedFiles()  # errors and parse problems of context files are not reported

        def ensure(abs_path: str) -> str | None:
            if abs_path in known:
                return known[abs_path]
            if abs_path in given_keys:  # given, but skipped as YAML without bundle keys
                path = given_keys[abs_path]
                loaded.notices[:] = [n for n in loaded.notices if not n.startswith(f"{path}: skipped")]
                self.load_one(path, loaded, known_bundle_file=True)
            else:
                rel = os.path.relpath(abs_path)
                path = abs_path if rel.startswith("..") else rel
                self.load_one(path, scratch, known_bundle_file=True)
                if path not in scratch.sources:
                    return None
                loaded.sources[path] = scratch.sources[path]
                loaded.original_bytes[path] = scratch.original_bytes[path]
                context.add(path)
            known[abs_path] = path
            return path

        for root in roots:
            path = ensure(root)
            source = loaded.sources.get(path) if path else None
            if isinstance(source, YamlSource):
                for included in included_paths(source):
                    ensure(included)
        if context:
            loaded.context |= context
            loaded.only = {p for p in [*loaded.sources, *loaded.problems] if p not in loaded.context}

    def load_one(self, path: str, loaded: LoadedFiles, known_bundle_file: bool = False) -> None:
        try:
            size = os.path.getsize(path)
            if size > self.settings.max_file_size:
                loaded.notices.append(f"{path}: skipped, {size} bytes is over max-file-size ({self.settings.max_file_size})")
                return
            with open(path, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            loaded.errors.append(FileError(path, f"cannot read: {exc.strerror or exc}"))
            return
        try:
            result = load_source(path, data, known_bundle_file=known_bundle_file)
        except Exception as exc:  # never let one file stop the run
            loaded.errors.append(FileError(path, _internal("loader", exc)))
            return
        if isinstance(result, Skipped):
            loaded.notices.append(f"{path}: skipped, {result.reason}")
        elif isinstance(result, ParseProblem):
            loaded.problems[path] = result
        else:
            loaded.sources[path] = result
            loaded.original_bytes[path] = data

    # --- linting ----------------------------------------------------------------------------
    def lint(self, loaded: LoadedFiles, only: set[str] | None = None) -> LintResult:
        """Lint every loaded file (or only the paths in ``only``) with the project built from all."""
        result = LintResult(errors=list(loaded.errors), notices=list(loaded.notices))
        if only is None:
            only = loaded.only
        project = Project.build(loaded.sources, loaded.requirements)
        per_file: dict[str, list[Finding]] = {}
        for path, problem in loaded.problems.items():
            if MLR001 in self.selected and (only is None or path in only):
                per_file.setdefault(path, []).append(self._parse_error(problem.path, problem.message, problem.row, problem.column))
        for path, source in loaded.sources.items():
            if only is not None and path not in only:
                continue
            per_file[path] = self.lint_file(source, project, result.errors)
        if self.project_rules:
            ctx = ProjectContext(project)
            for rule in self.project_rules:
                try:
                    for finding in rule.check(ctx):
                        if only is None or finding.path in only:
                            per_file.setdefault(finding.path, []).append(finding)
                except Exception as exc:  # a bug in one rule must not stop the run
                    result.errors.append(FileError("<project>", _internal(rule.code, exc)))
        for path, findings in per_file.items():
            source = loaded.sources.get(path)
            kept = self.suppress(path, source, findings) if source is not None else findings
            if isinstance(source, PythonSource) and source.kind == "ipynb":
                for finding in kept:
                    locate_in_cell(source, finding)
            result.findings.extend(kept)
        result.findings.sort(key=Finding.sort_key)
        return result

    def lint_file(self, source: Source, project: Project, errors: list[FileError]) -> list[Finding]:
        findings: list[Finding] = []
        if isinstance(source, PythonSource):
            rules = [
                r for r in self.python_rules
                if (source.is_notebook or not r.notebooks_only or project.is_task_notebook(source.path)) and (not r.triggers or any(t in source.text for t in r.triggers))
            ]
            if source.language not in ("python", "python3", "ipython"):
                return findings
            if not rules:
                if MLR001 in self.selected:
                    error = quick_syntax_check(source)
                    if error:
                        findings.append(error)
                return findings
            try:
                source.parse()
            except Exception as exc:  # libcst.ParserSyntaxError, RecursionError...
                if MLR001 in self.selected:
                    # CPython's parser gives the clearer message and position when it agrees
                    findings.append(quick_syntax_check(source) or syntax_finding(source, exc))
                return findings
            ctx = PythonContext(source, project)
        else:
            rules = [r for r in self.yaml_rules if not r.triggers or any(t in source.text for t in r.triggers)]
            ctx = YamlContext(source, project)
        for rule in rules:
            try:
                findings.extend(rule.check(ctx))
            except Exception as exc:
                errors.append(FileError(source.path, _internal(rule.code, exc)))
        return findings

    def suppress(self, path: str, source: Source, findings: list[Finding]) -> list[Finding]:
        suppressions = Suppressions.parse(source.lines)
        ignored = self.settings.ignored_for(_relpath(path, self.settings.root))
        kept = [f for f in findings if f.code not in ignored and not suppressions.suppresses(f)]
        judged = self.selected - ignored
        if any(f.code == MLR001 for f in findings) or (isinstance(source, PythonSource) and source.language not in ("python", "python3", "ipython")):
            judged = judged - {"MLR002"}  # no rule saw this file: its noqa comments cannot be judged unused
        extra = suppressions.unused_and_unknown(path, source.text, source.lines, judged, self.known)
        return kept + [f for f in extra if f.code not in ignored and f.code not in suppressions.file_codes]

    @staticmethod
    def _parse_error(path: str, message: str, row: int, column: int) -> Finding:
        span = Span(Position(row, column), Position(row, column))
        return Finding(MLR001, message, path, span, Severity.ERROR, None, "parse-error")


def _internal(code: str, exc: BaseException) -> str:
    frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    where = f" at {os.path.basename(frame.filename)}:{frame.lineno}" if frame else ""
    return f"internal error in rule {code}: {type(exc).__name__}: {exc}{where} (please report this)"


def _relpath(path: str, root: str) -> str:
    try:
        rel = os.path.relpath(os.path.abspath(path), root)
    except ValueError:
        return path
    return (path if rel.startswith("..") else rel).replace(os.sep, "/")


def syntax_finding(source: PythonSource, exc: Exception) -> Finding:
    row = getattr(exc, "raw_line", None) or getattr(exc, "lineno", None) or 1
    column = getattr(exc, "raw_column", None)
    if column is None:
        column = max((getattr(exc, "offset", None) or 1) - 1, 0)
    if isinstance(exc, RecursionError):
        message = "cannot parse: nested too deeply"
    else:
        detail = getattr(exc, "message", None) or str(exc).split("\n", 1)[0]
        message = f"syntax error: {detail}"
    return Linter._parse_error(source.path, message, row, column)


def quick_syntax_check(source: PythonSource) -> Finding | None:
    """A syntax check with CPython's parser for files no rule needs a CST for (much faster)."""
    try:
        ast.parse(source.code)
    except SyntaxError as exc:
        return Linter._parse_error(source.path, f"syntax error: {exc.msg}", exc.lineno or 1, max((exc.offset or 1) - 1, 0))
    except (RecursionError, MemoryError, ValueError):
        return Linter._parse_error(source.path, "cannot parse: nested too deeply", 1, 0)
    return None


def locate_in_cell(source: PythonSource, finding: Finding) -> None:
    cell = source.cell_at_row(finding.span.start.row)
    if cell is None:
        return
    finding.cell = cell.number
    offset = cell.start_row - 1
    s, e = finding.span.start, finding.span.end
    finding.cell_span = Span(Position(s.row - offset, s.column), Position(max(e.row - offset, 1), e.column))
