"""How runs end: never `running` after an error, replies that are no answer, limits that hold
for every model call (report phase and aggregation included)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import pytest

from agentkit import Agent, tool
from agentkit.context.policy import ContextPolicy, Sizer, ViewCut
from agentkit.llm.client import OpenAICompatibleModel
from agentkit.llm.profiles import Prices
from agentkit.run.live import AgentEvent, ModelRetrying, Notice
from agentkit.store import SQLiteStore, StoreFull
from agentkit.store._sqlite_errors import store_error
from agentkit.store.events import (
    ErrorEvent,
    RunFinished,
    RunStarted,
    StatusChanged,
    TraceEvent,
    UsageCharged,
    UserMessage,
)
from agentkit.store.fold import load_state
from agentkit.store.memory import MemoryStore
from agentkit.testing import Delay, FakeProvider, HttpError, RateLimited, ScriptedModel, StreamError, Turn, call

pytestmark = pytest.mark.anyio

PRICES = Prices(input_miss=100.0, input_hit=25.0, output=400.0)  # dear, so a small cap is reached soon


@tool
async def lookup(term: str) -> str:
    """Look a term up."""
    return f"{term}: " + "fact " * 200


class BrokenPolicy(ContextPolicy):
    """A user's context policy with a bug in it."""

    def decide(self, sizer: Sizer, current: ViewCut, *, hard: bool = False) -> ViewCut | None:
        raise RuntimeError("policy bug")


async def events_of(agent: Agent, run_id: str) -> list[Any]:
    return [e.event for e in await agent.store.events(run_id)]


async def test_a_bug_inside_the_loop_ends_the_run_failed_and_is_raised() -> None:
    agent = Agent(llm=ScriptedModel([Turn(content="never")]), tools=[lookup], plan=False, context_policy=BrokenPolicy())
    with pytest.raises(RuntimeError, match="policy bug"):
        await agent.run("q", run_id="bug")
    row = await agent.store.get_run("bug")
    assert row.status == "failed" and "policy bug" in (row.stop_reason or "")
    events = await events_of(agent, "bug")
    assert any(isinstance(e, ErrorEvent) and "policy bug" in e.message for e in events)
    assert isinstance(events[-1], RunFinished) and events[-1].status == "failed"


async def test_a_provider_error_returns_a_failed_result() -> None:
    with FakeProvider([HttpError(400, "Invalid request: the tool schema is not valid")]) as fake:
        agent = Agent(provider="custom", base_url=fake.base_url, tools=[lookup], plan=False)
        result = await agent.run("q")
        await agent.aclose()
    assert result.status == "failed"
    assert "tool schema is not valid" in (result.error or "")
    assert (await agent.store.get_run(result.run_id)).status == "failed"


async def test_a_reply_cut_off_by_max_tokens_is_not_the_answer() -> None:
    script = [Turn(content="The answer is 4", finish_reason="length"), Turn(content="The answer is 42.")]
    with FakeProvider(script) as fake:
        agent = Agent(provider="custom", base_url=fake.base_url, tools=[lookup], plan=False)
        result = await agent.run("q")
        await agent.aclose()
        last_request = fake.requests[-1].messages
    assert result.status == "finished" and result.answer == "The answer is 42."
    assert "cut off" in last_request[-1]["content"]  # the model was told why it is asked again
    events = await events_of(agent, result.run_id)
    assert [e.reason for e in events if isinstance(e, UserMessage)] == ["cut off by max_tokens"]


async def test_an_empty_reply_is_asked_again() -> None:
    agent = Agent(llm=ScriptedModel([Turn(content=""), Turn(content="done")]), tools=[lookup], plan=False)
    result = await agent.run("q")
    assert result.status == "finished" and result.answer == "done" and result.steps == 2


async def test_unfinished_replies_in_a_row_end_the_run() -> None:
    agent = Agent(llm=ScriptedModel([Turn(content="") for _ in range(10)]), tools=[lookup], plan=False)
    result = await agent.run("q")
    assert result.status == "failed" and "empty" in (result.stop_reason or "")
    assert result.steps == 4  # the first reply and three asks again


