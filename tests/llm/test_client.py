"""The model client against the fake provider over real HTTP (openai SDK, loopback)."""

from __future__ import annotations

import pytest

from agentkit.llm.client import ConfigurationError, OpenAICompatibleModel, RetryPolicy
from agentkit.llm.errors import AuthenticationFailed, ContextLengthExceeded, ModelError, ModelRetriesExhausted
from agentkit.llm.profiles import PROFILES, Prices
from agentkit.llm.types import ModelRequest, StreamDelta
from agentkit.testing import (
    DropStream,
    FakeProvider,
    HttpError,
    RateLimited,
    ServerError,
    TruncateStream,
    Turn,
    call,
)

pytestmark = pytest.mark.anyio
FAST = RetryPolicy(initial_backoff=0.001, max_backoff=0.01, max_attempts=4)
Q = [{"role": "user", "content": "question"}]


def client(fake: FakeProvider, **kw: object) -> OpenAICompatibleModel:
    kw.setdefault("retry", FAST)
    return OpenAICompatibleModel(provider="custom", base_url=fake.base_url, **kw)  # type: ignore[arg-type]


async def test_stream_assembles_reasoning_content_and_fragmented_tool_calls() -> None:
    turn = Turn(
        reasoning="r" * 300,
        content="c" * 150,
        tool_calls=[call("search", query="k2 " * 50), call("fetch", url="https://x.org", page=2)],
    )
    with FakeProvider([turn], chunk_chars=7) as fake:
        deltas: list[StreamDelta] = []
        m = client(fake)
        out = await m.complete(ModelRequest(messages=Q), on_delta=deltas.append)
        await m.aclose()
    assert out.reasoning == "r" * 300 and out.content == "c" * 150
    assert [c.name for c in out.tool_calls] == ["search", "fetch"]
    assert out.tool_calls[0].parsed == {"query": "k2 " * 50}
    assert out.tool_calls[1].parsed == {"url": "https://x.org", "page": 2}
    assert [c.id for c in out.tool_calls] == ["search:0", "fetch:1"]
    assert out.finish_reason == "tool_calls"
    kinds = {d.kind for d in deltas}
    assert kinds == {"reasoning", "content", "tool_call"}
    assert "".join(d.text for d in deltas if d.kind == "reasoning") == "r" * 300


async def test_non_streaming_reads_the_same_turn() -> None:
    with FakeProvider([Turn(reasoning="why", content="x", tool_calls=[call("a", n=1)])]) as fake:
        m = client(fake, stream=False)
        out = await m.complete(ModelRequest(messages=Q))
        await m.aclose()
        assert fake.requests[0].body.get("stream") is None
    assert (out.reasoning, out.content, out.tool_calls[0].parsed) == ("why", "x", {"n": 1})


@pytest.mark.parametrize(
    "fault", [RateLimited(0.01), ServerError(500), ServerError(503), DropStream(3), TruncateStream(2)]
)
async def test_each_fault_is_retried(fault: object) -> None:
    with FakeProvider([fault, Turn(content="ok")]) as fake:  # type: ignore[list-item]
        m = client(fake)
        out = await m.complete(ModelRequest(messages=Q))
        await m.aclose()
    assert out.content == "ok" and out.attempts == 2


async def test_a_broken_stream_tells_live_views_to_discard_its_partial_text() -> None:
    turn = Turn(reasoning="r" * 60, content="answer")
    with FakeProvider([DropStream(4), turn, ServerError(500), turn], chunk_chars=5) as fake:
        deltas: list[StreamDelta] = []
        m = client(fake)
        first = await m.complete(ModelRequest(messages=Q), on_delta=deltas.append)
        second_start = len(deltas)
        second = await m.complete(ModelRequest(messages=Q), on_delta=deltas.append)
        await m.aclose()
    assert first.attempts == 2 and second.attempts == 2
    restarts = [i for i, d in enumerate(deltas) if d.kind == "restart"]
    assert len(restarts) == 1 and deltas[restarts[0]].attempt == 2  # a 500 sent nothing: nothing to discard
    shown = "".join(d.text for d in deltas[restarts[0] + 1 : second_start] if d.kind == "reasoning")
    assert shown == "r" * 60  # what a view keeps after the restart is the turn, once
    assert "".join(d.text for d in deltas[: restarts[0]] if d.kind == "reasoning")  # the partial text it drops


async def test_retry_after_is_honoured() -> None:
    import time

    with FakeProvider([RateLimited(0.3), Turn(content="ok")]) as fake:
        m = client(fake)
        t0 = time.monotonic()
        await m.complete(ModelRequest(messages=Q))
        await m.aclose()
    assert time.monotonic() - t0 >= 0.29


async def test_gives_up_with_clear_error_after_budget() -> None:
    with FakeProvider([ServerError(502)] * 10) as fake:
        m = client(fake)
        with pytest.raises(ModelRetriesExhausted, match=r"after 4 attempt\(s\): HTTP 502"):
            await m.complete(ModelRequest(messages=Q))
        await m.aclose()
        assert fake.request_count == 4


