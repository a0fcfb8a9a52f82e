"""Shared helpers: a throw-away project folder and the CLI run in-process (fast)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import pytest
from click.testing import CliRunner

from mlrules.cli import main

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(autouse=True, scope="session")
def _private_cache_home(tmp_path_factory):
    """The cache signing key (``$XDG_CACHE_HOME/mlrules/secret-key``) of the test session, not
    the user's (subprocesses inherit it)."""
    old = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))
    yield
    if old is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = old

# One EXP001 finding (unsafe fix) on row 2, columns 23-35 (1-based), in any .py file.
EXP001_MODULE = 'import mlflow\nmlflow.set_experiment("/Users/a/b")\n'


@dataclass
class Run:
    exit_code: int
    stdout: str  # (click's test runner turns \r\n into \n here)
    stderr: str
    stdout_bytes: bytes = b""

    def json(self):
        return json.loads(self.stdout)

    def codes(self) -> list[str]:
        return [f["code"] for f in self.json()]


class Project:
    """A folder with a ``.git`` marker (so ``.gitignore`` lookup stops here), used as the cwd."""

    def __init__(self, root) -> None:
        self.root = str(root)

    def write(self, rel: str, content: str | bytes) -> str:
        path = os.path.join(self.root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        data = content.encode("utf-8") if isinstance(content, str) else content
        with open(path, "wb") as fh:
            fh.write(data)
        return rel

    def read(self, rel: str) -> bytes:
        with open(os.path.join(self.root, rel), "rb") as fh:
            return fh.read()

    def snapshot(self) -> dict[str, bytes]:
        out = {}
        for folder, dirs, files in os.walk(self.root):
            dirs[:] = [d for d in dirs if d != ".git"]
            for name in files:
                path = os.path.join(folder, name)
                out[os.path.relpath(path, self.root)] = self.read(os.path.relpath(path, self.root))
        return out


@pytest.fixture
def project(tmp_path, monkeypatch) -> Project:
    (tmp_path / ".git").mkdir()
    monkeypatch.chdir(tmp_path)
    return Project(tmp_path)


def run_cli(*args: str, input: bytes | str | None = None) -> Run:
    """``mlrules <args>`` in-process, in the current folder (``input``: its standard input)."""
    result = CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)
    return Run(result.exit_code, result.stdout, result.stderr, result.stdout_bytes)


@pytest.fixture
def cli():
    return run_cli
