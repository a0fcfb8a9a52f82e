"""``--output-format json``: the array of CLI.md."""

from __future__ import annotations

import json

from mlrules.output import Report


def finding_dicts(report: Report) -> list[dict]:
    out = []
    for f in report.findings:
        start, end = report.public_location(f)
        fix = None
        if f.fix is not None:
            edits = []
            for edit in f.fix.edits:
                es, ee = report.edit_location(f, edit)
                edits.append({"content": edit.content, "location": {"row": es.row, "column": es.column}, "end_location": {"row": ee.row, "column": ee.column}})
            fix = {"applicability": f.fix.applicability.value, "message": f.fix.message, "edits": edits}
        out.append(
            {
                "code": f.code,
                "name": f.name,
                "message": f.message,
                "severity": f.severity.value,
                "filename": f.path,
                "cell": f.cell,
                "location": {"row": start.row, "column": start.column},
                "end_location": {"row": end.row, "column": end.column},
                "fix": fix,
                "url": None,
            }
        )
    return out


def render(report: Report) -> str:
    return json.dumps(finding_dicts(report), indent=2, ensure_ascii=False) + "\n"
