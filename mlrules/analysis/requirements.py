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
        "--python", "--use-feature", "--use-deprecated", "--exists-action", "--root-user-action",
        "--keyring-provider", "--log-file", "--build-option",
    }
)
# Shell syntax after which the words are no longer pip arguments (`!pip install x && ls`).
_SHELL_STOP = re.compile(r"^(?:&&|\|\||\||;|&|\d?>>?|&>|<)")
_PYTHON = re.compile(r"^(?:python(?:3(?:\.\d+)?)?|\{sys\.executable\}|\S*/python3?(?:\.\d+)?)$")


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
    if not text or text.startswith(("-", ".", "/", "~")) or "://" in text:
        return None
    if "$" in text or "{" in text:
        return None  # a variable (`$VERSION`, `${var.x}`, IPython `{v}`): the value is unknown
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
    """The requirement words of a ``%pip install`` / ``!pip install`` line (empty otherwise).

    Handles ``python -m pip``, ``pip3``, quoted words (also a quoted requirement with spaces,
    ``"mlflow >= 2"``), ``name @ url`` (not a named requirement), options with values, and stops
    at a comment or at shell syntax (``&&``, ``|``, ``;``, redirections).
    """
    args = list(magic.args)
    if _PYTHON.match(magic.name) and len(args) >= 3 and args[0].text == "-m" and args[1].text == "pip":
        args = args[2:]
    elif magic.name not in ("pip", "pip3"):
        return []
    if not args or args[0].text != "install":
        return []
    words: list[RequirementWord] = []
    skip_next = False
    tokens = _join_quoted(args[1:])
    i = 0
    while i < len(tokens):
        text, start, end = tokens[i]
        i += 1
        if skip_next:
            skip_next = False
            continue
        if text.startswith("#") or _SHELL_STOP.match(text):
            break  # a comment or shell syntax ends the command
        if text.startswith("`"):
            # shell command substitution, used as an inline comment: `# PDF parsing`
            if not (len(text) > 1 and text.endswith("`")):
                while i < len(tokens) and not tokens[i][0].endswith("`"):
                    i += 1
                i += 1
            continue
        if text.startswith("-"):
            if text in _OPTIONS_WITH_VALUE:
                skip_next = True
            continue
        if text in ("\\",):
            continue
        stop = text.endswith(";") and not text.startswith(("'", '"'))
        if stop:
            text, end = text[:-1], end - 1
        if i < len(tokens) and tokens[i][0].startswith("@"):
            # `name @ url`: a direct reference, never a named requirement
            words.append(RequirementWord(text, start, end, None))
            i += 1 if tokens[i][0] != "@" else 2
            continue
        words.append(RequirementWord(text, start, end, parse_named_requirement(text)))
        if stop:
            break
    return words


def _join_quoted(tokens: list[Token]) -> list[tuple[str, int, int]]:
    """Unquoted (text, start, end) words; a quote opened in one token and closed in a later one
    makes one word (the text between the tokens is a single space: exact enough for parsing)."""
    out: list[tuple[str, int, int]] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        quote = token.text[0]
        if quote in "'\"" and not (len(token.text) >= 2 and token.text.endswith(quote)):
            for j in range(i + 1, len(tokens)):
                if tokens[j].text.endswith(quote):
                    text = " ".join(t.text for t in tokens[i : j + 1])
                    out.append((text[1:-1], token.start + 1, tokens[j].end - 1))
                    i = j + 1
                    break
            else:
                out.append(_unquote(token))
                i += 1
            continue
        out.append(_unquote(token))
        i += 1
    return out


def _unquote(token: Token) -> tuple[str, int, int]:
    text = token.text
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1], token.start + 1, token.end - 1
    return text, token.start, token.end
