"""``# noqa`` comments: parsing them, applying them, and reporting the unused and unknown ones.

``# noqa`` is shared with flake8 and Ruff, so only codes of mlrules' own families count as
ours: ``# noqa: E501`` belongs to another tool and is neither used, unused nor unknown here.
A bare ``# noqa`` suppresses everything on its line and is never reported as unused (it may
be there for another tool).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from mlrules.model import Edit, Finding, Fix, Severity, Span
from mlrules.sources.text import LineIndex

OUR_FAMILIES = ("MLR", "EXP", "REG", "FE", "DQ", "NB", "BND")
_OUR_CODE = re.compile(r"^(?:%s)\d{3}$" % "|".join(OUR_FAMILIES))
_NOQA = re.compile(r"#\s*noqa(?:\s*:\s*(?P<codes>[A-Z]+[0-9]+(?:(?:[ \t]*,[ \t]*|[ \t]+)[A-Z]+[0-9]+)*))?", re.I)
_FILE_NOQA = re.compile(r"#\s*mlrules:\s*noqa-file:\s*(?P<codes>[A-Z]+[0-9]+(?:\s*,\s*[A-Z]+[0-9]+)*)", re.I)
_CODE = re.compile(r"[A-Za-z]+[0-9]+")


@dataclass
class NoqaCode:
    code: str
    start: int  # offsets of the code in the text
    end: int
    used: bool = False


@dataclass
class NoqaComment:
    row: int
    start: int  # offset of '#'
    end: int  # offset after the last code (or after 'noqa')
    codes: list[NoqaCode] = field(default_factory=list)  # empty: bare noqa
    used: bool = False

    @property
    def bare(self) -> bool:
        return not self.codes


@dataclass
class Suppressions:
    lines: dict[int, NoqaComment] = field(default_factory=dict)
    file_codes: set[str] = field(default_factory=set)

    @classmethod
    def parse(cls, lines: LineIndex) -> "Suppressions":
        out = cls()
        text = lines.text
        if "noqa" not in text and "NOQA" not in text:
            return out
        for row in range(1, lines.line_count + 1):
            line = lines.line(row)
            if "noqa" not in line.lower():
                continue
            base = lines.offset(row, 0)
            file_match = _FILE_NOQA.search(line)
            if file_match:
                out.file_codes |= {c.upper() for c in _CODE.findall(file_match.group("codes"))}
                continue
            m = _NOQA.search(line)
            if not m:
                continue
            comment = NoqaComment(row, base + m.start(), base + m.end())
            if m.group("codes"):
                offset = base + m.start("codes")
                for code in _CODE.finditer(m.group("codes")):
                    comment.codes.append(NoqaCode(code.group().upper(), offset + code.start(), offset + code.end()))
            out.lines[row] = comment
        return out

    def suppresses(self, finding: Finding) -> bool:
        if finding.code in self.file_codes:
            return True
        for row in {finding.span.start.row, finding.span.end.row}:
            comment = self.lines.get(row)
            if comment is None:
                continue
            if comment.bare:
                comment.used = True
                return True
            for code in comment.codes:
                if code.code == finding.code:
                    code.used = True
                    comment.used = True
                    return True
        return False

    def unused_and_unknown(self, path: str, text: str, lines: LineIndex, selected: set[str], known: set[str]) -> list[Finding]:
        """MLR002 for our selected codes that suppressed nothing; MLR003 for our-family codes no rule has."""
        findings: list[Finding] = []
        for comment in self.lines.values():
            unused = [c for c in comment.codes if _OUR_CODE.match(c.code) and c.code in known and c.code in selected and not c.used]
            for code in comment.codes:
                if _OUR_CODE.match(code.code) and code.code not in known and "MLR003" in selected:
                    span = Span(lines.position(code.start), lines.position(code.end))
                    findings.append(Finding("MLR003", f"Unknown rule code {code.code} in noqa comment", path, span, Severity.ERROR, None, "unknown-code"))
            if not unused or "MLR002" not in selected:
                continue
            fix = _removal_fix(comment, unused, text)
            for code in unused:
                span = Span(lines.position(code.start), lines.position(code.end))
                findings.append(
                    Finding("MLR002", f"Unused suppression: {code.code} reported nothing on this line", path, span, Severity.WARNING, fix, "unused-suppression")
                )
        return findings


def _removal_fix(comment: NoqaComment, unused: list[NoqaCode], text: str) -> Fix:
    remaining = [c for c in comment.codes if c not in unused]
    if remaining:
        # rewrite the code list, keeping the rest of the comment (free text) as it is
        first, last = comment.codes[0].start, comment.codes[-1].end
        new = ", ".join(c.code for c in remaining)
        return Fix(f"Remove unused {', '.join(c.code for c in unused)}", (Edit(first, last, new),))
    # remove the whole noqa comment and the spaces before it; keep any text after it
    start = comment.start
    while start > 0 and text[start - 1] in " \t":
        start -= 1
    end = comment.end
    line_end = text.find("\n", end)
    tail = text[end : len(text) if line_end == -1 else line_end].rstrip("\r")
    if tail.strip():
        # free text after the codes ("# noqa: EXP001  shared by design") stays as a comment
        return Fix("Remove unused noqa", (Edit(comment.start, end, "#"),))
    line_start = text.rfind("\n", 0, comment.start) + 1
    if text[line_start:start].strip() == "":
        start = line_start  # the comment is alone on its line: leave the line empty
    return Fix("Remove unused noqa", (Edit(start, end, ""),))
