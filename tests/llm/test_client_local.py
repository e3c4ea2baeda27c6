"""Local OpenAI-compatible servers (llama.cpp, llama-cpp-python, vLLM, SGLang, Ollama): empty
failed streams, the window the server serves, tool_choice.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from typing import Any, ClassVar

import orjson
import pytest

from agentkit.llm.client import OpenAICompatibleModel, RetryPolicy
from agentkit.llm.errors import ContextLengthExceeded, ModelError
from agentkit.llm.profiles import PROFILES
from agentkit.llm.types import ModelRequest
from agentkit.testing import Recorded, ReplayServer
from agentkit.testing._http import LoopbackServer

pytestmark = pytest.mark.anyio
RETRY = RetryPolicy(initial_backoff=0.001, max_backoff=0.01, max_attempts=8)
Q = [{"role": "user", "content": "question"}]
TOOLS = [{"type": "function", "function": {"name": "t", "parameters": {"type": "object", "properties": {}}}}]

EMPTY_STREAM = Recorded(status=200, body=b"", content_type="text/event-stream")
# llama.cpp server's overflow answer (type exceed_context_size_error, with n_prompt_tokens / n_ctx).
LLAMACPP_OVERFLOW = Recorded(
    status=400,
    body=orjson.dumps(
        {
            "error": {
                "code": 400,
                "message": "request (4476 tokens) exceeds the available context size (4096 tokens), try increasing it",
                "type": "exceed_context_size_error",
                "n_prompt_tokens": 4476,
                "n_ctx": 4096,
            }
        }
    ),
)
PLAIN_ANSWER = Recorded(
    status=200,
    body=orjson.dumps(
        {
            "model": "qwen3-8b",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"}, "finish_reason": "stop"}],
        }
    ),
)


def client(url: str, provider: str = "custom", **kw: Any) -> OpenAICompatibleModel:
    kw.setdefault("retry", RETRY)
    return OpenAICompatibleModel("qwen3-8b", provider, base_url=url, **kw)


# A 200 stream with no event at all.


async def test_an_empty_stream_asks_once_without_streaming_and_reports_the_overflow() -> None:
    with ReplayServer([EMPTY_STREAM, LLAMACPP_OVERFLOW]) as server:
        llm = client(server.base_url)
        with pytest.raises(ContextLengthExceeded) as info:
            await llm.complete(ModelRequest(messages=Q))
        await llm.aclose()
    assert (info.value.limit, info.value.requested) == (4096, 4476)
    assert server.served == 2
    first, second = server.requests
    assert first["stream"] is True and "stream" not in second and "stream_options" not in second
    assert second["messages"] == first["messages"]


async def test_an_empty_stream_then_a_plain_answer_is_the_turn() -> None:
    with ReplayServer([EMPTY_STREAM, PLAIN_ANSWER]) as server:
        llm = client(server.base_url)
        turn = await llm.complete(ModelRequest(messages=Q))
        await llm.aclose()
    assert turn.content == "hello" and turn.attempts == 1 and server.served == 2


async def test_a_server_silent_both_ways_fails_at_once_instead_of_burning_the_retry_budget() -> None:
    silent = Recorded(status=200, body=b"")
    with ReplayServer([EMPTY_STREAM, silent, EMPTY_STREAM, silent]) as server:
        llm = client(server.base_url)
        with pytest.raises(ModelError, match="empty stream") as info:
            await llm.complete(ModelRequest(messages=Q))
        await llm.aclose()
    assert server.served == 2 and info.value.attempts == 1


async def test_a_stream_that_broke_after_some_events_is_still_retried() -> None:
    partial = Recorded(
        status=200,
        body=b'data: {"choices":[{"index":0,"delta":{"content":"hel"},"finish_reason":null}]}\n\n',
        content_type="text/event-stream",
    )
    done = Recorded(
        status=200,
        body=b'data: {"choices":[{"index":0,"delta":{"content":"hello"},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n',
        content_type="text/event-stream",
    )
    with ReplayServer([partial, done]) as server:
        llm = client(server.base_url)
        turn = await llm.complete(ModelRequest(messages=Q))
        await llm.aclose()
    assert turn.content == "hello" and turn.attempts == 2
    assert all(r.get("stream") is True for r in server.requests)


# The window a server serves.


class _Static(BaseHTTPRequestHandler):
    routes: ClassVar[dict[str, bytes]] = {}
    hits: ClassVar[list[str]] = []

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self.hits.append(self.path)
        body = self.routes.get(self.path.rstrip("/"))
        self.send_response(200 if body is not None else 404)
        data = body if body is not None else b'{"error":{"message":"not found"}}'
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@contextmanager
def serving(routes: dict[str, Any]) -> Iterator[tuple[str, list[str]]]:
    hits: list[str] = []
    handler = type("Handler", (_Static,), {"routes": {k: orjson.dumps(v) for k, v in routes.items()}, "hits": hits})
    server = LoopbackServer(handler, name="static-get")
    server.start()
    try:
        yield f"http://127.0.0.1:{server.port}/v1", hits
    finally:
        server.stop()


VLLM_MODELS = {  # vllm/entrypoints/openai/protocol.py ModelCard
    "object": "list",
    "data": [
        {
            "id": "qwen3-8b",
            "object": "model",
            "created": 1760000000,
            "owned_by": "vllm",
            "root": "Qwen/Qwen3-8B",
            "parent": None,
            "max_model_len": 32768,
            "permission": [{"id": "modelperm-1", "object": "model_permission", "allow_sampling": True}],
        }
    ],
}
LLAMACPP_MODELS = {  # llama-server GET /v1/models
    "object": "list",
    "data": [
        {
            "id": "/models/Qwen3-8B-Q4_K_M.gguf",
            "object": "model",
            "created": 1760000000,
            "owned_by": "llamacpp",
            "meta": {
                "vocab_type": 2,
                "n_vocab": 151936,
                "n_ctx_train": 40960,
                "n_embd": 4096,
                "n_params": 8190735360,
                "size": 5027783488,
            },
        }
    ],
}
LLAMACPP_PROPS = {"default_generation_settings": {"n_ctx": 8192, "params": {"n_predict": -1}}, "total_slots": 1}
OLLAMA_MODELS = {
    "object": "list",
    "data": [{"id": "qwen3:8b", "object": "model", "created": 1760000000, "owned_by": "library"}],
}


async def test_probe_reads_vllm_max_model_len() -> None:
    with serving({"/v1/models": VLLM_MODELS}) as (url, hits):
        llm = client(url, "vllm")
        assert await llm.probe_context_window() == 32768
        await llm.aclose()
    assert hits == ["/v1/models"]


async def test_probe_reads_the_window_llama_cpp_serves_not_the_trained_one() -> None:
    with serving({"/v1/models": LLAMACPP_MODELS, "/props": LLAMACPP_PROPS}) as (url, hits):
        llm = client(url)
        assert await llm.probe_context_window() == 8192
        await llm.aclose()
    assert hits == ["/v1/models", "/props"]
    with serving({"/v1/models": LLAMACPP_MODELS}) as (url, _):  # no /props: what the listing says
        llm = client(url)
        assert await llm.probe_context_window() == 40960
        await llm.aclose()


async def test_probe_is_none_when_the_server_does_not_say_or_does_not_answer() -> None:
    with serving({"/v1/models": OLLAMA_MODELS}) as (url, _):
        llm = client(url, "ollama")
        assert await llm.probe_context_window() is None
        await llm.aclose()
    with serving({}) as (url, _):  # 404
        llm = client(url)
        assert await llm.probe_context_window() is None
        await llm.aclose()
    with serving({"/v1/models": ["not", "a", "listing"]}) as (url, _):
        llm = client(url)
        assert await llm.probe_context_window() is None
        await llm.aclose()
    with serving({}) as (url, _):
        pass  # the port is closed now: connection refused
    llm = client(url)
    assert await llm.probe_context_window() is None
    await llm.aclose()


def test_local_profiles_probe_the_window_and_hosted_ones_do_not() -> None:
    assert {n for n, p in PROFILES.items() if p.probe_window} == {"vllm", "sglang", "ollama", "custom"}


# tool_choice.


def body(llm: OpenAICompatibleModel, **request: Any) -> dict[str, Any]:
    return llm.build_body(ModelRequest(messages=Q, tools=TOOLS, **request))


def test_the_configured_tool_choice_is_the_default_and_the_final_turn_still_says_none() -> None:
    llm = client("http://127.0.0.1:9/v1", tool_choice="auto")
    assert body(llm)["tool_choice"] == "auto"
    assert body(llm, tool_choice="none")["tool_choice"] == "none"
    assert "tool_choice" not in client("http://127.0.0.1:9/v1").build_body(ModelRequest(messages=Q, tools=TOOLS))


def test_extra_body_cannot_override_the_final_turns_tool_choice_none() -> None:
    llm = client("http://127.0.0.1:9/v1", extra_body={"tool_choice": "required", "top_k": 20})
    final = body(llm, tool_choice="none")
    assert final["tool_choice"] == "none" and final["top_k"] == 20
    assert body(llm)["tool_choice"] == "required"  # an ordinary turn keeps the user's option
    no_none = PROFILES["custom"].model_copy(update={"supports_tool_choice_none": False})
    strict = OpenAICompatibleModel(
        "m", no_none, base_url="http://127.0.0.1:9/v1", extra_body={"tool_choice": "required"}
    )
    assert "tool_choice" not in body(strict, tool_choice="none")
