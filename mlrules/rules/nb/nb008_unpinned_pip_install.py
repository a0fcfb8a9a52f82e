from __future__ import annotations

import re

import libcst as cst
from packaging.version import InvalidVersion, Version

from mlrules.analysis.requirements import pip_install_words
from mlrules.model import Applicability, Edit
from mlrules.rules.base import Invalid, PythonRule, Valid, ipynb
from mlrules.sources.magics import CELL_LANGUAGE_MAGICS, databricks_magic_prefix

# The name and extras of a requirement as written (`mlflow[databricks]`).
_NAME_EXTRAS = re.compile(r"\s*[A-Za-z0-9][A-Za-z0-9._-]*\s*(?:\[[^\]]*\])?")
# Installing pip itself (`%pip install --upgrade pip`) is tooling, not a project dependency.
EXEMPT = frozenset({"pip"})

_HEADER = "# Databricks notebook source\n"
_CMD = "\n# COMMAND ----------\n\n"


def _dbx(*cells: str) -> str:
    return _HEADER + _CMD.join(cells)


_REQS = {"requirements.txt": "mlflow==2.19.0\nscikit-learn==1.5.2  # training\n"}


class UnpinnedPipInstall(PythonRule):
    """
    ## What it does
    Flags a package named by `%pip install` (a `# MAGIC %pip` cell of a Databricks source
    notebook, a bare `%pip` line, a `%pip` line of an `.ipynb` code cell) or `!pip install`
    (also `!pip3`, `!python -m pip`) without an exact `==` pin: a bare name, `>=`, `~=`, `<`,
    `!=`, or a wildcard `==2.*`.

    Not flagged: `-r requirements.txt`, `-c`, `-e .`, local paths, wheels and archives,
    `/Volumes/...` and `/dbfs/...` files, VCS and URL requirements (`git+https://...`,
    `name @ https://...`), words holding a variable (`$VERSION`, `${var.x}`, `{version}`),
    option values (`--index-url URL`, `--root-user-action ignore`), anything after a comment
    or shell syntax (`&&`, `|`, `;`, `>`), and `pip` itself (`%pip install --upgrade pip` is
    tooling). Lines continued with a trailing backslash belong to the command; a backtick
    command substitution (used as an inline comment: `` `# PDF parsing` ``) is skipped.

    A `# MAGIC %pip` line counts only in a magic cell (its first line is a `# MAGIC %...` magic
    that is not another language such as `%md` or `%sh`): in a Python cell it is a comment and
    in a `%md` cell it is documentation. A bare `%pip` line inside a multi-line string is text.

    ## Why it matters
    An unpinned install takes whatever version the index serves on the day the job runs: a
    model trained with one MLflow or scikit-learn version and served with another fails to
    deserialize or silently changes predictions, and a new release breaks a job that did not
    change.

    ## Example
    ```python
    # MAGIC %pip install mlflow scikit-learn>=1.3
    ```

    ## Use instead
    ```python
    # MAGIC %pip install mlflow==2.19.0 scikit-learn==1.5.2
    ```

    ## Fix safety
    Safe, and only offered when the project pins the same package (canonical name) to exactly
    one version elsewhere (`2.19` and `2.19.0` count as one version; the fix uses the
    spelling written most often). The project's pins come from: bundle environments and task
    libraries (also of the bundle root and included YAML files that were not given on the
    command line: pre-commit passes only the changed files), requirements files named by
    `libraries[].requirements` or by a `-r <file>` dependency, `requirements*.txt` files of
    the run and of the bundle root's folder, and the `%pip` lines of the run's notebooks and
    of the notebooks that bundle tasks run (read from disk when not given). In a repository
    with several bundles, a pin inside the folder of another bundle root (a sibling project's
    job or app) does not count for a file outside that folder; pins outside every bundle
    folder do. The word becomes `name==version`, keeping extras and an environment marker (`mlflow[databricks]>=2` -> `mlflow[databricks]==2.19.0`). No fix when
    no version or several versions are pinned, or when the pinned version does not satisfy
    the word's own specifier (`mlflow<2` with a project pin `2.19.0`: a conflict to resolve by
    hand).
    """

    code = "NB008"
    name = "unpinned-pip-install"
    summary = "`%pip install` / `!pip install` of a package without an exact `==` pin"
    fix = Applicability.SAFE
    triggers = ("pip",)

    invalid = (
        # Databricks source, `# MAGIC %pip`, pin from a requirements file
        Invalid(
            _dbx("# MAGIC %pip install mlflow", "import mlflow\n"),
            2, 22, files=_REQS,
            fixed=_dbx("# MAGIC %pip install mlflow==2.19.0", "import mlflow\n"),
            message_contains="mlflow==2.19.0",
        ),
        # several words, options, extras, quoted specifier with spaces, a wildcard
        Invalid(
            _dbx('# MAGIC %pip install -U --quiet mlflow[databricks]>=2.9 "scikit-learn >= 1.3" pandas==2.2.2 xgboost==2.*'),
            2, 33, also=((2, 58), (2, 93)), files=_REQS,
            fixed=_dbx('# MAGIC %pip install -U --quiet mlflow[databricks]==2.19.0 "scikit-learn==1.5.2" pandas==2.2.2 xgboost==2.*'),
        ),
        # no pin known anywhere: no fix
        Invalid(_dbx("# MAGIC %pip install dbdemos"), 2, 22, fixed=None, message_contains="no exact pin"),
        # two different versions pinned elsewhere: no fix
        Invalid(
            _dbx("# MAGIC %pip install mlflow"),
            2, 22, fixed=None,
            files={"requirements.txt": "mlflow==2.19.0\n", "other.py": _dbx("# MAGIC %pip install mlflow==2.17.0")},
            message_contains="2 different versions (2.17.0, 2.19.0)",
        ),
        # `2.19` and `2.19.0` are one version: the fix takes the spelling written most often
        Invalid(
            _dbx("# MAGIC %pip install mlflow"),
            2, 22,
            files={"requirements.txt": "mlflow==2.19.0\n", "a.py": _dbx("# MAGIC %pip install mlflow==2.19"), "b.py": _dbx("# MAGIC %pip install mlflow==2.19.0")},
            fixed=_dbx("# MAGIC %pip install mlflow==2.19.0"),
        ),
        # the pin elsewhere contradicts the word's own specifier: no fix
        Invalid(_dbx("# MAGIC %pip install 'mlflow<2'"), 2, 23, files=_REQS, fixed=None),
        # pin from another notebook (and from a bundle environment)
        Invalid(
            _dbx("%pip install scikit-learn\n%restart_python", "import sklearn\n"),
            2, 14,
            files={
                "train.py": _dbx("# MAGIC %pip install scikit-learn==1.5.2"),
                "databricks.yml": "bundle:\n  name: x\nresources:\n  jobs:\n    j:\n      environments:\n        - environment_key: d\n          spec:\n            client: '2'\n            dependencies:\n              - scikit_learn==1.5.2\n",
            },
            fixed=_dbx("%pip install scikit-learn==1.5.2\n%restart_python", "import sklearn\n"),
        ),
        # pins from the bundle's files: a requirements file named by a task library (any name),
        # a `-r` environment dependency, the %pip line of another notebook a task runs
        Invalid(
            _dbx("# MAGIC %pip install mlflow scikit-learn 'xgboost>=2'"),
            2, 22, also=((2, 29), (2, 43)), path="notebooks/train.py",
            files={
                "databricks.yml": "bundle:\n  name: b\ninclude:\n  - resources/*.yml\n",
                "resources/job.yml": "resources:\n  jobs:\n    j:\n      environments:\n        - environment_key: e\n"
                "          spec:\n            dependencies:\n              - -r ${workspace.file_path}/deps/serving.txt\n"
                "      tasks:\n        - task_key: train\n          notebook_task:\n            notebook_path: ../notebooks/train\n"
                "          libraries:\n            - requirements: ../deps/ml.txt\n"
                "        - task_key: score\n          notebook_task:\n            notebook_path: ../notebooks/score.py\n",
                "deps/ml.txt": "mlflow==2.19.0\n",
                "deps/serving.txt": "scikit-learn==1.5.2\n",
                "notebooks/score.py": _dbx("# MAGIC %pip install xgboost==2.1.1"),
            },
            fixed=_dbx("# MAGIC %pip install mlflow==2.19.0 scikit-learn==1.5.2 'xgboost==2.1.1'"),
            message_contains="as in deps/ml.txt:1",
        ),
        # a monorepo of two bundles: the other project's pin is its own choice, not a fix here
        Invalid(
            _dbx("# MAGIC %pip install 'requests>=2.31'"),
            2, 23, path="ingest/notebooks/pull.py", fixed=None, message_contains="no exact pin",
            files={
                "ingest/databricks.yml": "bundle:\n  name: ingest\n",
                "ingest/requirements.txt": "requests>=2.31\n",
                "portal/databricks.yml": "bundle:\n  name: portal\n",
                "portal/app/requirements.txt": "requests==2.32.3\n",
            },
        ),
        # ... while a pin at the repository root, outside both bundles, is shared
        Invalid(
            _dbx("# MAGIC %pip install 'requests>=2.31'"),
            2, 23, path="ingest/notebooks/pull.py",
            files={
                "ingest/databricks.yml": "bundle:\n  name: ingest\n",
                "portal/databricks.yml": "bundle:\n  name: portal\n",
                "requirements.txt": "requests==2.32.3\n",
            },
            fixed=_dbx("# MAGIC %pip install 'requests==2.32.3'"),
        ),
        # `!pip install`, shell syntax after the command is not read
        Invalid(
            _dbx("!pip install -q mlflow 2>&1 > /dev/null && pip list"),
            2, 17, files=_REQS,
            fixed=_dbx("!pip install -q mlflow==2.19.0 2>&1 > /dev/null && pip list"),
        ),
        Invalid("import sys\n!{sys.executable} -m pip install mlflow\n", 2, 34, path="setup_env.py", fixed=None, message_contains="`!{sys.executable} -m pip install` of 'mlflow'"),
        # environment marker kept
        Invalid(
            _dbx("# MAGIC %pip install \"mlflow>=2; python_version >= '3.9'\""),
            2, 23, files=_REQS,
            fixed=_dbx("# MAGIC %pip install \"mlflow==2.19.0; python_version >= '3.9'\""),
        ),
        # .ipynb: the %pip line of a code cell (cell 2, row 2)
        Invalid(
            ipynb(("markdown", "# Setup"), "# deps\n%pip install mlflow scikit-learn==1.5.2\n", "import mlflow"),
            2, 14, path="setup.ipynb", cell=2, files=_REQS,
            fixed=ipynb(("markdown", "# Setup"), "# deps\n%pip install mlflow==2.19.0 scikit-learn==1.5.2\n", "import mlflow"),
        ),
        Invalid(ipynb("!pip install 'xgboost>=2'"), 1, 15, path="nb.ipynb", cell=1, fixed=None),
        # CRLF file: offsets and the fix keep CRLF
        Invalid(
            _dbx("# MAGIC %pip install mlflow  # tracking", "import mlflow\n").replace("\n", "\r\n"),
            2, 22, files=_REQS,
            fixed=_dbx("# MAGIC %pip install mlflow==2.19.0  # tracking", "import mlflow\n").replace("\n", "\r\n"),
        ),
        # a plain module with a bare magic line (not valid Python, but real)
        Invalid("%pip install mlflow\nimport mlflow\n", 1, 14, path="module.py", files=_REQS, fixed="%pip install mlflow==2.19.0\nimport mlflow\n"),
        # backslash continuation lines (bare and `# MAGIC`), backtick inline comments
        Invalid(
            _dbx("%pip install -qqqq -U \\\n  pandas==2.2.2 mlflow `# tracking & models` \\\n  scikit-learn  `# training`\n%restart_python"),
            3, 17, also=((4, 3),), files=_REQS,
            fixed=_dbx("%pip install -qqqq -U \\\n  pandas==2.2.2 mlflow==2.19.0 `# tracking & models` \\\n  scikit-learn==1.5.2  `# training`\n%restart_python"),
        ),
        Invalid(
            _dbx("# MAGIC %pip install \\\n# MAGIC   mlflow==2.19.0 \\\n# MAGIC   xgboost>=2"),
            4, 11, fixed=None,
        ),
        Invalid(
            ipynb("%pip install \\\n    lightgbm \\\n    mlflow==2.19.0\n", "import lightgbm"),
            2, 5, path="nb.ipynb", cell=1, fixed=None,
        ),
        # several %pip lines in one magic cell; python -m pip
        Invalid(
            _dbx("# MAGIC %pip install mlflow==2.19.0\n# MAGIC %pip install lightgbm", "!python -m pip install shap"),
            3, 22, also=((6, 24),), fixed=None,
        ),
    )
    valid = (
        Valid(_dbx("# MAGIC %pip install mlflow==2.19.0 scikit-learn===1.5.2 'pandas[performance]==2.2.2'")),
        Valid(_dbx("# MAGIC %pip install -r ../requirements.txt", "# MAGIC %pip install -e .")),
        Valid(_dbx("# MAGIC %pip install /Volumes/main/libs/whl/churn-0.1-py3-none-any.whl ./dist/churn-0.1.tar.gz")),
        Valid(_dbx("# MAGIC %pip install /dbfs/FileStore/x.whl churn-0.1-py3-none-any.whl ../src")),
        Valid(_dbx("# MAGIC %pip install git+https://github.com/org/repo.git@v1 'churn @ https://x/churn.zip' lib @ git+https://github.com/org/lib")),
        Valid(_dbx("# MAGIC %pip install mlflow==$MLFLOW_VERSION ${var.pkg} {pkg_spec} $pkgs")),
        Valid(_dbx("# MAGIC %pip install --index-url https://pypi.org/simple --root-user-action ignore mlflow==2.19.0")),
        Valid(_dbx("# MAGIC %pip install --upgrade pip", "%pip install -q -U pip")),
        Valid(_dbx("# MAGIC %pip uninstall -y mlflow", "# MAGIC %pip list", "%pip freeze")),
        # markdown and shell cells: documentation, not an install
        Valid(_dbx("# MAGIC %md\n# MAGIC Install with:\n# MAGIC %pip install mlflow", "# MAGIC %sh\n# MAGIC pip install mlflow")),
        # a `# MAGIC` comment inside a Python cell is a comment
        Valid(_dbx("import os\n# MAGIC %pip install mlflow\nx = 1\n")),
        # %pip text inside a multi-line string
        Valid(_dbx('HELP = """\n%pip install mlflow\n"""\nprint(HELP)\n')),
        Valid(_dbx("# MAGIC %pip install mlflow==2.19.0 # then restart", "!pip install -q mlflow==2.19.0 && echo done")),
        Valid(ipynb(("markdown", "%pip install mlflow"), "%%sh\npip install mlflow", "%pip install mlflow==2.19.0"), path="nb.ipynb"),
        Valid("import subprocess\nsubprocess.run(['pip', 'install', 'mlflow'])\n", path="module.py"),
    )

    def check(self, ctx):
        source = ctx.source
        string_rows: set[int] | None = None
        for magic in source.magics:
            words = [w for w in pip_install_words(magic) if w.requirement is not None and w.pinned_version is None]
            if not words or not _is_live_magic(source, magic):
                continue
            if not _is_databricks_magic_line(source, magic):
                if string_rows is None:
                    string_rows = _rows_inside_strings(ctx)
                if magic.row in string_rows:
                    continue
            command = ("!" if magic.shell else "%") + magic.name + ("" if magic.name in ("pip", "pip3") else " -m pip") + " install"
            for word in words:
                name = word.requirement.name
                if word.name in EXEMPT:
                    continue
                yield self._finding(ctx, command, word, name)

    def _finding(self, ctx, command, word, name):
        versions = _distinct_versions(ctx.project.pin_versions(ctx.path, name))
        edits = ()
        if not versions:
            advice = "no exact pin for it is known in the project"
        elif len(versions) > 1:
            shown = ", ".join(v for v, _ in versions[:4]) + (", ..." if len(versions) > 4 else "")
            advice = f"the project pins {len(versions)} different versions ({shown}), so no fix is offered"
        else:
            version, locations = versions[0]
            where = f"{locations[0].path}:{locations[0].row}"
            new = _pinned_text(word, version)
            if new is None:
                advice = f"the project pins {name}=={version} ({where}), which does not satisfy '{word.text}'"
            else:
                advice = f"the fix pins {name}=={version} as in {where}"
                edits = (Edit(word.start, word.end, new),)
        return self.finding(
            ctx.path,
            ctx.offset_span(word.start, word.end),
            f"`{command}` of '{name}' without an exact `==` pin ('{word.text}'); {advice}",
            edits=edits,
            fix_message=f"Pin to `{edits[0].content}`" if edits else "",
        )


