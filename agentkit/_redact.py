"""Masking of credentials in configuration that is stored with a run or shown to a user."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

SECRET_NAME = re.compile(r"key|token|secret|passw|auth|sig", re.IGNORECASE)
_SECRET_WORDS = frozenset(
    {"key", "apikey", "token", "secret", "password", "passwd", "auth", "authorization", "credentials"}
)
MASK = "***"


def redact_url(url: str) -> str:
    """Hide credentials in a URL: ``user:password@`` and secret-looking query parameters."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            netloc = f"{MASK}@" + netloc.rsplit("@", 1)[1]
        query = parts.query
        if query:
            pairs = parse_qsl(query, keep_blank_values=True)
            query = urlencode([(k, MASK if SECRET_NAME.search(k) else v) for k, v in pairs], safe="*")
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:
        return "<unparsable URL>"


def redact_config(value: Any, key: str = "") -> Any:
    """A copy of JSON-like configuration with URLs' credentials and secret-named values masked.

    Names of environment variables (``*_env`` keys) are kept: they say where a key lives,
    not what it is.
    """
    if isinstance(value, Mapping):
        return {k: redact_config(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_config(v, key) for v in value]
    if isinstance(value, str) and value:
        lowered = key.lower()
        if lowered.endswith("url") or lowered.endswith("urls"):
            return redact_url(value)
        words = re.split(r"[_\-\s.]+", lowered)
        if words[-1] != "env" and _SECRET_WORDS.intersection(words):
            return MASK
    return value
