"""The fake provider's own features: the verbatim-reasoning check, empty streams, streams
without usage, the model listing, prompt shutdown. Driven over real HTTP (and the real client
where the feature is about what the client sees)."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

from agentkit.llm.client import OpenAICompatibleModel, RetryPolicy
from agentkit.llm.errors import ContextLengthExceeded, ModelError
from agentkit.llm.types import ModelRequest
from agentkit.testing import EmptyStream, FakeProvider, HttpError, StreamError, Turn, call
from agentkit.testing._wire import overflow_body

FAST = RetryPolicy(initial_backoff=0.001, max_backoff=0.01, max_attempts=3)
Q = [{"role": "user", "content": "q"}]


def post(fake: FakeProvider, body: dict[str, Any]) -> httpx2.Response:
    with httpx2.Client(timeout=30) as http:
        return http.post(fake.base_url + "/chat/completions", json=body)


def tool_turn(call_id: str, reasoning: str) -> dict[str, Any]:
    fn = {"name": "lookup", "arguments": "{}"}
    return {
        "role": "assistant",
        "content": "",
        "reasoning_content": reasoning,
        "tool_calls": [{"id": call_id, "type": "function", "function": fn}],
    }


def answered(call_id: str) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call_id, "content": "found"}


def test_the_latest_tool_call_turn_must_carry_back_its_reasoning_verbatim() -> None:
    script = [
        Turn(reasoning="first thought", tool_calls=[call("lookup")]),
        Turn(reasoning="second thought", tool_calls=[call("lookup")]),
        Turn(content="done"),
        Turn(content="done"),
    ]
    with FakeProvider(script) as fake:
        assert post(fake, {"messages": Q}).status_code == 200  # lookup:0, "first thought"
        history = [*Q, tool_turn("lookup:0", "first thought"), answered("lookup:0")]
        assert post(fake, {"messages": history}).status_code == 200  # lookup:1, "second thought"
        # The older turn elided to a placeholder is fine; the latest one must be verbatim.
        elided = [*Q, tool_turn("lookup:0", "(elided)"), answered("lookup:0")]
        changed = [*elided, tool_turn("lookup:1", "second thought, summarised"), answered("lookup:1")]
        refused = post(fake, {"messages": changed})
        assert refused.status_code == 400
        assert "latest assistant tool call message (index 3)" in refused.json()["error"]["message"]
        kept = [*elided, tool_turn("lookup:1", "second thought"), answered("lookup:1")]
        assert post(fake, {"messages": kept}).status_code == 200
        emptied = [*elided, tool_turn("lookup:1", ""), answered("lookup:1")]
        missing = post(fake, {"messages": emptied}).json()["error"]["message"]
        assert (
            missing == "thinking is enabled but reasoning_content is missing in assistant tool call message at index 3"
        )
    with FakeProvider([Turn(content="x")], check_reasoning=False) as lenient:
        lenient.produced_reasoning["lookup:1"] = "second thought"
        assert post(lenient, {"messages": changed}).status_code == 200


def test_an_empty_stream_then_the_servers_real_error_without_streaming() -> None:
    window_error = HttpError(400, body=overflow_body("llamacpp", 4096, 5000, 0))
    with FakeProvider([EmptyStream(then=window_error), Turn(content="ok")]) as fake:
        empty = post(fake, {"messages": Q, "stream": True})
        assert (empty.status_code, empty.content) == (200, b"")
        assert empty.headers["content-type"] == "text/event-stream"
        plain = post(fake, {"messages": Q})
        assert plain.status_code == 400 and plain.json()["error"]["type"] == "exceed_context_size_error"
        assert post(fake, {"messages": Q}).json()["choices"][0]["message"]["content"] == "ok"


@pytest.mark.anyio
async def test_the_client_falls_back_from_an_empty_stream_to_the_real_error() -> None:
    window_error = HttpError(400, body=overflow_body("llamacpp", 4096, 5000, 0))
    with FakeProvider([EmptyStream(then=window_error)]) as fake:
        client = OpenAICompatibleModel(provider="custom", base_url=fake.base_url, retry=FAST)
        with pytest.raises(ContextLengthExceeded) as info:
            await client.complete(ModelRequest(messages=Q))
        await client.aclose()
        assert [r.body.get("stream") for r in fake.requests] == [True, None]
    assert (info.value.limit, info.value.requested) == (4096, 5000)


@pytest.mark.anyio
async def test_a_stream_error_reaches_the_client_as_a_model_error() -> None:
    with FakeProvider([StreamError(after_events=3), Turn(reasoning="r" * 50, content="partial answer")]) as fake:
        client = OpenAICompatibleModel(provider="custom", base_url=fake.base_url, retry=FAST)
        with pytest.raises(ModelError, match="Token limit reached"):
            await client.complete(ModelRequest(messages=Q))
        await client.aclose()


@pytest.mark.anyio
async def test_streams_without_usage_are_reported_as_unmeasured() -> None:
    with FakeProvider([Turn(content="ok")], send_usage=False) as fake:
        raw = post(fake, {"messages": Q, "stream": True}).content
        assert b'"usage"' not in raw and raw.rstrip().endswith(b"data: [DONE]")
    with FakeProvider([Turn(content="ok")], send_usage=False) as fake:
        client = OpenAICompatibleModel(provider="custom", base_url=fake.base_url, retry=FAST)
        turn = await client.complete(ModelRequest(messages=Q))
        await client.aclose()
    assert turn.content == "ok" and not turn.usage_reported


def test_the_model_listing_says_the_window_like_vllm() -> None:
    with FakeProvider([], model="served/model", models_window=32_768) as fake, httpx2.Client() as http:
        listing = http.get(fake.base_url + "/models").json()
    [entry] = listing["data"]
    assert listing["object"] == "list"
    assert (entry["id"], entry["owned_by"], entry["max_model_len"]) == ("served/model", "vllm", 32_768)
    with FakeProvider([]) as fake, httpx2.Client() as http:
        assert http.get(fake.base_url + "/models").status_code == 404


def test_stop_closes_the_port_and_ends_the_server_thread() -> None:
    fake = FakeProvider([Turn(content="ok")]).start()
    url = fake.base_url
    server = fake._server
    assert server is not None
    assert post(fake, {"messages": Q}).status_code == 200
    fake.stop()
    assert not server._thread.is_alive()
    with httpx2.Client() as http, pytest.raises(httpx2.ConnectError):
        http.post(url + "/chat/completions", json={"messages": Q})


def test_the_prefix_cache_keeps_every_prefix_it_served() -> None:
    # A service's automatic prefix cache does not forget the run's prefix because another
    # request (a summary call) came in between.
    run = [{"role": "system", "content": "agent " * 300}, {"role": "user", "content": "task " * 300}]
    other = [{"role": "system", "content": "summarise " * 300}, {"role": "user", "content": "transcript"}]
    more = [*run, {"role": "assistant", "content": "an answer"}, {"role": "user", "content": "go on"}]
    with FakeProvider([Turn(content="a"), Turn(content="b"), Turn(content="c")], strict=False) as fake:
        for messages in (run, other, more):
            assert post(fake, {"model": "kimi-k3", "messages": messages}).status_code == 200
    assert fake.cached_tokens[0] == 0 and fake.cached_tokens[1] < fake.prompt_tokens[1] // 10
    assert fake.cached_tokens[2] >= fake.prompt_tokens[0] - 2  # the run's prefix, still cached


def test_without_preserved_thinking_earlier_reasoning_is_neither_counted_nor_cached() -> None:
    history = [{"role": "user", "content": "task"}, tool_turn("c1", "think " * 400), answered("c1")]
    asked = [*history, {"role": "user", "content": "your reply was empty; answer"}]
    thinking = {"type": "enabled"}
    with FakeProvider([Turn(content="a")] * 4, strict=False) as fake:
        for keep in (None, "all"):
            body = {"model": "kimi-k2.6", "thinking": {**thinking, **({"keep": keep} if keep else {})}}
            post(fake, {**body, "messages": history})
            post(fake, {**body, "messages": asked})
    plain_before, plain_after, kept_before, kept_after = fake.prompt_tokens
    assert plain_after < plain_before  # the new user message made the reasoning history: not read
    assert kept_after > kept_before  # keep "all": it stays context