def _distinct_versions(pins: dict) -> list[tuple[str, list]]:
    """(version as most often written, locations) per distinct version: `2.19` and `2.19.0`
    are one version. Sorted by version."""
    groups: dict[object, list[tuple[str, list]]] = {}
    for text, locations in pins.items():
        try:
            key: object = Version(text)
        except InvalidVersion:
            key = text
        groups.setdefault(key, []).append((text, locations))
    out = []
    for key, spellings in groups.items():
        spellings.sort(key=lambda item: -len(item[1]))
        out.append((key, spellings[0][0], [loc for _, locs in spellings for loc in locs]))
    out.sort(key=lambda item: (1, item[0]) if isinstance(item[0], str) else (0, item[0]))
    return [(text, locations) for _, text, locations in out]


def _pinned_text(word, version: str) -> str | None:
    """``word`` rewritten as ``name[extras]==version[; marker]``, or None when ``version``
    contradicts the word's own specifier."""
    req = word.requirement
    if req.specifier:
        try:
            if not req.specifier.contains(Version(version), prereleases=True):
                return None
        except InvalidVersion:
            return None
    head = _NAME_EXTRAS.match(word.text)
    if head is None:
        return None
    text = head.group().replace(" ", "") + "==" + version
    if req.marker is not None:
        text += "; " + word.text.split(";", 1)[1].strip()
    return text


def _is_databricks_magic_line(source, magic) -> bool:
    return source.kind == "databricks" and databricks_magic_prefix(source.lines.line(magic.row)) is not None


def _is_live_magic(source, magic) -> bool:
    """False for a magic line that is text: in a `%md`/`%sh`/... cell, or a `# MAGIC` comment
    line inside a Python cell."""
    cell = source.cell_at_row(magic.row)
    if cell is None:
        return True
    if cell.kind == "magic" and cell.magic in CELL_LANGUAGE_MAGICS:
        return False
    if _is_databricks_magic_line(source, magic) and cell.kind != "magic":
        return False
    return cell.kind in ("code", "magic")


def _rows_inside_strings(ctx) -> set[int]:
    """Rows of the file that lie inside a multi-line string literal (after its first row)."""
    # from the shared index (no walk of our own); f-strings nested in f-strings lie inside them
    index = ctx.index
    strings: list[cst.CSTNode] = [n for n in index.nodes(cst.SimpleString) if "\n" in n.value]
    strings.extend(index.nodes(cst.FormattedString))
    rows: set[int] = set()
    for node in strings:
        span = ctx.span(node)
        rows.update(range(span.start.row + 1, span.end.row + 1))
    return rows
