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
    not what it is. Known token shapes are masked wherever they stand, and so are the values
    of secret flags in an ``args`` list (:func:`redact_arguments`).
    """
    if isinstance(value, Mapping):
        return {k: redact_config(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_config(v, key) for v in (redact_arguments(list(value)) if key == "args" else value)]
    if isinstance(value, str) and value:
        lowered = key.lower()
        if lowered.endswith("url") or lowered.endswith("urls"):
            return redact_token_shapes(redact_url(value))
        words = re.split(r"[_\-\s.]+", lowered)
        if words[-1] != "env" and _SECRET_WORDS.intersection(words):
            return MASK
        return redact_token_shapes(value)
    return value


# --- token shapes -------------------------------------------------------------------------
# Credentials recognisable by their form wherever they stand (a task file's MCP ``args``, an
# ``env`` or ``headers`` value under an innocent name): refused when a task is loaded
# (:func:`token_kind`) and masked in any configuration that is stored (:func:`redact_config`).

_AT = r"(?<![A-Za-z0-9])"  # a token starts where a word does (after "_" too: GH_ghp_...)
TOKEN_SHAPES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("a GitHub token", re.compile(_AT + r"(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})")),
    (
        "an OpenAI/Moonshot-style API key",
        re.compile(_AT + r"sk-(?:proj-|svcacct-|admin-|ant-(?:[a-z]+\d\d-)?)?(?=[A-Za-z0-9_-]*\d)[A-Za-z0-9_-]{20,}"),
    ),
    ("a Slack token", re.compile(_AT + r"xox[abposre]-[A-Za-z0-9-]{10,}")),
    ("an AWS access key id", re.compile(_AT + r"(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("a Google API key", re.compile(_AT + r"AIza[0-9A-Za-z_-]{35}")),
)
"""What a token of each kind looks like, by name for messages."""

SECRET_FLAG = re.compile(
    r"^--?(?:[A-Za-z0-9]+[-_])*(?:token|api[-_]?key|key|secret|password|passwd|pat|auth|credentials?)$",
    re.IGNORECASE,
)
"""A command-line flag whose value is a secret: ``--token``, ``--api-key``, ``--github-token``."""
_OPAQUE = re.compile(r"[A-Za-z0-9_\-.+/=:~]{16,}")


def looks_opaque(value: str) -> bool:
    """A long, high-entropy word (letters and digits, no spaces): what a generated secret
    looks like, unlike a path or a name."""
    import math
    from collections import Counter

    if not _OPAQUE.fullmatch(value) or not re.search(r"[A-Za-z]", value) or not re.search(r"\d", value):
        return False
    counts = Counter(value)
    entropy = -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())
    return entropy >= 3.5


def token_kind(value: str) -> str | None:
    """What kind of known token ``value`` holds (``"a GitHub token"``), or ``None``."""
    for kind, shape in TOKEN_SHAPES:
        if shape.search(value):
            return kind
    return None


def secret_argument(args: list[str], i: int) -> str | None:
    """Why ``args[i]`` is a secret written on a command line, or ``None``: a known token
    shape, or an opaque value given to a secret flag (``--token VALUE``, ``--token=VALUE``)."""
    item = args[i]
    kind = token_kind(item)
    if kind:
        return kind
    flag, eq, value = item.partition("=")
    if eq and SECRET_FLAG.match(flag) and looks_opaque(value):
        return f"the value of {flag}"
    if i > 0 and SECRET_FLAG.match(args[i - 1]) and looks_opaque(item):
        return f"the value of {args[i - 1]}"
    return None


def redact_token_shapes(text: str) -> str:
    """``text`` with every known token shape replaced by the mask."""
    for _, shape in TOKEN_SHAPES:
        text = shape.sub(MASK, text)
    return text


def redact_arguments(args: list[Any]) -> list[Any]:
    """A command line with known token shapes and the values of secret flags masked."""
    out: list[Any] = []
    for i, item in enumerate(args):
        if not isinstance(item, str):
            out.append(item)
            continue
        flag, eq, _ = item.partition("=")
        after_flag = i > 0 and isinstance(args[i - 1], str) and SECRET_FLAG.match(args[i - 1])
        if eq and SECRET_FLAG.match(flag):
            out.append(f"{flag}={MASK}")
        elif after_flag and not item.startswith("-"):
            out.append(MASK)
        else:
            out.append(redact_token_shapes(item))
    return out
