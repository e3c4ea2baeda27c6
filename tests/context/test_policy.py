"""Pruning order, summaries, resume determinism, the 400 retry and calibration."""

from __future__ import annotations

import pytest

from agentkit import Agent, tool
from agentkit.context.builder import ContextBuilder, current_cut
from agentkit.context.summary import SUMMARY_SYSTEM
from agentkit.context.tokens import TokenEstimator
from agentkit.store.events import BudgetDecision
from agentkit.store.fold import RunState
from agentkit.testing import FakeRequest, HttpError, ScriptedModel, Turn, call

pytestmark = pytest.mark.anyio


@tool
def read(n: int) -> str:
    """Read page n."""
    return f"page {n}: " + "lorem ipsum dolor " * 150


def reader(total: int, fail_at: int | None = None) -> object:
    failed: set[int] = set()

    def respond(req: FakeRequest) -> object:
        if req.messages[0]["content"] == SUMMARY_SYSTEM:
            return Turn(content="- pages read so far, nothing notable")
        done = sum(1 for m in req.messages if m["role"] == "tool")
        done += int(
            next(
                (
                    m["content"].split("first ")[1].split()[0]
                    for m in req.messages
                    if m["role"] == "user" and "Summary of the first" in str(m["content"])
                ),
                0,
            )
        )
        if fail_at is not None and done == fail_at and done not in failed:
            failed.add(done)
            return HttpError(400, "Invalid request: context length exceeded")
        if done < total:
            return Turn(reasoning="next page " * 40, tool_calls=[call("read", n=done + 1)])
        return Turn(content=f"done {done}")

    return respond


async def test_summary_is_pinned_and_resume_rebuilds_the_same_view() -> None:
    model = ScriptedModel(reader(40), context_window=6000)  # type: ignore[arg-type]
    agent = Agent(llm=model, tools=[read], plan=False, context_window=6000, max_tokens=800, keep_tool_results=4)
    result = await agent.run("read 40 pages")
    assert result.status == "finished", result.error
    events = [e.event for e in await agent.store.events(result.run_id)]
    prunes = [e for e in events if isinstance(e, BudgetDecision) and e.action == "prune"]
    assert any(p.detail.get("summary") for p in prunes)
    assert any("usage" in p.detail for p in prunes)  # the summary call is paid for and counted
    last_request = model.requests[-1].messages
    assert any("Summary of the first" in str(m["content"]) for m in last_request)
    # A resumed process folds the same trace into the same view, byte for byte.
    state = RunState(run_id=result.run_id)
    for e in events[:-2]:  # up to the last model request
        state.apply(e)
    builder = ContextBuilder(system_prompt=last_request[0]["content"], reasoning_field="reasoning_content")
    assert builder.render(state, current_cut(state)).messages == last_request


async def test_elision_keeps_the_reasoning_field() -> None:
    # K2.6 without keep: the service ignores earlier turns' reasoning, so eliding it is free.
    model = ScriptedModel(reader(30), model="kimi-k2.6", context_window=9000)  # type: ignore[arg-type]
    agent = Agent(llm=model, tools=[read], plan=False, context_window=9000, max_tokens=800)
    await agent.run("read 30 pages")
    calls = [m for m in model.requests[-1].messages if m.get("tool_calls")]
    assert calls and all(m.get("reasoning_content") for m in calls)
    assert any("elided" in m["reasoning_content"] for m in calls)


async def test_preserved_thinking_is_never_elided() -> None:
    # K3 keeps every earlier turn's reasoning as context and wants it back as it was: the
    # budget condenses whole turns instead of editing reasoning inside the kept history.
    model = ScriptedModel(reader(30), model="kimi-k3", context_window=9000)  # type: ignore[arg-type]
    agent = Agent(llm=model, tools=[read], plan=False, context_window=9000, max_tokens=800)
    result = await agent.run("read 30 pages")
    assert result.status == "finished" and result.answer == "done 30"
    assert any("Summary of the first" in str(m["content"]) for m in model.requests[-1].messages)
    for request in model.requests:
        for m in request.messages:
            if m.get("role") == "assistant" and "reasoning_content" in m:
                assert "elided" not in m["reasoning_content"]


async def test_context_length_400_prunes_harder_and_retries_once() -> None:
    model = ScriptedModel(reader(12, fail_at=6))  # type: ignore[arg-type]
    agent = Agent(llm=model, tools=[read], plan=False)
    result = await agent.run("read 12 pages")
    assert result.status == "finished" and result.answer.startswith("done")
    events = [e.event for e in await agent.store.events(result.run_id)]
    assert any(isinstance(e, BudgetDecision) and e.detail.get("hard") for e in events)


def test_estimator_calibrates_to_the_safe_side() -> None:
    est = TokenEstimator()
    est.calibrate(40_000, 10, 10_040)  # provider: 0.25 tokens per byte
    est.calibrate(40_000, 10, 9_040)
    guess = est.estimate(80_000, 10)
    assert 20_040 <= guess <= 20_040 * 1.06