async def test_the_cost_cap_is_not_overshot() -> None:
    """Each call is fitted to the money left before it is sent (worst case: no cache hits)."""
    script = [Turn(reasoning="r " * 50, tool_calls=[call("lookup", term=f"t{i}")]) for i in range(60)]
    with FakeProvider(script) as fake:
        llm = OpenAICompatibleModel("m", "custom", base_url=fake.base_url, prices=PRICES)
        agent = Agent(llm=llm, tools=[lookup], plan=False, max_cost_usd=1.0)
        result = await agent.run("q")
        await agent.aclose()
        sent = [r.max_output for r in fake.requests]
    assert result.status == "stopped" and (result.stop_reason or "").startswith("max_cost_usd")
    assert 0.5 < result.cost_usd <= 1.0
    assert sent[-1] < sent[0]  # the last calls were given fewer output tokens, not refused outright


async def test_the_report_phase_keeps_max_tokens_and_is_charged_to_the_run() -> None:
    script = [Turn(tool_calls=[call("lookup", term="x")]), Turn(content="x is a fact.")] + [
        Turn(content='["Findings"]' if i == 0 else "x is a fact.", reasoning="") for i in range(6)
    ]
    with FakeProvider(script) as fake:
        llm = OpenAICompatibleModel("m", "custom", base_url=fake.base_url, prices=PRICES)
        agent = Agent(llm=llm, tools=[lookup], plan=False, max_tokens=3000, report=True)
        result = await agent.run("q")
        await agent.aclose()
        sent = [r.max_output for r in fake.requests]
    assert result.report is not None
    assert len(sent) > 2 and max(sent) <= 3000
    charged = [e for e in await events_of(agent, result.run_id) if isinstance(e, UsageCharged)]
    assert len(charged) == 1 and charged[0].phase == "report" and charged[0].usage.calls == len(sent) - 2
    row = await agent.store.get_run(result.run_id)
    assert result.cost_usd == pytest.approx(row.cost_usd)
    assert row.usage.calls == len(sent)  # every call the run made, the report's included


async def test_the_report_phase_keeps_the_time_limit() -> None:
    seen: list[AgentEvent] = []
    script: list[Any] = [Delay(0.3), Turn(content="interim", tool_calls=[call("lookup", term="x")])]
    with FakeProvider([*script, Turn(content="never")]) as fake:
        agent = Agent(
            provider="custom",
            base_url=fake.base_url,
            tools=[lookup],
            plan=False,
            max_seconds=0.2,
            report=True,
            on_event=seen.append,
        )
        result = await agent.run("q")
        await agent.aclose()
        assert not any("report" in str(r.messages[0]["content"]) for r in fake.requests)  # no report call
    assert result.status == "stopped" and result.report is None
    notices = [e.message for e in seen if isinstance(e, Notice)]
    assert any("report not written: limits.max_seconds" in m for m in notices)


async def test_an_error_chunk_inside_a_200_stream_ends_the_run_failed_with_a_result() -> None:
    script: list[Any] = [Turn(tool_calls=[call("lookup", term="x")]), StreamError(message="Token limit reached")]
    with FakeProvider(script) as fake:
        agent = Agent(provider="custom", base_url=fake.base_url, tools=[lookup], plan=False)
        result = await agent.run("q")
        await agent.aclose()
    assert result.status == "failed" and "Token limit reached" in (result.error or "")
    assert (await agent.store.get_run(result.run_id)).status == "failed"


async def test_a_server_without_usage_is_estimated_locally_and_said_once() -> None:
    seen: list[AgentEvent] = []
    script = [Turn(tool_calls=[call("lookup", term=f"t{i}")]) for i in range(3)] + [Turn(content="done")]
    with FakeProvider(script, send_usage=False) as fake:
        llm = OpenAICompatibleModel("m", "custom", base_url=fake.base_url, prices=PRICES)
        agent = Agent(llm=llm, tools=[lookup], plan=False, on_event=seen.append)
        result = await agent.run("q")
        await agent.aclose()
    assert result.status == "finished"
    assert result.usage.calls == 4 and result.usage.prompt_tokens > 1000 and result.usage.completion_tokens > 0
    assert result.cost_usd > 0 and result.context_tokens > 0
    said = [e.message for e in seen if isinstance(e, Notice) and "no token usage" in e.message]
    assert len(said) == 1


