from __future__ import annotations

import libcst as cst

from mlrules.analysis.index import dotted_name
from mlrules.analysis.walk import walk
from mlrules.model import Severity
from mlrules.rules.base import Invalid, PythonRule, Valid, ipynb

LEGACY = "databricks.feature_store"
LEGACY_CLIENT = "databricks.feature_store.FeatureStoreClient"


class WorkspaceFeatureStoreClient(PythonRule):
    """
    ## What it does
    Flags every import of the workspace Feature Store API (`import databricks.feature_store`,
    `from databricks.feature_store import ...`, `from databricks import feature_store`, and its
    submodules such as `databricks.feature_store.client`). In a file that imports none of it,
    every construction of its client, `FeatureStoreClient(...)`, is flagged instead (such as
    `databricks.feature_store.FeatureStoreClient()` after `import databricks`). One finding
    per cause: in a file that imports the API, replacing the import is what makes each
    `FeatureStoreClient()` change too.

    ## Why it matters
    `FeatureStoreClient` is the workspace (Hive metastore) feature store, deprecated in favour
    of Feature Engineering in Unity Catalog. Its tables get no Unity Catalog governance or
    lineage, and new features (point-in-time lookups on UC tables, feature serving, online
    tables) only exist on `FeatureEngineeringClient` from `databricks.feature_engineering`,
    which also reads workspace tables during a migration. The legacy `FeatureLookup` has a
    drop-in replacement in `databricks.feature_engineering`.

    Mentions in comments, strings and `%pip` lines are not flagged. Type annotations alone
    (`fs: FeatureStoreClient`) are covered by their import.

    ## Example
    ```python
    from databricks.feature_store import FeatureStoreClient, FeatureLookup

    fs = FeatureStoreClient()
    ```

    ## Use instead
    ```python
    from databricks.feature_engineering import FeatureEngineeringClient, FeatureLookup

    fe = FeatureEngineeringClient()
    ```

    ## Fix safety
    No fix: the two clients differ (`create_table` needs `name=` with a three-level UC name,
    `log_model` arguments differ), so the migration needs a person.
    """

    code = "FE006"
    name = "workspace-feature-store-client"
    summary = "Workspace FeatureStoreClient / databricks.feature_store instead of FeatureEngineeringClient"
    severity = Severity.WARNING
    fix = None
    triggers = ("feature_store",)

    invalid = (
        Invalid(
            "from databricks.feature_store import FeatureStoreClient\n\nfs = FeatureStoreClient()\n",
            1, 6, path="features.py",
            message_contains="databricks.feature_engineering",
        ),
        Invalid(
            "from databricks import feature_store\nfs = feature_store.FeatureStoreClient()\n",
            1, 24, path="features.py",
        ),
        Invalid(
            "import databricks.feature_store as dfs\nclient = dfs.FeatureStoreClient()\n",
            1, 8, path="features.py",
        ),
        # the legacy FeatureLookup next to the new client
        Invalid(
            "from databricks.feature_engineering import FeatureEngineeringClient\nfrom databricks.feature_store import FeatureLookup\n",
            2, 6, path="train.py",
        ),
        # a submodule
        Invalid(
            "import databricks\nfrom databricks.feature_store.client import FeatureStoreClient as FSC\nfs = FSC()\n",
            2, 6, path="features.py",
        ),
        # no import of the API: the full dotted path through `import databricks` is the finding
        Invalid(
            "import databricks\n\nfs = databricks.feature_store.FeatureStoreClient()\n",
            3, 6, path="features.py", message_contains="`databricks.feature_store.FeatureStoreClient()` creates",
        ),
        # inside a function, in a Databricks notebook
        Invalid(
            "# Databricks notebook source\n# MAGIC %pip install databricks-feature-store\n\n# COMMAND ----------\n\ndef client():\n    from databricks.feature_store import FeatureStoreClient\n    return FeatureStoreClient()\n",
            7, 10,
        ),
        Invalid(
            ipynb("%pip install databricks-feature-engineering==0.8.0", "from databricks import feature_store\n\nfs = feature_store.FeatureStoreClient()"),
            1, 24, path="features.ipynb", cell=2,
        ),
    )
    valid = (
        Valid("from databricks.feature_engineering import FeatureEngineeringClient, FeatureLookup\nfe = FeatureEngineeringClient()\n", path="features.py"),
        # mentions in comments, strings and a %pip line
        Valid("# Databricks notebook source\n# MAGIC %pip install databricks-feature-store\n\n# COMMAND ----------\n\n# we used databricks.feature_store before\nprint(\"databricks.feature_store is deprecated\")\n"),
        # a local module or attribute of the same name
        Valid("import feature_store\nfrom mypkg.databricks.feature_store import helper\nx = self.feature_store.FeatureStoreClient()\n", path="features.py"),
        # relative import
        Valid("from .feature_store import FeatureStoreClient\nfs = FeatureStoreClient()\n", path="pkg/features.py"),
    )

    def check(self, ctx):
        reported_calls = set()
        imports_flagged = False
        for node in walk(ctx.module):
            if isinstance(node, cst.Import):
                for alias in node.names:
                    name = dotted_name(alias.name) or ""
                    if _is_legacy(name):
                        imports_flagged = True
                        yield self._import_finding(ctx, alias.name, f"import {name}")
            elif isinstance(node, cst.ImportFrom):
                if node.relative or node.module is None:
                    continue
                module = dotted_name(node.module) or ""
                if _is_legacy(module):
                    imports_flagged = True
                    yield self._import_finding(ctx, node.module, f"from {module} import ...")
                elif module == "databricks" and not isinstance(node.names, cst.ImportStar):
                    for alias in node.names:
                        if dotted_name(alias.name) == "feature_store":
                            imports_flagged = True
                            yield self._import_finding(ctx, alias.name, "from databricks import feature_store")
        if imports_flagged:
            return  # the constructions change with the import
        for call in ctx.index.calls:
            if call.qualname == LEGACY_CLIENT and call.node not in reported_calls:
                reported_calls.add(call.node)
                yield self.finding(
                    ctx.path,
                    ctx.span(call.node),
                    f"`{call.dotted}()` creates the workspace Feature Store client (deprecated for Unity Catalog); "
                    "use `FeatureEngineeringClient()` from databricks.feature_engineering",
                )

    def _import_finding(self, ctx, node, written: str):
        return self.finding(
            ctx.path,
            ctx.span(node),
            f"`{written}` imports the workspace Feature Store API (deprecated for Unity Catalog); "
            "import from databricks.feature_engineering (FeatureEngineeringClient, FeatureLookup) instead",
        )


def _is_legacy(name: str) -> bool:
    return name == LEGACY or name.startswith(LEGACY + ".")
