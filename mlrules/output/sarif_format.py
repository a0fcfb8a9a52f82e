"""``--output-format sarif``: SARIF 2.1.0, one run, every rule in ``tool.driver.rules``."""

from __future__ import annotations

import json
import os
import re

from mlrules import __version__
from mlrules.output import Report
from mlrules.rules import all_rules

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def _uri(path: str) -> str:
    rel = os.path.relpath(os.path.abspath(path), os.getcwd()) if not path.startswith("<") else path
    return rel.replace(os.sep, "/")


def _section(docs: str, title: str) -> str:
    """The text of a ``## title`` section of a rule's docs ('' when absent)."""
    match = re.search(rf"^## {re.escape(title)}[ \t]*\n(.*?)(?=^## |\Z)", docs, re.M | re.S)
    return match.group(1).strip() if match else ""


def _rule_descriptor(rule) -> dict:
    docs = rule.docs()
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": _section(docs, "What it does") or rule.summary},
        "help": {"text": docs or rule.summary, "markdown": docs or rule.summary},
        "defaultConfiguration": {"level": "error" if rule.severity.value == "error" else "warning", "enabled": rule.default_enabled},
    }


def _region(start, end) -> dict:
    return {"startLine": start.row, "startColumn": start.column, "endLine": end.row, "endColumn": end.column}


def render(report: Report) -> str:
    rules = list(all_rules())
    index = {r.code: i for i, r in enumerate(rules)}
    results = []
    for f in report.findings:
        start, end = report.public_location(f)
        result = {
            "ruleId": f.code,
            "level": "error" if f.severity.value == "error" else "warning",
            "message": {"text": f.message},
            "locations": [{"physicalLocation": {"artifactLocation": {"uri": _uri(f.path)}, "region": _region(start, end)}}],
        }
        if f.code in index:
            result["ruleIndex"] = index[f.code]
        if f.cell is not None:
            result["properties"] = {"cell": f.cell}
        if f.fix is not None:
            replacements = []
            for edit in f.fix.edits:
                es, ee = report.edit_location(f, edit)
                replacements.append({"deletedRegion": _region(es, ee), "insertedContent": {"text": edit.content}})
            result["fixes"] = [
                {"description": {"text": f.fix.message or "fix"}, "artifactChanges": [{"artifactLocation": {"uri": _uri(f.path)}, "replacements": replacements}]}
            ]
        results.append(result)
    sarif = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {"name": "mlrules", "version": __version__, "informationUri": "https://pypi.org/project/mlrules/", "rules": [_rule_descriptor(r) for r in rules]}},
                "results": results,
            }
        ],
    }
    return json.dumps(sarif, indent=2, ensure_ascii=False) + "\n"
