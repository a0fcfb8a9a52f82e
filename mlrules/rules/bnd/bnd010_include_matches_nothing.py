from __future__ import annotations

import fnmatch
import os

from mlrules.model import Severity
from mlrules.project.go_glob import has_meta
from mlrules.rules.base import Invalid, ProjectRule, Valid
from mlrules.rules.bundle_rule import distinct
from mlrules.sources.yaml_source import node_span

JOB = "resources:\n  jobs:\n    j:\n      name: j\n"


class IncludeMatchesNothing(ProjectRule):
    """
    ## What it does
    Flags an `include:` entry of a bundle root (`databricks.yml`) that matches no file. The
    entry is expanded like the Databricks CLI does (Go's `filepath.Glob`, relative to the
    bundle root): `*` does not cross `/`, so `resources/*.yml` does not reach
    `resources/ml/job.yml`, and `**` is not recursive. A plain path that matches nothing is
    an error (the CLI refuses to load the bundle); a glob that matches nothing is a warning
    (the CLI silently includes nothing).

    A glob is only reported when something may be missing: the folder it names does not
    exist (a typo, a renamed folder), or that folder holds a YAML file that no `include:`
    entry brings in. A glob kept for files to come (the bundle template's `resources/*/*.yml`
    next to `resources/*.yml`, in a project with no subfolder yet) is not reported: every YAML
    file under its folder is already included.

    An `include:` section in a file other than the bundle root is reported too, as a
    warning: the CLI only applies the root's includes, so each of its entries includes
    nothing.

    ## Why it matters
    A glob that matches nothing silently drops every job it was meant to bring in: the
    deploy succeeds and the jobs are simply not there (or, after a folder was renamed, are
    deleted from the workspace on the next deploy).

    ## Example
    ```yaml
    include:
      - resources/**/*.yml   # only matches resources/<folder>/*.yml
      - resources/jobs.yaml  # the file is resources/jobs.yml
    ```

    ## Use instead
    ```yaml
    include:
      - resources/*.yml
      - resources/*/*.yml
    ```

    ## Fix safety
    No fix.
    """

    code = "BND010"
    name = "include-matches-nothing"
    summary = "Bundle include: entry that matches no file"

    invalid = (
        Invalid(
            "bundle:\n  name: b\ninclude:\n  - resources/jobs.yaml\n  - resources/*.yml\n",
            4, 5, path="databricks.yml", files={"resources/jobs.yml": JOB}, message_contains="no file",
        ),
        # a glob: '*' does not cross '/'
        Invalid(
            "bundle:\n  name: b\ninclude:\n  - resources/*.yml\n  - targets/*.yml\n",
            4, 5, path="databricks.yml", also=((5, 5),), files={"resources/ml/job.yml": JOB},
            message_contains="does not reach 'resources/ml/job.yml'",
        ),
        # include in a non-root file is ignored by the CLI
        Invalid(
            "include:\n  - more/*.yml\n" + JOB,
            2, 5, path="resources/job.yml",
            files={"databricks.yml": "bundle:\n  name: b\ninclude:\n  - resources/*.yml\n", "resources/more/x.yml": JOB},
            message_contains="only the bundle root",
        ),
        # the nested files are already brought in by their own entry: no misleading hint that
        # the first glob was meant to reach them (the message ends right after "matches no file");
        # reported because another YAML file of that folder is left out
        Invalid(
            "bundle:\n  name: b\ninclude:\n  - deploy/*.yml\n  - deploy/jobs/*.yml\n",
            4, 5, path="databricks.yml", files={"deploy/jobs/nightly.yml": JOB, "deploy/weekly.yaml": JOB},
            message_contains="matches no file: nothing",
        ),
    )
    valid = (
        Valid(
            "bundle:\n  name: b\ninclude:\n  - resources/*.yml\n  - resources/*/*.yml\n  - targets.yml\n",
            path="databricks.yml",
            files={"resources/a.yml": JOB, "resources/ml/b.yml": JOB, "targets.yml": "targets:\n  dev:\n    default: true\n"},
        ),
        # a glob kept for later: no subfolder holds a job yet, every YAML file of the folder
        # is already included by the first entry (nothing is left out)
        Valid(
            "bundle:\n  name: b\ninclude:\n  - jobs/*.yaml\n  - jobs/*/*.yaml\n",
            path="databricks.yml", files={"jobs/nightly.yaml": JOB, "jobs/README.md": "notes\n"},
        ),
        Valid(
            "bundle:\n  name: b\ninclude:\n  - deploy/*.yml\n  - deploy/jobs/*.yml\n",
            path="databricks.yml", files={"deploy/jobs/nightly.yml": JOB},
        ),
    )

    def check(self, ctx):
        return distinct(self._check(ctx))

    def _check(self, ctx):
        model = ctx.project.bundle_model
        seen: set[tuple[str, int]] = set()
        for bundle in model.bundles:
            for entry in bundle.includes:
                path = entry.source.path
                where = (path, entry.node.start_mark.index)
                if where in seen or not model.reportable(path) or entry.matches:
                    continue
                seen.add(where)
                span = node_span(entry.node)
                if not entry.in_root:
                    yield self.finding(
                        path, span,
                        f"include entry '{entry.pattern}' has no effect: only the bundle root's `include:` is applied "
                        "(move it to databricks.yml)",
                        severity=Severity.WARNING,
                    )
                elif os.path.isabs(entry.pattern):
                    yield self.finding(path, span, f"include entry '{entry.pattern}' is absolute: include paths are relative to the bundle root")
                elif entry.bad_pattern:
                    yield self.finding(path, span, f"include entry '{entry.pattern}' is not a valid glob pattern")
                elif entry.is_glob:
                    covered = {os.path.normpath(m) for other in bundle.includes for m in other.matches}
                    covered.add(os.path.normpath(os.path.abspath(path)))
                    deeper = _deeper_matches(path, entry.pattern, covered)
                    if deeper is None and not _may_miss(path, entry.pattern, covered):
                        continue  # kept for files to come: nothing under its folder is left out
                    hint = (
                        f" (`*` does not cross `/` and `**` is not recursive: it does not reach '{deeper}')" if deeper else ""
                    )
                    yield self.finding(
                        path, span,
                        f"include glob '{entry.pattern}' matches no file{hint}: nothing is included from it",
                        severity=Severity.WARNING,
                    )
                else:
                    yield self.finding(
                        path, span,
                        f"include path '{entry.pattern}' matches no file: the bundle cannot be loaded",
                    )


