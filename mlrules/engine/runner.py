"""Running rules over files: load, build the project, lint, suppress, locate."""

from __future__ import annotations

import errno
import os
import traceback
from dataclasses import dataclass, field

from functools import cached_property
from typing import TYPE_CHECKING

from mlrules.engine.config import Settings
from mlrules.engine.discovery import discover
from mlrules.engine.suppression import Suppressions
from mlrules.model import FileError, Finding, Position, Severity, Span
from mlrules.rules import EngineRule, ProjectRule, PythonRule, Rule, YamlRule, all_rules
from mlrules.sources.loader import ParseProblem, Skipped, Source, file_kind, load_source
from mlrules.sources.limits import quiet_ast
from mlrules.sources.python import PythonSource

if TYPE_CHECKING:
    from mlrules.engine.cache import Cache
    from mlrules.project.model import Project

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
    paths: list[str] = field(default_factory=list)  # the paths given to load()


@dataclass
class LintResult:
    findings: list[Finding] = field(default_factory=list)
    errors: list[FileError] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    # path -> engine.parallel.FileResult of every linted file (what the cache stores; ``cached``
    # when it came from the cache); empty when the whole run came from the run manifest
    file_results: dict = field(default_factory=dict, repr=False, compare=False)
    from_manifest: bool = field(default=False, repr=False, compare=False)


