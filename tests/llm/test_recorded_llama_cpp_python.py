"""A real local server's exchanges, replayed byte for byte through the real client and loop.

tests/fixtures/recorded/llama-cpp-python/ holds raw HTTP responses of llama-cpp-python[server]
0.3.36 serving SmolLM2-135M-Instruct with a 2,048-token window (its README says how they were
recorded). What a client must make of them: the empty 200 stream of an overflow is an error to
read again without streaming, not a lost connection to retry; the window comes from the 400 that
follows; a cut-off reply is not an answer; a stream without usage is counted locally.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from agentkit import Agent, AgentEvent, Notice
from agentkit.llm.client import OpenAICompatibleModel
from agentkit.llm.errors import ContextLengthExceeded, RetryNotice, observing_retries
from agentkit.llm.types import ModelRequest
from agentkit.store.events import BudgetDecision, UserMessage
from agentkit.testing import Recorded, ReplayServer

pytestmark = pytest.mark.anyio
RECORDED = Path(__file__).parents[1] / "fixtures" / "recorded"
HERE = RECORDED / "llama-cpp-python"
Q = [{"role": "user", "content": "Say hello in three words."}]


def rec(name: str) -> Recorded:
    return Recorded.load(HERE / f"{name}.http")


def request_of(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((HERE / f"{name}.request.json").read_text())
    return data


def raw_exchange(url: str, head: bytes, body: bytes = b"") -> bytes:
    """Everything the server sends for one request, read until it closes the connection."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(head + body)
        received = []
        while data := sock.recv(65536):
            received.append(data)
    return b"".join(received)


def llm_at(url: str, *, stream: bool = True) -> OpenAICompatibleModel:
    return OpenAICompatibleModel("smollm2", "custom", base_url=url, api_key="test", stream=stream)


async def events_of(agent: Agent, run_id: str) -> list[Any]:
    return [e.event for e in await agent.store.events(run_id)]


# The replay itself.


