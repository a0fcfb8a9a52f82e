"""``--output-format`` full, concise, json, sarif and github, as CLI.md defines them."""

from __future__ import annotations

import json
import os

import pytest
from conftest import EXP001_MODULE, REPO_ROOT

from mlrules.rules import all_rules
from mlrules.rules.base import ipynb

SEL = ("--select", "EXP001,MLR")
SARIF_SCHEMA = os.path.join(REPO_ROOT, "..", "shared", "schemas", "sarif-schema-2.1.0.json")

EXP001_JSON = {
    "code": "EXP001",
    "name": "experiment-outside-shared",
    "message": "Experiment path '/Users/a/b' is under a user folder; use /Shared/ (e.g. '/Shared/b')",
    "severity": "error",
    "filename": "src/a.py",
    "cell": None,
    "location": {"row": 2, "column": 23},
    "end_location": {"row": 2, "column": 35},
    "fix": {
        "applicability": "unsafe",
        "message": "Use '/Shared/b'",
        "edits": [{"content": '"/Shared/b"', "location": {"row": 2, "column": 23}, "end_location": {"row": 2, "column": 35}}],
    },
    "url": None,
}

# Cell 1 markdown (counted), cell 2 code with the finding on its 3rd row, cell 3 code.
NOTEBOOK = ipynb(("markdown", "# Title\n\nnotes"), "import mlflow\n\nmlflow.set_experiment('/Users/a/x')\n", "x = 1  # noqa: EXP001")


def fmt(cli, name, *args):
    return cli("check", *SEL, "--output-format", name, *args)


# --- json -------------------------------------------------------------------------------------------
def test_json_exact_shape(project, cli):
    project.write("src/a.py", EXP001_MODULE)
    run = fmt(cli, "json", "src")
    assert run.exit_code == 1
    assert run.json() == [EXP001_JSON]
    assert list(run.json()[0]) == list(EXP001_JSON)  # key order of CLI.md


def test_json_empty_is_an_empty_array(project, cli):
    project.write("a.py", "x = 1\n")
    run = fmt(cli, "json", ".")
    assert run.exit_code == 0 and run.stdout == "[]\n"


def test_json_is_sorted_by_filename_then_position(project, cli):
    project.write("b.py", EXP001_MODULE)
    project.write("a.py", "y = 2  # noqa: EXP001\n" + EXP001_MODULE + 'mlflow.set_experiment("rel")\n')
    got = [(f["filename"], f["location"]["row"], f["location"]["column"]) for f in fmt(cli, "json", "b.py", "a.py").json()]
    assert got == [("a.py", 1, 16), ("a.py", 3, 23), ("a.py", 4, 23), ("b.py", 2, 23)]


def test_json_filename_relative_as_given(project, cli):
    project.write("pkg/sub/a.py", EXP001_MODULE)
    assert [f["filename"] for f in fmt(cli, "json", "pkg").json()] == ["pkg/sub/a.py"]
    assert [f["filename"] for f in fmt(cli, "json", "./pkg/").json()] == ["./pkg/sub/a.py"]
    absolute = os.path.join(project.root, "pkg")
    assert [f["filename"] for f in fmt(cli, "json", absolute).json()] == [os.path.join(absolute, "sub", "a.py")]


def test_json_columns_count_characters_not_bytes(project, cli):
    project.write("a.py", 'import mlflow\nmlflow.set_experiment("/Users/é€/b"); z = "ü"\n')
    [f] = fmt(cli, "json", ".").json()
    assert f["location"] == {"row": 2, "column": 23} and f["end_location"] == {"row": 2, "column": 36}


def test_json_ipynb_cell_and_row_inside_the_cell(project, cli):
    project.write("nb.ipynb", NOTEBOOK)
    findings = fmt(cli, "json", ".").json()
    assert [(f["code"], f["cell"], f["location"], f["end_location"]) for f in findings] == [
        ("EXP001", 2, {"row": 3, "column": 23}, {"row": 3, "column": 35}),
        ("MLR002", 3, {"row": 1, "column": 16}, {"row": 1, "column": 22}),
    ]
    [edit] = findings[0]["fix"]["edits"]
    assert edit == {"content": '"/Shared/x"', "location": {"row": 3, "column": 23}, "end_location": {"row": 3, "column": 35}}
    [edit] = findings[1]["fix"]["edits"]
    assert edit["location"] == {"row": 1, "column": 6} and edit["end_location"] == {"row": 1, "column": 22}