class Linter:
    """Loads files and lints them. The rules are imported and instantiated on first use, so a
    run answered by the cache (``engine.cache``) never imports them (nor libcst)."""

    def __init__(self, settings: Settings, rules: list[type[Rule]] | None = None) -> None:
        self.settings = settings
        self._rules = rules
        self._stdin: tuple[str, bytes] | None = None  # (absolute path, content) while load_stdin reads

    @cached_property
    def rule_classes(self) -> list[type[Rule]]:
        return self.settings.enabled_rules() if self._rules is None else list(self._rules)

    @cached_property
    def selected(self) -> set[str]:
        return {r.code for r in self.rule_classes}

    @cached_property
    def known(self) -> set[str]:
        return {r.code for r in all_rules()}

    def _make(self, cls: type[Rule]) -> Rule:
        return cls(self.settings.options.get(cls.code))  # configured options reach the rule

    @cached_property
    def python_rules(self) -> list[Rule]:
        return [self._make(r) for r in self.rule_classes if issubclass(r, PythonRule)]

    @cached_property
    def yaml_rules(self) -> list[Rule]:
        return [self._make(r) for r in self.rule_classes if issubclass(r, YamlRule)]

    @cached_property
    def project_rules(self) -> list[Rule]:
        return [self._make(r) for r in self.rule_classes if issubclass(r, ProjectRule)]

    @cached_property
    def rule_by_code(self) -> dict[str, type[Rule]]:
        return {r.code: r for r in self.rule_classes if not issubclass(r, EngineRule)}

    # --- loading ----------------------------------------------------------------------------
    def load(self, paths: list[str]) -> LoadedFiles:
        found = discover(paths, self.settings.exclude + self.settings.extend_exclude, self.settings.root)
        loaded = LoadedFiles(paths=list(paths))
        for missing in found.missing:
            loaded.errors.append(FileError(missing, "no such file or folder"))
        for path in found.files:
            self.load_one(path, loaded)
        self.load_bundle_context(paths, found.files, loaded)
        from mlrules.sources.limits import read_regular

        for path in found.requirements:
            try:
                loaded.requirements[path] = read_regular(path, self.settings.max_file_size).decode("utf-8", "replace")
            except OSError:  # unreadable, not a regular file, too large: no pins from it
                pass
        return loaded

    def load_stdin(self, path: str, data: bytes) -> LoadedFiles:
        """``data`` (an editor's unsaved buffer, read from standard input) as the file at
        ``path``, with the project around it read from disk (its bundle, the notebooks its
        ``%run``s reach): findings are reported on ``path`` only. An excluded ``path``, or one
        whose kind mlrules does not read, gives nothing to lint (with a notice)."""
        from mlrules.engine.discovery import excluded_file

        loaded = LoadedFiles(paths=[path], only={path})
        if excluded_file(path, self.settings.exclude + self.settings.extend_exclude, self.settings.root):
            loaded.notices.append(f"{path}: skipped, excluded by the configuration")
            return loaded
        if not file_kind(path):
            loaded.notices.append(f"{path}: skipped, not a kind of file mlrules reads (.py, .ipynb, .yml, .yaml)")
            return loaded
        if len(data) > self.settings.max_file_size:
            loaded.notices.append(f"{path}: skipped, {len(data)} bytes is over max-file-size ({self.settings.max_file_size})")
            return loaded
        self._stdin = (os.path.normpath(os.path.abspath(path)), data)
        try:
            self.load_one(path, loaded)
            self.load_bundle_context([], [path], loaded)
        finally:
            self._stdin = None
        loaded.only = {path}
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
        from mlrules.sources.limits import NotRegularFile, TooLarge, read_regular

        try:
            stdin = self._stdin
            if stdin is not None and os.path.normpath(os.path.abspath(path)) == stdin[0]:
                data = stdin[1]  # the editor's buffer stands for the file on disk
            else:
                data = read_regular(path, self.settings.max_file_size)
        except (NotRegularFile, TooLarge) as exc:  # a FIFO would block, a device never ends
            loaded.notices.append(f"{path}: skipped, {exc.strerror}")
            return
        except OSError as exc:
            loop = " (a symbolic link loop)" if exc.errno == errno.ELOOP else ""
            loaded.errors.append(FileError(path, f"cannot read: {exc.strerror or exc}{loop}"))
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
    def lint(
        self, loaded: LoadedFiles, only: set[str] | None = None, *, cache: "Cache | None" = None, jobs: int | None = None,
        drop_trees: bool = False,
    ) -> LintResult:
        """Lint every loaded file (or only the paths in ``only``) with the project built from all.

        ``cache``: reuse and store results (see ``engine.cache``). ``jobs``: processes for the
        per-file work (default ``MLRULES_JOBS`` or the CPU count; small runs stay serial).
        ``drop_trees``: free each file's syntax tree once it is linted (a checking run; the fix
        loop keeps them for its next round).
        """
        from mlrules.engine.parallel import tuned_gc

        if only is None:
            only = loaded.only
        if cache is not None and cache.enabled:
            from mlrules.engine import cache as caching

            return caching.cached_lint(self, loaded, only, cache, jobs)
        with tuned_gc(len(loaded.sources)):
            return self.lint_uncached(loaded, only, jobs=jobs, drop_trees=drop_trees)

    def lint_uncached(
        self, loaded: LoadedFiles, only: set[str] | None, *, jobs: int | None = None, drop_trees: bool = False,
        cache: "Cache | None" = None, hits: dict | None = None, replayer=None,
    ) -> LintResult:
        """The run itself; with ``cache``, ``hits`` holds the valid cached results (by path)
        and the results of the other files are stored."""
        from mlrules.engine.parallel import FileResult, Worker, content_hash, default_jobs, lint_files
        from mlrules.project.model import Project
        from mlrules.rules.context import ProjectContext

        result = LintResult(errors=list(loaded.errors), notices=list(loaded.notices))
        project = replayer.project if replayer is not None else Project.build(loaded.sources, loaded.requirements)
        hits = hits or {}
        want_facts = bool(self.project_rules)
        targets = [path for path in loaded.sources if only is None or path in only]
        for path in targets:
            found = hits.get(path)
            if found is not None and found.facts is not None:
                project._facts[path] = found.facts.attach(loaded.sources[path])
        work = [path for path in targets if path not in hits]
        keys = {}
        if cache is not None:
            from mlrules.engine.cache import file_slot

            for path in work:
                keys[path] = (file_slot(self, path), content_hash(loaded.original_bytes.get(path) or loaded.sources[path].text))
        heavy = {path for path in work if self._needs_tree(loaded.sources[path], project)}
        if heavy:
            _prepare_shared(project)
        worker = Worker(self, project, loaded, record=cache is not None, want_facts=want_facts, drop_trees=drop_trees, cache=cache, keys=keys)
        done: dict[str, FileResult] = dict(hits)
        done.update(lint_files(worker, work, default_jobs() if jobs is None else jobs, heavy))

        per_file: dict[str, list[Finding]] = {}
        for path, problem in loaded.problems.items():
            if MLR001 in self.selected and (only is None or path in only):
                per_file.setdefault(path, []).append(self._parse_error(problem.path, problem.message, problem.row, problem.column))
        for path in targets:
            file_result = done[path]
            per_file[path] = list(file_result.findings)
            result.errors.extend(file_result.errors)
            if file_result.facts is not None and path not in hits:
                project._facts[path] = file_result.facts
        if self.project_rules:
            ctx = ProjectContext(project)
            for rule in self.project_rules:
                try:
                    for finding in run_rule(rule, ctx):
                        if only is None or finding.path in only:
                            per_file.setdefault(finding.path, []).append(finding)
                except RecursionError:
                    result.errors.append(FileError("<project>", f"rule {rule.code} could not finish: a file is nested too deeply to analyse"))
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
        result.file_results = done
        return result

    def rules_for(self, source: PythonSource, project) -> list[Rule]:
        return [
            r for r in self.python_rules
            if (source.is_notebook or not r.notebooks_only or project.is_task_notebook(source.path)) and (not r.triggers or any(t in source.text for t in r.triggers))
        ]

    def _needs_tree(self, source: Source, project) -> bool:
        """Whether linting ``source`` parses it (the rules that would run on it; no parse)."""
        if not isinstance(source, PythonSource) or source.language not in ("python", "python3", "ipython"):
            return False
        try:
            return bool(self.rules_for(source, project))
        except Exception:  # the bundle model failed: the rules will say so
            return True

    def lint_file(self, source: Source, project: "Project", errors: list[FileError]) -> list[Finding]:
        from mlrules.rules.context import PythonContext, YamlContext

        findings: list[Finding] = []
        if isinstance(source, PythonSource):
            rules = self.rules_for(source, project)
            if source.language not in ("python", "python3", "ipython"):
                return findings
            if not rules:
                if MLR001 in self.selected:
                    error = quick_syntax_check(source, confirm=True)
                    if error:
                        findings.append(error)
                return findings
            try:
                parse_unvalidated(source)
            except Exception as exc:  # libcst.ParserSyntaxError, RecursionError...
                if MLR001 in self.selected:
                    # CPython's parser gives the clearer message and position when it agrees
                    findings.append(quick_syntax_check(source) or syntax_finding(source, exc))
                return findings
            ctx = PythonContext(source, project)
        else:
            rules = [r for r in self.yaml_rules if not r.triggers or any(t in source.text for t in r.triggers)]
            ctx = YamlContext(source, project)
        too_deep = False
        for rule in rules:
            try:
                findings.extend(run_rule(rule, ctx))
            except RecursionError:
                too_deep = True
            except Exception as exc:
                errors.append(FileError(source.path, _internal(rule.code, exc)))
        if too_deep and MLR001 in self.selected:
            findings.append(self._parse_error(source.path, "cannot analyse: nested too deeply", 1, 0))
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