async def test_non_retryable_errors_are_not_retried() -> None:
    with FakeProvider([HttpError(401, "Invalid Authentication")]) as fake:
        m = client(fake)
        with pytest.raises(AuthenticationFailed, match="rejected the API key"):
            await m.complete(ModelRequest(messages=Q))
        await m.aclose()
        assert fake.request_count == 1
    with FakeProvider([HttpError(400, "Your request exceeded model token limit (context length)")]) as fake:
        m = client(fake)
        with pytest.raises(ContextLengthExceeded):
            await m.complete(ModelRequest(messages=Q))
        await m.aclose()


async def test_missing_reasoning_on_tool_call_turn_is_rejected_like_moonshot() -> None:
    history = [
        *Q,
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"id": "a:0", "type": "function", "function": {"name": "a", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "a:0", "content": "x"},
    ]
    with FakeProvider([Turn(content="never")]) as fake:
        m = client(fake)
        with pytest.raises(ModelError, match="reasoning_content is missing"):
            await m.complete(ModelRequest(messages=history))
        history[1]["reasoning_content"] = "thought"
        del history[2]
        with pytest.raises(ModelError, match="must be followed by tool messages"):
            await m.complete(ModelRequest(messages=history))
        await m.aclose()


async def test_usage_and_cost_with_cache_hits() -> None:
    with FakeProvider([Turn(content="a"), Turn(content="b")]) as fake:
        prices = Prices(input_miss=1.0, input_hit=0.25, output=2.0)
        m = client(fake, prices=prices)
        first = await m.complete(ModelRequest(messages=Q))
        second = await m.complete(ModelRequest(messages=[*Q, {"role": "user", "content": "more"}]))
        await m.aclose()
    assert first.usage.cached_tokens == 0 and second.usage.cached_tokens > 0
    u = second.usage
    expected = ((u.prompt_tokens - u.cached_tokens) * 1.0 + u.cached_tokens * 0.25 + u.completion_tokens * 2.0) / 1e6
    assert second.cost_usd == pytest.approx(expected)


async def test_malformed_arguments_are_repaired_or_reported() -> None:
    turn = Turn(
        tool_calls=[
            call("ok", a=1),
        ],
        content="",
    )
    turn.tool_calls.append(type(turn.tool_calls[0])(name="fixable", arguments='{"a": 1,}'))
    turn.tool_calls.append(type(turn.tool_calls[0])(name="broken", arguments='{"code": "print(1'))
    with FakeProvider([turn]) as fake:
        m = client(fake)
        out = await m.complete(ModelRequest(messages=Q))
        await m.aclose()
    ok, fixable, broken = out.tool_calls
    assert ok.parsed == {"a": 1} and not ok.repaired
    assert fixable.parsed == {"a": 1} and fixable.repaired
    assert broken.parsed is None and "not valid JSON" in (broken.parse_error or "")


async def test_kimi_id_style_rewrites_ids() -> None:
    with FakeProvider([Turn(tool_calls=[call("search", q="x"), call("fetch", url="u")])]) as fake:
        m = OpenAICompatibleModel(provider="vllm", base_url=fake.base_url, retry=FAST)
        out = await m.complete(ModelRequest(messages=Q, tool_call_index=5))
        await m.aclose()
    assert [c.id for c in out.tool_calls] == ["functions.search:5", "functions.fetch:6"]


async def test_request_body_follows_profile() -> None:
    with FakeProvider([Turn(content="x")]) as fake:
        m = OpenAICompatibleModel(
            "kimi-k2-thinking", provider="moonshot", base_url=fake.base_url, api_key="sk-test", retry=FAST
        )
        await m.complete(
            ModelRequest(
                messages=Q,
                temperature=1.7,
                tools=[
                    {"type": "function", "function": {"name": "t", "parameters": {"type": "object", "properties": {}}}}
                ],
                tool_choice="none",
            )
        )
        await m.aclose()
        body = fake.requests[0].body
    assert body["model"] == "kimi-k2-thinking"
    assert body["temperature"] == 1.0  # clamped into Moonshot's 0-1 range
    assert body["max_tokens"] >= 16_000 and body["stream"] is True
    assert body["tool_choice"] == "none"


def test_profiles_cover_the_providers_and_missing_keys_are_clear(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [
        "moonshot",
        "openrouter",
        "together",
        "chutes",
        "cometapi",
        "openai",
        "vllm",
        "sglang",
        "ollama",
        "custom",
    ]:
        assert name in PROFILES
    assert PROFILES["moonshot"].context_window == 262_144
    assert PROFILES["openrouter"].resolve_model("kimi-k2-thinking") == "moonshotai/kimi-k2-thinking"
    monkeypatch.delenv("MOONSHOT_API_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="MOONSHOT_API_KEY"):
        OpenAICompatibleModel(provider="moonshot")
    with pytest.raises(ConfigurationError, match="base_url"):
        OpenAICompatibleModel(provider="custom")
    with pytest.raises(KeyError, match="known providers"):
        OpenAICompatibleModel(provider="nope")