def test_json_ipynb_first_cell(project, cli):
    project.write("nb.ipynb", ipynb("import mlflow\nmlflow.set_experiment('x')"))
    [f] = fmt(cli, "json", ".").json()
    assert (f["cell"], f["location"]["row"]) == (1, 2)


def test_json_fix_is_null_without_a_fix(project, cli):
    project.write("a.py", "x = 1  # noqa: EXP999\n")
    [f] = fmt(cli, "json", ".").json()
    assert f["code"] == "MLR003" and f["fix"] is None


# --- concise / full ---------------------------------------------------------------------------------------
def test_concise(project, cli):
    project.write("a.py", EXP001_MODULE)
    project.write("nb.ipynb", NOTEBOOK)
    assert fmt(cli, "concise", "-q", ".").stdout.splitlines() == [
        "a.py:2:23: EXP001 Experiment path '/Users/a/b' is under a user folder; use /Shared/ (e.g. '/Shared/b') [unsafe fix]",
        "nb.ipynb:cell 2:3:23: EXP001 Experiment path '/Users/a/x' is under a user folder; use /Shared/ (e.g. '/Shared/x') [unsafe fix]",
        "nb.ipynb:cell 3:1:16: MLR002 Unused suppression: EXP001 reported nothing on this line [*]",
    ]
    marked = fmt(cli, "concise", "-q", "--unsafe-fixes", "a.py").stdout
    assert marked.rstrip().endswith("[*]")


def test_full_shows_source_line_and_caret(project, cli):
    project.write("a.py", EXP001_MODULE)
    out = fmt(cli, "full", "-q", ".").stdout
    assert out == (
        "a.py:2:23: EXP001 Experiment path '/Users/a/b' is under a user folder; use /Shared/ (e.g. '/Shared/b') [unsafe fix]\n"
        "  |\n"
        '2 | mlflow.set_experiment("/Users/a/b")\n'
        "  |                       ^^^^^^^^^^^^\n"
    )


def test_full_in_a_notebook_cell_and_with_show_fixes(project, cli):
    project.write("nb.ipynb", NOTEBOOK)
    out = fmt(cli, "full", "-q", "--show-fixes", ".").stdout
    blocks = out.split("\n\n")
    assert blocks[0].splitlines() == [
        "nb.ipynb:cell 2:3:23: EXP001 Experiment path '/Users/a/x' is under a user folder; use /Shared/ (e.g. '/Shared/x') [unsafe fix]",
        "  |",
        "3 | mlflow.set_experiment('/Users/a/x')",
        "  |                       ^^^^^^^^^^^^",
        "  = fix (unsafe): Use '/Shared/x'",
    ]
    assert blocks[1].splitlines()[2:4] == ["1 | x = 1  # noqa: EXP001", "  |                ^^^^^^"]


def test_full_zero_width_and_wide_gutter(project, cli):
    project.write("a.py", "\n" * 11 + "def f(:\n")
    out = fmt(cli, "full", "-q", ".").stdout
    assert out.splitlines() == ["a.py:12:7: MLR001 syntax error: invalid syntax", "   |", "12 | def f(:", "   |       ^"]


def test_full_without_a_source_line(project, cli):
    project.write("bin.py", b"\x00\x01")
    assert fmt(cli, "full", "-q", ".").stdout == "bin.py:1:1: MLR001 cannot read file: binary file (contains NUL bytes)\n"


