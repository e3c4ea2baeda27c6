"""HTTP clients of the research tools (httpx2, HTTP/2 when ``h2`` is installed)."""

from __future__ import annotations

import importlib.util
import ssl
from collections.abc import Callable

import anyio.lowlevel
import httpcore2
import httpx2

from agentkit.net._ssrf import GuardedNetworkBackend

USER_AGENT = "agentkit/0.1 (+research agent)"
HTTP2_AVAILABLE = importlib.util.find_spec("h2") is not None
_LIMITS = httpx2.Limits(max_connections=64, max_keepalive_connections=16, keepalive_expiry=30.0)


class GuardedTransport(httpx2.AsyncHTTPTransport):
    """The standard transport whose connection pool dials through the SSRF guard."""

    def __init__(
        self,
        *,
        http2: bool = HTTP2_AVAILABLE,
        limits: httpx2.Limits = _LIMITS,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        ssl_context = httpx2.create_ssl_context(verify=verify, trust_env=False)
        super().__init__(verify=ssl_context, http2=http2, trust_env=False, limits=limits)
        self._pool = httpcore2.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=http2,
            network_backend=GuardedNetworkBackend(),
        )


def make_client(
    *,
    guarded: bool,
    timeout: httpx2.Timeout,
    headers: dict[str, str] | None = None,
    http2: bool = HTTP2_AVAILABLE,
    verify: ssl.SSLContext | bool = True,
) -> httpx2.AsyncClient:
    """A client that never follows redirects by itself and ignores proxy variables."""
    transport: httpx2.AsyncBaseTransport
    if guarded:
        transport = GuardedTransport(http2=http2, verify=verify)
    else:
        transport = httpx2.AsyncHTTPTransport(verify=verify, http2=http2, trust_env=False, limits=_LIMITS)
    return httpx2.AsyncClient(
        transport=transport,
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
        headers={"User-Agent": USER_AGENT, **(headers or {})},
    )


class LoopLocal:
    """One lazily made client per event loop (``run_sync`` twice means two loops)."""

    def __init__(self, factory: Callable[[], httpx2.AsyncClient]) -> None:
        self._factory = factory
        self._token: object = None
        self._client: httpx2.AsyncClient | None = None

    def get(self) -> httpx2.AsyncClient:
        token = anyio.lowlevel.current_token().native_token
        if self._client is None or self._token is not token or self._client.is_closed:
            self._client = self._factory()
            self._token = token
        return self._client

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is None or client.is_closed:
            return
        try:
            same_loop = anyio.lowlevel.current_token().native_token is self._token
        except RuntimeError:
            same_loop = False
        if same_loop:
            await client.aclose()
