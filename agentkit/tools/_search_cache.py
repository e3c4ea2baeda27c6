"""``web_search`` results kept in the run's store (``Store.get_cached``/``put_cached``), so a
resumed or repeated run asks no backend again for a query it already searched.

The key is the normalised query (lower case, whitespace collapsed), the number of results
asked for and the backend chain's identity (names and endpoints, never keys): another chain
may well answer otherwise. Entries older than the tool's ``cache_ttl_s`` are searched anew.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from agentkit.tools._search_base import SearchHit

NAMESPACE = "web_search"
_VERSION = 1


def cache_key(query: str, max_results: int, chain: Sequence[str]) -> str:
    """The store key of one search: a digest of the normalised query, count and chain."""
    normal = " ".join(query.lower().split())
    data = orjson.dumps({"v": _VERSION, "q": normal, "n": max_results, "chain": list(chain)})
    return hashlib.sha256(data).hexdigest()


@dataclass
class CachedSearch:
    backend: str
    hits: list[SearchHit]
    created_at: float

    def encode(self) -> bytes:
        rows = [
            {"title": h.title, "url": h.url, "snippet": h.snippet, "content_hash": h.content_hash, "meta": h.meta}
            for h in self.hits
        ]
        return orjson.dumps({"v": _VERSION, "backend": self.backend, "created_at": self.created_at, "hits": rows})

    @classmethod
    def decode(cls, raw: bytes) -> CachedSearch | None:
        """The entry, or ``None`` for anything unreadable (an older layout, damage)."""
        try:
            data: Any = orjson.loads(raw)
            if not isinstance(data, dict) or data.get("v") != _VERSION:
                return None
            hits = [
                SearchHit(
                    title=str(row["title"]),
                    url=str(row["url"]),
                    snippet=str(row["snippet"]),
                    content_hash=row.get("content_hash") or None,
                    meta=dict(row.get("meta") or {}),
                )
                for row in data["hits"]
            ]
            return cls(backend=str(data["backend"]), hits=hits, created_at=float(data["created_at"]))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None

    def fresh(self, ttl_s: float | None, now: float | None = None) -> bool:
        return ttl_s is None or (now if now is not None else time.time()) - self.created_at <= ttl_s
