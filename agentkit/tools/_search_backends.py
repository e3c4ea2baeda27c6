"""Search backends for ``web_search``: DuckDuckGo (ddgs), SearXNG (JSON API), a local index.

Each backend raises :class:`BackendFailure` when it could not answer, or
:class:`SoftFailure` when it answered without usable results in a way that usually means
trouble (ddgs raises ``DDGSException("No results found.")`` when its engines fail or rate
limit); the tool fails over to the next backend in both cases. :class:`RateLimiter` and
:class:`CircuitBreaker` wrap each backend.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx2

from agentkit.config import SearchSpec
from agentkit.tools._http import USER_AGENT, LoopLocal
from agentkit.tools._index import build_index, search_index

BACKEND_NAMES = ("duckduckgo", "searxng", "local")


@dataclass
class SearchHit:
    title: str
    url: str
    snippet: str
    text: str | None = None
    """The full document text, when the backend has it (the local corpus does)."""
    meta: dict[str, Any] = field(default_factory=dict)


class BackendFailure(Exception):
    """The backend could not answer (HTTP error, timeout, bad response)."""


class SoftFailure(BackendFailure):
    """The backend answered "no results" in a way that usually means it is failing."""


class SearchBackend(abc.ABC):
    name: str = "backend"
    min_interval_s: float = 0.0
    """Minimum spacing between two requests to this backend."""

    @abc.abstractmethod
    async def search(self, query: str, max_results: int) -> list[SearchHit]: ...

    async def aclose(self) -> None:  # noqa: B027 - an optional hook, not abstract
        """Release connections."""


class RateLimiter:
    """Spaces calls at least ``min_interval_s`` apart; concurrent callers queue in order."""

    def __init__(self, min_interval_s: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.min_interval_s = min_interval_s
        self._clock = clock
        self._lock = anyio.Lock()
        self._next = 0.0

    async def wait(self) -> None:
        if self.min_interval_s <= 0:
            return
        async with self._lock:
            delay = self._next - self._clock()
            if delay > 0:
                await anyio.sleep(delay)
            self._next = self._clock() + self.min_interval_s


class CircuitBreaker:
    """Opens after ``threshold`` consecutive failures; after ``cooldown_s`` one trial call is
    let through (half-open): a success closes it, a failure opens it for another cooldown."""

    def __init__(
        self, threshold: int = 3, cooldown_s: float = 60.0, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self._clock = clock
        self.failures = 0
        self._opened_at = 0.0

    @property
    def is_open(self) -> bool:
        return self.failures >= self.threshold and self.retry_in() > 0

    def retry_in(self) -> float:
        if self.failures < self.threshold:
            return 0.0
        return max(0.0, self._opened_at + self.cooldown_s - self._clock())

    def allow(self) -> bool:
        return not self.is_open

    def record_success(self) -> None:
        self.failures = 0

    def record_failure(self) -> None:
        self.failures += 1
        if self.failures >= self.threshold:
            self._opened_at = self._clock()


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


class SearxngBackend(SearchBackend):
    """A SearXNG instance's JSON API: ``GET {url}/search?q=…&format=json``."""

    name = "searxng"

    def __init__(
        self, url: str, *, timeout_s: float = 15.0, min_interval_s: float = 0.0, language: str | None = None
    ) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self.min_interval_s = min_interval_s
        self.language = language
        self._clients = LoopLocal(
            lambda: httpx2.AsyncClient(
                timeout=httpx2.Timeout(timeout_s),
                follow_redirects=True,
                trust_env=False,
                headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            )
        )

    async def search(self, query: str, max_results: int) -> list[SearchHit]:
        params = {"q": query, "format": "json"}
        if self.language:
            params["language"] = self.language
        try:
            with anyio.fail_after(self.timeout_s):
                response = await self._clients.get().get(f"{self.url}/search", params=params)
        except TimeoutError as exc:
            raise BackendFailure(f"timed out after {self.timeout_s:g} s") from exc
        except httpx2.HTTPError as exc:
            raise BackendFailure(f"{type(exc).__name__}: {exc}") from exc
        if response.status_code != 200:
            hint = (
                " (is the json format enabled under search.formats in settings.yml?)"
                if response.status_code == 403
                else ""
            )
            raise BackendFailure(f"HTTP {response.status_code}{hint}")
        try:
            data = response.json()
            rows = data.get("results") or []
        except (ValueError, AttributeError) as exc:
            raise BackendFailure(f"the response is not SearXNG JSON: {exc}") from exc
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

    async def aclose(self) -> None:
        await self._clients.aclose()


class LocalBackend(SearchBackend):
    """The offline corpus (:func:`~agentkit.tools._index.build_index`). Given ``source_dir``,
    the index is brought up to date (incrementally) before the first search."""

    name = "local"

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


def backends_for(search: SearchSpec | None = None) -> list[SearchBackend]:
    """Backends for the task file's ``search`` section, in fail-over order (DuckDuckGo when
    there is none). ``url`` is the SearXNG base URL; ``index`` (for ``local``) an index file or
    a folder of documents (indexed into ``FOLDER/.agentkit/index.sqlite``)."""
    search = search or SearchSpec()
    out: list[SearchBackend] = []
    for name in search.backends:
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
    return out
