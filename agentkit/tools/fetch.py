"""The built-in ``fetch(url, page=1)`` tool: read a web page or PDF as text, page by page.

Documents are extracted once (HTML → markdown via trafilatura, PDF → text via pypdf, text,
JSON and XML as they are), stored in the run's store by content hash and registered as a
citable :class:`~agentkit.store.events.Source`. Reading another page, fetching the same URL
again or passing a source id (``fetch("S1a2b3c4d")``) is served from the store; a shared
:class:`FetchCache` serves other runs of the process (heavy mode) without the network.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, ClassVar

import anyio
import anyio.to_thread
import httpx2
from pydantic import BaseModel, ConfigDict, Field

from agentkit.context.images import ImageError, store_image
from agentkit.net._download import Downloaded, Downloader, DownloadError
from agentkit.net._ssrf import BlockedURLError
from agentkit.store.events import Source
from agentkit.tools._extract import Extracted, ExtractionError, extract, paginate
from agentkit.tools._robots import RobotsCache, RobotsVerdict
from agentkit.tools._sources import looks_like_source_id, normalize_url, source_id_for, with_default_scheme
from agentkit.tools.base import DEFAULT_MAX_RESULT_CHARS, Tool, ToolContext, ToolOutput
from agentkit.vocabulary import ImageRef

DEFAULT_MAX_BYTES = 15 * 1024 * 1024
DEFAULT_PAGE_CHARS = 12_000
_ACCEPT = (
    "text/html,application/xhtml+xml,application/pdf;q=0.9,text/plain;q=0.8,"
    "application/json;q=0.8,application/xml;q=0.7,*/*;q=0.5"
)

DESCRIPTION = (
    "Read a web page or PDF as text. Long documents come in pages of about {page_chars:,} characters: "
    "call again with page=2, 3, … to read on. Pass a source id (e.g. S1a2b3c4d) instead of a URL "
    "to re-read a document seen earlier without downloading it again."
)


class FetchArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(description="The http(s) URL to read, or a source id such as S1a2b3c4d.")
    page: int = Field(default=1, ge=1, description="Which page of a long document to return (1-based).")


class FetchError(DownloadError):
    """A fetch that failed for a reason the model should read as is."""


class RobotsRefusal(FetchError):
    """The site's robots.txt disallows the URL, or could not be read (RFC 9309: disallow all)."""

    def __init__(self, url: str, verdict: RobotsVerdict) -> None:
        if verdict.unreachable:
            text = (
                f"Could not fetch {url}: the site's robots.txt ({verdict.robots_url}) could not be read "
                f"({verdict.reason}), and RFC 9309 treats an unreachable robots.txt as disallowing every "
                "page. Try again later or use another source."
            )
        else:
            text = (
                f"Not fetched: {url} is disallowed by robots.txt ({verdict.robots_url}), which asks crawlers "
                "such as this one not to read it. Fetching it again will not help: use the search result's "
                "snippet or another source."
            )
        super().__init__(text)
        self.verdict = verdict


@dataclass(frozen=True)
class CachedDocument:
    """What :class:`FetchCache` keeps per URL (the text only while the cache has room)."""

    url: str
    final_url: str
    title: str
    kind: str
    content_hash: str
    meta: dict[str, Any] = field(default_factory=dict)
    retrieved_at: float = field(default_factory=time.time)
    text: str | None = None
    private: bool = False
    """Fetched with the SSRF guard off: only served to callers that allow private hosts."""


def _key(url: str, private: bool) -> str:
    return ("private " if private else "") + normalize_url(url)