_SKIP_DIRS = frozenset({"node_modules", "venv", "build", "dist", "__pycache__", "site-packages"})


def _may_miss(root_file: str, pattern: str, covered: set[str]) -> bool:
    """True when a glob that matches nothing may be missing files: the folder it names (its
    path before the first glob character) does not exist, or holds a YAML file (at any depth)
    that no include entry brings in."""
    parts = pattern.split("/")
    literal = []
    for part in parts[:-1]:
        if has_meta(part):
            break
        literal.append(part)
    base = os.path.dirname(os.path.abspath(root_file))
    folder = os.path.normpath(os.path.join(base, *literal)) if literal else base
    if not os.path.isdir(folder):
        return True
    for current, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in _SKIP_DIRS]
        for name in files:
            if name.lower().endswith((".yml", ".yaml")):
                full = os.path.normpath(os.path.abspath(os.path.join(current, name)))
                if full not in covered:
                    return True
    return False


def _deeper_matches(root_file: str, pattern: str, covered: set[str]) -> str | None:
    """A YAML file that the pattern would reach if ``*`` crossed folders (what was probably meant);
    files that another include entry already brings in (``covered``) are not what was missed."""
    head = pattern.split("*", 1)[0]
    folder = os.path.join(os.path.dirname(os.path.abspath(root_file)), os.path.dirname(head))
    if not os.path.isdir(folder):
        return None
    loose = pattern.replace("**/", "*").replace("**", "*")
    base = os.path.dirname(os.path.abspath(root_file))
    for current, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            full = os.path.join(current, name)
            rel = os.path.relpath(full, base).replace(os.sep, "/")
            if fnmatch.fnmatchcase(rel, loose) and os.path.normpath(os.path.abspath(full)) not in covered:
                return rel
    return None
