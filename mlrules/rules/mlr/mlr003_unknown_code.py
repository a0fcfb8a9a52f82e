from mlrules.rules.base import EngineRule, Invalid, Valid


class UnknownCode(EngineRule):
    """
    ## What it does
    Reports a `# noqa:` code that looks like an mlrules code (an mlrules family prefix and
    three digits) but that no rule has, e.g. a typo such as `EXP010` for `EXP001`.

    Codes of other tools (`E501`, `F401`, `XYZ123`) are left alone: `# noqa` is shared with
    flake8 and Ruff, and mlrules cannot know their codes.

    ## Why it matters
    A suppression with a mistyped code suppresses nothing, silently.

    ## Example
    ```python
    mlflow.set_experiment(name)  # noqa: EXP010
    ```

    ## Use instead
    The right code (`mlrules rules` lists them).

    ## Fix safety
    No fix. (Unknown codes in the configuration are a usage error: exit code 2.)
    """

    code = "MLR003"
    name = "unknown-code"
    summary = "A `# noqa` code that no mlrules rule has"
    invalid = (Invalid("x = 1  # noqa: EXP999\n", 1, 16, path="module.py"),)
    valid = (Valid("x = 1  # noqa: XYZ123\n", path="module.py"),)
