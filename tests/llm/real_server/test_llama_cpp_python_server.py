"""The real thing behind the recordings: llama-cpp-python's server (one per session, see the
conftest) with a 2,048-token window, driven by the real client and the real loop.

- A streamed request over the window is answered HTTP 200 with no event at all; the client asks
  once without streaming, reads the window from the 400 and fails at once (one attempt, no retry),
  and a run says the window in one line instead of retrying for a minute.
- A reply cut off by ``max_tokens`` (``finish_reason: length``) does not finish a run.
- The server sends no usage in a stream although asked: the run counts it locally.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from _llama_server import ALIAS, WINDOW, LlamaServer

from agentkit import Agent, AgentEvent, ModelRetrying, Notice
from agentkit.llm.client import OpenAICompatibleModel
from agentkit.llm.errors import ContextLengthExceeded, RetryNotice, observing_retries
from agentkit.llm.types import ModelRequest

pytestmark = pytest.mark.anyio
RECORDED = Path(__file__).parents[2] / "fixtures" / "recorded" / "llama-cpp-python"
# The recorded overflow request's prompt: "Summarise this text." and 3,500 words, ~16k tokens.
OVERFLOW: list[dict[str, Any]] = json.loads((RECORDED / "stream_overflow_empty_200.request.json").read_text())[
    "messages"
]
HELLO = [{"role": "user", "content": "Say hello in three words."}]


def client(server: LlamaServer, *, stream: bool = True) -> OpenAICompatibleModel:
    return OpenAICompatibleModel(ALIAS, "custom", base_url=server.base_url, api_key="unused", stream=stream)


async def test_a_streamed_overflow_is_read_again_without_streaming_and_fails_in_one_attempt(
    llama_server: LlamaServer,
) -> None:
    seen: list[RetryNotice] = []
    llm = client(llama_server)
    try:
        with observing_retries(seen.append), pytest.raises(ContextLengthExceeded) as info:
            await llm.complete(ModelRequest(messages=OVERFLOW, max_tokens=64))
    finally:
        await llm.aclose()
    err = info.value
    assert err.limit == WINDOW and err.requested is not None and err.requested > WINDOW, llama_server.tail()
    assert err.attempts == 1 and seen == [], [n.describe() for n in seen]


async def test_a_run_whose_task_overflows_the_window_fails_at_once_naming_it(llama_server: LlamaServer) -> None:
    seen: list[AgentEvent] = []
    agent = Agent(llm=client(llama_server), tools=[], plan=False, on_event=seen.append)
    try:
        result = await agent.run(str(OVERFLOW[0]["content"]))
    finally:
        await agent.aclose()
    assert result.status == "failed", result
    assert f"the {WINDOW:,}-token window" in (result.error or ""), result.error
    assert not [e for e in seen if isinstance(e, ModelRetrying)]
    told = [e.message for e in seen if isinstance(e, Notice) and "too long" in e.message]
    assert len(told) == 1 and f"using a {WINDOW:,}-token window" in told[0]


@pytest.mark.parametrize("stream", [True, False])
async def test_a_cut_off_reply_says_so(llama_server: LlamaServer, stream: bool) -> None:
    llm = client(llama_server, stream=stream)
    try:
        turn = await llm.complete(ModelRequest(messages=HELLO, max_tokens=2))
    finally:
        await llm.aclose()
    assert turn.finish_reason == "length" and turn.content, turn


async def test_a_run_never_finishes_on_a_cut_off_reply_and_counts_usage_the_stream_did_not_send(
    llama_server: LlamaServer,
) -> None:
    seen: list[AgentEvent] = []
    # no tools: a short prompt keeps the server's four prompt evaluations quick
    agent = Agent(llm=client(llama_server), tools=[], plan=False, max_tokens=2, on_event=seen.append)
    try:
        result = await agent.run("Write a long essay about bicycles.")
    finally:
        await agent.aclose()
    assert result.status == "stopped", result
    assert result.stop_reason is not None and "cut off by max_tokens" in result.stop_reason
    assert result.usage.calls >= 2 and result.usage.prompt_tokens > 0 and result.usage.completion_tokens > 0
    assert len([e for e in seen if isinstance(e, Notice) and "no token usage" in e.message]) == 1
