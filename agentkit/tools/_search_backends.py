"""Search backends for ``web_search``: DuckDuckGo (ddgs), SearXNG (JSON API), a local index,
and the keyed services (:mod:`agentkit.tools._search_keyed`); :func:`backends_for` builds the
chain a task's ``search`` section asks for.

Each backend raises :class:`BackendFailure` when it could not answer, or
:class:`SoftFailure` when it answered without usable results in a way that usually means
trouble (ddgs raises ``DDGSException("No results found.")`` when its engines fail or rate
limit); the tool fails over to the next backend in both cases. :class:`RateLimiter` and
:class:`CircuitBreaker` wrap each backend.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

from agentkit.task.sections import SearchSpec
from agentkit.tools._index import build_index, search_index
from agentkit.tools._search_base import (
    AuthFailure,
    BackendFailure,
    CircuitBreaker,
    RateLimited,
    RateLimiter,
    SearchBackend,
    SearchHit,
    SoftFailure,
    TransientFailure,
)
from agentkit.tools._search_http import HttpSearchBackend
from agentkit.tools._search_keyed import KEYED_BACKENDS, KeyedBackend, MissingKey

BACKEND_NAMES = ("duckduckgo", "searxng", "local", *KEYED_BACKENDS)


class DuckDuckGoBackend(SearchBackend):
    """The ``ddgs`` metasearch library (sync: runs in a worker thread)."""

    name = "duckduckgo"

    def __init__(
        self,
        *,
        timeout_s: float = 20.0,
        min_interval_s: float = 1.0,
        region: str | None = None,
        safesearch: str = "moderate",
    ) -> None:
        self.timeout_s = timeout_s
        self.min_interval_s = min_interval_s
        self.region = region
        self.safesearch = safesearch

    def _search_sync(self, query: str, max_results: int) -> list[dict[str, Any]]:
        from ddgs import DDGS

        kwargs: dict[str, Any] = {"max_results": max_results, "safesearch": self.safesearch}
        if self.region:
            kwargs["region"] = self.region
        rows = DDGS(timeout=max(1, int(self.timeout_s // 2))).text(query, **kwargs)
        return list(rows or [])

    async def search(self, query: str, max_results: int) -> list[SearchHit]:
        from ddgs.exceptions import DDGSException, RatelimitException, TimeoutException

        try:
            with anyio.fail_after(self.timeout_s):
                rows = await anyio.to_thread.run_sync(
                    partial(self._search_sync, query, max_results), abandon_on_cancel=True
                )
        except TimeoutError as exc:
            raise BackendFailure(f"timed out after {self.timeout_s:g} s") from exc
        except RatelimitException as exc:
            raise SoftFailure(f"rate limited ({exc})") from exc
        except TimeoutException as exc:
            raise BackendFailure(f"timed out ({exc})") from exc
        except DDGSException as exc:
            message = str(exc) or "no results"
            if "no results" in message.lower():
                raise SoftFailure("no results (the engines may be failing or rate limiting)") from exc
            raise BackendFailure(message) from exc
        except Exception as exc:  # network errors of its HTTP client, parser errors
            raise BackendFailure(f"{type(exc).__name__}: {exc}") from exc
        hits: list[SearchHit] = []
        for row in rows:
            url = str(row.get("href") or row.get("url") or "").strip()
            if url:
                hits.append(
                    SearchHit(
                        title=str(row.get("title") or url).strip(), url=url, snippet=str(row.get("body") or "").strip()
                    )
                )
        return hits


class SearxngBackend(HttpSearchBackend):
    """A SearXNG instance's JSON API: ``GET {url}/search?q=…&format=json``."""

    name = "searxng"
    service = "SearXNG"

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 15.0,
        min_interval_s: float = 0.0,
        language: str | None = None,
        attempts: int = 3,
        backoff_s: float = 0.5,
    ) -> None:
        super().__init__(
            url,
            timeout_s=timeout_s,
            min_interval_s=min_interval_s,
            attempts=attempts,
            backoff_s=backoff_s,
            follow_redirects=True,
        )
        self.url = self.base_url
        self.language = language

    def _refused(self, status: int, detail: str) -> BackendFailure:
        hint = " (is the json format enabled under search.formats in settings.yml?)" if status == 403 else ""
        return BackendFailure(f"HTTP {status}{hint}")

    async def search(self, query: str, max_results: int) -> list[SearchHit]:
        params = {"q": query, "format": "json"}
        if self.language:
            params["language"] = self.language
        data = await self.request_json("GET", "/search", params=params)
        rows = data.get("results") if isinstance(data, dict) else None
        if not isinstance(rows, list):
            raise BackendFailure("the response is not SearXNG JSON: no results list")
        hits: list[SearchHit] = []
        for row in rows:
            if not isinstance(row, dict) or not row.get("url"):
                continue
            hits.append(
                SearchHit(
                    title=str(row.get("title") or row["url"]).strip(),
                    url=str(row["url"]).strip(),
                    snippet=str(row.get("content") or "").strip(),
                    meta={k: row[k] for k in ("engine", "publishedDate") if row.get(k)},
                )
            )
            if len(hits) >= max_results:
                break
        if not hits and data.get("unresponsive_engines"):
            engines = ", ".join(str(e[0] if isinstance(e, list) and e else e) for e in data["unresponsive_engines"])
            raise SoftFailure(f"no results; unresponsive engines: {engines}")
        return hits


