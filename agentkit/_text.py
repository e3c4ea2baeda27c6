"""Text that any layer may receive from outside: made valid Unicode once, where it enters.

A bottom module: it imports nothing of agentkit, so the model client (provider text) and the
store (everything else it keeps) apply one rule.
"""

from __future__ import annotations


def clean_text(text: str) -> str:
    """``text`` as valid Unicode: a lone surrogate (``"\\ud800"`` from a provider's JSON, or a
    command-line byte that is not UTF-8) becomes U+FFFD; a surrogate pair becomes its
    character; any other text is returned unchanged (the same object)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text
