"""What the loop keeps from one step to the next so that a step's work does not grow with the
run (message digests, rendered turns, the fold's notice index) always says what computing it
from scratch says: across prunes and summaries, notices, a resume, forks, heavy trajectories
and sub-agents."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import anyio
import pytest

from agentkit import Agent, tool
from agentkit.context.builder import ContextBuilder, View
from agentkit.context.summary import SUMMARY_SYSTEM
from agentkit.llm.types import AssistantTurn, Message
from agentkit.run import _model_calls
from agentkit.run._sent import digest, sent_digests
from agentkit.store.events import AssistantMessage, BudgetDecision, SentRequest, UserMessage
from agentkit.store.fold import RunState, load_state
from agentkit.store.memory import MemoryStore
from agentkit.testing import FakeRequest, ScriptedModel, Turn, call

pytestmark = pytest.mark.anyio


@tool
async def read(n: int) -> str:
    """Read page n."""
    return f"page {n}: " + f"word{n} " * 200


def reader(pages: int) -> Callable[[FakeRequest], Turn]:
    """Reads pages one per turn (counting the pages the history shows asked for, or the
    summary's count), answers summary calls, then answers."""

    def respond(req: FakeRequest) -> Turn:
        if req.messages[0]["content"] == SUMMARY_SYSTEM:
            return Turn(content="- pages read so far, in order")
        if not req.tools:
            return Turn(content="1. Read the pages.\n2. Say how many.")
        done = sum(1 for m in req.messages if m["role"] == "tool")
        asked = [m for m in req.messages if m["role"] == "assistant" and m.get("tool_calls")]
        n = int(asked[-1]["tool_calls"][0]["function"]["arguments"].split(":")[1].strip(" }")) if asked else done
        if n < pages:
            return Turn(reasoning="Next page. " + "thinking " * 150, tool_calls=[call("read", n=n + 1)])
        return Turn(reasoning="done", content=f"read {n} pages")

    return respond


class Checked:
    """Every request's recorded digests against a digest of each message computed afresh, and
    every view against a new builder's rendering of the same fold and cut."""

    def __init__(self) -> None:
        self.requests = 0
        self.kept = 0
        self.views = 0

    def sent_request(self, original: Callable[..., SentRequest]) -> Callable[..., SentRequest]:
        def checked(request: Any, messages: list[Message], previous: list[str], *args: Any) -> SentRequest:
            sent = original(request, messages, previous, *args)
            assert sent_digests(previous, sent) == [digest(m) for m in messages]
            fresh = 0
            for old, new in zip(previous, [digest(m) for m in messages], strict=False):
                if old != new:
                    break
                fresh += 1
            assert sent.kept == fresh  # the same record as a from-scratch comparison
            self.requests += 1
            self.kept += sent.kept
            return sent

        return checked

    def prepare(self, original: Callable[..., Any]) -> Callable[..., Any]:
        async def checked(builder: ContextBuilder, state: RunState, **kw: Any) -> View:
            view: View = await original(builder, state, **kw)
            fresh = ContextBuilder(
                system_prompt=builder.system_prompt,
                reasoning_field=builder.reasoning_field,
                window=builder.window,
                max_tokens=builder.max_tokens,
                policy=builder.policy,
                tools_bytes=builder.tools_bytes,
                vision=builder.vision,
                recall=builder.recall,
                video=builder.video,
                retention=builder.retention,
                max_prompt_tokens=builder.max_prompt_tokens,
            )
            assert view.messages == fresh.render(state, view.cut).messages
            self.views += 1
            return view

        return checked


@pytest.fixture
def checked(monkeypatch: pytest.MonkeyPatch) -> Iterator[Checked]:
    spy = Checked()
    monkeypatch.setattr(_model_calls, "sent_request", spy.sent_request(_model_calls.sent_request))
    monkeypatch.setattr(ContextBuilder, "prepare", spy.prepare(ContextBuilder.prepare))
    yield spy


def pruning_agent(
    store: MemoryStore,
    pages: int,
    *,
    tools: list[Any] | None = None,
    model: str | None = None,
    window: int = 24_000,
    **kw: Any,
) -> Agent:
    """An agent whose runs prune often: a small window, long reasoning, three results kept."""
    return Agent(
        llm=ScriptedModel(reader(pages), model=model),
        tools=tools or [read],
        store=store,
        plan=False,
        context_window=window,
        max_tokens=4096,
        keep_tool_results=3,
        **kw,
    )


async def decisions(store: MemoryStore, run_id: str) -> list[BudgetDecision]:
    return [e.event for e in await store.events(run_id) if isinstance(e.event, BudgetDecision)]


@pytest.mark.parametrize(
    ("model", "pages", "window"),
    [(None, 40, 24_000), ("kimi-k2-thinking", 60, 12_000)],
    ids=["keeps reasoning", "elides reasoning"],
)
async def test_digests_and_views_match_a_fresh_computation_through_prunes_summaries_and_notices(
    checked: Checked, model: str | None, pages: int, window: int
) -> None:
    store = MemoryStore()
    async with pruning_agent(store, pages, max_steps=pages + 4, model=model, window=window) as agent:
        result = await agent.run("Read the pages.")
    assert result.status == "finished" and result.answer == f"read {pages} pages"
    prunes = await decisions(store, result.run_id)
    assert len({d.detail["drop_before"] for d in prunes}) >= 2  # turns condensed into a summary
    assert len({d.detail["hide_before"] for d in prunes}) >= 5  # results hidden, again and again
    if model is not None:
        assert any(d.detail["elide_before"] for d in prunes)  # and reasoning elided
    events = [e.event for e in await store.events(result.run_id)]
    assert any(isinstance(e, UserMessage) and e.kind == "wrap_up" for e in events)  # a notice mid-run
    assert checked.requests == result.steps and checked.views >= result.steps
    assert checked.kept > 0  # the records do say what the previous request also began with


async def interrupt_when(stop: anyio.Event, run: Callable[..., Awaitable[object]], *args: Any, **kwargs: Any) -> None:
    """Start ``run`` and cancel it as soon as ``stop`` is set (a tool sets it and waits)."""
    async with anyio.create_task_group() as tg:

        async def drive() -> None:
            await run(*args, **kwargs)

        tg.start_soon(drive)
        await stop.wait()
        tg.cancel_scope.cancel()


async def test_a_resumed_run_records_digests_from_the_trace(checked: Checked) -> None:
    """Interrupted at step 33 (after a summary) and resumed by a new agent: the resumed loop's
    first request is recorded against the digests the trace kept, and every later one against
    its own, each as a fresh computation says."""
    stop = anyio.Event()

    @tool(name="read")
    async def read_until(n: int) -> str:
        """Read page n."""
        if n == 33 and not stop.is_set():
            stop.set()
            await anyio.sleep_forever()
        return await read.fn(n)  # type: ignore[attr-defined, no-any-return]

    store = MemoryStore()
    first = pruning_agent(store, 40, max_steps=44, tools=[read_until])
    await interrupt_when(stop, first.run, "Read the pages.", run_id="cut")
    assert (await store.get_run("cut")).status == "interrupted"
    assert any(d.detail["drop_before"] for d in await decisions(store, "cut"))
    before = checked.requests
    async with pruning_agent(store, 40, max_steps=44, tools=[read_until]) as again:
        resumed = await again.resume("cut")
    assert resumed.status == "finished" and resumed.answer == "read 40 pages"
    assert checked.requests - before == resumed.steps - 33
    turns = [e.event for e in await store.events("cut") if isinstance(e.event, AssistantMessage)]
    assert turns[33].sent is not None and turns[33].sent.kept > 0  # against what the trace kept


async def test_notice_given_is_known_after_a_resume() -> None:
    """The wrap-up notice is given once per run: a run resumed after it was given does not give
    it again (the fold's index of notices is rebuilt from the trace)."""
    stop = anyio.Event()

    @tool
    async def slow_read(n: int) -> str:
        """Read page n."""
        if n == 9 and not stop.is_set():
            stop.set()
            await anyio.sleep_forever()
        return f"page {n}"

    def respond(req: FakeRequest) -> Turn:
        done = sum(1 for m in req.messages if m["role"] == "tool")
        return Turn(reasoning="next", tool_calls=[call("slow_read", n=done + 1)])

    store = MemoryStore()
    agent = Agent(llm=ScriptedModel(respond), tools=[slow_read], store=store, plan=False, max_steps=10)
    await interrupt_when(stop, agent.run, "Read.", run_id="r")
    state = await load_state(store, "r")
    assert state.notice_given("wrap_up") and not state.notice_given("final_request")
    result = await agent.resume("r")
    assert result.status == "stopped"
    kinds = [e.event.kind for e in await store.events("r") if isinstance(e.event, UserMessage)]
    assert kinds.count("wrap_up") == 1 and kinds.count("final_request") == 1


def test_notice_given_folds_like_a_scan_of_every_notice() -> None:
    state = RunState(run_id="r")
    state.apply(UserMessage(text="before any turn", kind="head"))
    assert state.notice_given("head") and not state.notice_given("later")
    state.apply(AssistantMessage(step=1, turn=AssistantTurn(content="x")))
    state.apply(UserMessage(text="after it", kind="later"))
    assert state.notice_given("head") and state.notice_given("later") and not state.notice_given("other")


async def test_forks_heavy_trajectories_and_sub_agents_record_fresh_digests(checked: Checked) -> None:
    store = MemoryStore()
    async with pruning_agent(store, 24, max_steps=30) as agent:
        parent = await agent.run("Read the pages.")
        fork = await agent.fork(parent.run_id, at_step=12)
    assert parent.status == fork.status == "finished" and fork.steps == parent.steps
    before = checked.requests
    async with pruning_agent(MemoryStore(), 12, heavy=2) as heavy:
        result = await heavy.run("Read the pages.")
    assert result.status == "finished" and checked.requests >= before + 2 * 13

    sub = reader(16)

    def lead(req: FakeRequest) -> Turn:
        if req.messages[1]["content"] != "Lead.":
            return sub(req)
        if not any(m["role"] == "tool" for m in req.messages):
            return Turn(reasoning="hand it over", tool_calls=[call("delegate", question="Read the pages.")])
        return Turn(content="the sub-agent read them")

    before = checked.requests
    async with Agent(
        llm=ScriptedModel(lead),
        tools=[read],
        plan=False,
        delegate=True,
        context_window=24_000,
        max_tokens=4096,
        keep_tool_results=3,
    ) as delegating:
        result = await delegating.run("Lead.")
    children = await delegating.store.list_runs(parent_id=result.run_id)
    assert result.answer == "the sub-agent read them" and [c.steps for c in children] == [17]
    assert checked.requests == before + 2 + 17
