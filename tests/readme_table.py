"""The README's rule table, rendered from ``mlrules rules --output-format json``.

    python tests/readme_table.py           # print the table
    python tests/readme_table.py --check   # exit 1 when README.md's table is out of date
    python tests/readme_table.py --write   # rewrite the table in README.md

The table sits between ``<!-- rules:start -->`` and ``<!-- rules:end -->``; the rest of the
README is never touched.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")
START, END = "<!-- rules:start -->", "<!-- rules:end -->"


def rules_json() -> list[dict]:
    out = subprocess.run(
        [sys.executable, "-m", "mlrules", "rules", "--output-format", "json"],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )
    return json.loads(out.stdout)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(rules: list[dict]) -> str:
    lines = ["| Code | Name | Default | Fix | Summary |", "|---|---|---|---|---|"]
    for rule in rules:
        default = "on" if rule["default"] else "off"
        fix = rule["fix"] or "—"
        lines.append(f"| {rule['code']} | {rule['name']} | {default} | {fix} | {_cell(rule['summary'])} |")
    return "\n".join(lines) + "\n"


def current_table(readme: str) -> str:
    """The text between the markers (without the newline right after the start marker)."""
    start, end = readme.index(START) + len(START), readme.index(END)
    return readme[start:end].lstrip("\n")


def with_table(readme: str, table: str) -> str:
    start, end = readme.index(START) + len(START), readme.index(END)
    return readme[:start] + "\n" + table + readme[end:]


def main(argv: list[str]) -> int:
    table = render(rules_json())
    if "--write" in argv or "--check" in argv:
        with open(README, encoding="utf-8") as fh:
            readme = fh.read()
        if "--check" in argv:
            return 0 if current_table(readme) == table else 1
        with open(README, "w", encoding="utf-8", newline="") as fh:
            fh.write(with_table(readme, table))
        return 0
    sys.stdout.write(table)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
