"""The model client's HTTP connections: many small pools instead of one large one.

httpcore2's pool walks every connection it holds, and every queued request, each time a
request starts or a response is closed: O(connections) per request, so a swarm of hundreds
of sub-agents streaming at once spends a growing share of the client's CPU scanning the pool
(about a fifth of it at 300 streams, measured with py-spy). :class:`ShardedTransport` spreads
the requests over pools of at most :data:`SHARD_SIZE` connections, opened as the load grows:
each request goes to the first pool with a free place, so a scan covers one small pool. Up to
32 requests at once use one pool, as before.

Each shard is a stock ``httpx2.AsyncHTTPTransport`` (one SSL context shared by all), so
timeouts, errors and their mapping are httpx2's own, and :class:`PooledClient` keeps
httpx2's handling of proxies from the environment. Each pool keeps its idle connections as
long as ``keepalive_expiry`` allows; the SDK's cap of 100 idle connections in all is not
applied, since it closes 200 connections of a swarm of 300 after every wave of requests and
opens them again on the next.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from typing import Any

import httpx2
from openai import DEFAULT_CONNECTION_LIMITS, DefaultAsyncHttpxClient

SHARD_SIZE = 32
"""Connections per pool (and requests in flight on it)."""
MAX_CONNECTIONS = 1000
"""All pools together, unless the client's limits say otherwise (the openai SDK's default)."""
KEEPALIVE_EXPIRY_S = 5.0


class _Shard:
    __slots__ = ("in_flight", "transport")

    def __init__(self, transport: httpx2.AsyncHTTPTransport) -> None:
        self.transport = transport
        self.in_flight = 0


class _ReleasingStream(httpx2.AsyncByteStream):
    """A response body that gives its shard's place back when it is closed (once)."""

    def __init__(self, stream: httpx2.AsyncByteStream, shard: _Shard) -> None:
        self._stream = stream
        self._shard: _Shard | None = shard

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._stream.__aiter__()

    async def aclose(self) -> None:
        shard, self._shard = self._shard, None
        try:
            await self._stream.aclose()
        finally:
            if shard is not None:
                shard.in_flight -= 1


class ShardedTransport(httpx2.AsyncBaseTransport):
    """An ``httpx2`` transport over up to ``max_connections // shard_size`` connection pools
    of ``shard_size`` connections each; see the module docstring."""

    def __init__(
        self,
        *,
        verify: ssl.SSLContext | str | bool = True,
        cert: Any = None,
        trust_env: bool = True,
        http1: bool = True,
        http2: bool = False,
        max_connections: int = MAX_CONNECTIONS,
        shard_size: int = SHARD_SIZE,
        keepalive_expiry: float | None = KEEPALIVE_EXPIRY_S,
    ) -> None:
        self._ssl = (
            verify
            if isinstance(verify, ssl.SSLContext)
            else httpx2.create_ssl_context(verify=verify, cert=cert, trust_env=trust_env)
        )
        self._http1, self._http2 = http1, http2
        self._shard_size = max(1, min(shard_size, max_connections))
        self._max_shards = max(1, max_connections // self._shard_size)
        self._limits = httpx2.Limits(
            max_connections=self._shard_size,
            max_keepalive_connections=self._shard_size,
            keepalive_expiry=keepalive_expiry,
        )
        self._shards: list[_Shard] = []

    @property
    def shards(self) -> int:
        """How many pools are open (they open as the requests in flight grow)."""
        return len(self._shards)

    @property
    def in_flight(self) -> list[int]:
        """Requests in flight in each pool (a request's place is given back when its
        response is closed, or when it fails or is cancelled before one)."""
        return [shard.in_flight for shard in self._shards]

    def _pick(self) -> _Shard:
        """The first pool with a free place, else a new pool, else the least busy one. Filling
        pools in order keeps the load where the connections are: a wave of requests like the
        last one finds each pool's connections idle, and a narrower one leaves the last pools
        to expire."""
        for shard in self._shards:
            if shard.in_flight < self._shard_size:
                return shard
        if len(self._shards) < self._max_shards:
            transport = httpx2.AsyncHTTPTransport(
                verify=self._ssl, http1=self._http1, http2=self._http2, limits=self._limits
            )
            self._shards.append(_Shard(transport))
            return self._shards[-1]
        return min(self._shards, key=lambda shard: shard.in_flight)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        shard = self._pick()
        shard.in_flight += 1
        try:
            response = await shard.transport.handle_async_request(request)
        except BaseException:
            shard.in_flight -= 1
            raise
        assert isinstance(response.stream, httpx2.AsyncByteStream)
        return httpx2.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_ReleasingStream(response.stream, shard),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        shards, self._shards = self._shards, []
        for shard in shards:
            await shard.transport.aclose()


class PooledClient(DefaultAsyncHttpxClient):
    """The openai SDK's HTTP client (its defaults: timeout, limits, redirects) whose direct
    connections go through a :class:`ShardedTransport`; proxies (given or from the
    environment) keep httpx2's own transports."""

    def _init_transport(
        self,
        verify: ssl.SSLContext | str | bool = True,
        cert: Any = None,
        trust_env: bool = True,
        http1: bool = True,
        http2: bool = False,
        limits: httpx2.Limits = DEFAULT_CONNECTION_LIMITS,
        transport: httpx2.AsyncBaseTransport | None = None,
    ) -> httpx2.AsyncBaseTransport:
        if transport is not None:
            return transport
        return ShardedTransport(
            verify=verify,
            cert=cert,
            trust_env=trust_env,
            http1=http1,
            http2=http2,
            max_connections=limits.max_connections or MAX_CONNECTIONS,
            keepalive_expiry=limits.keepalive_expiry,
        )


def pooled_client() -> httpx2.AsyncClient:
    """The HTTP client a model client uses unless it is given one."""
    return PooledClient()
