"""The result cache: a warm run says exactly what a cold run says, and an edit invalidates what
its answers depend on and nothing else (a notebook, what ``%run``s it, the notebooks whose
bundle tasks changed, the configuration, the mlrules version, files on disk). No timing here:
``benchmarks/run.py`` shows the speed."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys

import pytest
from conftest import run_cli

from mlrules.engine import cache as caching
from mlrules.engine.cache import Cache
from mlrules.engine.config import load_settings
from mlrules.engine.runner import Linter

ROOT = """bundle:
  name: demo
include:
  - resources/*.yml
variables:
  catalog:
    default: dev
"""

JOB = """resources:
  jobs:
    train_job:
      name: train
      tasks:
        - task_key: train
          notebook_task:
            notebook_path: ../notebooks/train.py
            base_parameters:
              catalog: ${var.catalog}
        - task_key: score
          notebook_task:
            notebook_path: ../notebooks/score.py
            base_parameters:
              catalog: ${var.catalog}
"""

FILES = {
    "databricks.yml": ROOT,
    "resources/job.yml": JOB,
    "notebooks/train.py": (
        "# Databricks notebook source\nimport mlflow\ncatalog = dbutils.widgets.get('catalog')\n"
        "mlflow.set_experiment('/Shared/churn')\nwith mlflow.start_run():\n    mlflow.log_metric('auc', 0.9)\n"
        "dbutils.notebook.exit('SUCCESS')\n"
    ),
    "notebooks/score.py": (
        "# Databricks notebook source\nimport mlflow\ncatalog = dbutils.widgets.get('catalog')\n"
        "threshold = dbutils.widgets.get('threshold')\nmodel = mlflow.pyfunc.load_model('models:/c.s.m@prod')\n"
    ),
    "notebooks/setup.py": "# Databricks notebook source\nshared = 'x'\n",
    "notebooks/report.py": "# Databricks notebook source\n# MAGIC %run ./setup\n\n# COMMAND ----------\n\nprint(shared, missing_name)\n",
    "notebooks/other.py": "# Databricks notebook source\nimport mlflow\nmlflow.set_experiment('/Users/me@example.com/x')\n",
    "notebooks/nb.ipynb": (
        '{"cells": [{"cell_type": "code", "execution_count": null, "metadata": {}, "outputs": [], '
        '"source": ["%pip install shap\\n", "import mlflow\\n", "mlflow.autolog()"]}], '
        '"metadata": {"language_info": {"name": "python"}}, "nbformat": 4, "nbformat_minor": 5}\n'
    ),
    "src/helpers.py": "def f(x):\n    return x + 1\n",
}


@pytest.fixture
def bundle(project):
    for rel, text in FILES.items():
        project.write(rel, text)
    return project


def lint(paths=(".",), **settings_changes):
    """(result, the files linted in this run rather than taken from the cache)."""
    settings = load_settings(None)
    for key, value in settings_changes.items():
        setattr(settings, key, value)
    linter = Linter(settings)
    loaded = linter.load(list(paths))
    result = linter.lint(loaded, cache=Cache(os.path.abspath(".mlrules_cache")))
    relinted = sorted(path for path, file_result in result.file_results.items() if not file_result.cached)
    return result, relinted


def uncached(paths=(".",), **settings_changes):
    settings = load_settings(None)
    for key, value in settings_changes.items():
        setattr(settings, key, value)
    linter = Linter(settings)
    return linter.lint(linter.load(list(paths)))


def same(a, b) -> bool:
    return [(f.code, f.path, f.span, f.message, f.fix, f.cell, f.cell_span) for f in a.findings] == [
        (f.code, f.path, f.span, f.message, f.fix, f.cell, f.cell_span) for f in b.findings
    ] and a.errors == b.errors


def test_warm_run_is_answered_by_the_manifest_and_equals_the_cold_run(bundle):
    cold, relinted = lint()
    assert relinted == sorted(p for p in FILES)
    warm, relinted = lint()
    assert warm.from_manifest and relinted == []
    assert same(warm, cold) and same(cold, uncached())
    assert {f.code for f in cold.findings} >= {"NB001", "EXP001", "NB009", "NB006", "NB008"}


@pytest.mark.parametrize("fmt", ["full", "concise", "json", "sarif", "github"])
def test_cli_warm_output_is_byte_identical(bundle, fmt):
    cold = run_cli("check", ".", "--no-cache", "--output-format", fmt)
    first = run_cli("check", ".", "--output-format", fmt)
    warm = run_cli("check", ".", "--output-format", fmt)
    assert cold.stdout_bytes == first.stdout_bytes == warm.stdout_bytes
    assert cold.exit_code == first.exit_code == warm.exit_code == 1
    assert os.path.isdir(".mlrules_cache")


def test_editing_a_notebook_relints_only_that_notebook(bundle):
    lint()
    bundle.write("notebooks/train.py", FILES["notebooks/train.py"] + "x = 1\n")
    result, relinted = lint()
    assert relinted == ["notebooks/train.py"]
    assert same(result, uncached())


def test_editing_a_run_target_relints_the_notebooks_that_include_it(bundle):
    lint()
    bundle.write("notebooks/setup.py", FILES["notebooks/setup.py"] + "missing_name = 1\n")
    result, relinted = lint()
    assert relinted == ["notebooks/report.py", "notebooks/setup.py"]
    assert "NB009" not in {f.code for f in result.findings}
    assert same(result, uncached())


def test_editing_a_bundle_yaml_relints_the_notebooks_whose_tasks_changed(bundle):
    lint()
    # a comment changes no answer: only the YAML file itself is linted again
    bundle.write("resources/job.yml", JOB + "# a comment\n")
    result, relinted = lint()
    assert relinted == ["resources/job.yml"]
    assert same(result, uncached())
    # the score task now runs other.py: those two notebooks are what changed
    bundle.write("resources/job.yml", JOB.replace("../notebooks/score.py", "../notebooks/other.py"))
    result, relinted = lint()
    assert relinted == ["notebooks/other.py", "notebooks/score.py", "resources/job.yml"]
    assert same(result, uncached())
    # a variable's default: no file rule asked about it; the cross-file rules run again anyway
    bundle.write("databricks.yml", ROOT.replace("default: dev", "default: prod"))
    result, relinted = lint()
    assert relinted == ["databricks.yml"]
    assert same(result, uncached())


FEATURE_TABLE = """# Databricks notebook source
from databricks.feature_engineering import FeatureEngineeringClient

fe = FeatureEngineeringClient()
fe.create_table(
    name="ml.churn.customer_features",
    primary_keys=["customer_id", "region"],
    df=features_df,
)
dbutils.notebook.exit("SUCCESS")
"""

LOOKUP = """# Databricks notebook source
from databricks.feature_engineering import FeatureLookup

lookup = FeatureLookup(table_name="ml.churn.customer_features", lookup_key=["region", "customer_id"])
dbutils.notebook.exit("SUCCESS")
"""


def test_facts_reused_from_the_cache_keep_their_positions(project):
    """A file linted again with its cached facts (its content did not change, an answer did)
    stores those facts again: the positions of the nodes they point at must survive a
    second trip through the cache (FE004 names the table's line from them)."""
    project.write("databricks.yml", ROOT)
    project.write("notebooks/features.py", FEATURE_TABLE)
    project.write("notebooks/train.py", LOOKUP)
    fe004 = {"select": ["FE004", "NB001"]}
    lint(**fe004)
    # the features notebook becomes a task: it is linted again, from its cached facts
    project.write("resources/job.yml", JOB.replace("../notebooks/score.py", "../notebooks/features.py"))
    result, relinted = lint(**fe004)
    assert "notebooks/features.py" in relinted
    assert same(result, uncached(**fe004))
    # the lookup changes: FE004 runs again with the features notebook's twice-stored facts
    project.write("notebooks/train.py", LOOKUP + "# tuned\n")
    result, relinted = lint(**fe004)
    assert relinted == ["notebooks/train.py"]
    assert [f.message for f in result.findings if f.code == "FE004"] == [
        "FeatureLookup of 'ml.churn.customer_features' passes keys ['region', 'customer_id'] in another order than the "
        "table's primary keys ['customer_id', 'region'] (notebooks/features.py:5); keys are matched by position"
    ]
    assert same(result, uncached(**fe004)) and not result.errors


def test_configuration_changes(bundle):
    lint()
    # per-file-ignores only change suppression: every file result is reused
    result, relinted = lint(per_file_ignores={"notebooks/other.py": ["EXP001"]})
    assert relinted == [] and not result.from_manifest
    assert "EXP001" not in {f.code for f in result.findings}
    assert same(result, uncached(per_file_ignores={"notebooks/other.py": ["EXP001"]}))
    # a rule option (or another rule selection) can change any file's findings
    options = {"EXP001": {"experiment-root": "/Users"}}
    result, relinted = lint(options=options)
    assert relinted == sorted(FILES)
    assert same(result, uncached(options=options))
    result, relinted = lint(ignore=["NB006"])
    assert relinted == sorted(FILES)
    assert same(result, uncached(ignore=["NB006"]))


def test_a_new_mlrules_version_invalidates_everything(bundle, monkeypatch):
    lint()
    monkeypatch.setattr(caching, "__version__", "99.0")
    monkeypatch.setattr(caching, "_CODE_DIGEST", None)
    result, relinted = lint()
    assert relinted == sorted(FILES) and not result.from_manifest


def test_files_on_disk_outside_the_run_are_checked(bundle):
    """pre-commit passes one file; its ``%run`` target is read from disk, not from the run."""
    bundle.write("notebooks/report.py", FILES["notebooks/report.py"].replace("./setup", "./later"))
    first, _ = lint(paths=("notebooks/report.py",))
    assert "NB010" in {f.code for f in first.findings}  # ./later does not exist
    bundle.write("notebooks/later.py", "# Databricks notebook source\nshared = 1\nmissing_name = 2\n")
    result, relinted = lint(paths=("notebooks/report.py",))
    assert "notebooks/report.py" in relinted
    assert "NB010" not in {f.code for f in result.findings}
    assert same(result, uncached(paths=("notebooks/report.py",)))


def test_corrupted_and_foreign_entries_are_misses(bundle):
    cold, _ = lint()
    for folder, _dirs, names in os.walk(".mlrules_cache"):
        for i, name in enumerate(names):
            if name.endswith(".pickle"):
                with open(os.path.join(folder, name), "wb") as fh:
                    fh.write(b"garbage" if i % 2 else pickle.dumps({"not": "an entry"}))
    result, relinted = lint()
    assert relinted == sorted(FILES)
    assert same(result, cold)


class _Planted:
    """A pickle that runs code when loaded: what a malicious commit could put in the cache."""

    def __reduce__(self):
        return (open, ("PWNED", "w"))


def _entries() -> list[str]:
    return [os.path.join(folder, name) for folder, _dirs, names in os.walk(".mlrules_cache") for name in names if name.endswith(".pickle")]


def test_a_planted_pickle_is_never_loaded(bundle):
    """The cache folder is in the user's tree: an entry not signed with this user's key is a
    miss and is never unpickled (unpickling can run code)."""
    cold, _ = lint()
    from mlrules.engine import cache as cache_module

    for i, path in enumerate(_entries()):
        with open(path, "rb") as fh:
            head = fh.read(len(cache_module._MAGIC) + 32)
        with open(path, "wb") as fh:  # a bare pickle, or a valid-looking header with a forged signature
            fh.write((head[:-1] + bytes([head[-1] ^ 1]) if i % 2 else b"") + pickle.dumps(_Planted()))
    result, relinted = lint()
    assert not os.path.exists("PWNED")
    assert relinted == sorted(FILES)
    assert same(result, cold)


def test_entries_signed_with_another_key_are_misses(bundle, monkeypatch):
    from mlrules.engine import cache as cache_module

    cold, _ = lint()
    assert lint()[1] == []
    monkeypatch.setattr(cache_module, "_key", b"k" * 32)  # another user, another machine
    result, relinted = lint()
    assert relinted == sorted(FILES)
    assert same(result, cold)


def test_the_signing_key_is_private_and_outside_the_project(bundle):
    from mlrules.engine import cache as cache_module

    path = cache_module._key_path()
    assert not os.path.abspath(path).startswith(os.getcwd())
    cache_module._key = None
    key = cache_module.secret_key()
    assert len(key) == 32 and os.path.getsize(path) == 32
    assert os.stat(path).st_mode & 0o077 == 0
    cache_module._key = None
    assert cache_module.secret_key() == key  # read back, not made again


@pytest.mark.parametrize("xdg", ["", "relative/cache"])
def test_no_home_means_a_key_for_this_process_only(bundle, monkeypatch, xdg):
    """Without a home (HOME unset: ``~`` stays ``~``) the key is never written into the
    project: it lives in memory, and the cache works within the run only."""
    from mlrules.engine import cache as cache_module

    monkeypatch.setenv("XDG_CACHE_HOME", xdg)
    monkeypatch.delenv("HOME", raising=False)
    monkeypatch.setattr(os.path, "expanduser", lambda path: path)
    monkeypatch.setattr(cache_module, "_key", None)
    assert cache_module._key_path() is None
    assert len(cache_module.secret_key()) == 32
    cold, _ = lint()
    assert not os.path.exists("~") and not os.path.exists("relative")
    assert lint()[1] == []  # same process, same key: the entries are used
    assert same(lint()[0], cold)


def test_a_fifo_in_the_cache_is_a_miss_not_a_hang(bundle):
    cold, _ = lint()
    for path in _entries():
        os.unlink(path)
        os.mkfifo(path)
    result, relinted = lint()
    assert relinted == sorted(FILES)
    assert same(result, cold)


def test_no_cache_reads_and_writes_nothing(bundle):
    run = run_cli("check", ".", "--no-cache")
    assert run.exit_code == 1
    assert not os.path.exists(".mlrules_cache")


def test_cache_dir_setting_is_relative_to_the_configuration(bundle):
    bundle.write("pyproject.toml", '[tool.mlrules]\ncache-dir = "build/lint-cache"\n')
    run = run_cli("check", "notebooks")
    assert run.exit_code == 1
    assert os.path.isdir("build/lint-cache") and not os.path.exists(".mlrules_cache")
    with open("build/lint-cache/.gitignore") as fh:
        assert "*" in fh.read()
    assert run_cli("check", "notebooks").stdout == run.stdout


def test_concurrent_runs_share_the_cache(bundle):
    procs = [
        subprocess.Popen([sys.executable, "-m", "mlrules", "check", ".", "--output-format", "json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(3)
    ]
    outputs = [p.communicate()[0] for p in procs]
    assert all(p.returncode == 1 for p in procs)
    assert len(set(outputs)) == 1
    assert run_cli("check", ".", "--output-format", "json", "--no-cache").stdout_bytes == outputs[0]


def test_fix_does_not_use_the_cache(bundle):
    run_cli("check", ".")
    run = run_cli("fix", ".")
    assert run.exit_code == 1
    assert "dbutils.notebook.exit" in bundle.read("notebooks/other.py").decode()
    # the fixed file is seen as changed by the next check
    assert run_cli("check", ".", "--output-format", "json").stdout == run_cli("check", ".", "--output-format", "json", "--no-cache").stdout


def _example_runs(rule, example, folder):
    from mlrules.engine.cache import file_slot
    from mlrules.engine.config import Settings
    from mlrules.rules.base import EngineRule
    from mlrules.testing.examples import _write

    _write(folder, example.path, example.code)
    for rel, text in example.files.items():
        _write(folder, rel, text)

    cold_linter: list = []

    def run(cache, ignores=None):
        settings = Settings(root=folder)
        settings.select = ["ALL"] if issubclass(rule, EngineRule) else [rule.code]
        if example.options:
            settings.options = {rule.code: dict(example.options)}
        if ignores:
            settings.per_file_ignores = ignores
        linter = Linter(settings)
        cold_linter[:] = [linter]
        return linter.lint(linter.load(["."]), cache=cache)

    cache = Cache(os.path.join(folder, ".cache"))
    plain, cold, warm = run(None), run(cache), run(cache)
    entries = {path: cache.get("file", file_slot(cold_linter[0], path)) for path in cold.file_results}
    # another run manifest (per-file-ignores that match nothing), the same file entries: every
    # file comes from the cache and the cross-file rules run on cached facts
    files = run(cache, {"no/such/folder/*": ["MLR001"]})
    return plain, cold, warm, files, entries


def _only_outside_listings_changed(result, entries: dict, folder: str) -> bool:
    """Rules list the folders above a file to find the repository root, and other processes
    write into /tmp: a listing above the example that changed is a legitimate miss. Anything
    else (a question answered differently, another probe) is not."""
    from mlrules.engine import recording

    for path, file_result in result.file_results.items():
        if file_result.cached:
            continue
        entry = entries.get(path) or {}
        changed = [p for p, a in (entry.get("probes") or {}).items() if recording.probe_answer(*p) != a]
        if not changed or any(p[0] not in ("listdir", "scandir") or p[1].startswith(folder) for p in changed):
            return False
    return True


@pytest.mark.parametrize("rule", [pytest.param(r, id=r.code) for r in __import__("mlrules.rules", fromlist=["all_rules"]).all_rules()])
def test_every_rule_example_says_the_same_through_the_cache(rule, tmp_path, monkeypatch):
    """Recording what rules ask the project must not change what they find: every example,
    uncached, cold with the cache and warm, gives the same findings; no result is opaque."""
    for kind in ("valid", "invalid"):
        for i, example in enumerate(getattr(rule, kind)):
            for attempt in range(3):  # other processes may write into the folders above the example
                folder = tmp_path / f"{kind}{i}-{attempt}"
                folder.mkdir()
                monkeypatch.chdir(folder)
                plain, cold, warm, files, entries = _example_runs(rule, example, str(folder))
                assert same(plain, cold) and same(plain, warm) and same(plain, files), (rule.code, kind, i)
                assert not any(r.opaque for r in cold.file_results.values()), (rule.code, kind, i)
                assert not files.from_manifest, (rule.code, kind, i)
                if all(r.cached for r in files.file_results.values()) or _only_outside_listings_changed(files, entries, str(folder)):
                    break
            else:
                pytest.fail(f"{rule.code} {kind} {i}: a cached file result was not reused")