@pytest.mark.parametrize("stream", [True, False])
async def test_a_lone_surrogate_from_the_provider_is_stored_replaced_and_the_run_goes_on(stream: bool) -> None:
    """``"\\ud800"`` is valid JSON that some engines emit; orjson refuses it, and a raw one in the
    trace broke the next request's encoding."""
    from agentkit.testing import Recorded, ReplayServer

    first = (
        b'"reasoning_content":"I think \\ud800","content":"","tool_calls":[{"index":0,"id":"lookup:0",'
        b'"type":"function","function":{"name":"lookup","arguments":"{\\"term\\": \\"x\\"}"}}]'
    )
    last = b'"content":"It is 4\\ud800."'
    if stream:
        replies = [
            Recorded(
                200,
                b'data: {"choices":[{"index":0,"delta":{%s},"finish_reason":"%s"}]}\n\ndata: [DONE]\n\n'
                % (body, finish),
                content_type="text/event-stream",
            )
            for body, finish in ((first, b"tool_calls"), (last, b"stop"))
        ]
    else:
        replies = [
            Recorded(
                200,
                b'{"choices":[{"index":0,"message":{"role":"assistant",%s},"finish_reason":"%s"}]}' % (body, finish),
            )
            for body, finish in ((first, b"tool_calls"), (last, b"stop"))
        ]
    with ReplayServer(replies) as server:
        llm = OpenAICompatibleModel("m", "custom", base_url=server.base_url, stream=stream)
        agent = Agent(llm=llm, tools=[lookup], plan=False)
        result = await agent.run("q")
        await agent.aclose()
        sent_back = server.requests[1]["messages"][2]["reasoning_content"]
    assert result.status == "finished" and result.answer == "It is 4\ufffd."
    assert sent_back == "I think \ufffd"


async def test_the_report_phase_fits_a_small_window_the_run_learned() -> None:
    """An 8k server that says its window in its model listing: the report's calls ask for what
    the window leaves after their prompts, as the run's own turns do, and none is refused."""
    script = [Turn(tool_calls=[call("lookup", term="x")]), Turn(content="x is a fact.")] + [
        Turn(content='["Findings"]' if i == 0 else "x is a fact.", reasoning="") for i in range(6)
    ]
    with FakeProvider(script, context_window=8192, models_window=8192) as fake:
        agent = Agent(provider="custom", base_url=fake.base_url, tools=[lookup], plan=False, report=True)
        result = await agent.run("q")
        await agent.aclose()
        refused, sent = list(fake.errors), [r.max_output for r in fake.requests]
        prompts = list(fake.prompt_tokens)
    assert result.report is not None and refused == []
    assert len(sent) == len(prompts) > 2  # the run's turns and the report's calls
    assert all(p + m <= 8192 for p, m in zip(prompts, sent, strict=True))


async def test_retries_while_the_report_is_written_are_reported_live() -> None:
    seen: list[AgentEvent] = []
    script: list[Any] = [Turn(tool_calls=[call("lookup", term="x")]), Turn(content="x is a fact.")]
    script += [RateLimited(retry_after=0.01)]
    script += [Turn(content='["Findings"]' if i == 0 else "x is a fact.", reasoning="") for i in range(6)]
    with FakeProvider(script) as fake:
        llm = OpenAICompatibleModel("m", "custom", base_url=fake.base_url, prices=PRICES)
        agent = Agent(llm=llm, tools=[lookup], plan=False, report=True, on_event=seen.append)
        result = await agent.run("q")
        await agent.aclose()
    assert result.report is not None
    retries = [e for e in seen if isinstance(e, ModelRetrying)]
    assert len(retries) == 1 and "429" in retries[0].reason