def _skip_validation(self) -> None:
    return None


def parse_unvalidated(source: PythonSource):
    """``source.parse()`` without libcst's per-node validation (about a tenth of a parse).

    libcst validates every node it constructs (``CSTNode.__post_init__``), which only ever
    raises for trees its own parser cannot produce; its authors note that parsing need not
    pay for it. The check is switched off for the duration of the parse only.
    """
    if source._module is not None:
        return source._module
    try:
        from libcst._nodes.base import CSTNode
    except ImportError:  # pragma: no cover - another libcst layout: validate
        return source.parse()
    original = CSTNode.__dict__.get("__post_init__")
    if original is None:  # pragma: no cover
        return source.parse()
    CSTNode.__post_init__ = _skip_validation  # type: ignore[method-assign]
    try:
        return source.parse()
    finally:
        CSTNode.__post_init__ = original  # type: ignore[method-assign]


def _prepare_shared(project) -> None:
    """Build what every file may ask of the project once, before workers copy it: the bundle
    model and the project-wide pins (both lazy), and the modules parsing imports lazily."""
    import importlib

    for name in ("libcst.native", "mlrules.sources.positions", "mlrules.engine.frozen", "mlrules.analysis.walk", "symtable"):
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    if any(getattr(s, "is_bundle_root", False) or getattr(s, "has_bundle_keys", False) for s in project.yaml_sources()):
        try:
            project.bundle_model
        except Exception:
            pass  # the rules that ask will report it
    complete = getattr(project.pins, "_completed", None)
    if complete is not None:
        try:
            complete()
        except Exception:
            pass


