"""The one error a suite file can raise (its own module so the layout readers can raise it)."""

from __future__ import annotations


class SuiteError(ValueError):
    """A suite that cannot be loaded; the text is one complete message naming the file, the
    line (or row) and the field, e.g. ``suite.jsonl:7: missing field 'answer'``."""
