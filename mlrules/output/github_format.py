"""``--output-format github``: GitHub Actions workflow commands."""

from __future__ import annotations

from mlrules.output import Report


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render(report: Report) -> str:
    lines = []
    for f in report.findings:
        start, end = report.public_location(f)
        level = "error" if f.severity.value == "error" else "warning"
        where = f"file={_escape_property(f.path)},line={start.row},col={start.column},endLine={end.row},endColumn={end.column}"
        cell = f" (cell {f.cell})" if f.cell is not None else ""
        lines.append(f"::{level} {where},title={_escape_property(f.code)}::{_escape_data(f.code + ' ' + f.message + cell)}")
    return "\n".join(lines) + ("\n" if lines else "")
