"""How a chat-completions request travels: over aiohttp, or through the openai SDK's client.

A model call is the hot path of a run: one per step, hundreds of steps, hundreds of
sub-agents at once. The SDK's ``client.post`` costs about 2.5 ms of CPU per streamed request
here (building its request options and URL, headers, httpx2's client layers, httpcore2's
pool and h11's pure-Python parser), against 0.8 ms for the same 172 KB over aiohttp (its HTTP
parser is llhttp, in C); measured by ``tools/bench/wire.py``. So the client posts over aiohttp
(:class:`AiohttpWire`, the transport the SDK itself offers as ``DefaultAioHttpClient``) unless
the caller gave it an ``httpx2`` client, which is then used as given through the SDK
(:class:`SdkWire`): a test's transport, a proxy setup of the caller's own.

Both wires speak the SDK's exceptions, so :mod:`agentkit.llm._failures` classifies every
failure the same way whichever carried it: an HTTP error status comes out of the SDK's own
status mapping (``APIStatusError`` subclasses with the parsed body), a failure to connect or a
lost connection as ``APIConnectionError`` (the socket's error in its causes), a timeout as
``APITimeoutError``, an ``error`` object inside a 200 stream as ``APIError`` with its body.
Events are decoded with the SDK's SSE decoder (any line ending, multi-line data, comments).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import ssl
import urllib.request
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol, cast

import aiohttp
import anyio
import httpx2
import openai
import orjson
import yarl
from openai import AsyncOpenAI, AsyncStream, DefaultAsyncHttpxClient
from openai._streaming import SSEDecoder

PATH = "/chat/completions"
MAX_CONNECTIONS = 1000
"""Connections open at once (the SDK's own default limit): a swarm of 300 streams at once."""
KEEPALIVE_S = 5.0
"""How long an idle connection is kept for the next request."""
CONNECT_TIMEOUT_S = 15.0
_DRAIN_S = 1.0
"""After ``[DONE]``, how long the rest of the body may take before the connection is dropped
instead of kept (HTTP/1.1 reuses a connection only once its body is read)."""
_MAX_ERROR_BODY = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class PlainAnswer:
    """A non-streamed answer with a success status."""

    status: int
    body: bytes


class Wire(Protocol):
    """Posts a request body to ``/chat/completions``."""

    def stream(self, payload: bytes, headers: Mapping[str, str]) -> AbstractAsyncContextManager[AsyncIterator[object]]:
        """The answer's events, each decoded from JSON, until ``[DONE]`` or the end."""
        ...

    async def post(self, payload: bytes, headers: Mapping[str, str]) -> PlainAnswer: ...

    async def aclose(self) -> None: ...


class SdkWire:
    """Through the SDK's ``client.post`` and the ``httpx2`` client it was given."""

    def __init__(self, client: AsyncOpenAI) -> None:
        self._client = client

    @asynccontextmanager
    async def stream(self, payload: bytes, headers: Mapping[str, str]) -> AsyncIterator[AsyncIterator[object]]:
        answer = await self._client.post(
            PATH,
            content=payload,
            cast_to=object,
            options={"headers": dict(headers)},
            stream=True,
            stream_cls=AsyncStream[object],
        )
        async with answer:
            yield answer.__aiter__()

    async def post(self, payload: bytes, headers: Mapping[str, str]) -> PlainAnswer:
        response: httpx2.Response = await self._client.post(
            PATH, content=payload, cast_to=httpx2.Response, options={"headers": dict(headers)}
        )
        return PlainAnswer(response.status_code, response.content)

    async def aclose(self) -> None:
        return None


class AiohttpWire:
    """Over one ``aiohttp`` session per event loop (made on first use: a session belongs to the
    loop it was made in), with the SDK client's URL, key and default headers. The proxy comes
    from the environment as for httpx2 (``HTTP(S)_PROXY``, ``NO_PROXY``, read when the client
    is made); :func:`fits` says when it cannot (a SOCKS proxy, ``ALL_PROXY``)."""

    def __init__(self, client: AsyncOpenAI, *, timeout: float) -> None:
        self._sdk = client
        base = client.base_url
        self._url = str(base.copy_with(raw_path=base.raw_path + PATH.lstrip("/").encode()))
        fixed = {k: v for k, v in client.default_headers.items() if isinstance(v, str)}
        self._headers = {**fixed, **client.auth_headers}
        self._timeout = aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT_S, sock_read=timeout)
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # The environment's proxy for this one URL, read once: aiohttp's ``trust_env`` would read
        # it (and ~/.netrc) in a worker thread on every request, most of the wire's CPU here.
        try:
            self._proxy: yarl.URL | None
            self._proxy, self._proxy_auth = aiohttp.helpers.get_env_proxy_for_url(yarl.URL(self._url))
        except LookupError:
            self._proxy, self._proxy_auth = None, None

    def _open(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is not None and self._loop is loop and not self._session.closed:
            return self._session
        self._drop()  # a session of an earlier loop cannot serve this one
        tls = _tls() if self._url.startswith("https:") else True  # no TLS context for plain HTTP
        connector = aiohttp.TCPConnector(limit=MAX_CONNECTIONS, keepalive_timeout=KEEPALIVE_S, ssl=tls)
        self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        self._loop = loop
        return self._session

    @contextlib.contextmanager
    def _as_sdk_errors(self) -> Iterator[None]:
        """aiohttp's failures as the SDK's: a timeout, or a connection that failed or was lost."""
        try:
            yield
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise openai.APITimeoutError(request=self._request()) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise openai.APIConnectionError(request=self._request()) from exc

    def _request(self) -> httpx2.Request:
        """The request as the SDK's exceptions describe it."""
        return httpx2.Request("POST", self._url)

    async def _respond(self, payload: bytes, headers: Mapping[str, str]) -> aiohttp.ClientResponse:
        with self._as_sdk_errors():
            response = await self._open().post(
                self._url,
                data=payload,
                headers={**self._headers, **headers},
                proxy=self._proxy,
                proxy_auth=self._proxy_auth,
            )
        if response.status >= 400:
            try:
                body = await self._read(response, _MAX_ERROR_BODY)
            finally:
                response.release()
            raise self._status_error(response, body)
        return response

    async def _read(self, response: aiohttp.ClientResponse, limit: int | None = None) -> bytes:
        """The body to its end, or its first ``limit`` bytes."""
        with self._as_sdk_errors():
            if limit is None:
                return await response.content.read()
            parts: list[bytes] = []
            size = 0
            while size < limit and (part := await response.content.read(limit - size)):
                parts.append(part)
                size += len(part)
            return b"".join(parts)

    def _status_error(self, response: aiohttp.ClientResponse, body: bytes) -> openai.APIStatusError:
        """The SDK's own exception for this status and body (its message, ``body``, headers)."""
        answer = httpx2.Response(
            response.status, headers=list(response.raw_headers), content=body, request=self._request()
        )
        return self._sdk._make_status_error_from_response(answer)

    @asynccontextmanager
    async def stream(self, payload: bytes, headers: Mapping[str, str]) -> AsyncIterator[AsyncIterator[object]]:
        response = await self._respond(payload, headers)
        events = self._events(response)
        kept = False
        try:
            yield events
            kept = response.content.at_eof()
        finally:
            await events.aclose()
            if kept:
                response.release()  # the connection serves the next request
            else:
                response.close()

    async def _events(self, response: aiohttp.ClientResponse) -> AsyncGenerator[object, None]:
        decoded = cast(AsyncGenerator[Any, None], SSEDecoder().aiter_bytes(response.content.iter_any()))
        try:
            with self._as_sdk_errors():
                async for event in decoded:
                    if event.data.startswith("[DONE]"):
                        if not response.content.at_eof():  # mostly it is: the body's end came with [DONE]
                            with anyio.move_on_after(_DRAIN_S):
                                while await response.content.readany():
                                    pass
                        return
                    data = json_loads(event.data)
                    if isinstance(data, dict) and data.get("error"):
                        error = data["error"]
                        message = error.get("message") if isinstance(error, dict) else None
                        raise openai.APIError(
                            message if isinstance(message, str) and message else "An error occurred during streaming",
                            self._request(),
                            body=error,
                        )
                    yield data
        finally:
            # closed here, not left to the loop's finalizer hook (a wake-up of the loop per request)
            await decoded.aclose()

    async def post(self, payload: bytes, headers: Mapping[str, str]) -> PlainAnswer:
        response = await self._respond(payload, headers)
        try:
            return PlainAnswer(response.status, await self._read(response))
        finally:
            response.release()

    def _drop(self) -> None:
        """Let the session go without awaiting (its loop may be gone): its connector is marked
        closed, and its connections closed while their loop still runs, so neither the
        session nor the connector reports being left open (a line on a CLI user's screen)."""
        session, self._session = self._session, None
        connector = session.connector if session is not None else None
        if connector is not None and not connector.closed:
            with contextlib.suppress(Exception):
                connector._close()  # the synchronous part of close(), which is a coroutine

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is None:
            return
        if self._loop is asyncio.get_running_loop():
            await session.close()
        else:
            self._session = session
            self._drop()

    def __del__(self) -> None:
        self._drop()


@functools.cache
def _tls() -> ssl.SSLContext:
    """httpx2's TLS context (certifi's roots, ``SSL_CERT_FILE``/``SSL_CERT_DIR`` honoured), made
    once: loading the roots costs tens of milliseconds, and every client would repeat it."""
    return httpx2.create_ssl_context()


def sdk_http_client() -> httpx2.AsyncClient:
    """The ``httpx2`` client the SDK uses for what does not go over the wire (the model listing),
    made here rather than by the SDK: the SDK's own closes itself from ``__del__`` by starting a
    task on whatever loop is running then, which fails when its connections belong to a loop
    that has ended. Its TLS context is the one loaded once per process."""
    return DefaultAsyncHttpxClient(verify=_tls())


def json_loads(data: str | bytes) -> Any:
    """JSON from a provider: orjson, except for a lone surrogate escape (``"\\ud800"``, valid
    JSON that some engines emit, which orjson refuses): the standard decoder takes it, as the
    SDK's does (the trace replaces such characters when the turn is stored). Raises
    ``ValueError`` for what is not JSON."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


def fits(base_url: str) -> bool:
    """Whether aiohttp can reach ``base_url`` as httpx2 would: not through a proxy it does not
    speak (SOCKS) or read (``ALL_PROXY``, which httpx2 honours and aiohttp ignores)."""
    proxies = urllib.request.getproxies()
    if proxies.get("all"):
        return False
    scheme = base_url.split(":", 1)[0].lower()
    proxy = proxies.get(scheme)
    return proxy is None or proxy.lower().startswith(("http://", "https://"))


def wire_for(client: AsyncOpenAI, *, given_http_client: bool, timeout: float) -> Wire:
    """aiohttp unless the caller gave the client its own httpx2 client (or a proxy needs httpx2)."""
    if given_http_client or not fits(str(client.base_url)):
        return SdkWire(client)
    return AiohttpWire(client, timeout=timeout)
