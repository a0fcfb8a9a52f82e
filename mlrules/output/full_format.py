"""``--output-format full``: each finding with its source line and a caret under the spot."""

from __future__ import annotations

from mlrules.output import Report
from mlrules.output.concise_format import fix_marker, location


def render(report: Report) -> str:
    """Plain text; the CLI colours it with rich when writing to a terminal."""
    blocks = []
    for f in report.findings:
        start, end = report.public_location(f)
        head = f"{location(report, f)}: {f.code} {f.message}{fix_marker(f, report.unsafe_fixes)}"
        block = [head]
        line = report.line_text(f)
        if line is not None and line.strip():
            gutter = str(start.row)  # for .ipynb: the row inside the cell, as in the head line
            width = len(gutter)
            col = start.column - 1
            length = max(1, (end.column - start.column) if end.row == start.row else len(line) - col)
            block.append(f"{' ' * width} |")
            block.append(f"{gutter} | {line.expandtabs(1)}")
            block.append(f"{' ' * width} | {' ' * col}{'^' * min(length, max(1, len(line) - col))}")
        if report.show_fixes and f.fix is not None:
            block.append(f"{' ' * 2}= fix ({f.fix.applicability.value}): {f.fix.message}")
        blocks.append("\n".join(block))
    return "\n\n".join(blocks) + ("\n" if blocks else "")
