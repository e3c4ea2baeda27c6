"""Search services that need an API key: Tavily, Exa, Brave, Serper and Jina.

Each is a plain JSON call over httpx2 (no vendor SDK). The key is read from the environment
variable(s) in :data:`agentkit.task.sections.SEARCH_KEY_VARS` when the backend is made, and nowhere
else; it travels only in a request header, never in a URL, and is masked out of every message.
``base_url`` points a backend at another endpoint (a proxy, or a loopback server in tests).
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Mapping
from typing import Any, ClassVar

from agentkit._redact import register_secret
from agentkit.task.sections import SEARCH_KEY_VARS
from agentkit.tools._search_base import AuthFailure, BackendFailure, SearchHit
from agentkit.tools._search_http import HttpSearchBackend

_TAG = re.compile(r"<[^>]+>")


class MissingKey(ValueError):
    """The backend's key variable is not set."""


class KeyedBackend(HttpSearchBackend):
    """A backend whose key comes from ``SEARCH_KEY_VARS[name]`` (the first variable set)."""

    default_url: ClassVar[str]
    max_count: ClassVar[int] = 20
    """The most results one request may ask for."""

    def __init__(
        self,
        *,
        base_url: str | None = None,
        environ: Mapping[str, str] | None = None,
        timeout_s: float = 20.0,
        min_interval_s: float = 0.0,
        attempts: int = 3,
        backoff_s: float = 0.5,
        max_retry_after_s: float = 30.0,
    ) -> None:
        env = os.environ if environ is None else environ
        names = SEARCH_KEY_VARS[self.name]
        found = next((var for var in names if env.get(var, "").strip()), None)
        if found is None:
            raise MissingKey(f"{self.name} needs an API key: set {' or '.join(names)}")
        self.key_var = found
        """The variable the key was read from (named in messages; the key never is)."""
        self._key = env[found].strip()
        register_secret(self._key)  # masked wherever text leaves the process
        super().__init__(
            base_url or self.default_url,
            timeout_s=timeout_s,
            min_interval_s=min_interval_s,
            attempts=attempts,
            backoff_s=backoff_s,
            max_retry_after_s=max_retry_after_s,
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.base_url} (key from {self.key_var})>"

    def _secrets(self) -> tuple[str, ...]:
        return (self._key,)

    def _refused(self, status: int, detail: str) -> BackendFailure:
        what = "refused the request for lack of credit" if status == 402 else "refused the API key"
        return AuthFailure(f"the service {what} (HTTP {status}{detail}); check {self.key_var}")

    def _rows(self, data: Any, *path: str) -> list[dict[str, Any]]:
        node = data
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if node is None and isinstance(data, dict):
            return []
        if not isinstance(node, list):
            raise BackendFailure(f"the response is not {self.service} search JSON (no {'.'.join(path)} list)")
        return [row for row in node if isinstance(row, dict)]


def _text(value: Any) -> str:
    return " ".join(str(value).split()) if value else ""


def _hit(title: Any, url: Any, snippet: Any, **meta: Any) -> SearchHit | None:
    link = str(url or "").strip()
    if not link:
        return None
    return SearchHit(
        title=_text(title) or link,
        url=link,
        snippet=_text(snippet),
        meta={k: v for k, v in meta.items() if v not in (None, "", [])},
    )


def _keep(hits: list[SearchHit | None], limit: int) -> list[SearchHit]:
    return [h for h in hits if h is not None][:limit]


class TavilyBackend(KeyedBackend):
    # POST /search with "Authorization: Bearer <key>" and {"query", "max_results" (at most 20),
    # "search_depth"}; answers {"results": [{"title", "url", "content", "score", ...}]}.
    # https://docs.tavily.com/api-reference/endpoint/search
    name = "tavily"
    service = "Tavily"
    default_url = "https://api.tavily.com"

    async def search(self, query: str, max_results: int) -> list[SearchHit]:
        body = {"query": query, "max_results": min(max_results, self.max_count), "search_depth": "basic"}
        data = await self.request_json("POST", "/search", json=body, headers={"Authorization": f"Bearer {self._key}"})
        rows = self._rows(data, "results")
        hits = [
            _hit(r.get("title"), r.get("url"), r.get("content"), score=r.get("score"), date=r.get("published_date"))
            for r in rows
        ]
        return _keep(hits, max_results)