class FetchCache:
    """A per-process cache URL → extracted document, shared by runs and tools.

    Entries expire after ``ttl_s``; texts are kept in memory up to ``max_text_chars`` in
    total (least recently used dropped first), so a run on another store can still be served.
    Concurrent fetches of one URL are collapsed into one download (:meth:`get_or_fetch`).
    """

    _shared: ClassVar[FetchCache | None] = None
    _shared_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(
        self, *, max_entries: int = 4096, max_text_chars: int = 64_000_000, ttl_s: float | None = 3600.0
    ) -> None:
        self.max_entries = max_entries
        self.max_text_chars = max_text_chars
        self.ttl_s = ttl_s
        self._entries: OrderedDict[str, CachedDocument] = OrderedDict()
        self._text_chars = 0
        self._inflight: dict[str, anyio.Event] = {}
        self.hits = 0
        self.misses = 0

    @classmethod
    def shared(cls) -> FetchCache:
        """The process-wide cache (pass it to every ``FetchTool`` that should share it)."""
        with cls._shared_lock:
            if cls._shared is None:
                cls._shared = cls()
            return cls._shared

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, url: str, *, private: bool = False) -> CachedDocument | None:
        key = _key(url, private)
        doc = self._entries.get(key)
        if doc is None:
            return None
        if self.ttl_s is not None and time.time() - doc.retrieved_at > self.ttl_s:
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return doc

    def put(self, doc: CachedDocument, *aliases: str) -> None:
        for url in (doc.url, *aliases):
            key = _key(url, doc.private)
            self._drop(key)
            self._entries[key] = doc
            self._text_chars += len(doc.text or "")
        while len(self._entries) > self.max_entries:
            self._drop(next(iter(self._entries)))
        for key in list(self._entries):  # oldest first
            if self._text_chars <= self.max_text_chars:
                break
            old = self._entries[key]
            if old.text is not None:
                self._text_chars -= len(old.text)
                self._entries[key] = replace(old, text=None)

    def discard(self, url: str, *, private: bool = False) -> None:
        self._drop(_key(url, private))

    def clear(self) -> None:
        self._entries.clear()
        self._text_chars = 0

    def _drop(self, key: str) -> None:
        old = self._entries.pop(key, None)
        if old is not None and old.text is not None:
            self._text_chars -= len(old.text)

    async def get_or_fetch(
        self, url: str, fetch: Callable[[], Awaitable[CachedDocument]], *, private: bool = False
    ) -> tuple[CachedDocument, bool]:
        """The cached document, or ``fetch()``'s (one download for concurrent callers).
        Returns ``(document, came_from_cache)``. Documents fetched without the SSRF guard
        (``private=True``) live apart from the others and are never served to guarded callers."""
        key = _key(url, private)
        while True:
            hit = self.get(url, private=private)
            if hit is not None:
                self.hits += 1
                return hit, True
            pending = self._inflight.get(key)
            if pending is None:
                break
            await pending.wait()  # the leader failed if nothing is cached now: try ourselves
        self.misses += 1
        done = self._inflight[key] = anyio.Event()
        try:
            doc = await fetch()
            self.put(doc, doc.final_url)
            return doc, False
        finally:
            del self._inflight[key]
            done.set()


