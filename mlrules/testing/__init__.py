"""Helpers for running rule examples (used by the test suite and by rule authors)."""
