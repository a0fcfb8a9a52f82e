"""Requirement strings as pip sees them: ``%pip install`` arguments, bundle dependencies, files.

Parsing is done by ``packaging``; this module only decides which words are requirements
(not options, paths, wheels or URLs) and whether a requirement is an exact pin.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from mlrules.sources.magics import MagicCommand, Token

# pip options that take a value (the next word, unless written --opt=value)
_OPTIONS_WITH_VALUE = frozenset(
    {
        "-r", "--requirement", "-c", "--constraint", "-e", "--editable", "-i", "--index-url",
        "--extra-index-url", "-f", "--find-links", "-t", "--target", "--prefix", "--root",
        "--platform", "--python-version", "--implementation", "--abi", "--src", "--upgrade-strategy",
        "--progress-bar", "--log", "--proxy", "--retries", "--timeout", "--cert", "--client-cert",
        "--cache-dir", "--trusted-host", "--global-option", "--install-option", "--config-settings",
        "-C", "--only-binary", "--no-binary", "--report",
    }
)


@dataclass(frozen=True)
class RequirementWord:
    """One requirement in a pip command line or a dependency list."""

    text: str  # as written, quotes removed
    start: int  # offsets of ``text`` in the file text
    end: int
    requirement: Requirement | None  # None: not a named package (path, URL, wheel...)

    @property
    def name(self) -> str | None:
        return canonicalize_name(self.requirement.name) if self.requirement else None

    @property
    def pinned_version(self) -> str | None:
        return exact_pin(self.requirement) if self.requirement else None


def parse_named_requirement(text: str) -> Requirement | None:
    """A Requirement for a named package from an index; None for paths, URLs, wheels, options."""
    text = text.strip()
    if not text or text.startswith(("-", ".", "/", "~", "$", "{")) or "://" in text:
        return None
    if re.search(r"\.(whl|egg|tar\.gz|zip|tgz)$", text.split(";")[0].strip(), re.I):
        return None
    if "/" in text.split(";")[0] or "\\" in text:
        return None
    try:
        req = Requirement(text)
    except InvalidRequirement:
        return None
    if req.url:
        return None
    return req


def exact_pin(req: Requirement) -> str | None:
    """The version of an exact ``==`` (or ``===``) pin without wildcards, else None."""
    specs = list(req.specifier)
    exact = [s for s in specs if s.operator in ("==", "===") and "*" not in s.version]
    if len(exact) == 1:
        return exact[0].version
    return None


def pip_install_words(magic: MagicCommand) -> list[RequirementWord]:
    """The requirement words of a ``%pip install`` / ``!pip install`` line (empty otherwise)."""
    args = list(magic.args)
    if magic.name in ("python", "python3") and len(args) >= 3 and args[0].text == "-m" and args[1].text == "pip":
        args = args[2:]
    elif magic.name != "pip":
        return []
    if not args or args[0].text != "install":
        return []
    words: list[RequirementWord] = []
    skip_next = False
    for token in args[1:]:
        text, start, end = _unquote(token)
        if skip_next:
            skip_next = False
            continue
        if text.startswith("#"):
            break  # a comment ends the command
        if text.startswith("-"):
            if text in _OPTIONS_WITH_VALUE:
                skip_next = True
            continue
        if text in ("\\",):
            continue
        words.append(RequirementWord(text, start, end, parse_named_requirement(text)))
    return words


def _unquote(token: Token) -> tuple[str, int, int]:
    text = token.text
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1], token.start + 1, token.end - 1
    return text, token.start, token.end
