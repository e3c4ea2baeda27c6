"""Real provider responses (tests/fixtures/recorded/) replayed through the real client.

Each recording is served byte for byte by a loopback ReplayServer; the openai SDK reads it
over real HTTP. Expected values are read from the recordings themselves or written out from
them, never from agentkit's fake.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from agentkit import Agent, tool
from agentkit.llm.client import OpenAICompatibleModel, RetryPolicy
from agentkit.llm.errors import ContextLengthExceeded, ModelError, ModelRetriesExhausted
from agentkit.llm.types import AssistantTurn, ModelRequest
from agentkit.testing import Recorded, ReplayServer

pytestmark = pytest.mark.anyio
RECORDED = Path(__file__).parents[1] / "fixtures" / "recorded"
FAST = RetryPolicy(initial_backoff=0.01, max_backoff=0.02, max_attempts=3)
Q = [{"role": "user", "content": "question"}]


def rec(name: str) -> Recorded:
    return Recorded.load(RECORDED / name)


def chunks(recording: Recorded) -> Iterator[dict[str, Any]]:
    """The JSON payloads of an SSE recording's ``data:`` lines (comments and [DONE] skipped)."""
    for line in recording.body.decode().splitlines():
        if line.startswith("data: ") and line != "data: [DONE]":
            yield json.loads(line[len("data: ") :])


def deltas(recording: Recorded, key: str) -> str:
    return "".join(
        c["choices"][0]["delta"].get(key) or ""
        for c in chunks(recording)
        if c.get("choices") and "delta" in c["choices"][0]
    )


async def complete(
    recordings: list[Recorded], *, stream: bool = True, model: str = "kimi-k2-thinking"
) -> tuple[AssistantTurn, ReplayServer]:
    with ReplayServer(recordings) as server:
        client = OpenAICompatibleModel(
            model, "custom", base_url=server.base_url, api_key="test", stream=stream, retry=FAST
        )
        try:
            return await client.complete(ModelRequest(messages=Q)), server
        finally:
            await client.aclose()


async def fail(recordings: list[Recorded], *, stream: bool = True) -> tuple[ModelError, ReplayServer]:
    with ReplayServer(recordings) as server:
        client = OpenAICompatibleModel(
            "kimi-k2-thinking", "custom", base_url=server.base_url, api_key="test", stream=stream, retry=FAST
        )
        try:
            with pytest.raises(ModelError) as info:
                await client.complete(ModelRequest(messages=Q))
        finally:
            await client.aclose()
    return info.value, server


def all_recordings() -> list[Path]:
    return sorted(RECORDED.glob("*/*.meta.json"))


def test_the_recordings_are_many_varied_sourced_and_well_formed() -> None:
    paths = all_recordings()
    loaded = [Recorded.load(p) for p in paths]
    assert len(loaded) >= 15
    assert len({r.meta["provider"] for r in loaded}) >= 5
    for path, r in zip(paths, loaded, strict=True):
        # a public source, or a real server recorded here, whose README beside it says how
        here = r.source.startswith("recorded on loopback") and (path.parent / "README.md").exists()
        assert r.source and ("github.com/" in r.source or "://" in r.source or here), path
        if r.is_stream and r.meta["kind"] == "stream/empty_on_error":
            assert r.raw is not None and r.body == b"", path  # what the server sent: nothing, then the end
        elif r.is_stream:
            assert r.body.rstrip().endswith(b"data: [DONE]"), path
            assert list(chunks(r)), path
        else:
            assert isinstance(json.loads(r.body), dict), path
        assert r.status in (200, 400, 404, 429, 503), path


# Streams ---------------------------------------------------------------------------------


async def test_deepseek_reasoner_stream_gives_reasoning_content_answer_and_usage() -> None:
    recording = rec("deepseek/reasoner_thinking_stream.sse")
    turn, server = await complete([recording])
    assert turn.reasoning == deltas(recording, "reasoning_content") and turn.reasoning.startswith("Hmm")
    assert turn.content == deltas(recording, "content").strip() and turn.content.endswith("today?")
    assert turn.finish_reason == "stop" and turn.tool_calls == []
    assert (turn.usage.prompt_tokens, turn.usage.completion_tokens) == (6, 212)
    assert (turn.usage.cached_tokens, turn.usage.reasoning_tokens) == (0, 198)
    assert turn.usage_reported
    assert turn.model == "deepseek-reasoner"
    assert server.requests[0]["stream"] is True


async def test_openrouter_encrypted_reasoning_details_are_kept_verbatim() -> None:
    recording = rec("openrouter/o3_reasoning_encrypted_stream.sse")
    sent = [d for c in chunks(recording) for d in c["choices"][0]["delta"].get("reasoning_details") or []]
    assert [d["type"] for d in sent] == ["reasoning.encrypted"]
    turn, _ = await complete([recording])
    assert turn.reasoning_details == sent  # opaque: sent back exactly as received
    assert turn.content == deltas(recording, "content").strip()
    assert turn.finish_reason == "stop"
    assert (turn.usage.prompt_tokens, turn.usage.completion_tokens, turn.usage.cached_tokens) == (9, 104, 0)
    assert turn.model == "openai/o3"