class FetchTool(Tool[FetchArgs]):
    """``fetch(url, page=1)``. The SSRF guard is on unless ``allow_private_hosts`` (here or
    in the task's ``fetch`` section) is true.

    Each site's robots.txt is honoured (:mod:`agentkit.tools._robots`): it is read once per
    site (cached in ``robots``, 24 h) through the same client and guard as the page, and
    every request, redirects included, is checked against it. ``respect_robots`` here wins over
    the task's ``fetch.respect_robots`` (default true); ``None`` leaves it to the task.
    The check guards the network: a document already in the store or the shared cache is
    served without asking the site again."""

    def __init__(
        self,
        *,
        allow_private_hosts: bool = False,
        timeout_s: float = 30.0,
        connect_timeout_s: float = 10.0,
        max_bytes: int = DEFAULT_MAX_BYTES,
        page_chars: int = DEFAULT_PAGE_CHARS,
        max_redirects: int = 5,
        cache: FetchCache | None = None,
        verify: ssl.SSLContext | bool = True,
        respect_robots: bool | None = None,
        robots: RobotsCache | None = None,
    ) -> None:
        super().__init__(
            "fetch",
            DESCRIPTION.format(page_chars=page_chars),
            FetchArgs,
            timeout_s=timeout_s + 60.0,
            max_result_chars=max(DEFAULT_MAX_RESULT_CHARS, page_chars + 2_000),
        )
        self.allow_private_hosts = allow_private_hosts
        self.max_bytes = max_bytes
        self.page_chars = page_chars
        self.cache = cache if cache is not None else FetchCache()
        self.respect_robots = respect_robots
        self.robots = robots if robots is not None else RobotsCache(timeout_s=min(15.0, timeout_s))
        self._downloader = Downloader(
            timeout_s=timeout_s,
            connect_timeout_s=connect_timeout_s,
            max_redirects=max_redirects,
            headers={"Accept": _ACCEPT, "Accept-Language": "en;q=0.9,*;q=0.5"},
            verify=verify,
        )

    async def aclose(self) -> None:
        await self._downloader.aclose()

    # -- the tool -------------------------------------------------------------------------

    async def invoke(self, args: FetchArgs, ctx: ToolContext) -> ToolOutput:
        target = args.url.strip()
        if not target:
            return _error("fetch needs a URL or a source id.")
        if looks_like_source_id(target):
            source = await ctx.store.get_source(ctx.run_id, target)
            if source is None:
                return _error(f"No source with id {target} in this run. Pass the full URL instead.")
            stored = await self._from_store(source, ctx, args.page)
            if stored is not None:
                return stored
            target = source.url
        url = with_default_scheme(target)
        sid = source_id_for(url)
        existing = await ctx.store.get_source(ctx.run_id, sid)
        if existing is not None:
            stored = await self._from_store(existing, ctx, args.page)
            if stored is not None:
                return stored
        if url.startswith("local:"):
            return _error(
                f"{url} is a document of the local search index: read it with its source id "
                "from the web_search results."
            )
        allow_private = self.allow_private_hosts or ctx.settings.fetch.allow_private_hosts
        robots = self.respect_robots if self.respect_robots is not None else ctx.settings.fetch.respect_robots
        fetch_new = partial(self._fetch_new, url, ctx, allow_private, robots)
        try:
            doc, cached = await self.cache.get_or_fetch(url, fetch_new, private=allow_private)
            text = await self._cached_text(doc, ctx) if cached else doc.text
            if text is None:  # neither this store nor the cache holds the text any more
                self.cache.discard(url, private=allow_private)
                doc, cached = await self.cache.get_or_fetch(url, fetch_new, private=allow_private)
                text = await self._cached_text(doc, ctx) if cached else doc.text
        except BlockedURLError as exc:
            tail = "" if "scheme" in str(exc) else " Only public http(s) addresses can be fetched."
            return _error(f"Refused to fetch {url}: {exc}.{tail}")
        except RobotsRefusal as exc:
            return ToolOutput(text=str(exc), is_error=True, meta={"robots": exc.verdict.robots_url})
        except DownloadError as exc:
            return _error(f"Could not fetch {url}: {exc}")
        except ExtractionError as exc:
            return _error(f"Fetched {url} but {exc}.")
        if text is None:
            return _error(f"Could not fetch {url}: the document vanished from the cache; try again.")
        source = Source(
            id=sid,
            url=url,
            title=doc.title,
            retrieved_at=doc.retrieved_at,
            content_hash=doc.content_hash,
            kind=doc.kind,
            meta=doc.meta,
        )
        await ctx.store.add_source(ctx.run_id, source)
        return self._render(source, text, args.page, origin="cache" if cached else "network")

    async def _from_store(self, source: Source, ctx: ToolContext, page: int) -> ToolOutput | None:
        if not source.content_hash:
            return None
        blob = await ctx.store.get_blob(source.content_hash)
        if blob is None:
            return None
        return self._render(source, blob.decode("utf-8", errors="replace"), page, origin="store")

    async def _cached_text(self, doc: CachedDocument, ctx: ToolContext) -> str | None:
        blob = await ctx.store.get_blob(doc.content_hash)
        if blob is not None:
            return blob.decode("utf-8", errors="replace")
        if doc.text is not None:
            await ctx.store.put_blob(doc.text.encode("utf-8"))
        return doc.text

    async def _fetch_new(self, url: str, ctx: ToolContext, allow_private: bool, robots: bool) -> CachedDocument:
        download = await self._download(url, allow_private, robots=robots)
        if _is_image(download.content_type, download.data):
            return await _image_document(url, download.final_url, download.data, ctx, allow_private)
        extracted: Extracted = await anyio.to_thread.run_sync(
            partial(extract, download.data, download.content_type, download.final_url, download.charset),
            abandon_on_cancel=True,
        )
        data = extracted.text.encode("utf-8")
        key = await ctx.store.put_blob(data)
        kind = "pdf" if extracted.kind == "pdf" else "page"
        meta: dict[str, Any] = {
            "author": extracted.author,
            "date": extracted.date,
            "content_type": extracted.content_type,
            "final_url": download.final_url,
            "charset": extracted.charset,
            "chars": len(extracted.text),
            **extracted.meta,
        }
        return CachedDocument(
            url=url,
            final_url=download.final_url,
            title=extracted.title,
            kind=kind,
            content_hash=key,
            meta=meta,
            text=extracted.text,
            private=allow_private,
        )

    # -- network --------------------------------------------------------------------------

    async def _download(self, url: str, allow_private: bool, *, robots: bool = True) -> Downloaded:
        async def check_robots(current: httpx2.URL, client: httpx2.AsyncClient) -> None:
            if current.host:  # (a URL without a host fails as invalid when it is requested)
                verdict = await self.robots.check(current, client, guard=not allow_private)
                if not verdict.allowed:
                    raise RobotsRefusal(str(current), verdict)

        return await self._downloader.get(
            url,
            max_bytes=self.max_bytes,
            allow_private=allow_private,
            before_request=check_robots if robots else None,
        )

    # -- output ---------------------------------------------------------------------------

    def _render(self, source: Source, text: str, page: int, *, origin: str) -> ToolOutput:
        pages = paginate(text, self.page_chars)
        n = len(pages)
        if page > n:
            return ToolOutput(
                text=f"Page {page} is out of range: [source {source.id}] {source.title or source.url} "
                f"has {n} page{'s' if n != 1 else ''}. Call fetch with page between 1 and {n}.",
                is_error=True,
                sources=[source.id],
                meta={"source_id": source.id, "pages": n},
            )
        title = source.title or source.url
        lines = [f"[source {source.id}] {title} — page {page} of {n}", f"URL: {source.url}"]
        final = source.meta.get("final_url")
        if final and normalize_url(str(final)) != normalize_url(source.url):
            lines.append(f"Final URL: {final}")
        facts = [
            f"{label}: {source.meta[k]}" for k, label in (("author", "Author"), ("date", "Date")) if source.meta.get(k)
        ]
        if source.kind == "pdf":
            facts.append(f"PDF, {source.meta.get('pdf_pages', '?')} pages")
        if facts:
            lines.append(" · ".join(facts))
        lines += ["", pages[page - 1], ""]
        if page < n:
            lines.append(f'[page {page} of {n} — call fetch("{source.id}", page={page + 1}) to read on]')
        else:
            lines.append(f"[end of document — page {page} of {n}]")
        image = source.meta.get("image")
        return ToolOutput(
            text="\n".join(lines),
            sources=[source.id],
            images=[ImageRef.model_validate(image)] if isinstance(image, dict) else [],
            meta={"source_id": source.id, "page": page, "pages": n, "url": source.url, "origin": origin},
        )