@pytest.mark.parametrize("name", ["stream_overflow_empty_200", "overflow_400", "cutoff_length", "stream_answer"])
def test_a_raw_exchange_is_served_byte_for_byte(name: str) -> None:
    recorded = rec(name)
    body = json.dumps(request_of(name)).encode()
    with ReplayServer([recorded]) as server:
        head = (
            f"POST {urlsplit(server.base_url).path}/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        got = raw_exchange(server.base_url, head, body)
    assert got == (HERE / f"{name}.http").read_bytes()


def test_the_model_listing_is_served_byte_for_byte_and_the_sidecars_agree_with_the_bytes() -> None:
    with ReplayServer([], models=rec("models")) as server:
        path = urlsplit(server.base_url).path
        got = raw_exchange(server.base_url, f"GET {path}/models HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    assert got == (HERE / "models.http").read_bytes()
    empty = rec("stream_overflow_empty_200")
    assert (empty.status, empty.is_stream, empty.body) == (200, True, b"")  # zero chunks: only the terminator
    assert empty.headers["transfer-encoding"] == "chunked" and empty.raw is not None
    assert empty.raw.endswith(b"\r\n\r\n0\r\n\r\n")
    assert rec("overflow_400").status == 400


def test_the_keep_alive_exchange_keeps_the_connection_and_hangs_up_on_the_next_request() -> None:
    """The server said keep-alive, ended the empty stream and closed: the next request sent on
    that connection gets no answer."""
    expected = (HERE / "stream_overflow_empty_200_keepalive.http").read_bytes()
    body = json.dumps(request_of("stream_overflow_empty_200")).encode()
    with ReplayServer([rec("stream_overflow_empty_200_keepalive"), rec("overflow_400")]) as server:
        parts = urlsplit(server.base_url)
        head = (
            f"POST {parts.path}/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
            sock.sendall(head + body)
            got = b""
            while len(got) < len(expected) and (data := sock.recv(65536)):
                got += data
            sock.sendall(head + body)  # the connection looked reusable
            try:
                after = sock.recv(65536)
            except ConnectionResetError:
                after = b""
        served = server.served
    assert got == expected and after == b"" and served == 1


# What the client makes of them.


async def test_a_streamed_overflow_answered_with_an_empty_200_is_asked_once_without_streaming() -> None:
    """Zero chunks, no error event, no [DONE]: the plain request's 400 says the window. One
    attempt, no retry: the issue's 8 blind retries over 55 s are gone."""
    seen: list[RetryNotice] = []
    with ReplayServer([rec("stream_overflow_empty_200"), rec("overflow_400")] * 4) as server:
        llm = llm_at(server.base_url)
        try:
            with observing_retries(seen.append), pytest.raises(ContextLengthExceeded) as info:
                await llm.complete(ModelRequest(messages=Q))
        finally:
            await llm.aclose()
        served, sent = server.served, server.requests
    err = info.value
    assert (err.limit, err.requested, err.status, err.attempts) == (2048, 16490, 400, 1)
    assert "maximum context length is 2048 tokens" in str(err)
    assert served == 2 and seen == []
    assert sent[0]["stream"] is True and "stream" not in sent[1] and "stream_options" not in sent[1]
    assert sent[1]["messages"] == sent[0]["messages"]


async def test_the_server_hanging_up_after_the_empty_stream_is_not_a_lost_connection_to_retry() -> None:
    """The issue's case, as the live server does it: keep-alive said, zero chunks, connection
    closed. The question without streaming goes out on the dying pooled connection and meets a
    reset; it is asked again on a fresh one, once, and the 400 there ends the call: no retry of
    the whole request (8 of them over 52 s before)."""
    seen: list[RetryNotice] = []
    with ReplayServer([rec("stream_overflow_empty_200_keepalive"), rec("overflow_400")] * 4) as server:
        llm = llm_at(server.base_url)
        try:
            with observing_retries(seen.append), pytest.raises(ContextLengthExceeded) as info:
                await llm.complete(ModelRequest(messages=Q))
        finally:
            await llm.aclose()
        served, sent = server.served, server.requests
    assert (info.value.limit, info.value.requested, info.value.attempts) == (2048, 16490, 1)
    assert seen == [] and served == 2
    assert sent[0]["stream"] is True and "stream" not in sent[1]


async def test_a_run_learns_the_window_from_it_and_goes_on_in_the_window() -> None:
    seen: list[AgentEvent] = []
    replies = [
        rec("stream_overflow_empty_200"),
        rec("overflow_400"),
        Recorded.load(RECORDED / "deepseek/reasoner_thinking_stream.sse"),
    ]
    with ReplayServer(replies, models=rec("models")) as server:
        # A 2,048-token window holds a short run's default tools, not a long run's (they add recall)
        agent = Agent(llm=llm_at(server.base_url), plan=False, max_steps=20, on_event=seen.append)
        result = await agent.run("Say hello in three words.")
        await agent.aclose()
        sent = server.requests
    assert result.status == "finished" and result.answer.endswith("today?")
    assert len(sent) == 3 and sent[2]["stream"] is True
    assert sent[2]["max_tokens"] < 2048  # asked within the window it learned
    learned = [e for e in await events_of(agent, result.run_id) if isinstance(e, BudgetDecision)]
    assert [(d.action, d.detail["window"], d.detail["stated"]) for d in learned] == [("window", 2048, True)]
    said = [e.message for e in seen if isinstance(e, Notice) and "too long" in e.message]
    assert len(said) == 1 and "using a 2,048-token window" in said[0]


async def test_a_run_whose_task_alone_overflows_the_window_fails_at_once_saying_so() -> None:
    task = request_of("stream_overflow_empty_200")["messages"][0]["content"]  # the recorded 16k-token prompt
    seen: list[AgentEvent] = []
    with ReplayServer([rec("stream_overflow_empty_200"), rec("overflow_400")] * 4, models=rec("models")) as server:
        agent = Agent(llm=llm_at(server.base_url), plan=False, on_event=seen.append)
        result = await agent.run(task)
        await agent.aclose()
        served = server.served
    assert result.status == "failed" and served == 2
    assert "the 2,048-token window" in (result.error or "")
    assert not [e for e in seen if type(e).__name__ == "ModelRetrying"]


async def test_a_cut_off_reply_is_not_the_answer() -> None:
    """finish_reason length: the loop asks again instead of ending the run with half a sentence."""
    cut = rec("cutoff_length")
    answer = Recorded.load(RECORDED / "deepseek/dice_turn3_answer.json")
    with ReplayServer([cut, answer]) as server:
        agent = Agent(llm=llm_at(server.base_url, stream=False), plan=False)
        result = await agent.run("Write a long essay about bicycles.")
        await agent.aclose()
        sent = server.requests
    cut_text = json.loads(cut.body)["choices"][0]["message"]["content"]
    assert result.status == "finished" and result.answer != cut_text and "Congratulations" in result.answer
    asked = [e for e in await events_of(agent, result.run_id) if isinstance(e, UserMessage)]
    assert [e.kind for e in asked] == ["ask_again"] and "cut off" in asked[0].text
    assert sent[1]["messages"][-2]["content"] == cut_text  # the cut reply stays in the history


async def test_a_stream_without_usage_is_counted_locally() -> None:
    recording = rec("stream_answer")
    with ReplayServer([recording]) as server:
        llm = llm_at(server.base_url)
        try:
            turn = await llm.complete(ModelRequest(messages=Q))
        finally:
            await llm.aclose()
        sent = server.requests[0]
    assert sent["stream_options"] == {"include_usage": True}  # asked for, and not sent
    assert turn.content.startswith("Kyla: A playful") and turn.finish_reason == "length"
    assert not turn.usage_reported and turn.usage.prompt_tokens == 0


async def test_a_run_of_such_streams_counts_its_usage_locally_and_never_calls_a_cut_reply_finished() -> None:
    seen: list[AgentEvent] = []
    with ReplayServer([rec("stream_answer")] * 8) as server:
        agent = Agent(llm=llm_at(server.base_url), plan=False, on_event=seen.append)
        result = await agent.run("Say hello in three words.")
        await agent.aclose()
        served = server.served
    assert (
        result.status == "stopped"
        and result.stop_reason == f"the model's last {served} replies were cut off by max_tokens"
    )
    assert result.usage.calls == served and result.usage.prompt_tokens > 0 and result.usage.completion_tokens > 0
    assert len([e for e in seen if isinstance(e, Notice) and "no token usage" in e.message]) == 1
