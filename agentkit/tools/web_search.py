"""The built-in ``web_search(query, max_results=10)`` tool.

Backends (``duckduckgo``, ``searxng``, ``local``) are tried in order: a backend that fails
(or answers "no results" the way a failing engine does) hands over to the next one. Each
backend has its own rate limiter and circuit breaker: after ``failure_threshold``
consecutive failures it is skipped for ``cooldown_s``. Every result is registered as a
``search_result`` source with a stable id (``S`` + hash of the normalised URL), which
``fetch`` accepts in place of the URL.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agentkit.config import SearchSpec
from agentkit.store.events import Source
from agentkit.tools._search_backends import (
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
from agentkit.tools._sources import source_id_for
from agentkit.tools.base import Tool, ToolContext, ToolOutput

MAX_RESULTS = 50
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


class WebSearchTool(Tool[WebSearchArgs]):
    """``web_search``. With ``backends=None`` the backends come from the task's ``search``
    section (``ctx.settings.search``), DuckDuckGo when there is none."""

    def __init__(
        self,
        backends: Sequence[SearchBackend] | None = None,
        *,
        failure_threshold: int = 3,
        cooldown_s: float = 60.0,
        timeout_s: float = 90.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__("web_search", DESCRIPTION, WebSearchArgs, timeout_s=timeout_s)
        self.failure_threshold = failure_threshold
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._fixed = [self._slot(b) for b in backends] if backends is not None else None
        self._configured: dict[str, list[_Slot]] = {}

    @classmethod
    def from_settings(cls, search: SearchSpec | None, **kwargs: Any) -> WebSearchTool:
        """A tool for a task file's ``search`` section (raises ``ValueError`` on a bad one)."""
        return cls(backends_for(search), **kwargs)

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
        key = search.model_dump_json()
        if key not in self._configured:
            self._configured[key] = [self._slot(b) for b in backends_for(search)]
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
        problems: list[str] = []
        hard = False
        for slot in slots:
            name = slot.backend.name
            if not slot.breaker.allow():
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
                slot.breaker.record_failure()
                problems.append(f"{name}: {exc}")
                continue
            except BackendFailure as exc:
                slot.breaker.record_failure()
                problems.append(f"{name}: {exc}")
                hard = True
                continue
            except Exception as exc:  # a backend bug must not end the search
                slot.breaker.record_failure()
                problems.append(f"{name}: {type(exc).__name__}: {exc}")
                hard = True
                continue
            slot.breaker.record_success()
            return await self._report(query, hits[: args.max_results], name, problems, ctx)
        meta = {"backend": None, "results": 0, "problems": problems}
        if not slots:
            return ToolOutput(text="web_search has no backends configured.", is_error=True, meta=meta)
        if not hard:
            return ToolOutput(
                text=f'No results for "{query}" ({"; ".join(problems)}). '
                "Try different or fewer keywords, or search again later.",
                meta=meta,
            )
        return ToolOutput(
            text=f'web_search failed for "{query}": ' + "; ".join(problems) + ".", is_error=True, meta=meta
        )

    async def _report(
        self, query: str, hits: list[SearchHit], backend: str, problems: list[str], ctx: ToolContext
    ) -> ToolOutput:
        via = backend + (f"; failed over from {'; '.join(problems)}" if problems else "")
        meta: dict[str, Any] = {"backend": backend, "results": len(hits), "problems": problems}
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
                content_hash = await ctx.store.put_blob(hit.text.encode("utf-8")) if hit.text else None
                await ctx.store.add_source(
                    ctx.run_id,
                    Source(
                        id=sid,
                        url=hit.url,
                        title=title,
                        kind="search_result",
                        content_hash=content_hash,
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
    "BackendFailure",
    "CircuitBreaker",
    "DuckDuckGoBackend",
    "LocalBackend",
    "RateLimiter",
    "SearchBackend",
    "SearchHit",
    "SearxngBackend",
    "SoftFailure",
    "WebSearchArgs",
    "WebSearchTool",
    "backends_for",
]
