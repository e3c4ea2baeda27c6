"""The model client's own wire (agentkit.llm._wire): hundreds of streams at once over one
client, every connection kept for the next wave, proxies from the environment honoured, the
SDK's httpx2 path wherever aiohttp cannot serve, a client usable from one event loop to the next."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler

import anyio
import anyio.lowlevel
import anyio.to_thread
import httpx2
import orjson
import pytest

from agentkit.llm._wire import AiohttpWire, SdkWire
from agentkit.llm.client import OpenAICompatibleModel
from agentkit.llm.types import ModelRequest
from agentkit.testing import FakeProvider
from agentkit.testing._http import LoopbackServer

WAVE = 300
Q = [{"role": "user", "content": "question"}]
ANSWER = (
    b"data: "
    + orjson.dumps({"model": "m", "choices": [{"index": 0, "delta": {"content": "ok"}, "finish_reason": "stop"}]})
    + b"\n\ndata: [DONE]\n\n"
)
NO_PROXY_ENV = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")


class Gate:
    """Holds every request in the server until ``size`` of them are in, then lets them through
    once :meth:`open` is called. Records the client ports (one per connection) and the paths."""

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


@contextmanager
def gated_server(gate: Gate) -> Iterator[int]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: a connection serves request after request

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            gate.arrive(self.client_address[1], self.path)
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Content-Length", str(len(ANSWER)))
            self.end_headers()
            self.wfile.write(ANSWER)

        def log_message(self, *args: object) -> None:
            pass

    server = LoopbackServer(Handler, name="gated")
    server.start()
    try:
        yield server.port
    finally:
        gate.opened.set()
        server.stop()


@pytest.fixture
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in NO_PROXY_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.mark.anyio
@pytest.mark.usefixtures("no_proxy")
async def test_300_streams_at_once_over_one_client_keep_their_connections_for_the_next_wave() -> None:
    gate = Gate(WAVE)
    with anyio.fail_after(120), gated_server(gate) as port:  # a safety net: a client short of 300 waits forever
        llm = OpenAICompatibleModel("m", "custom", base_url=f"http://127.0.0.1:{port}/v1")
        assert isinstance(llm._wire, AiohttpWire)
        try:
            answers: list[str] = []

            async def one() -> None:
                answers.append((await llm.complete(ModelRequest(messages=Q))).content)

            for _ in range(2):
                gate.reset()
                answers.clear()

                async with anyio.create_task_group() as tg:
                    for _ in range(WAVE):
                        tg.start_soon(one)
                    await anyio.to_thread.run_sync(gate.all_in.wait)  # all 300 held in the server at once
                    gate.opened.set()
                assert answers == ["ok"] * WAVE
                assert len(gate.ports) == WAVE  # the second wave opened no connection: all 300 were kept
        finally:
            await llm.aclose()
    assert set(gate.paths) == {"/v1/chat/completions"}


@pytest.mark.anyio
async def test_a_proxy_from_the_environment_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    gate = Gate(1)
    gate.opened.set()
    with gated_server(gate) as port:
        for name in ("NO_PROXY", "no_proxy", "http_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
        llm = OpenAICompatibleModel("m", "custom", base_url="http://provider.invalid/v1")
        try:
            assert isinstance(llm._wire, AiohttpWire)
            assert (await llm.complete(ModelRequest(messages=Q))).content == "ok"
        finally:
            await llm.aclose()
    assert gate.paths == ["http://provider.invalid/v1/chat/completions"]  # the proxy's request line


@pytest.mark.anyio
async def test_the_sdk_carries_the_calls_when_given_an_http_client_or_when_only_httpx2_knows_the_proxy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in NO_PROXY_ENV:
        monkeypatch.delenv(name, raising=False)
    own = httpx2.AsyncClient()
    given = OpenAICompatibleModel("m", "custom", base_url="http://127.0.0.1:9/v1", http_client=own)
    assert isinstance(given._wire, SdkWire) and given._client._client is own
    await given.aclose()
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9")  # aiohttp ignores ALL_PROXY; httpx2 honours it
    proxied = OpenAICompatibleModel("m", "custom", base_url="http://127.0.0.1:9/v1")
    assert isinstance(proxied._wire, SdkWire)
    await proxied.aclose()


@pytest.mark.usefixtures("no_proxy")
def test_one_client_serves_one_event_loop_after_another() -> None:
    """A session belongs to the loop it was made in: the next loop gets its own, and the old
    one's connections are let go without complaint."""
    gate = Gate(1)
    gate.opened.set()
    with gated_server(gate) as port:
        llm = OpenAICompatibleModel("m", "custom", base_url=f"http://127.0.0.1:{port}/v1")

        async def ask() -> str:
            return (await llm.complete(ModelRequest(messages=Q))).content

        assert anyio.run(ask) == "ok"
        assert anyio.run(ask) == "ok"
        anyio.run(llm.aclose)
    assert len(gate.paths) == 2


@pytest.mark.anyio
@pytest.mark.usefixtures("no_proxy")
async def test_a_client_dropped_unclosed_after_its_loop_ended_leaves_no_failing_task() -> None:
    """A client asked for the model listing in one loop (a thread's), then dropped unclosed
    while another loop runs: nothing of it may start work on the new loop for connections that
    belong to the old one (the SDK's own httpx2 client did, and the task failed)."""
    import gc

    with FakeProvider([]) as fake:
        llm: OpenAICompatibleModel | None = OpenAICompatibleModel("m", "custom", base_url=fake.base_url)

        def probe() -> None:
            assert llm is not None
            anyio.run(llm.probe_context_window)

        await anyio.to_thread.run_sync(probe)
        llm = None
        gc.collect()
        await anyio.lowlevel.checkpoint()  # a task started by a finalizer would run (and fail) here