_IMAGE_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"RIFF")


def _is_image(content_type: str, data: bytes) -> bool:
    ctype = content_type.split(";", 1)[0].strip().lower()
    return (ctype.startswith("image/") and ctype != "image/svg+xml") or data.startswith(_IMAGE_MAGIC)


async def _image_document(url: str, final_url: str, data: bytes, ctx: ToolContext, private: bool) -> CachedDocument:
    """An image URL: checked, downscaled and stored (a vision model is shown it with the
    result); its text is a line describing it. Raises ``ExtractionError`` for a bad image."""
    try:
        image = await store_image(ctx.store, data, "the image")
    except ImageError as exc:
        raise ExtractionError(str(exc)) from None
    image = image.model_copy(update={"label": final_url})
    text = f"[image, {image.width}x{image.height} pixels after downscaling, {image.mime_type}: {final_url}]"
    key = await ctx.store.put_blob(text.encode("utf-8"))
    name = final_url.rstrip("/").rsplit("/", 1)[-1] or final_url
    meta: dict[str, Any] = {"content_type": image.mime_type, "final_url": final_url, "image": image.model_dump()}
    return CachedDocument(
        url=url, final_url=final_url, title=name, kind="image", content_hash=key, meta=meta, text=text, private=private
    )


def _error(text: str) -> ToolOutput:
    return ToolOutput(text=text, is_error=True)


__all__ = ["DEFAULT_MAX_BYTES", "DEFAULT_PAGE_CHARS", "CachedDocument", "FetchArgs", "FetchCache", "FetchTool"]