async def test_openrouter_reasoning_text_fragments_merge_into_one_signed_block() -> None:
    recording = rec("openrouter/claude_reasoning_signature_stream.sse")
    fragments = [d for c in chunks(recording) for d in c["choices"][0]["delta"].get("reasoning_details") or []]
    signature = next(d["signature"] for d in fragments if d.get("signature"))
    turn, _ = await complete([recording])
    assert turn.reasoning == "This is a simple arithmetic question. 2+2 equals 4."
    assert turn.reasoning_details is not None and len(turn.reasoning_details) == 1
    block = turn.reasoning_details[0]
    assert (block["type"], block["text"], block["signature"]) == ("reasoning.text", turn.reasoning, signature)
    assert (block["format"], block["index"]) == ("anthropic-claude-v1", 0)
    assert turn.content == deltas(recording, "content").strip()
    assert turn.usage.reasoning_tokens == 13


async def test_an_error_chunk_inside_a_200_stream_is_a_model_error_with_the_upstream_reason() -> None:
    recording = rec("openrouter/stream_error_token_limit.sse")
    error_chunk = next(c for c in chunks(recording) if "error" in c)
    assert error_chunk["error"] == {"code": 400, "message": "Token limit reached"}
    err, server = await fail([recording])
    assert not isinstance(err, openai.OpenAIError)
    assert "Token limit reached" in str(err)
    assert server.served == 1  # an answer the provider cut at its limit is not asked for again


# Whole completions -------------------------------------------------------------------------


async def test_deepseek_tool_call_turn_keeps_ids_reasoning_cache_and_the_served_model() -> None:
    recording = rec("deepseek/dice_turn1_tool_call.json")
    turn, server = await complete([recording], stream=False, model="deepseek-reasoner")
    assert server.requests[0]["model"] == "deepseek-reasoner" and "stream" not in server.requests[0]
    assert turn.model == "deepseek-v4-flash"  # what was served, not what was asked for
    assert turn.reasoning.startswith("The user wants to play a dice game.")
    assert turn.content == "Let me load the dice rolling capability!"
    [call] = turn.tool_calls
    assert (call.id, call.name, call.parsed) == (
        "call_00_sXqYgMESDht75NCLLZtt9804",
        "load_capability",
        {"id": "DICE_ROLL"},
    )
    assert turn.finish_reason == "tool_calls"
    usage = turn.usage
    assert (usage.prompt_tokens, usage.cached_tokens, usage.completion_tokens, usage.reasoning_tokens) == (
        563,
        512,
        116,
        60,
    )


async def test_deepseek_parallel_tool_calls_keep_their_ids_and_order() -> None:
    turn, _ = await complete([rec("deepseek/dice_turn2_parallel_tool_calls.json")], stream=False)
    assert [(c.id, c.name, c.parsed) for c in turn.tool_calls] == [
        ("call_00_6edlnw3Z1MgeMfey687g8451", "get_player_name", {}),
        ("call_01_km02sac7sHxNDPATKLZy7705", "roll_dice", {}),
    ]
    assert (turn.usage.prompt_tokens, turn.usage.cached_tokens) == (875, 0)


async def test_ollama_reasoning_field_and_tool_call() -> None:
    turn, _ = await complete([rec("ollama/cloud_gpt_oss_tool_call.json")], stream=False)
    assert turn.reasoning.startswith("The conversation: user asked")
    [call] = turn.tool_calls
    assert (call.id, call.name, call.parsed) == (
        "call_o2vnpxrw",
        "final_result",
        {"city": "Paris", "country": "France"},
    )
    assert (turn.usage.prompt_tokens, turn.usage.completion_tokens) == (206, 194)
    assert turn.model == "gpt-oss:20b" and turn.finish_reason == "tool_calls"


async def test_ollama_answer_with_reasoning() -> None:
    recording = rec("ollama/cloud_gpt_oss_reasoning.json")
    message = json.loads(recording.body)["choices"][0]["message"]
    turn, _ = await complete([recording], stream=False)
    assert turn.reasoning == message["reasoning"] and turn.content == message["content"].strip()
    assert turn.tool_calls == [] and turn.finish_reason == "stop"


# Errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "limit", "requested"),
    [
        ("moonshot/context_overflow_400.json", 262_144, 269_030),
        ("vllm/context_length_400.json", 6048, 6616),
        ("sglang/context_length_400.json", 40_960, 61_709),
        ("llamacpp/exceed_context_400.json", 8192, 14_429),
    ],
)
async def test_context_overflow_answers_become_context_length_exceeded_with_the_numbers(
    name: str, limit: int, requested: int
) -> None:
    recording = rec(name)
    err, server = await fail([recording])
    assert isinstance(err, ContextLengthExceeded)
    assert (err.limit, err.requested, err.status) == (limit, requested, 400)
    body = json.loads(recording.body)
    upstream = body["error"]["message"] if "error" in body else body["message"]
    assert upstream in str(err)
    assert server.served == 1  # not retried


async def test_moonshot_missing_reasoning_is_a_plain_model_error_and_not_retried() -> None:
    err, server = await fail([rec("moonshot/missing_reasoning_400.json")])
    assert type(err) is ModelError and err.status == 400 and err.attempts == 1
    assert "thinking is enabled but reasoning_content is missing in assistant tool call message at index 2" in str(err)
    assert server.served == 1


RETRYABLE = {
    "moonshot/engine_overloaded_429.json": "The engine is currently overloaded",
    "moonshot/rate_limit_429.json": "request reached organization max RPM: 3",
    "openrouter/rate_limited_429.json": "is temporarily rate-limited upstream",
    "tinfoil/upstream_503.json": "Failed to connect to upstream service",
}


@pytest.mark.parametrize("name", sorted(RETRYABLE))
async def test_rate_limits_and_server_errors_are_retried(name: str) -> None:
    turn, server = await complete([rec(name), rec("deepseek/reasoner_thinking_stream.sse")])
    assert turn.attempts == 2 and turn.content.endswith("today?")
    assert server.served == 2


@pytest.mark.parametrize("name", sorted(RETRYABLE))
async def test_rate_limits_and_server_errors_exhaust_the_budget_with_the_upstream_reason(name: str) -> None:
    recording = rec(name)
    err, server = await fail([recording] * FAST.max_attempts)
    assert isinstance(err, ModelRetriesExhausted)
    assert err.attempts == FAST.max_attempts and err.status == recording.status
    assert RETRYABLE[name] in str(err)
    assert server.served == FAST.max_attempts


@pytest.mark.parametrize("name", ["moonshot/quota_429.json", "opencode_go/moonshot_quota_429_wrapped.json"])
async def test_an_exhausted_balance_says_so_at_once(name: str) -> None:
    err, server = await fail([rec(name)] * FAST.max_attempts)
    assert err.status == 429 and not isinstance(err, ModelRetriesExhausted)
    assert "insufficient balance" in str(err)
    assert server.served == 1  # waiting never refills an account: no retry


# An Agent run against a recorded multi-turn exchange ---------------------------------------


@tool
async def get_player_name() -> str:
    """Get the player's name."""
    return "Anne"


@tool
async def roll_dice() -> str:
    """Roll a six-sided die and return the result."""
    return "4"


async def test_agent_replays_a_recorded_tool_exchange_and_sends_reasoning_back_verbatim(tmp_path: Path) -> None:
    calls = rec("deepseek/dice_turn2_parallel_tool_calls.json")
    answer = rec("deepseek/dice_turn3_answer.json")
    with ReplayServer([calls, answer]) as server:
        llm = OpenAICompatibleModel("deepseek-reasoner", "custom", base_url=server.base_url, api_key="x", stream=False)
        agent = Agent(llm=llm, tools=[get_player_name, roll_dice], plan=False, workdir=tmp_path)
        result = await agent.run("You're a dice game: roll the die and tell me if it matches my guess. My guess is 4")
        await llm.aclose()
    recorded_message = json.loads(answer.body)["choices"][0]["message"]
    assert result.status == "finished" and result.answer == recorded_message["content"].strip()
    assert result.tool_calls == 2
    assert len(server.requests) == 2
    # What went back is what the provider accepted from pydantic-ai in the recorded exchange.
    accepted = answer.meta["request"]["messages"]
    accepted_turn = next(m for m in reversed(accepted) if m.get("tool_calls"))
    sent = server.requests[1]["messages"]
    sent_turn = next(m for m in reversed(sent) if m.get("tool_calls"))
    assert sent_turn["reasoning_content"] == accepted_turn["reasoning_content"]  # verbatim, same field name
    assert [(c["id"], c["function"]["name"], c["function"]["arguments"]) for c in sent_turn["tool_calls"]] == [
        (c["id"], c["function"]["name"], c["function"]["arguments"]) for c in accepted_turn["tool_calls"]
    ]
    answered = {m["tool_call_id"]: m["content"] for m in sent if m.get("role") == "tool"}
    assert set(answered) == {"call_00_6edlnw3Z1MgeMfey687g8451", "call_01_km02sac7sHxNDPATKLZy7705"}
    assert (
        "Anne" in answered["call_00_6edlnw3Z1MgeMfey687g8451"] and "4" in answered["call_01_km02sac7sHxNDPATKLZy7705"]
    )
    assert result.usage.prompt_tokens == 875 + 976 and result.usage.cached_tokens == 896