class ExaBackend(KeyedBackend):
    # POST /search with "x-api-key: <key>" and {"query", "numResults" (at most 100),
    # "contents": {"highlights": true}}; answers {"results": [{"title", "url", "publishedDate",
    # "author", "highlights": [...], "text"}]}.
    # https://exa.ai/docs/reference/search
    name = "exa"
    service = "Exa"
    default_url = "https://api.exa.ai"
    max_count = 100

    async def search(self, query: str, max_results: int) -> list[SearchHit]:
        body = {"query": query, "numResults": min(max_results, self.max_count), "contents": {"highlights": True}}
        data = await self.request_json("POST", "/search", json=body, headers={"x-api-key": self._key})
        hits = []
        for r in self._rows(data, "results"):
            highlights = r.get("highlights")
            snippet = " … ".join(_text(h) for h in highlights) if isinstance(highlights, list) else ""
            hits.append(
                _hit(
                    r.get("title"),
                    r.get("url"),
                    snippet or r.get("summary") or r.get("text"),
                    author=r.get("author"),
                    date=r.get("publishedDate"),
                )
            )
        return _keep(hits, max_results)


class BraveBackend(KeyedBackend):
    # GET /res/v1/web/search?q=…&count=… (count at most 20) with "X-Subscription-Token: <key>";
    # answers {"web": {"results": [{"title", "url", "description", "age"}]}} (descriptions
    # carry <strong> highlighting).
    # https://api-dashboard.search.brave.com/docs (Web Search API, WebSearchApiResponse)
    name = "brave"
    service = "Brave Search"
    default_url = "https://api.search.brave.com"

    async def search(self, query: str, max_results: int) -> list[SearchHit]:
        params = {"q": query, "count": str(min(max_results, self.max_count))}
        data = await self.request_json(
            "GET", "/res/v1/web/search", params=params, headers={"X-Subscription-Token": self._key}
        )
        hits = [
            _hit(
                _untag(r.get("title")),
                r.get("url"),
                _untag(r.get("description")),
                date=r.get("page_age") or r.get("age"),
            )
            for r in self._rows(data, "web", "results")
        ]
        return _keep(hits, max_results)


class SerperBackend(KeyedBackend):
    # POST /search with "X-API-KEY: <key>" and {"q", "num"}; answers Google's results as
    # {"organic": [{"title", "link", "snippet", "position", "date"}]}.
    # https://serper.dev (API playground; its OpenAPI: POST https://google.serper.dev/search)
    name = "serper"
    service = "Serper"
    default_url = "https://google.serper.dev"
    max_count = 100

    async def search(self, query: str, max_results: int) -> list[SearchHit]:
        body = {"q": query, "num": min(max_results, self.max_count)}
        data = await self.request_json("POST", "/search", json=body, headers={"X-API-KEY": self._key})
        hits = [
            _hit(r.get("title"), r.get("link"), r.get("snippet"), date=r.get("date"))
            for r in self._rows(data, "organic")
        ]
        return _keep(hits, max_results)


class JinaBackend(KeyedBackend):
    # GET /?q=… on s.jina.ai with "Authorization: Bearer <key>", "Accept: application/json" and
    # "X-Respond-With: no-content" (titles and descriptions, not whole pages); answers
    # {"code": 200, "data": [{"title", "url", "description", "content"}]}.
    # https://jina.ai/reader (Search API, s.jina.ai) and https://docs.jina.ai
    name = "jina"
    service = "Jina"
    default_url = "https://s.jina.ai"

    async def search(self, query: str, max_results: int) -> list[SearchHit]:
        headers = {"Authorization": f"Bearer {self._key}", "X-Respond-With": "no-content"}
        data = await self.request_json("GET", "/", params={"q": query}, headers=headers)
        hits = [
            _hit(r.get("title"), r.get("url"), r.get("description") or r.get("content"), date=r.get("date"))
            for r in self._rows(data, "data")
        ]
        return _keep(hits, max_results)


def _untag(value: Any) -> str:
    return html.unescape(_TAG.sub("", str(value))) if value else ""


KEYED_BACKENDS: dict[str, type[KeyedBackend]] = {
    cls.name: cls for cls in (TavilyBackend, ExaBackend, BraveBackend, SerperBackend, JinaBackend)
}
"""Every keyed backend by name (the names of :data:`agentkit.task.sections.SEARCH_KEY_VARS`)."""
