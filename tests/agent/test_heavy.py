"""Heavy mode (N trajectories + aggregation) and the delegate tool."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from agentkit import Agent, RetryPolicy, tool
from agentkit.ensembles.heavy import AGGREGATE_SYSTEM, SELECT_SYSTEM, normalise_answer
from agentkit.llm.client import OpenAICompatibleModel
from agentkit.run.live import ToolCallFinished
from agentkit.store import Aggregated, AssistantMessage, SQLiteStore, ToolResultEvent
from agentkit.testing import FakeProvider, FakeRequest, HttpError, ScriptedModel, Turn, call

pytestmark = pytest.mark.anyio
CITIES = ["Paris", "Paris", "Paris", "Paris", "Paris", "Lyon", "Marseille", "Nice"]


@tool
async def lookup(term: str) -> str:
    """Look a term up."""
    return f"{term}: see the atlas"


def responder(fail_seeds: frozenset[int] = frozenset(), cities: list[str] = CITIES) -> object:
    def respond(req: FakeRequest) -> object:
        system = req.messages[0]["content"]
        if system == AGGREGATE_SYSTEM:
            return Turn(content="Paris. 5 of 8 trajectories agreed; the others named other cities.")
        if system == SELECT_SYSTEM:
            return Turn(content="2\nIt cites the atlas.")
        seed = int(req.body.get("seed") or 0)
        if seed in fail_seeds:
            return HttpError(404, "model not found")
        if not req.tools:
            return Turn(content="1. Look it up.\n2. Answer.")
        if not any(m["role"] == "tool" for m in req.messages):
            return Turn(tool_calls=[call("lookup", term=f"capital of France #{seed}")])
        return Turn(content=f"The answer is {cities[seed % 8]}.")

    return respond


def heavy_agent(fake: FakeProvider, n: int, **kw: object) -> Agent:
    llm = OpenAICompatibleModel(
        provider="moonshot",
        base_url=fake.base_url,
        api_key="k",
        retry=RetryPolicy(initial_backoff=0.001, max_attempts=2),
    )
    return Agent(llm=llm, tools=[lookup], heavy=n, **kw)  # type: ignore[arg-type]


async def test_eight_trajectories_run_concurrently_and_the_majority_wins() -> None:
    # Concurrency is shown by requests in flight at once; the wall-time ratio is a figure
    # tools/bench/heavy.py prints, not something a test on a loaded machine should time.
    with FakeProvider(responder(), latency_s=0.25) as fake:
        async with heavy_agent(fake, 1) as agent:
            one = await agent.run("What is the capital of France?")
        assert fake.max_in_flight == 1
        async with heavy_agent(fake, 8, aggregate="vote") as agent:
            result = await agent.run("What is the capital of France?")
        assert fake.max_in_flight == 8
    assert one.answer == "The answer is Paris."
    assert result.status == "finished" and result.answer == "The answer is Paris."
    children = await agent.store.list_runs(parent_id=result.run_id)
    assert len(children) == 8 and all(c.status == "finished" for c in children)
    agg = next(e.event for e in await agent.store.events(result.run_id) if isinstance(e.event, Aggregated))
    assert agg.votes[normalise_answer("The answer is Paris.")] == 5


async def test_vote_takes_the_majority_not_the_first_trajectory() -> None:
    cities = ["Lyon", "Paris", "Nice", "Paris", "Paris", "Lyon", "Paris", "Marseille"]
    with FakeProvider(responder(cities=cities)) as fake:
        async with heavy_agent(fake, 8, aggregate="vote") as agent:
            result = await agent.run("Capital of France?")
    assert result.answer == "The answer is Paris."


async def test_reflective_aggregator_writes_the_answer_from_all_trajectories() -> None:
    with FakeProvider(responder()) as fake:
        async with heavy_agent(fake, 8, aggregate="reflective") as agent:
            result = await agent.run("Capital of France?")
        aggregation = [r for r in fake.requests if r.messages[0]["content"] == AGGREGATE_SYSTEM]
    assert result.status == "finished" and result.answer.startswith("Paris. 5 of 8")
    assert len(aggregation) == 1 and aggregation[0].messages[1]["content"].count("## Trajectory") == 8


async def test_select_takes_the_trajectory_the_model_picks() -> None:
    # the model picks trajectory 2 (seed 1), a minority answer: the pick wins, not the majority
    cities = ["Paris", "Lyon", "Paris", "Paris", "Paris", "Paris", "Paris", "Paris"]
    with FakeProvider(responder(cities=cities)) as fake:
        async with heavy_agent(fake, 8, aggregate="select") as agent:
            result = await agent.run("Capital of France?")
    agg = next(e.event for e in await agent.store.events(result.run_id) if isinstance(e.event, Aggregated))
    assert result.status == "finished" and result.answer == "The answer is Lyon."
    assert agg.chosen == f"{result.run_id}.1"


async def test_failed_trajectories_are_reported_and_survivors_aggregated() -> None:
    with FakeProvider(responder(frozenset({5, 6}))) as fake:
        async with heavy_agent(fake, 8, aggregate="vote") as agent:
            result = await agent.run("Capital of France?")
    assert result.answer == "The answer is Paris."
    agg = next(e.event for e in await agent.store.events(result.run_id) if isinstance(e.event, Aggregated))
    assert len(agg.failed) == 2 and len(agg.children) == 6
    with FakeProvider(responder(frozenset(range(8)))) as fake:
        async with heavy_agent(fake, 4) as agent:
            result = await agent.run("Capital of France?")
    assert result.status == "failed" and "all 4 trajectories failed" in (result.error or "")


async def test_early_stop_once_a_majority_agrees() -> None:
    """Trajectories 5-7 (the dissenters) wait in their tool call until cancelled: only the early
    stop, once 4 of 8 agree, can end the run; without it the test fails at its deadline."""
    never = anyio.Event()

    @tool
    async def lookup(term: str) -> str:
        """Look a term up."""
        if int(term.rsplit("#", 1)[1]) >= 5:
            await never.wait()
        return f"{term}: see the atlas"

    with FakeProvider(responder()) as fake:
        llm = OpenAICompatibleModel(provider="moonshot", base_url=fake.base_url, api_key="k")
        async with Agent(llm=llm, tools=[lookup], heavy=8, aggregate="vote", early_stop=0.5) as agent:
            with anyio.fail_after(60):
                result = await agent.run("Capital of France?")
    assert result.answer == "The answer is Paris."
    children = {c.id: c.status for c in await agent.store.list_runs(parent_id=result.run_id)}
    assert [children[f"{result.run_id}.{i}"] for i in (5, 6, 7)] == ["interrupted"] * 3


async def test_killed_heavy_run_resumes_to_the_end(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    with FakeProvider(responder(), latency_s=0.2) as fake:
        store = SQLiteStore(db)
        with anyio.CancelScope() as scope:
            finished: list[object] = []

            def kill_after_two_tool_results(event: object) -> None:  # mid-way, by what has happened
                if isinstance(event, ToolCallFinished):
                    finished.append(event)
                    if len(finished) == 2:
                        scope.cancel()

            async with heavy_agent(fake, 4, aggregate="vote", store=store) as agent:
                await agent.run("Capital of France?", run_id="heavy1", on_event=kill_after_two_tool_results)
        assert (await store.get_run("heavy1")).status == "interrupted"
        await store.aclose()
        store = SQLiteStore(db)
        async with heavy_agent(fake, 4, aggregate="vote", store=store) as agent:
            result = await agent.resume("heavy1")
        children = await store.list_runs(parent_id="heavy1")
        for child in children:
            steps = [e.event.step for e in await store.events(child.id) if isinstance(e.event, AssistantMessage)]
            assert steps == list(range(1, len(steps) + 1))
        await store.aclose()
    assert result.status == "finished" and result.answer == "The answer is Paris."
    assert len(children) == 4 and all(c.status == "finished" for c in children)


async def test_delegate_three_sub_questions_in_parallel_and_synthesise() -> None:
    questions = {"population of Lyon": "522,000", "population of Nice": "342,000", "population of Lille": "236,000"}
    in_flight, peak = 0, 0

    def respond(req: FakeRequest) -> object:
        task = req.messages[1]["content"]
        for q, a in questions.items():
            if task.startswith(q):
                return Turn(content=f"{q} is {a}.")
        if not any(m["role"] == "tool" for m in req.messages):
            return Turn(tool_calls=[call("delegate", question=q) for q in questions])
        results = [m["content"] for m in req.messages if m["role"] == "tool"]
        return Turn(content="Summary: " + " ".join(r.splitlines()[1] for r in results))

    @tool
    async def slow(x: str) -> str:
        """Unused."""
        return x

    model = ScriptedModel(respond)  # type: ignore[arg-type]
    original = model.complete

    async def tracking(request: object, **kw: object) -> object:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await anyio.sleep(0.05)
        try:
            return await original(request, **kw)  # type: ignore[arg-type]
        finally:
            in_flight -= 1

    model.complete = tracking  # type: ignore[method-assign]
    agent = Agent(llm=model, tools=[slow], plan=False, delegate=True)
    result = await agent.run("Compare the populations of Lyon, Nice and Lille.")
    assert result.status == "finished"
    for q, a in questions.items():
        assert f"{q} is {a}." in result.answer
    assert peak == 3  # the three sub-agents ran at once
    children = await agent.store.list_runs(parent_id=result.run_id)
    assert len(children) == 3 and {c.label for c in children} == {"delegate"}
    results = [e.event for e in await agent.store.events(result.run_id) if isinstance(e.event, ToolResultEvent)]
    assert all(r.meta.get("child_run") for r in results)
    assert result.usage.calls == 5  # two lead turns + three sub-agent answers
