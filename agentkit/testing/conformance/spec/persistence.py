"""Capability ``persistence`` (optional, for ``reopen = True`` backends): what one store
wrote, a new store over the same data sees — the data after ``aclose()``, and a lease while
it is held."""

from __future__ import annotations

from agentkit.store.base import RunBusy
from agentkit.store.events import NoteAdded, Source, ToolResultEvent
from agentkit.testing.conformance._harness import Backend, NotApplicable, raises, spec
from agentkit.testing.conformance.capabilities import Capability
from agentkit.testing.conformance.data import every_event_type, make_run

persistence = spec(Capability.PERSISTENCE)
NOT_PERSISTENT = "the backend is not persistent (reopen = False)"


@persistence
async def lease_is_seen_by_a_second_store_over_the_same_data(backend: Backend) -> None:
    if not backend.reopen:
        raise NotApplicable(NOT_PERSISTENT)
    first, second = await backend.open(), await backend.open()
    async with first.lease("shared"):
        assert await second.is_leased("shared") in (True, None)
        with raises(RunBusy):
            async with second.lease("shared"):
                raise AssertionError("two stores over the same data both got the lease")
    assert await second.is_leased("shared") in (False, None)
    async with second.lease("shared"):
        pass


@persistence
async def data_survives_close_and_reopen(backend: Backend) -> None:
    if not backend.reopen:
        raise NotApplicable(NOT_PERSISTENT)
    big = ToolResultEvent(step=9, call_id="big", name="fetch", text="ß" * 300_000)
    events = [*every_event_type(), big]
    first = await backend.open()
    parent, child = make_run("p", created_at=1.0), make_run("p.0", parent_id="p", created_at=2.0)
    await first.create_run(parent)
    await first.create_run(child)
    await first.append_many("p.0", events)
    await first.update_run("p", status="finished", answer="A", steps=2)
    source = Source(id="S1", url="https://a.example", retrieved_at=3.0)
    await first.add_source("p.0", source)
    key = await first.put_blob(b"blob bytes")
    await first.put_cached("search", "query", b"results")
    await first.put_cached("search", "overwritten", b"old")
    await first.put_cached("search", "overwritten", b"new")
    await backend.close(first)
    second = await backend.open()
    run = await second.get_run("p")
    assert (run.status, run.answer, run.steps) == ("finished", "A", 2)
    assert await second.list_runs(parent_id="p") == [child]
    assert [s.event for s in await second.events("p.0")] == events
    assert await second.list_sources("p.0") == [source]
    assert await second.get_blob(key) == b"blob bytes"
    assert await second.get_cached("search", "query") == b"results"
    assert await second.get_cached("search", "overwritten") == b"new"
    assert await second.append("p.0", NoteAdded(text="after reopen")) == len(events) + 1