class LocalBackend(SearchBackend):
    """The offline corpus (:func:`~agentkit.tools._index.build_index`). Given ``source_dir``,
    the index is brought up to date (incrementally) before the first search."""

    name = "local"

    @property
    def identity(self) -> str:
        return f"local {self.index_path.absolute()}"

    def __init__(self, index_path: Path, *, source_dir: Path | None = None) -> None:
        self.index_path = Path(index_path)
        self.source_dir = Path(source_dir) if source_dir is not None else None
        self._built = False
        self._build_lock = anyio.Lock()

    async def search(self, query: str, max_results: int) -> list[SearchHit]:
        if self.source_dir is not None and not self._built:
            async with self._build_lock:
                if not self._built:
                    try:
                        await anyio.to_thread.run_sync(build_index, self.source_dir, self.index_path)
                    except (OSError, ValueError) as exc:
                        raise BackendFailure(f"could not index {self.source_dir}: {exc}") from exc
                    self._built = True
        try:
            found = await anyio.to_thread.run_sync(partial(search_index, self.index_path, query, max_results))
        except FileNotFoundError as exc:
            raise BackendFailure(f"{exc}; build one with `agentkit index DIR`") from exc
        except Exception as exc:  # sqlite errors: a corrupt or foreign file
            raise BackendFailure(f"the index {self.index_path} could not be searched: {exc}") from exc
        return [
            SearchHit(
                title=h.title, url=f"local:{h.path}", snippet=h.snippet, text=h.text, meta={"score": round(h.score, 4)}
            )
            for h in found
        ]


def backends_for(
    search: SearchSpec | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    base_urls: Mapping[str, str] | None = None,
) -> list[SearchBackend]:
    """Backends for the task file's ``search`` section, in fail-over order. Unnamed, the chain
    is automatic (:meth:`SearchSpec.backends_in`: keyed services whose key is set in
    ``environ``, default ``os.environ``, then DuckDuckGo, then SearXNG when ``url`` is set).
    ``url`` is the SearXNG base URL; ``index`` (for ``local``) an index file or a folder of
    documents (indexed into ``FOLDER/.agentkit/index.sqlite``). ``base_urls`` points keyed
    services elsewhere by name. Raises ``ValueError`` naming the field (or key variable)."""
    search = search or SearchSpec()
    env = os.environ if environ is None else environ
    out: list[SearchBackend] = []
    for name in search.backends_in(env):
        if name == "duckduckgo":
            out.append(DuckDuckGoBackend())
        elif name == "searxng":
            if not search.url:
                raise ValueError("search.url: required when the searxng backend is used")
            out.append(SearxngBackend(search.url))
        elif name == "local":
            if search.index is None:
                raise ValueError("search.index: required when the local backend is used")
            path = search.index.expanduser()
            if path.is_dir():
                out.append(LocalBackend(path / ".agentkit" / "index.sqlite", source_dir=path))
            else:
                out.append(LocalBackend(path))
        else:
            try:
                out.append(KEYED_BACKENDS[name](base_url=(base_urls or {}).get(name), environ=env))
            except MissingKey as exc:
                raise ValueError(f"search.backend: {exc}") from None
    return out


__all__ = [
    "BACKEND_NAMES",
    "AuthFailure",
    "BackendFailure",
    "CircuitBreaker",
    "DuckDuckGoBackend",
    "HttpSearchBackend",
    "KeyedBackend",
    "LocalBackend",
    "RateLimited",
    "RateLimiter",
    "SearchBackend",
    "SearchHit",
    "SearxngBackend",
    "SoftFailure",
    "TransientFailure",
    "backends_for",
]
