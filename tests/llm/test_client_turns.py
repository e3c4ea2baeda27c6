"""What a turn keeps and what goes back: OpenRouter's reasoning_details, the served model and
its price, whether usage was reported, reasoning never invented, cut-off tool-call arguments.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from agentkit.context.messages import assistant_message
from agentkit.llm.client import OpenAICompatibleModel, RetryPolicy
from agentkit.llm.profiles import PROFILES, Prices
from agentkit.llm.types import AssistantTurn, ModelRequest, StreamDelta, ToolCall, Usage
from agentkit.store.events import AssistantMessage
from agentkit.testing import Recorded, ReplayServer

pytestmark = pytest.mark.anyio
FAST = RetryPolicy(initial_backoff=0.001, max_backoff=0.01, max_attempts=3)
Q = [{"role": "user", "content": "question"}]


def sse(*events: dict[str, Any]) -> Recorded:
    body = b"".join(b"data: " + orjson.dumps(e) + b"\n\n" for e in events)
    return Recorded(status=200, body=body + b"data: [DONE]\n\n", content_type="text/event-stream")


def chunk(
    delta: dict[str, Any], finish: str | None = None, model: str = "moonshotai/kimi-k2-thinking"
) -> dict[str, Any]:
    return {"model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


USAGE = {"prompt_tokens": 1000, "completion_tokens": 100, "total_tokens": 1100}


async def complete(
    responses: list[Recorded], provider: str = "custom", model: str = "kimi-k2-thinking", **kw: Any
) -> tuple[AssistantTurn, ReplayServer]:
    with ReplayServer(responses) as server:
        llm = OpenAICompatibleModel(model, provider, base_url=server.base_url, api_key="k", retry=FAST, **kw)
        try:
            return await llm.complete(ModelRequest(messages=Q)), server
        finally:
            await llm.aclose()


def event(turn: AssistantTurn) -> AssistantMessage:
    return AssistantMessage(step=1, turn=turn)


# reasoning_details (openrouter.ai/docs, "Reasoning Tokens": streamed as delta fragments that
# carry the block's index; signed text, encrypted data and summaries go back unmodified).

KIMI_VIA_OPENROUTER = [
    chunk({"role": "assistant", "content": "", "reasoning": "Look", "reasoning_details": [
        {"type": "reasoning.text", "text": "Look", "signature": None, "format": "unknown", "index": 0}]}),
    chunk({"content": "", "reasoning": " it up.", "reasoning_details": [
        {"type": "reasoning.text", "text": " it up.", "signature": None, "format": "unknown", "index": 0}]}),
    chunk({"content": "", "reasoning": None, "reasoning_details": [
        {"type": "reasoning.text", "text": "", "signature": "sig-abc", "format": "unknown", "index": 0}]}),
    chunk({"content": "", "reasoning_details": [
        {"type": "reasoning.encrypted", "data": "gAAAA", "id": "rs_1", "format": "openai-responses-v1", "index": 1}]}),
    chunk({"tool_calls": [{"index": 0, "id": "search:0", "type": "function",
                           "function": {"name": "search", "arguments": '{"q": "k2"}'}}]}),
    chunk({}, "tool_calls"),
    {"model": "moonshotai/kimi-k2-thinking", "choices": [], "usage": USAGE},
]  # fmt: skip


async def test_streamed_reasoning_details_are_assembled_per_block_and_sent_back_verbatim() -> None:
    answer = sse(chunk({"content": "done"}), chunk({}, "stop"))
    with ReplayServer([sse(*KIMI_VIA_OPENROUTER), answer]) as server:
        llm = OpenAICompatibleModel("kimi-k2-thinking", "openrouter", base_url=server.base_url, api_key="k", retry=FAST)
        deltas: list[StreamDelta] = []
        turn = await llm.complete(ModelRequest(messages=Q), on_delta=deltas.append)
        assert turn.reasoning == "Look it up."
        assert turn.reasoning_details == [
            {"type": "reasoning.text", "text": "Look it up.", "signature": "sig-abc", "format": "unknown", "index": 0},
            {"type": "reasoning.encrypted", "data": "gAAAA", "id": "rs_1", "format": "openai-responses-v1", "index": 1},
        ]
        assert "".join(d.text for d in deltas if d.kind == "reasoning") == "Look it up."
        history = [
            *Q,
            assistant_message(event(turn), llm.profile.reasoning_field),
            {"role": "tool", "tool_call_id": "search:0", "content": "found"},
        ]
        await llm.complete(ModelRequest(messages=history))
        await llm.aclose()
    sent = server.requests[1]["messages"][1]
    assert sent["reasoning_details"] == turn.reasoning_details
    assert sent["reasoning"] == "Look it up."


async def test_fragments_without_an_index_continue_the_text_block_and_blocks_can_come_whole() -> None:
    no_index = sse(
        chunk({"reasoning_details": [{"type": "reasoning.text", "text": "A"}]}),
        chunk({"reasoning_details": [{"type": "reasoning.text", "text": "B"}]}),
        chunk({"reasoning_details": [{"type": "reasoning.summary", "summary": "S", "index": 1}]}),
        chunk({"content": "x"}, "stop"),
    )
    turn, _ = await complete([no_index])
    assert turn.reasoning_details == [
        {"type": "reasoning.text", "text": "AB"},
        {"type": "reasoning.summary", "summary": "S", "index": 1},
    ]
    assert turn.reasoning == "ABS"  # no plain reasoning field: the blocks' text is the reasoning
    whole = {
        "model": "m",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {
                    "content": "x",
                    "reasoning": "r",
                    "reasoning_details": [{"type": "reasoning.text", "text": "r", "signature": "s", "index": 0}],
                },
            }
        ],
    }
    turn, _ = await complete([Recorded(status=200, body=orjson.dumps(whole))], stream=False)
    assert turn.reasoning_details == [{"type": "reasoning.text", "text": "r", "signature": "s", "index": 0}]


def test_an_elided_turn_sends_its_placeholder_and_not_its_blocks() -> None:
    turn = AssistantTurn(
        reasoning="long thought",
        reasoning_details=[{"type": "reasoning.text", "text": "long thought", "signature": "s"}],
        tool_calls=[ToolCall(id="a:0", name="a", arguments="{}")],
    )
    msg = assistant_message(event(turn), "reasoning", "(elided)")
    assert msg["reasoning"] == "(elided)" and "reasoning_details" not in msg
    assert assistant_message(event(turn), "reasoning")["reasoning_details"] == turn.reasoning_details


def test_a_tool_call_turn_without_reasoning_gets_no_invented_reasoning() -> None:
    turn = AssistantTurn(tool_calls=[ToolCall(id="a:0", name="a", arguments="{}")])
    msg = assistant_message(event(turn), "reasoning_content")
    assert msg["reasoning_content"] == ""  # the field Moonshot checks, empty: nothing made up
    assert assistant_message(event(turn), "reasoning_content", "(elided)")["reasoning_content"] == ""
    assert "reasoning_content" not in assistant_message(event(AssistantTurn(content="answer")), "reasoning_content")


# The served model and its price.


async def test_the_served_model_is_recorded_and_priced() -> None:
    served = "kimi-k2-thinking-turbo"
    stream = sse(chunk({"content": "x"}, "stop", model=served), {"model": served, "choices": [], "usage": USAGE})
    turn, server = await complete([stream], provider="moonshot")
    assert server.requests[0]["model"] == "kimi-k2-thinking"
    assert turn.model == served
    turbo = PROFILES["moonshot"].prices[served]
    assert turn.cost_usd == pytest.approx(turbo.cost(1000, 0, 100))
    assert turn.cost_usd != pytest.approx(PROFILES["moonshot"].prices["kimi-k2-thinking"].cost(1000, 0, 100))


async def test_a_served_model_without_a_listed_price_is_priced_as_requested() -> None:
    stream = sse(chunk({"content": "x"}, "stop", model="kimi-k2-thinking-20251106"), {"choices": [], "usage": USAGE})
    mine = Prices(input_miss=3.0, output=5.0)
    turn, _ = await complete([stream], provider="moonshot", prices=mine)
    assert turn.model == "kimi-k2-thinking-20251106"
    assert turn.cost_usd == pytest.approx(mine.cost(1000, 0, 100))


# Usage reported or not.


async def test_a_stream_without_usage_says_so() -> None:
    silent = sse(chunk({"content": "x"}, "stop"))
    turn, _ = await complete([silent])
    assert not turn.usage_reported and turn.usage == Usage(calls=1) and turn.cost_usd == 0.0
    told = sse(chunk({"content": "x"}, "stop"), {"choices": [], "usage": USAGE})
    turn, _ = await complete([told])
    assert turn.usage_reported and turn.usage.prompt_tokens == 1000


# Tool-call arguments cut off at max_tokens.


async def test_arguments_cut_off_by_max_tokens_are_never_parsed() -> None:
    cut = sse(
        chunk({"tool_calls": [{"index": 0, "id": "a:0", "type": "function",
                               "function": {"name": "fetch", "arguments": '{"url": "https://x.org"}'}}]}),
        chunk({"tool_calls": [{"index": 1, "id": "b:1", "type": "function",
                               "function": {"name": "python", "arguments": '{"code": "print(1)"}'}}]}),
        chunk({}, "length"),
    )  # fmt: skip
    turn, _ = await complete([cut])
    first, last = turn.tool_calls
    assert first.parsed == {"url": "https://x.org"} and first.parse_error is None  # a later call had begun
    assert last.parsed is None  # valid JSON, but written when the output ran out: not run
    assert last.parse_error is not None and "cut off" in last.parse_error and "length" in last.parse_error
