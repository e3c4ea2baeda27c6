"""robots.txt for the ``fetch`` tool, after RFC 9309 (the Robots Exclusion Protocol).

The parser is Protego, Scrapy's maintained robots.txt parser. The standard library's
``urllib.robotparser`` applies the first rule that matches in file order and treats ``*`` and
``$`` in paths as plain characters, where RFC 9309 has the most specific (longest) match win
(§2.2.2) and gives both characters their special meaning (§2.2.3); sites write rules that
depend on both, so a reader that ignores them disallows or allows the wrong pages. Protego
implements the longest match and the special characters, and groups by product token.

What a fetch of ``/robots.txt`` means (RFC 9309 §2.3.1):

- 2xx: its rules are followed for our product token (``agentkit``), falling back to ``*``.
  At most ``max_bytes`` are read and parsed (§2.5 requires a limit of at least 500 KiB).
- a redirect: followed up to five hops (§2.3.1.2), every hop vetted by the same SSRF guard
  as the page; more hops count as "unavailable".
- 4xx, "unavailable" (§2.3.1.3): the crawler may access any resource: allow all.
- 5xx or no answer (network error, timeout), "unreachable" (§2.3.1.4): the crawler MUST
  assume complete disallow. This verdict is kept only ``unreachable_ttl_s`` (a few minutes),
  so the site is asked again later in a long run instead of being shut out for a day.

Verdicts are cached per scheme, host and port in a bounded cache (``max_hosts``, least
recently used dropped first) for ``ttl_s`` (24 h: §2.4 says a cached copy SHOULD NOT be used
longer, unless the file is unreachable). Concurrent checks of one host share one download.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio
import httpx2
from protego import Protego

from agentkit.net._http import USER_AGENT
from agentkit.net._ssrf import BlockedURLError, ResolutionError, check_url

ROBOTS_MAX_BYTES = 512 * 1024
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 5


@dataclass(frozen=True)
class RobotsVerdict:
    allowed: bool
    robots_url: str
    reason: str = ""
    """Why not, when not allowed: ``disallowed`` or the unreachable file's failure."""
    unreachable: bool = False


@dataclass
class _Entry:
    robots_url: str
    parser: Protego | None
    """``None``: no rules apply (the file is unavailable), or none could be read (unreachable)."""
    unreachable: str
    """Why the file could not be fetched (server error, network): complete disallow."""
    expires: float


class RobotsCache:
    """robots.txt verdicts per site. ``check(url, client, guard=...)`` downloads the site's
    file with ``client`` at most once per ``ttl_s`` (``unreachable_ttl_s`` after a failure)."""

    def __init__(
        self,
        *,
        user_agent: str = USER_AGENT,
        max_hosts: int = 1024,
        ttl_s: float = 24 * 3600.0,
        unreachable_ttl_s: float = 300.0,
        timeout_s: float = 15.0,
        max_bytes: int = ROBOTS_MAX_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.user_agent = user_agent
        self.max_hosts = max_hosts
        self.ttl_s = ttl_s
        self.unreachable_ttl_s = unreachable_ttl_s
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes
        self._clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._inflight: dict[str, anyio.Event] = {}
        self.downloads = 0
        """How many robots.txt files were requested (a figure for tests and benchmarks)."""

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()

    async def check(self, url: str | httpx2.URL, client: httpx2.AsyncClient, *, guard: bool) -> RobotsVerdict:
        """Whether ``url`` may be fetched. ``guard`` vets every robots.txt hop with the SSRF
        guard (raises :class:`BlockedURLError` like the page's own fetch would)."""
        target = httpx2.URL(str(url))
        site = f"{target.scheme}://{target.netloc.decode('ascii')}"
        entry = await self._entry(site, lambda: self._download(site, client, guard))
        if entry.unreachable:
            return RobotsVerdict(False, entry.robots_url, entry.unreachable, unreachable=True)
        if entry.parser is None or entry.parser.can_fetch(str(target), self.user_agent):
            return RobotsVerdict(True, entry.robots_url)
        return RobotsVerdict(False, entry.robots_url, "disallowed")

    async def _entry(self, site: str, download: Callable[[], Awaitable[_Entry]]) -> _Entry:
        while True:
            entry = self._entries.get(site)
            if entry is not None and entry.expires > self._clock():
                self._entries.move_to_end(site)
                return entry
            pending = self._inflight.get(site)
            if pending is None:
                break
            await pending.wait()
        done = self._inflight[site] = anyio.Event()
        try:
            entry = await download()
            self._entries[site] = entry
            self._entries.move_to_end(site)
            while len(self._entries) > self.max_hosts:
                self._entries.popitem(last=False)
            return entry
        finally:
            del self._inflight[site]
            done.set()

    async def _download(self, site: str, client: httpx2.AsyncClient, guard: bool) -> _Entry:
        robots_url = f"{site}/robots.txt"
        self.downloads += 1
        now = self._clock()

        def unreachable(reason: str) -> _Entry:
            return _Entry(robots_url, None, reason, now + self.unreachable_ttl_s)

        def rules(parser: Protego | None) -> _Entry:
            return _Entry(robots_url, parser, "", now + self.ttl_s)

        current = httpx2.URL(robots_url)
        try:
            with anyio.fail_after(self.timeout_s):
                for hop in range(_MAX_REDIRECTS + 1):
                    if guard or current.scheme not in ("http", "https"):
                        try:
                            await check_url(current.scheme, current.host, current.port)
                        except BlockedURLError as exc:
                            if hop == 0:
                                raise  # the site itself is refused: the page's fetch says so
                            return unreachable(f"it redirects to {current}, which is refused: {exc}")
                    request = client.build_request("GET", current, headers={"Accept": "text/plain,*/*;q=0.5"})
                    response = await client.send(request, stream=True)
                    try:
                        status = response.status_code
                        location = response.headers.get("location")
                        if status in _REDIRECTS and location:
                            current = current.join(location.strip())
                            continue
                        if status >= 500:
                            return unreachable(f"HTTP {status}")
                        if status >= 300:  # 4xx, or a redirect without a target: unavailable
                            return rules(None)
                        body = await self._read(response)
                    finally:
                        await response.aclose()
                    return rules(Protego.parse(body.decode("utf-8", errors="replace")))
                return rules(None)  # more than five redirects: unavailable (§2.3.1.2)
        except BlockedURLError:
            raise
        except TimeoutError:
            return unreachable(f"timed out after {self.timeout_s:g} s")
        except ResolutionError as exc:
            return unreachable(str(exc))
        except httpx2.TimeoutException as exc:
            return unreachable(f"timed out ({type(exc).__name__})")
        except httpx2.ConnectError as exc:
            return unreachable(f"could not connect: {exc or 'connection refused'}")
        except httpx2.HTTPError as exc:
            return unreachable(f"network error ({type(exc).__name__}): {exc}")

    async def _read(self, response: httpx2.Response) -> bytes:
        buf = bytearray()
        async for chunk in response.aiter_bytes():
            buf += chunk
            if len(buf) >= self.max_bytes:
                break
        return bytes(buf[: self.max_bytes])