def run_rule(rule: Rule, ctx) -> list[Finding]:
    """The rule's findings. A RecursionError (a valid but deeply nested file) is retried once
    with a deep stack (``limits.call_deep``); if it happens again, it propagates."""
    from mlrules.sources import limits

    return limits.retry_deep(lambda: list(rule.check(ctx)))


def internal_error(code: str, exc: BaseException) -> str:
    return _internal(code, exc)


def _internal(code: str, exc: BaseException) -> str:
    try:
        frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
        where = f" at {os.path.basename(frame.filename)}:{frame.lineno}" if frame else ""
    except Exception:
        where = ""
    try:  # str() of an exception can itself fail (a KeyError holding a deep syntax tree)
        detail = str(exc)
    except Exception:
        detail = "<unprintable>"
    if len(detail) > 300:
        detail = detail[:300] + "..."
    return f"internal error in rule {code}: {type(exc).__name__}: {detail}{where} (please report this)"


def _relpath(path: str, root: str) -> str:
    try:
        rel = os.path.relpath(os.path.abspath(path), root)
    except ValueError:
        return path
    return (path if rel.startswith("..") else rel).replace(os.sep, "/")


def syntax_finding(source: PythonSource, exc: Exception) -> Finding:
    from mlrules.sources.limits import NestingTooDeep

    row = getattr(exc, "raw_line", None) or getattr(exc, "lineno", None) or 1
    column = getattr(exc, "raw_column", None)
    if column is None:
        column = max((getattr(exc, "offset", None) or 1) - 1, 0)
    if isinstance(exc, RecursionError):
        message = "cannot parse: nested too deeply"
    elif isinstance(exc, NestingTooDeep):
        message = str(exc)
    else:
        detail = getattr(exc, "message", None) or str(exc).split("\n", 1)[0]
        message = f"syntax error: {detail}"
    return _python_parse_error(source, message, row, column)


def quick_syntax_check(source: PythonSource, *, confirm: bool = False) -> Finding | None:
    """A syntax check with CPython's parser for files no rule needs a CST for (much faster).

    CPython knows the grammar of the Python running mlrules only: with ``confirm``, code it
    rejects is handed to libcst, whose grammar spans the versions (Python 3.12's nested quotes
    in f-strings on a 3.11 host), and is an error only when libcst rejects it too. Without
    ``confirm`` (libcst already failed) CPython only words the message."""
    try:
        quiet_ast(source.code)
    except SyntaxError as exc:
        if confirm:
            try:
                parse_unvalidated(source)
                return None  # valid Python of another version than the one running mlrules
            except Exception:
                pass
        return _python_parse_error(source, f"syntax error: {exc.msg}", exc.lineno or 1, max((exc.offset or 1) - 1, 0))
    except (RecursionError, MemoryError, ValueError):
        return Linter._parse_error(source.path, "cannot parse: nested too deeply", 1, 0)
    return None


def _python_parse_error(source: PythonSource, message: str, row: int, column: int) -> Finding:
    """MLR001 at a parser's (line, column): parsers also end lines at a lone CR, mlrules' rows do not."""
    from mlrules.sources.text import offset_of_python_position

    position = source.lines.position(offset_of_python_position(source.code, row, column))
    return Linter._parse_error(source.path, message, position.row, position.column)


def locate_in_cell(source: PythonSource, finding: Finding) -> None:
    cell = source.cell_at_row(finding.span.start.row)
    if cell is None:
        # on a boundary between cells (a parse error at the end of a cell): the cell before it
        before = [c for c in source.cells if c.start_row <= finding.span.start.row]
        if not before:
            return
        cell = before[-1]
        end = Position(cell.end_row, len(source.lines.line(cell.end_row)))
        finding.span = Span(min(finding.span.start, end), min(finding.span.end, end))
    finding.cell = cell.number
    offset = cell.start_row - 1
    s, e = finding.span.start, finding.span.end
    finding.cell_span = Span(Position(s.row - offset, s.column), Position(max(e.row - offset, 1), e.column))
