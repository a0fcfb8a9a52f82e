"""Notebooks that a notebook includes with ``%run`` (recursively), as far as the project knows them.

A setup notebook often does what a rule looks for (``mlflow.set_registry_uri(...)``,
``mlflow.autolog(disable=True)``). Rules that ask "does the file ever do X" ask the included
notebooks too, and stay quiet when an include cannot be followed (``complete`` is False: an
absolute or dynamic target, a missing or unparsable file, a chain deeper than
``MAX_DEPTH``).

Uses the project's per-file facts (``ctx.project.facts``, ``ctx.project.bundle_model.facts``)
through the context only: this module imports nothing from ``mlrules.project``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

MAX_DEPTH = 5


@dataclass(frozen=True)
class Included:
    notebooks: tuple  # NotebookFacts of every notebook reached (each has .source and .index)
    complete: bool  # every %run on the way was followed


NOTHING = Included((), True)


def included_notebooks(ctx) -> Included:
    """The notebooks that ``ctx``'s file includes with ``%run``, recursively."""
    if not ctx.source.magics_named("run"):
        return NOTHING
    project = ctx.project
    facts = project.facts(ctx.path)
    if facts is None:
        return Included((), False)
    model = project.bundle_model
    found: list = []
    complete = True
    visiting = {os.path.normpath(os.path.abspath(ctx.path))}
    pending = [(facts, 0)]
    while pending:
        current, depth = pending.pop()
        if current.has_unmodelled_run or any(not target.is_relative for target in current.run_targets):
            complete = False
        for _target, path in current.resolved_runs():
            if path is None or depth >= MAX_DEPTH:
                complete = False
                continue
            key = os.path.normpath(os.path.abspath(path))
            if key in visiting:
                continue
            visiting.add(key)
            child = model.facts(key)
            if child is None or not child.parsed:
                complete = False
                continue
            found.append(child)
            pending.append((child, depth + 1))
    return Included(tuple(found), complete)
