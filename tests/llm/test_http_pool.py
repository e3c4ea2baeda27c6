"""The model client's HTTP connections: hundreds of streams at once spread over small pools
(so no pool scan covers them all), every connection kept for the next wave, places given
back on errors and cancellation, and proxies from the environment still honoured."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler

import anyio
import anyio.to_thread
import httpx2
import pytest

from agentkit.llm import _http_pool
from agentkit.llm._http_pool import SHARD_SIZE, PooledClient, ShardedTransport
from agentkit.llm.client import OpenAICompatibleModel
from agentkit.testing._http import LoopbackServer

pytestmark = pytest.mark.anyio

WAVE = 300
KEPT = httpx2.Limits(max_connections=1000, max_keepalive_connections=100, keepalive_expiry=None)
"""The SDK's default limits, except that no idle connection expires while a slow machine runs a
wave: its cap of 100 idle connections in all would close 200 of 300 after every wave."""


class Gate:
    """Holds every request in the server until ``size`` of them are in, then lets each through
    once :meth:`open` is called. Records the client ports (one per connection) and paths."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.lock = threading.Lock()
        self.waiting = 0
        self.all_in = threading.Event()
        self.opened = threading.Event()
        self.ports: set[int] = set()
        self.paths: list[str] = []

    def arrive(self, port: int, path: str) -> None:
        with self.lock:
            self.ports.add(port)
            self.paths.append(path)
            self.waiting += 1
            if self.waiting == self.size:
                self.all_in.set()
        self.opened.wait()

    def reset(self) -> None:
        with self.lock:
            self.waiting = 0
            self.all_in.clear()
            self.opened.clear()

    def open(self) -> None:
        self.opened.set()


@contextmanager
def gated_server(gate: Gate) -> Iterator[int]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: a connection serves request after request

        def do_GET(self) -> None:
            gate.arrive(self.client_address[1], self.path)
            body = b"ok"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = LoopbackServer(Handler, name="gated")
    server.start()
    try:
        yield server.port
    finally:
        gate.open()
        server.stop()


async def wave(client: httpx2.AsyncClient, url: str, gate: Gate, check: object = None) -> None:
    """``WAVE`` requests at once; ``check`` runs while all of them are held in the server."""
    gate.reset()

    async def one() -> None:
        response = await client.get(url)
        assert response.text == "ok"

    async with anyio.create_task_group() as tg:
        for _ in range(WAVE):
            tg.start_soon(one)
        await anyio.to_thread.run_sync(gate.all_in.wait)
        if callable(check):
            check()
        gate.open()


def transport_of(client: httpx2.AsyncClient) -> ShardedTransport:
    transport = client._transport  # the client's own transport (no proxy in these tests)
    assert isinstance(transport, ShardedTransport)
    return transport


async def test_300_streams_at_once_spread_over_small_pools_and_keep_their_connections(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    gate = Gate(WAVE)
    with anyio.fail_after(120), gated_server(gate) as port:  # a safety net: a pool short of 300 waits forever
        async with PooledClient(limits=KEPT) as client:
            transport = transport_of(client)

            def spread() -> None:
                loads = transport.in_flight
                assert sum(loads) == WAVE and max(loads) <= SHARD_SIZE  # no pool holds more than 32
                assert len(loads) == -(-WAVE // SHARD_SIZE)

            await wave(client, f"http://127.0.0.1:{port}/a", gate, spread)
            assert len(gate.ports) == WAVE and transport.in_flight == [0] * transport.shards
            await wave(client, f"http://127.0.0.1:{port}/b", gate)
            assert len(gate.ports) == WAVE  # the second wave opened no connection: all 300 were kept


async def test_a_place_is_given_back_on_a_refused_connection_and_on_cancellation() -> None:
    with socket_that_refuses() as refused:
        async with PooledClient(trust_env=False) as client:
            transport = transport_of(client)
            with pytest.raises(httpx2.ConnectError):
                await client.get(f"http://127.0.0.1:{refused}/")
            assert transport.in_flight == [0]
            gate = Gate(1)
            with gated_server(gate) as port:
                with anyio.move_on_after(60) as scope:  # cancelled as soon as the server holds it
                    async with anyio.create_task_group() as tg:
                        tg.start_soon(client.get, f"http://127.0.0.1:{port}/held")
                        await anyio.to_thread.run_sync(gate.all_in.wait)
                        assert transport.in_flight == [1]
                        tg.cancel_scope.cancel()
                assert not scope.cancelled_caught
                assert transport.in_flight == [0]
                # a streamed body closed part-way gives its place back too
                gate.open()
                async with client.stream("GET", f"http://127.0.0.1:{port}/streamed") as response:
                    assert transport.in_flight == [1] and response.status_code == 200
                assert transport.in_flight == [0]


@contextmanager
def socket_that_refuses() -> Iterator[int]:
    """A port nothing listens on (bound, never listening: connecting is refused)."""
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


async def test_a_proxy_from_the_environment_is_still_used(monkeypatch: pytest.MonkeyPatch) -> None:
    gate = Gate(1)
    gate.open()
    with gated_server(gate) as port:
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
        for name in ("NO_PROXY", "no_proxy", "http_proxy"):
            monkeypatch.delenv(name, raising=False)
        async with PooledClient() as client:
            response = await client.get("http://provider.invalid/v1/models")
    assert response.text == "ok" and gate.paths == ["http://provider.invalid/v1/models"]  # the proxy's request line


async def test_the_model_client_uses_the_pooled_client_unless_given_one() -> None:
    llm = OpenAICompatibleModel(provider="custom", base_url="http://127.0.0.1:9/v1", api_key="k")
    assert isinstance(llm._client._client, _http_pool.PooledClient)
    await llm.aclose()
    own = httpx2.AsyncClient()
    llm = OpenAICompatibleModel(provider="custom", base_url="http://127.0.0.1:9/v1", api_key="k", http_client=own)
    assert llm._client._client is own
    await llm.aclose()
