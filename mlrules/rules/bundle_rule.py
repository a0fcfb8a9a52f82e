"""A base for project rules that judge each target's merged view of each bundle."""

from __future__ import annotations

from typing import Iterator

from mlrules.model import Finding
from mlrules.project.bundle_model import Bundle, BundleModel, TargetedFindings, View, distinct
from mlrules.rules.base import ProjectRule


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
