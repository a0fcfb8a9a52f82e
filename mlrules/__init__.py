"""mlrules: a static linter and autofixer for machine-learning projects on Databricks."""

__version__ = "0.1.0"
