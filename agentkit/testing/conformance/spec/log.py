"""Capability ``log``: the append-only event log of each run."""

from __future__ import annotations

import anyio

from agentkit.store.base import RunNotFound
from agentkit.store.events import NoteAdded, StoredEvent
from agentkit.testing.conformance._harness import Backend, raises, spec
from agentkit.testing.conformance.capabilities import Capability
from agentkit.testing.conformance.data import make_run

log_spec = spec(Capability.LOG)


@log_spec
async def append_returns_seq_in_order_and_events_after(backend: Backend) -> None:
    store = await backend.open()
    await store.create_run(make_run("e"))
    assert await store.events("e") == []
    seqs = [await store.append("e", NoteAdded(text=f"n{i}")) for i in range(10)]
    assert seqs == list(range(1, 11))
    log = await store.events("e")
    assert [s.seq for s in log] == seqs
    assert all(isinstance(s, StoredEvent) and s.run_id == "e" for s in log)
    assert [s.event.text for s in log if isinstance(s.event, NoteAdded)] == [f"n{i}" for i in range(10)]
    tail = await store.events("e", after=7)
    assert [s.seq for s in tail] == [8, 9, 10]
    assert tail == log[7:]
    assert await store.events("e", after=10) == []
    assert await store.events("e", after=99) == []


@log_spec
async def append_many(backend: Backend) -> None:
    store = await backend.open()
    await store.create_run(make_run("m"))
    await store.append("m", NoteAdded(text="first"))
    seqs = await store.append_many("m", [NoteAdded(text=str(i)) for i in range(5)])
    assert seqs == [2, 3, 4, 5, 6]
    assert [s.seq for s in await store.events("m")] == [1, 2, 3, 4, 5, 6]


@log_spec
async def logs_of_runs_are_independent(backend: Backend) -> None:
    store = await backend.open()
    await store.create_run(make_run("a"))
    await store.create_run(make_run("b"))
    got: dict[str, list[int]] = {"a": [], "b": []}
    for i in range(6):
        run_id = "ab"[i % 2]
        got[run_id].append(await store.append(run_id, NoteAdded(text=f"{run_id}{i}")))
    assert got == {"a": [1, 2, 3], "b": [1, 2, 3]}
    assert [e.event.text for e in await store.events("b") if isinstance(e.event, NoteAdded)] == ["b1", "b3", "b5"]


@log_spec
async def append_and_events_of_unknown_run_raise(backend: Backend) -> None:
    store = await backend.open()
    with raises(RunNotFound):
        await store.append("ghost", NoteAdded(text="x"))
    with raises(RunNotFound):
        await store.events("ghost")


@log_spec
async def concurrent_appends_to_one_run_are_gapless(backend: Backend) -> None:
    store = await backend.open()
    await store.create_run(make_run("c"))
    per_task = 4
    returned: dict[str, int] = {}

    async def writer(w: int) -> None:
        for i in range(per_task):
            text = f"{w}:{i}"
            returned[text] = await store.append("c", NoteAdded(text=text))

    async with anyio.create_task_group() as tg:
        for w in range(backend.concurrency):
            tg.start_soon(writer, w)
    total = backend.concurrency * per_task
    assert sorted(returned.values()) == list(range(1, total + 1))
    log = await store.events("c")
    assert [s.seq for s in log] == list(range(1, total + 1))
    # each append returned the seq its event was stored at, and each writer's order holds
    by_seq = {s.seq: s.event.text for s in log if isinstance(s.event, NoteAdded)}
    assert {text: seq for seq, text in by_seq.items()} == returned
    for w in range(backend.concurrency):
        mine = [returned[f"{w}:{i}"] for i in range(per_task)]
        assert mine == sorted(mine)
