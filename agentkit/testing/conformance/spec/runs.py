"""Capability ``runs``: the run rows."""

from __future__ import annotations

from agentkit.store.base import RunNotFound
from agentkit.store.events import AssistantMessage, RunFinished, RunStarted, ToolResultEvent, TraceEvent
from agentkit.store.fold import load_state, run_events
from agentkit.testing.conformance._harness import Backend, raises, spec
from agentkit.testing.conformance.capabilities import Capability
from agentkit.testing.conformance.data import make_run
from agentkit.vocabulary import AssistantTurn, ToolCall, Usage

runs = spec(Capability.RUNS)


@runs
async def create_and_get_run_round_trips(backend: Backend) -> None:
    store = await backend.open()
    run = make_run(
        "r1",
        parent_id=None,
        label="trajectory-0",
        status="running",
        steps=3,
        usage=Usage(prompt_tokens=5, completion_tokens=6, cached_tokens=1, calls=2),
        cost_usd=0.5,
        answer=None,
        config={"heavy": {"trajectories": 8}, "t": 1.0},
    )
    await store.create_run(run)
    assert await store.get_run("r1") == run


@runs
async def create_existing_run_raises_value_error(backend: Backend) -> None:
    store = await backend.open()
    await store.create_run(make_run("dup"))
    with raises(ValueError):
        await store.create_run(make_run("dup"))


@runs
async def get_unknown_run_raises(backend: Backend) -> None:
    store = await backend.open()
    with raises(RunNotFound) as info:
        await store.get_run("nope")
    assert info.value.run_id == "nope"


@runs
async def list_runs_newest_first_with_parent_filter(backend: Backend) -> None:
    store = await backend.open()
    for i, run_id in enumerate(["old", "mid", "new"]):
        await store.create_run(make_run(run_id, created_at=1000.0 + i))
    for i in range(3):
        await store.create_run(make_run(f"mid.{i}", parent_id="mid", created_at=2000.0 + i))
    await store.create_run(make_run("new.0", parent_id="new", created_at=3000.0))
    assert [r.id for r in await store.list_runs()] == ["new", "mid", "old"]
    assert [r.id for r in await store.list_runs(limit=2)] == ["new", "mid"]
    children = await store.list_runs(parent_id="mid")
    assert [r.id for r in children] == ["mid.2", "mid.1", "mid.0"]
    assert all(r.parent_id == "mid" for r in children)
    assert await store.list_runs(parent_id="old") == []


@runs
async def update_run_fields(backend: Backend) -> None:
    store = await backend.open()
    await store.create_run(make_run("u"))
    before = await store.get_run("u")
    usage = Usage(prompt_tokens=10, completion_tokens=20, cached_tokens=5, reasoning_tokens=7, calls=3)
    await store.update_run(
        "u",
        status="finished",
        answer="ünïcode answer",
        steps=12,
        usage=usage,
        cost_usd=1.25,
        stop_reason="done",
        label="L",
        config={"a": [1, {"b": None}]},
    )
    after = await store.get_run("u")
    assert (after.status, after.answer, after.steps) == ("finished", "ünïcode answer", 12)
    assert after.usage == usage
    assert (after.cost_usd, after.stop_reason, after.label) == (1.25, "done", "L")
    assert after.config == {"a": [1, {"b": None}]}
    assert (after.task, after.created_at, after.parent_id) == (before.task, before.created_at, None)
    assert after.updated_at >= before.updated_at
    await store.update_run("u", answer=None)
    assert (await store.get_run("u")).answer is None


@runs
async def update_unknown_run_raises(backend: Backend) -> None:
    store = await backend.open()
    with raises(RunNotFound):
        await store.update_run("ghost", status="failed")


@runs
async def find_run_by_id_and_prefix(backend: Backend) -> None:
    store = await backend.open()
    for run_id in ["abc123", "abd456", "xyz789", "xyz"]:
        await store.create_run(make_run(run_id))
    assert (await store.find_run("abc123")).id == "abc123"
    assert (await store.find_run("abc")).id == "abc123"
    assert (await store.find_run("abd4")).id == "abd456"
    assert (await store.find_run("xyz")).id == "xyz"  # an exact id wins over longer ids
    with raises(RunNotFound):
        await store.find_run("ab")  # ambiguous
    with raises(RunNotFound):
        await store.find_run("q")


@runs
async def a_fork_keeps_its_lineage_and_folds_its_parents_first_steps(backend: Backend) -> None:
    """``forked_from``/``fork_step`` round-trip, and the fold reads the parent's events of the
    shared steps (by reference: the fork's own log holds only its own events)."""
    store = await backend.open()
    await store.create_run(make_run("parent", status="finished"))
    calls = [ToolCall(id=f"c{k}", name="lookup", arguments="{}") for k in (1, 2, 3)]
    parent_events: list[TraceEvent] = [RunStarted(task="t", config={"model": "old"})]
    for k, c in enumerate(calls, start=1):
        parent_events.append(AssistantMessage(step=k, turn=AssistantTurn(tool_calls=[c])))
        parent_events.append(ToolResultEvent(step=k, call_id=c.id, name="lookup", text=f"result {k}"))
    parent_events.append(RunFinished(status="finished", answer="old answer"))
    await store.append_many("parent", parent_events)
    fork = make_run("fork", forked_from="parent", fork_step=2)
    await store.create_run(fork)
    assert await store.get_run("fork") == fork
    own: list[TraceEvent] = [RunStarted(task="t", config={"model": "new"})]
    await store.append_many("fork", own)
    assert [s.event for s in await store.events("fork")] == own
    state = await load_state(store, "fork")
    assert state.step == 2 and state.config == {"model": "new"} and state.finished is None
    assert [r.results["c2"].text for r in state.records[1:]] == ["result 2"]
    assert [s.run_id for s in await run_events(store, "fork")] == ["parent"] * 5 + ["fork"]
