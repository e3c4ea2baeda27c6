"""The built-in ``web_search(query, max_results=10)`` tool.

Backends are tried in order: a backend that fails (or answers "no results" the way a failing
engine does) hands over to the next one. Unnamed in the task, the chain is automatic: the
keyed services whose key variable is set (Tavily, Exa, Brave, Serper, Jina), then DuckDuckGo,
then SearXNG when ``search.url`` is set. HTTP backends retry a rate limit, a server error or
a timeout a few times before handing over; a refused API key is not retried and takes that
backend out of the chain for ``cooldown_s``. Each backend has its own rate limiter and circuit
breaker: after ``failure_threshold`` consecutive failures it is skipped for ``cooldown_s``.

Results are kept in the run's store by normalised query, count and chain
(:mod:`agentkit.tools._search_cache`): a repeated or resumed run is answered from there, its
sources registered again for the run, and the result says so (``meta["cached"]``). Every
result is registered as a ``search_result`` source with a stable id (``S`` + hash of the
normalised URL), which ``fetch`` accepts in place of the URL.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agentkit.store.base import StoreError
from agentkit.store.events import Source
from agentkit.task.sections import SearchSpec
from agentkit.tools._search_backends import (
    AuthFailure,
    BackendFailure,
    CircuitBreaker,
    DuckDuckGoBackend,
    LocalBackend,
    RateLimiter,
    SearchBackend,
    SearchHit,
    SearxngBackend,
    SoftFailure,
    backends_for,
)
from agentkit.tools._search_cache import NAMESPACE, CachedSearch, cache_key
from agentkit.tools._search_keyed import BraveBackend, ExaBackend, JinaBackend, SerperBackend, TavilyBackend
from agentkit.tools._sources import source_id_for
from agentkit.tools.base import Tool, ToolContext, ToolOutput

MAX_RESULTS = 50
DEFAULT_CACHE_TTL_S = 7 * 24 * 3600.0
_SNIPPET_CHARS = 320
_TITLE_CHARS = 200

DESCRIPTION = (
    "Search the web. Returns a numbered list of results, each with a source id, title, URL and "
    "snippet. Read a result with fetch(source id or URL); cite results by their source id."
)


class WebSearchArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    query: str = Field(min_length=1, max_length=500, description="What to search for (keywords work best).")
    max_results: int = Field(default=10, ge=1, le=MAX_RESULTS, description="How many results to return (1-50).")


@dataclass
class _Slot:
    backend: SearchBackend
    limiter: RateLimiter
    breaker: CircuitBreaker
    refused: str = ""
    """Why the service refused this backend's key, while that keeps it out of the chain."""


