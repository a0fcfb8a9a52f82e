"""``--output-format concise``: one line per finding."""

from __future__ import annotations

from mlrules.output import Report


def location(report: Report, finding) -> str:
    start, _ = report.public_location(finding)
    cell = f"cell {finding.cell}:" if finding.cell is not None else ""
    return f"{finding.path}:{cell}{start.row}:{start.column}"


def fix_marker(finding, unsafe: bool) -> str:
    if finding.fix is None:
        return ""
    if finding.fix.applicability.value == "safe" or unsafe:
        return " [*]"
    return " [unsafe fix]"


def render(report: Report) -> str:
    lines = [f"{location(report, f)}: {f.code} {f.message}{fix_marker(f, report.unsafe_fixes)}" for f in report.findings]
    return "\n".join(lines) + ("\n" if lines else "")
