"""One guarded download for every URL agentkit reads: ``fetch`` pages, task images, images
given to ``run(images=[...])`` (and any other medium given by URL).

:meth:`Downloader.get` reads one URL into bytes, following redirects itself: every hop is
checked by the SSRF guard (:func:`~agentkit.net._ssrf.check_url`) before it is requested,
and the connection layer of the guarded client (:class:`~agentkit.net._http.GuardedTransport`)
vets the address it dials, so a public address that redirects to ``127.0.0.1`` or a name that
re-resolves to a private address is refused. The body is read up to ``max_bytes`` and no
further. ``allow_private=True`` (a task's ``fetch.allow_private_hosts``) lifts the address
checks, never the scheme check.
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import partial

import anyio
import httpx2

from agentkit.net._http import LoopLocal, make_client
from agentkit.net._ssrf import BlockedURLError, ResolutionError, check_url

REDIRECTS = frozenset({301, 302, 303, 307, 308})
DEFAULT_MAX_REDIRECTS = 5

HopCheck = Callable[[httpx2.URL, httpx2.AsyncClient], Awaitable[None]]
"""Called before each request (the first and every redirect) with its URL and the client;
raises to stop the download (``fetch`` checks robots.txt here)."""


class DownloadError(Exception):
    """A download that failed for a reason to show as it is (``HTTP 404 Not Found``, ``timed
    out after 30 s``, ``… larger than the 20 MB limit``)."""


@dataclass(frozen=True)
class Downloaded:
    final_url: str
    content_type: str
    """The ``Content-Type`` header as sent (parameters included; empty when absent)."""
    charset: str | None
    data: bytes

    @property
    def mime_type(self) -> str:
        return self.content_type.split(";", 1)[0].strip().lower()


class Downloader:
    """Guarded (and, for callers that allow private hosts, unguarded) HTTP clients, one per
    event loop, and the redirect loop that checks every hop. ``aclose`` closes the clients."""

    def __init__(
        self,
        *,
        timeout_s: float = 30.0,
        connect_timeout_s: float = 10.0,
        max_redirects: int = DEFAULT_MAX_REDIRECTS,
        headers: Mapping[str, str] | None = None,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self.timeout_s = timeout_s
        self.max_redirects = max_redirects
        timeout = httpx2.Timeout(timeout_s, connect=connect_timeout_s)
        made = partial(make_client, timeout=timeout, headers=dict(headers or {}), verify=verify)
        self._guarded = LoopLocal(partial(made, guarded=True))
        self._open = LoopLocal(partial(made, guarded=False))

    def client(self, *, allow_private: bool) -> httpx2.AsyncClient:
        return (self._open if allow_private else self._guarded).get()

    async def aclose(self) -> None:
        await self._guarded.aclose()
        await self._open.aclose()

    async def get(
        self,
        url: str,
        *,
        max_bytes: int,
        allow_private: bool = False,
        before_request: HopCheck | None = None,
        headers: Mapping[str, str] | None = None,
        what: str = "the document",
    ) -> Downloaded:
        """The body of ``url`` after redirects. Raises :class:`BlockedURLError` for a URL (or a
        redirect target) the guard refuses and :class:`DownloadError` for every other failure
        (an HTTP error status, a body over ``max_bytes``, the network); whatever
        ``before_request`` raises passes through."""
        client = self.client(allow_private=allow_private)
        try:
            current = httpx2.URL(url)
        except (httpx2.InvalidURL, TypeError, ValueError) as exc:
            raise DownloadError(f"invalid URL: {exc}") from exc
        try:
            with anyio.fail_after(self.timeout_s):
                for hop in range(self.max_redirects + 1):
                    if current.scheme not in ("http", "https") or not allow_private:
                        await check_url(current.scheme, current.host, current.port)
                    if before_request is not None:
                        await before_request(current, client)
                    request = client.build_request("GET", current, headers=dict(headers or {}))
                    response = await client.send(request, stream=True)
                    try:
                        location = response.headers.get("location")
                        if response.status_code in REDIRECTS and location:
                            if hop == self.max_redirects:
                                raise DownloadError(f"too many redirects (more than {self.max_redirects})")
                            current = current.join(location.strip())
                            continue
                        return await _read_body(response, max_bytes, what)
                    finally:
                        await response.aclose()
        except TimeoutError as exc:
            raise DownloadError(f"timed out after {self.timeout_s:g} s") from exc
        except ResolutionError as exc:
            raise DownloadError(str(exc)) from exc
        except httpx2.TimeoutException as exc:
            raise DownloadError(f"timed out ({type(exc).__name__})") from exc
        except httpx2.ConnectError as exc:
            raise DownloadError(f"could not connect: {exc or 'connection refused'}") from exc
        except (httpx2.InvalidURL, httpx2.UnsupportedProtocol) as exc:
            raise DownloadError(f"invalid URL: {exc}") from exc
        except httpx2.HTTPError as exc:
            raise DownloadError(f"network error ({type(exc).__name__}): {exc}") from exc
        raise DownloadError("no response")  # pragma: no cover - the loop always returns or raises


async def download(
    url: str,
    *,
    max_bytes: int,
    allow_private: bool = False,
    accept: str = "*/*",
    what: str = "the file",
    timeout_s: float = 30.0,
) -> Downloaded:
    """One download with a client of its own (closed after): for a task's images and other
    one-off media. Same guard, redirect checks, limits and errors as :meth:`Downloader.get`."""
    downloader = Downloader(timeout_s=timeout_s, headers={"Accept": accept})
    try:
        return await downloader.get(url, max_bytes=max_bytes, allow_private=allow_private, what=what)
    finally:
        await downloader.aclose()


async def _read_body(response: httpx2.Response, max_bytes: int, what: str) -> Downloaded:
    status = response.status_code
    if status >= 400:
        reason = response.reason_phrase or ""
        hint = " (the site refuses automated access)" if status in (401, 403, 429) else ""
        raise DownloadError(f"HTTP {status} {reason}{hint}".rstrip())
    if status >= 300:
        raise DownloadError(f"HTTP {status} without a usable redirect")
    limit_mb = max_bytes / 1_048_576
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise DownloadError(f"{what} is {int(declared) / 1_048_576:.1f} MB, over the {limit_mb:g} MB limit")
    buf = bytearray()
    async for chunk in response.aiter_bytes():
        buf += chunk
        if len(buf) > max_bytes:
            raise DownloadError(f"{what} is larger than the {limit_mb:g} MB limit")
    return Downloaded(
        final_url=str(response.url),
        content_type=response.headers.get("content-type", ""),
        charset=response.charset_encoding,
        data=bytes(buf),
    )


__all__ = ["BlockedURLError", "DownloadError", "Downloaded", "Downloader", "HopCheck", "download"]
