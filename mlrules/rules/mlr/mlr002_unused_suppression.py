from mlrules.model import Severity
from mlrules.model import Applicability
from mlrules.rules.base import EngineRule, Invalid, Valid


class UnusedSuppression(EngineRule):
    """
    ## What it does
    Reports a code in a `# noqa: CODE` comment that suppressed nothing in this run.

    Only mlrules' own codes count (`MLR`, `EXP`, `REG`, `FE`, `DQ`, `NB`, `BND` + three
    digits), and only when that rule was selected: `# noqa` is shared with flake8 and Ruff, so
    `# noqa: E501` and a bare `# noqa` are left alone.

    ## Why it matters
    A stale suppression hides the next real finding on that line.

    ## Example
    ```python
    mlflow.set_experiment("/Shared/churn")  # noqa: EXP001
    ```

    ## Use instead
    ```python
    mlflow.set_experiment("/Shared/churn")
    ```

    ## Fix safety
    Safe: removes the unused code, or the whole comment when no code remains (free text after
    the codes stays as a comment).
    """

    code = "MLR002"
    name = "unused-suppression"
    summary = "A `# noqa: CODE` that suppressed nothing"
    severity = Severity.WARNING
    fix = Applicability.SAFE
    invalid = (
        Invalid(
            'import mlflow\nmlflow.set_experiment("/Shared/churn")  # noqa: EXP001\n',
            2, 49, path="module.py",
            fixed='import mlflow\nmlflow.set_experiment("/Shared/churn")\n',
        ),
        Invalid(
            'import mlflow\nmlflow.set_experiment("/Users/a/churn")  # noqa: EXP001, MLR001\n',
            2, 58, path="module.py",
            fixed='import mlflow\nmlflow.set_experiment("/Users/a/churn")  # noqa: EXP001\n',
        ),
        Invalid(
            "x = 1  # noqa: EXP001  kept for a reason\n",
            1, 16, path="module.py",
            fixed="x = 1  #  kept for a reason\n",
        ),
    )
    valid = (
        Valid('import mlflow\nmlflow.set_experiment("/Users/a/churn")  # noqa: EXP001\n', path="module.py"),
        Valid("x = 1  # noqa: E501\n", path="module.py"),
        Valid("x = 1  # noqa\n", path="module.py"),
    )
