"""A base for project rules that judge each target's merged view of each bundle."""

from __future__ import annotations

from typing import Iterable, Iterator

from mlrules.model import Edit, Finding, Severity, Span
from mlrules.project.bundle_model import Bundle, BundleModel, View
from mlrules.rules.base import ProjectRule, Rule


class BundleViewRule(ProjectRule):
    """Calls ``check_view`` once per (bundle, target view); findings are gathered per bundle
    (one per place and message, naming the targets when only some have it) and de-duplicated
    across bundles that include the same file."""

    def check(self, ctx) -> Iterator[Finding]:
        return distinct(self._per_bundle(ctx))

    def _per_bundle(self, ctx) -> Iterator[Finding]:
        model = ctx.project.bundle_model
        for bundle in model.bundles:
            out = TargetedFindings(self, bundle)
            for view in bundle.views:
                self.check_view(ctx, model, bundle, view, out)
            yield from out.findings()

    def check_view(self, ctx, model: BundleModel, bundle: Bundle, view: View, out: TargetedFindings) -> None:
        raise NotImplementedError


class TargetedFindings:
    """Findings of one bundle gathered over its views: one per place and message, with
    `` (target 'prod')`` added when only some of the bundle's targets have it."""

    def __init__(self, rule: Rule, bundle: Bundle) -> None:
        self.rule = rule
        self.bundle = bundle
        self._found: dict[tuple, dict] = {}

    def add(
        self,
        view: View | None,
        path: str,
        span: Span,
        message: str,
        *,
        edits: Iterable[Edit] = (),
        fix_message: str = "",
        severity: Severity | None = None,
    ) -> None:
        if not self.bundle.model.reportable(path):
            return
        key = (path, span.start, message)
        entry = self._found.setdefault(key, {"span": span, "edits": tuple(edits), "fix": fix_message, "severity": severity, "targets": []})
        if view is not None and view.target is not None and view.target not in entry["targets"]:
            entry["targets"].append(view.target)
        if not entry["edits"] and edits:
            entry["edits"] = tuple(edits)
            entry["fix"] = fix_message

    def findings(self) -> Iterator[Finding]:
        every = self.bundle.target_names
        for (path, _start, message), entry in self._found.items():
            targets = entry["targets"]
            if targets and every and len(targets) < len(every):
                names = ", ".join(f"'{t}'" for t in targets)
                message = f"{message} (target{'s' if len(targets) > 1 else ''} {names})"
            yield self.rule.finding(path, entry["span"], message, edits=entry["edits"], fix_message=entry["fix"], severity=entry["severity"])


def distinct(findings: Iterable[Finding]) -> Iterator[Finding]:
    """Each finding once: a file included by two bundle roots is seen by both."""
    seen: set[tuple] = set()
    for finding in findings:
        key = (finding.path, finding.span, finding.message)
        if key not in seen:
            seen.add(key)
            yield finding