class WebSearchTool(Tool[WebSearchArgs]):
    """``web_search``. With ``backends=None`` the backends come from the task's ``search``
    section (``ctx.settings.search``), the automatic chain when it names none.

    ``base_urls`` points keyed services at other endpoints by name (``{"tavily": URL}``);
    ``cache_ttl_s`` is how long stored results answer a repeated query (``None``: for ever,
    ``0``: never read or written)."""

    def __init__(
        self,
        backends: Sequence[SearchBackend] | None = None,
        *,
        failure_threshold: int = 3,
        cooldown_s: float = 60.0,
        timeout_s: float = 90.0,
        cache_ttl_s: float | None = DEFAULT_CACHE_TTL_S,
        base_urls: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__("web_search", DESCRIPTION, WebSearchArgs, timeout_s=timeout_s)
        self.failure_threshold = failure_threshold
        self.cooldown_s = cooldown_s
        self.cache_ttl_s = cache_ttl_s
        self.base_urls = dict(base_urls or {})
        self._clock = clock
        self._fixed = [self._slot(b) for b in backends] if backends is not None else None
        self._configured: dict[tuple[str, tuple[str, ...]], list[_Slot]] = {}

    @classmethod
    def from_settings(
        cls, search: SearchSpec | None, *, base_urls: Mapping[str, str] | None = None, **kwargs: Any
    ) -> WebSearchTool:
        """A tool for a task file's ``search`` section (raises ``ValueError`` on a bad one,
        such as a keyed backend named without its key variable set)."""
        return cls(backends_for(search, base_urls=base_urls), base_urls=base_urls, **kwargs)

    def _slot(self, backend: SearchBackend) -> _Slot:
        return _Slot(
            backend=backend,
            limiter=RateLimiter(backend.min_interval_s, clock=self._clock),
            breaker=CircuitBreaker(self.failure_threshold, self.cooldown_s, clock=self._clock),
        )

    def _slots(self, ctx: ToolContext) -> list[_Slot]:
        if self._fixed is not None:
            return self._fixed
        search = ctx.settings.search
        key = (search.model_dump_json(), tuple(search.backends_in(os.environ)))
        if key not in self._configured:
            self._configured[key] = [self._slot(b) for b in backends_for(search, base_urls=self.base_urls)]
        return self._configured[key]

    @property
    def backends(self) -> list[SearchBackend]:
        slots = self._fixed or [s for group in self._configured.values() for s in group]
        return [s.backend for s in slots]

    async def aclose(self) -> None:
        for backend in self.backends:
            await backend.aclose()

    async def invoke(self, args: WebSearchArgs, ctx: ToolContext) -> ToolOutput:
        query = " ".join(args.query.split())
        if not query:
            return ToolOutput(text="web_search needs a non-empty query.", is_error=True)
        try:
            slots = self._slots(ctx)
        except ValueError as exc:
            return ToolOutput(text=f"web_search is misconfigured: {exc}", is_error=True)
        if not slots:
            meta: dict[str, Any] = {"backend": None, "results": 0, "problems": []}
            return ToolOutput(text="web_search has no backends configured.", is_error=True, meta=meta)
        key = cache_key(query, args.max_results, [s.backend.identity for s in slots])
        cached = await self._cache_get(ctx, key)
        if cached is not None:
            return await self._report(query, cached.hits, cached.backend, [], ctx, cached_at=cached.created_at)
        problems: list[str] = []
        hard = False
        for slot in slots:
            name = slot.backend.name
            if not slot.breaker.allow():
                if slot.refused:
                    problems.append(f"{name}: skipped for {slot.breaker.retry_in():.0f} s: {slot.refused}")
                else:
                    problems.append(
                        f"{name}: skipped for {slot.breaker.retry_in():.0f} s after "
                        f"{slot.breaker.failures} consecutive failures"
                    )
                hard = True
                continue
            await slot.limiter.wait()
            try:
                hits = await slot.backend.search(query, args.max_results)
            except SoftFailure as exc:
                slot.breaker.record_failure(str(exc))
                problems.append(f"{name}: {exc}")
                continue
            except AuthFailure as exc:
                slot.refused = str(exc)
                slot.breaker.trip(str(exc))
                problems.append(f"{name}: {exc}")
                hard = True
                continue
            except BackendFailure as exc:
                slot.breaker.record_failure(str(exc))
                problems.append(f"{name}: {exc}")
                hard = True
                continue
            except Exception as exc:  # a backend bug must not end the search
                slot.breaker.record_failure(f"{type(exc).__name__}: {exc}")
                problems.append(f"{name}: {type(exc).__name__}: {exc}")
                hard = True
                continue
            slot.breaker.record_success()
            slot.refused = ""
            hits = hits[: args.max_results]
            for hit in hits:
                if hit.text and not hit.content_hash:
                    hit.content_hash = await ctx.store.put_blob(hit.text.encode("utf-8"))
            out = await self._report(query, hits, name, problems, ctx)
            if hits:
                await self._cache_put(ctx, key, CachedSearch(backend=name, hits=hits, created_at=time.time()), out)
            return out
        meta = {"backend": None, "results": 0, "problems": problems}
        if not hard:
            return ToolOutput(
                text=f'No results for "{query}" ({"; ".join(problems)}). '
                "Try different or fewer keywords, or search again later.",
                meta=meta,
            )
        return ToolOutput(
            text=f'web_search failed for "{query}": ' + "; ".join(problems) + ".", is_error=True, meta=meta
        )

    # -- the store's cache --------------------------------------------------------------------

    async def _cache_get(self, ctx: ToolContext, key: str) -> CachedSearch | None:
        if self.cache_ttl_s == 0:
            return None
        try:
            raw = await ctx.store.get_cached(NAMESPACE, key)
        except StoreError:  # a cache that cannot be read only costs a search
            return None
        entry = CachedSearch.decode(raw) if raw is not None else None
        return entry if entry is not None and entry.fresh(self.cache_ttl_s) else None

    async def _cache_put(self, ctx: ToolContext, key: str, entry: CachedSearch, out: ToolOutput) -> None:
        if self.cache_ttl_s == 0:
            return
        try:
            await ctx.store.put_cached(NAMESPACE, key, entry.encode())
        except StoreError as exc:  # the results stand; only a later repeat searches again
            out.meta["cache_error"] = str(exc)

    # -- output -------------------------------------------------------------------------------

    async def _report(
        self,
        query: str,
        hits: list[SearchHit],
        backend: str,
        problems: list[str],
        ctx: ToolContext,
        *,
        cached_at: float | None = None,
    ) -> ToolOutput:
        via = backend + (f"; failed over from {'; '.join(problems)}" if problems else "")
        if cached_at is not None:
            via += ", from the store's cache"
        meta: dict[str, Any] = {
            "backend": backend,
            "results": len(hits),
            "problems": problems,
            "cached": cached_at is not None,
        }
        if cached_at is not None:
            meta["cached_at"] = datetime.fromtimestamp(cached_at, UTC).isoformat(timespec="seconds")
        if not hits:
            return ToolOutput(text=f'No results for "{query}" ({via}). Try different or fewer keywords.', meta=meta)
        existing = {s.id: s for s in await ctx.store.list_sources(ctx.run_id)}
        lines = [f'Results for "{query}" ({via}):']
        ids: list[str] = []
        for hit in hits:
            sid = source_id_for(hit.url)
            if sid in ids:
                continue
            ids.append(sid)
            title = _clip(" ".join(hit.title.split()) or hit.url, _TITLE_CHARS)
            snippet = _clip(" ".join(hit.snippet.split()), _SNIPPET_CHARS)
            prev = existing.get(sid)
            if prev is None or (prev.kind == "search_result" and not prev.content_hash):
                await ctx.store.add_source(
                    ctx.run_id,
                    Source(
                        id=sid,
                        url=hit.url,
                        title=title,
                        kind="search_result",
                        content_hash=hit.content_hash,
                        meta={"snippet": snippet, "backend": backend, "query": query, "rank": len(ids), **hit.meta},
                    ),
                )
            lines.append(f"{len(ids)}. [{sid}] {title}\n   {hit.url}" + (f"\n   {snippet}" if snippet else ""))
        lines.append('Read a result with fetch("<source id>") or fetch(url).')
        meta["results"] = len(ids)
        return ToolOutput(text="\n".join(lines), sources=ids, meta=meta)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


__all__ = [
    "AuthFailure",
    "BackendFailure",
    "BraveBackend",
    "CircuitBreaker",
    "DuckDuckGoBackend",
    "ExaBackend",
    "JinaBackend",
    "LocalBackend",
    "RateLimiter",
    "SearchBackend",
    "SearchHit",
    "SearxngBackend",
    "SerperBackend",
    "SoftFailure",
    "TavilyBackend",
    "WebSearchArgs",
    "WebSearchTool",
    "backends_for",
]