# --- github ---------------------------------------------------------------------------------------------------
def test_github_workflow_commands(project, cli):
    project.write("a.py", EXP001_MODULE + "x = 1  # noqa: EXP001\n")
    project.write("nb.ipynb", NOTEBOOK)
    lines = fmt(cli, "github", ".").stdout.splitlines()
    assert lines[0] == (
        "::error file=a.py,line=2,col=23,endLine=2,endColumn=35,title=EXP001::"
        "EXP001 Experiment path '/Users/a/b' is under a user folder; use /Shared/ (e.g. '/Shared/b')"
    )
    assert lines[1].startswith("::warning file=a.py,line=3,col=16,endLine=3,endColumn=22,title=MLR002::MLR002 Unused suppression")
    assert lines[2].startswith("::error file=nb.ipynb,line=3,col=23,") and lines[2].endswith("(cell 2)")
    assert len(lines) == 4


def test_github_escapes(project, cli):
    project.write("a,b:c%.py", 'import mlflow\nmlflow.set_experiment("/Users/a/100%")\n')
    [line] = fmt(cli, "github", ".").stdout.splitlines()
    assert line.startswith("::error file=a%2Cb%3Ac%25.py,line=2,")
    assert "100%25" in line.split("::", 2)[2]


# --- sarif ------------------------------------------------------------------------------------------------------
def _sarif_schema():
    if not os.path.isfile(SARIF_SCHEMA):
        pytest.skip(f"SARIF schema not found at {os.path.normpath(SARIF_SCHEMA)} (../shared/schemas/ from the repo root)")
    with open(SARIF_SCHEMA, encoding="utf-8") as fh:
        return json.load(fh)


def _validate(document):
    jsonschema = pytest.importorskip("jsonschema")
    schema = _sarif_schema()
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    errors = sorted(validator_class(schema).iter_errors(document), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:10])


def test_sarif_validates_and_has_the_cli_md_content(project, cli):
    project.write("src/a.py", EXP001_MODULE + "x = 1  # noqa: EXP999\n")
    project.write("nb.ipynb", NOTEBOOK)
    run = fmt(cli, "sarif", ".")
    assert run.exit_code == 1
    document = json.loads(run.stdout)
    _validate(document)
    assert document["version"] == "2.1.0"
    [sarif_run] = document["runs"]
    driver = sarif_run["tool"]["driver"]
    assert driver["name"] == "mlrules"
    assert [r["id"] for r in driver["rules"]] == [r.code for r in all_rules()]
    for descriptor in driver["rules"]:
        assert descriptor["name"] and descriptor["shortDescription"]["text"] and descriptor["fullDescription"]["text"]
        assert "## What it does" in descriptor["help"]["text"]
    results = sarif_run["results"]
    assert [(r["ruleId"], r["level"]) for r in results] == [("EXP001", "error"), ("MLR002", "warning"), ("EXP001", "error"), ("MLR003", "error")]
    exp = results[2]
    assert driver["rules"][exp["ruleIndex"]]["id"] == "EXP001"
    assert exp["message"]["text"].startswith("Experiment path '/Users/a/b'")
    location = exp["locations"][0]["physicalLocation"]
    assert location == {"artifactLocation": {"uri": "src/a.py"}, "region": {"startLine": 2, "startColumn": 23, "endLine": 2, "endColumn": 35}}
    [fix] = exp["fixes"]
    [change] = fix["artifactChanges"]
    assert change["artifactLocation"]["uri"] == "src/a.py"
    assert change["replacements"] == [
        {"deletedRegion": {"startLine": 2, "startColumn": 23, "endLine": 2, "endColumn": 35}, "insertedContent": {"text": '"/Shared/b"'}}
    ]
    assert "fixes" not in results[3]
    assert results[0]["properties"] == {"cell": 2}


def test_sarif_empty_run_validates(project, cli):
    project.write("a.py", "x = 1\n")
    run = fmt(cli, "sarif", ".")
    assert run.exit_code == 0
    document = json.loads(run.stdout)
    _validate(document)
    assert document["runs"][0]["results"] == []


def test_sarif_uri_is_relative_to_the_working_folder(project, cli, monkeypatch):
    project.write("pkg/a.py", EXP001_MODULE)
    monkeypatch.chdir(os.path.join(project.root, "pkg"))
    document = json.loads(fmt(cli, "sarif", os.path.join(project.root, "pkg")).stdout)
    assert document["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "a.py"
