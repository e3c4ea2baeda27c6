"""Stable source ids: one id per normalised URL, shared by ``web_search`` and ``fetch``.

A search result and the page fetched from it get the same id, so a citation made from the
snippet still points at the document once it has been read.
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

SOURCE_ID_RE = re.compile(r"S[0-9a-f]{6,16}")
"""What :func:`looks_like_source_id` accepts (ids made here are ``S`` + 8 hex digits)."""

_TRACKING_PARAMS = frozenset({"fbclid", "gclid", "dclid", "msclkid", "mc_cid", "mc_eid", "yclid", "_hsenc"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_BARE_HOST = re.compile(r"(?:[\w-]+\.)+[a-z]{2,}(?::\d+)?(?:[/?#].*)?", re.IGNORECASE)


def normalize_url(url: str) -> str:
    """A canonical form of an http(s) URL; other URLs (``local:…``) are only trimmed.

    Lower-cases scheme and host, drops default ports, fragments and tracking parameters
    (``utm_*``, ``fbclid``, …) and gives an empty path ``/``. Parameter order is kept.
    """
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.netloc:
        return url
    host = (parts.hostname or "").rstrip(".")
    try:
        port = parts.port
    except ValueError:
        port = None
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    if parts.username is not None:
        userinfo = parts.username + (f":{parts.password}" if parts.password is not None else "")
        netloc = f"{userinfo}@{netloc}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        kept = [(k, v) for k, v in pairs if not k.lower().startswith("utm_") and k.lower() not in _TRACKING_PARAMS]
        if len(kept) != len(pairs):
            query = urlencode(kept)
    return urlunsplit((scheme, netloc, parts.path or "/", query, ""))


def source_id_for(url: str) -> str:
    """``S`` + the first 8 hex digits of the SHA-256 of the normalised URL."""
    return "S" + hashlib.sha256(normalize_url(url).encode()).hexdigest()[:8]


def looks_like_source_id(text: str) -> bool:
    return SOURCE_ID_RE.fullmatch(text.strip()) is not None


def with_default_scheme(url: str) -> str:
    """``example.com/page`` → ``https://example.com/page``; anything else unchanged."""
    url = url.strip()
    if (
        "://" not in url
        and not url.lower().startswith(("local:", "data:", "mailto:", "javascript:"))
        and (_BARE_HOST.fullmatch(url))
    ):
        return "https://" + url
    return url