class _StartsSlowly(MemoryStore):
    """A store whose first run's first event waits until the test cancels: the window between
    creating a run's row and writing its first event."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = anyio.Event()

    async def append(self, run_id: str, event: Any) -> int:
        if isinstance(event, RunStarted) and not self.entered.is_set():
            self.entered.set()
            await anyio.sleep_forever()
        return await super().append(run_id, event)


async def test_a_run_cancelled_before_its_first_event_is_not_left_running() -> None:
    store = _StartsSlowly()
    agent = Agent(llm=ScriptedModel([Turn(content="42")]), store=store, tools=[], plan=False)
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: agent.run("q", run_id="cut"))
        await store.entered.wait()
        tg.cancel_scope.cancel()
    row = await store.get_run("cut")
    assert row.status == "interrupted" and row.stop_reason == "cancelled"
    result = await Agent(llm=ScriptedModel([Turn(content="42")]), store=store, tools=[], plan=False).resume("cut")
    assert (result.status, result.answer) == ("finished", "42")  # resumed from the row's task


def real_disk_full(location: str) -> StoreFull:
    """The StoreFull the SQLite store raises for a full disk: a real SQLITE_FULL (a scratch
    database that may not grow), named by the store's own error mapping."""
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute("CREATE TABLE t (x BLOB)")
        conn.execute("PRAGMA max_page_count = 2")
        conn.execute("INSERT INTO t VALUES (zeroblob(100000))")
    except sqlite3.OperationalError as exc:
        error = store_error(exc, location)
        assert isinstance(error, StoreFull)
        return error
    finally:
        conn.close()
    raise AssertionError("SQLite did not refuse to grow past max_page_count")


class EventsRefused(SQLiteStore):
    """A real SQLite store whose disk is full for new events from its ``refuse_from``-th append
    on, while row updates (a row rewritten in place) still go through: what a nearly full disk
    does. ``refusing = False`` frees the space."""

    def __init__(self, path: Path, refuse_from: int) -> None:
        super().__init__(path)
        self.refuse_from, self.appends, self.refusing = refuse_from, 0, True

    async def append_many(self, run_id: str, events: Sequence[TraceEvent]) -> list[int]:
        self.appends += 1
        if self.refusing and self.appends >= self.refuse_from:
            raise real_disk_full(self.location)
        return await super().append_many(run_id, events)


@pytest.mark.parametrize("refuse_from", [1, 3, 4], ids=["first event", "a tool's result", "a later event"])
async def test_a_refused_write_leaves_the_run_interrupted_and_resumable(tmp_path: Path, refuse_from: int) -> None:
    """One rule wherever the refusal strikes: nothing committed is lost, so the run is
    ``interrupted`` (never ``running``, never ``failed``), its row says why and carries the
    fold's counters, and it resumes to its answer once the store takes writes again."""
    script = [Turn(tool_calls=[call("lookup", term="x")]), Turn(tool_calls=[call("lookup", term="y")])]
    store = EventsRefused(tmp_path / "s.db", refuse_from)
    async with Agent(llm=ScriptedModel([*script, Turn(content="42")]), store=store, tools=[lookup], plan=False) as a:
        with pytest.raises(StoreFull, match="is full"):
            await a.run("q", run_id="full")
    row = await store.get_run("full")
    assert row.status == "interrupted"
    assert (row.stop_reason or "").startswith(f"the store refused a write: the store at {store.location} is full")
    state = await load_state(store, "full")
    assert state.finished is None and not any(isinstance(e.event, StatusChanged) for e in await store.events("full"))
    assert (row.steps, row.usage, row.cost_usd) == (state.step, state.usage, state.cost_usd)
    store.refusing = False  # space freed
    async with Agent(
        llm=ScriptedModel([*script[state.step :], Turn(content="42")]), store=store, tools=[lookup], plan=False
    ) as a:
        result = await a.resume("full")
    assert (result.status, result.answer, result.steps) == ("finished", "42", 3)
    assert (await store.get_run("full")).status == "finished"
