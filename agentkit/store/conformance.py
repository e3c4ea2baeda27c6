"""The conformance suite every :class:`~agentkit.store.base.Store` backend must pass.

A backend author runs the whole suite with a few lines in their own test file::

    import pytest
    from agentkit.store.conformance import StoreConformance
    from mypackage import PostgresStore

    class TestPostgresStore(StoreConformance):
        reopen = True                     # data survives aclose() + a new instance

        @pytest.fixture
        def store_factory(self, tmp_path):
            return lambda: PostgresStore(DSN, schema=f"t_{tmp_path.name}")

``store_factory`` returns a zero-argument callable that builds a store (or an awaitable
of one) over **the same** backing data every time it is called and **empty** data per test:
the suite calls it once per test, and a second time after ``aclose()`` when ``reopen`` is
true. The suite closes every store it opens. It needs ``pytest`` and ``anyio`` (its
pytest plugin ships with anyio); tests run on asyncio unless the subclass overrides the
``anyio_backend`` fixture.

What it pins down: run rows (create/get/list newest first/parent filter/update/find by
prefix), the append-only log (``seq`` 1..n, gapless under concurrent appends, ``after``),
exact round-trip of every event type including large and non-ASCII payloads, text that is
not valid Unicode (lone surrogates stored as U+FFFD, nothing else changed), content-addressed
blobs, the per-run source registry, copy semantics, run leases (exclusive, released on exit,
visible to ``is_leased``, shared by every store over the same data when persistent) and
persistence.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, ClassVar

import anyio
import pytest

from agentkit.llm.types import AssistantTurn, ToolCall, Usage
from agentkit.store.base import RunBusy, RunNotFound, Store, blob_key
from agentkit.store.events import (
    AssistantMessage,
    BudgetDecision,
    ErrorEvent,
    NoteAdded,
    PlanUpdated,
    RunFinished,
    RunInfo,
    RunStarted,
    Source,
    StatusChanged,
    StoredEvent,
    ToolResultEvent,
    TraceEvent,
    UserMessage,
)

StoreFactory = Callable[[], Store | Awaitable[Store]]


async def open_from(factory: StoreFactory) -> Store:
    made = factory()
    store = await made if inspect.isawaitable(made) else made
    assert isinstance(store, Store), f"store_factory returned {type(store).__name__}, not a Store"
    return store


def make_run(run_id: str, *, created_at: float = 1_700_000_000.0, **fields: Any) -> RunInfo:
    fields.setdefault("task", f"task of {run_id}")
    return RunInfo(id=run_id, created_at=created_at, updated_at=created_at, **fields)


def sample_turn(n: int = 0, *, reasoning: str = "", content: str = "") -> AssistantTurn:
    return AssistantTurn(
        content=content or f"content {n}",
        reasoning=reasoning or f"reasoning {n} — ü 漢字 🙂",
        tool_calls=[
            ToolCall(
                id=f"functions.web_search:{n}",
                name="web_search",
                arguments='{"query": "q"}',
                parsed={"query": "q", "nested": {"k": [1, 2.5, None, True]}},
            ),
            ToolCall(id=f"fetch:{n}", name="fetch", arguments="{bad json", parse_error="Expecting ','", repaired=True),
        ],
        finish_reason="tool_calls",
        usage=Usage(prompt_tokens=1200 + n, completion_tokens=300, cached_tokens=1024, reasoning_tokens=250, calls=1),
        cost_usd=0.00123,
        model="kimi-k2-thinking",
        attempts=2,
    )


def every_event_type() -> list[TraceEvent]:
    """One event of each type, with every optional field set (``ts`` fixed)."""
    ts = 1_700_000_123.456789
    return [
        RunStarted(ts=ts, task="Find X", config={"model": {"name": "k2"}, "limits": {"max_steps": 300}}),
        PlanUpdated(ts=ts, plan="1. search\n2. read", reason="initial", turn=sample_turn(0)),
        PlanUpdated(ts=ts, plan="revised", reason="update"),
        AssistantMessage(ts=ts, step=1, turn=sample_turn(1)),
        ToolResultEvent(
            ts=ts,
            step=1,
            call_id="functions.web_search:1",
            name="web_search",
            text="results…",
            is_error=False,
            duration_s=0.25,
            attachments=[{"kind": "image/png", "key": "ab" * 32}],
            sources=["S1", "S2"],
            meta={"cached": True, "n": 3, "x": 0.1},
        ),
        ToolResultEvent(ts=ts, step=1, call_id="fetch:1", name="fetch", text="boom", is_error=True),
        NoteAdded(ts=ts, text="a note"),
        UserMessage(ts=ts, text="10 steps left", kind="limit_warning"),
        BudgetDecision(ts=ts, action="hide_tool_results", detail={"hidden": [3, 4], "tokens": 91_000}),
        ErrorEvent(ts=ts, kind="rate_limit", message="429", step=7),
        ErrorEvent(ts=ts, kind="other", message="no step"),
        StatusChanged(ts=ts, status="interrupted", reason="SIGINT"),
        RunFinished(ts=ts, status="finished", answer="42", stop_reason=None),
    ]


class StoreConformance:
    """Subclass as ``Test<Backend>`` and provide the ``store_factory`` fixture."""

    pytestmark: ClassVar[list[pytest.MarkDecorator]] = [pytest.mark.anyio]

    reopen: ClassVar[bool] = False
    """True for persistent backends: data must survive ``aclose()`` and a new instance."""

    concurrency: ClassVar[int] = 50
    """Concurrent appending tasks in the gapless-seq test."""

    @pytest.fixture
    def anyio_backend(self) -> str:
        return "asyncio"

    @pytest.fixture
    def store_factory(self) -> StoreFactory:
        raise NotImplementedError("define a store_factory fixture in your StoreConformance subclass")

    @pytest.fixture
    async def store(self, store_factory: StoreFactory, anyio_backend: str) -> AsyncIterator[Store]:
        s = await open_from(store_factory)
        try:
            yield s
        finally:
            await s.aclose()

    # -- runs ----------------------------------------------------------------------------

    async def test_create_and_get_run_round_trips(self, store: Store) -> None:
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

    async def test_create_existing_run_raises_value_error(self, store: Store) -> None:
        await store.create_run(make_run("dup"))
        with pytest.raises(ValueError):
            await store.create_run(make_run("dup"))

    async def test_get_unknown_run_raises(self, store: Store) -> None:
        with pytest.raises(RunNotFound) as info:
            await store.get_run("nope")
        assert info.value.run_id == "nope"

    async def test_list_runs_newest_first_with_parent_filter(self, store: Store) -> None:
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

    async def test_update_run_fields(self, store: Store) -> None:
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

    async def test_set_status(self, store: Store) -> None:
        await store.create_run(make_run("s"))
        await store.set_status("s", "stopped", stop_reason="max_steps")
        run = await store.get_run("s")
        assert (run.status, run.stop_reason) == ("stopped", "max_steps")

    async def test_update_unknown_run_raises(self, store: Store) -> None:
        with pytest.raises(RunNotFound):
            await store.update_run("ghost", status="failed")

    async def test_find_run_by_id_and_prefix(self, store: Store) -> None:
        for run_id in ["abc123", "abd456", "xyz789", "xyz"]:
            await store.create_run(make_run(run_id))
        assert (await store.find_run("abc123")).id == "abc123"
        assert (await store.find_run("abc")).id == "abc123"
        assert (await store.find_run("abd4")).id == "abd456"
        assert (await store.find_run("xyz")).id == "xyz"  # an exact id wins over longer ids
        with pytest.raises(RunNotFound):
            await store.find_run("ab")  # ambiguous
        with pytest.raises(RunNotFound):
            await store.find_run("q")

    # -- events --------------------------------------------------------------------------

    async def test_append_returns_seq_in_order_and_events_after(self, store: Store) -> None:
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

    async def test_append_many(self, store: Store) -> None:
        await store.create_run(make_run("m"))
        await store.append("m", NoteAdded(text="first"))
        seqs = await store.append_many("m", [NoteAdded(text=str(i)) for i in range(5)])
        assert seqs == [2, 3, 4, 5, 6]
        assert [s.seq for s in await store.events("m")] == [1, 2, 3, 4, 5, 6]

    async def test_logs_of_runs_are_independent(self, store: Store) -> None:
        await store.create_run(make_run("a"))
        await store.create_run(make_run("b"))
        got: dict[str, list[int]] = {"a": [], "b": []}
        for i in range(6):
            run_id = "ab"[i % 2]
            got[run_id].append(await store.append(run_id, NoteAdded(text=f"{run_id}{i}")))
        assert got == {"a": [1, 2, 3], "b": [1, 2, 3]}
        assert [e.event.text for e in await store.events("b") if isinstance(e.event, NoteAdded)] == ["b1", "b3", "b5"]

    async def test_append_and_events_of_unknown_run_raise(self, store: Store) -> None:
        with pytest.raises(RunNotFound):
            await store.append("ghost", NoteAdded(text="x"))
        with pytest.raises(RunNotFound):
            await store.events("ghost")

    async def test_every_event_type_round_trips_exactly(self, store: Store) -> None:
        await store.create_run(make_run("t"))
        originals = every_event_type()
        for event in originals:
            await store.append("t", event)
        log = await store.events("t")
        assert [s.event for s in log] == originals
        for stored, original in zip(log, originals, strict=True):
            assert type(stored.event) is type(original)
            assert stored.event.model_dump() == original.model_dump()

    async def test_large_payloads_round_trip_exactly(self, store: Store) -> None:
        await store.create_run(make_run("big", task="long task " * 2000))
        mb = ("0123456789abcdéf漢字🙂\n" * 52_000)[:1_000_000]
        events: list[TraceEvent] = [
            RunStarted(task="T" * 9000 + "ü", config={"k": "v" * 20_000}),
            AssistantMessage(step=1, turn=sample_turn(1, reasoning="r€" * 30_000, content="c" * 10_000)),
            ToolResultEvent(step=1, call_id="c1", name="fetch", text=mb, meta={"raw": "m" * 9_000}),
            ToolResultEvent(step=1, call_id="c2", name="python", text="x" * 8192),
            ToolResultEvent(step=1, call_id="c3", name="python", text="y" * 8193),
            ToolResultEvent(step=2, call_id="c4", name="fetch", text=mb),  # the same page again
            AssistantMessage(
                step=3,
                turn=AssistantTurn(
                    tool_calls=[ToolCall(id="p:0", name="python", arguments='{"code": "' + "1+" * 10_000 + '1"}')]
                ),
            ),
            NoteAdded(text="blob:" + "0" * 64),  # looks like an internal reference; is not one
            ToolResultEvent(
                step=4, call_id="c5", name="fetch", text="", attachments=[{"png": "A" * 50_000}, {"png": "A" * 50_000}]
            ),
        ]
        await store.append_many("big", events[:3])
        for event in events[3:]:
            await store.append("big", event)
        log = await store.events("big")
        assert [s.event for s in log] == events
        assert (await store.get_run("big")).task == "long task " * 2000
        assert [s.event for s in await store.events("big", after=5)] == events[5:]

    async def test_text_that_is_not_valid_unicode_is_stored_with_replacement_characters(self, store: Store) -> None:
        # A provider's JSON may carry "\\ud800" (valid JSON, a lone surrogate in Python);
        # a command-line argument with undecodable bytes arrives as "\\udcff".
        await store.create_run(make_run("u", task="task \ud800", label="l\udcff"))
        await store.update_run("u", answer="answer \udfff", stop_reason="ok")
        run = await store.get_run("u")
        assert (run.task, run.label, run.answer, run.stop_reason) == ("task \ufffd", "l\ufffd", "answer \ufffd", "ok")
        events: list[TraceEvent] = [
            AssistantMessage(step=1, turn=sample_turn(1, reasoning="r\ud800" * 5000, content="c\ud83d\ude00")),
            NoteAdded(text="note \ud800 ü 漢字 🙂"),
            ToolResultEvent(step=1, call_id="c", name="fetch", text="t", meta={"k": ["v\udc80"]}),
        ]
        for event in events:
            await store.append("u", event)
        log = [s.event for s in await store.events("u")]
        assert isinstance(log[0], AssistantMessage) and isinstance(log[1], NoteAdded)
        assert log[0].turn.reasoning == "r\ufffd" * 5000
        assert log[0].turn.content == "c\U0001f600"  # a surrogate pair is its character
        assert log[0].turn.tool_calls == events[0].turn.tool_calls  # type: ignore[union-attr]
        assert log[1].text == "note \ufffd ü 漢字 🙂"
        assert isinstance(log[2], ToolResultEvent) and log[2].meta == {"k": ["v\ufffd"]}
        await store.add_source("u", Source(id="S1", url="https://a.example/\ud800", title="t\ud800"))
        assert [(s.url, s.title) for s in await store.list_sources("u")] == [("https://a.example/\ufffd", "t\ufffd")]
        with pytest.raises(RunNotFound):
            await store.find_run("u\udcff")

    async def test_concurrent_appends_to_one_run_are_gapless(self, store: Store) -> None:
        await store.create_run(make_run("c"))
        per_task = 4
        returned: dict[str, int] = {}

        async def writer(w: int) -> None:
            for i in range(per_task):
                text = f"{w}:{i}"
                returned[text] = await store.append("c", NoteAdded(text=text))

        async with anyio.create_task_group() as tg:
            for w in range(self.concurrency):
                tg.start_soon(writer, w)
        total = self.concurrency * per_task
        assert sorted(returned.values()) == list(range(1, total + 1))
        log = await store.events("c")
        assert [s.seq for s in log] == list(range(1, total + 1))
        # each append returned the seq its event was stored at, and each writer's order holds
        by_seq = {s.seq: s.event.text for s in log if isinstance(s.event, NoteAdded)}
        assert {text: seq for seq, text in by_seq.items()} == returned
        for w in range(self.concurrency):
            mine = [returned[f"{w}:{i}"] for i in range(per_task)]
            assert mine == sorted(mine)

    async def test_stored_data_is_not_aliased(self, store: Store) -> None:
        run = make_run("alias", config={"list": [1]})
        await store.create_run(run)
        run.config["list"].append(2)
        fetched = await store.get_run("alias")
        assert fetched.config == {"list": [1]}
        fetched.config["list"].append(3)
        assert (await store.get_run("alias")).config == {"list": [1]}
        event = ToolResultEvent(step=1, call_id="c", name="n", text="t", meta={"m": [1]})
        await store.append("alias", event)
        event.meta["m"].append(2)
        (stored,) = await store.events("alias")
        assert isinstance(stored.event, ToolResultEvent) and stored.event.meta == {"m": [1]}

    # -- blobs ---------------------------------------------------------------------------

    async def test_blobs_are_content_addressed(self, store: Store) -> None:
        data = bytes(range(256)) * 40_000  # ~10 MB, not UTF-8
        key = await store.put_blob(data)
        assert key == blob_key(data)
        assert await store.put_blob(data) == key
        assert await store.get_blob(key) == data
        assert await store.put_blob(b"") == blob_key(b"")
        assert await store.get_blob(blob_key(b"")) == b""
        assert await store.get_blob("0" * 64) is None
        small = "ü漢🙂".encode()
        assert await store.get_blob(await store.put_blob(small)) == small

    # -- sources -------------------------------------------------------------------------

    async def test_sources_add_replace_list_get(self, store: Store) -> None:
        await store.create_run(make_run("src"))
        await store.create_run(make_run("other"))
        s1 = Source(
            id="S1",
            url="https://a.example/1",
            title="A",
            retrieved_at=1.5,
            content_hash="ab" * 32,
            kind="page",
            meta={"lang": "en", "pages": [1, 2]},
        )
        s2 = Source(id="S2", url="https://b.example/ü", title="B — ü", retrieved_at=2.5, kind="pdf")
        await store.add_source("src", s1)
        await store.add_source("src", s2)
        assert await store.list_sources("src") == [s1, s2]
        s1b = s1.model_copy(update={"title": "A (updated)", "content_hash": None})
        await store.add_source("src", s1b)
        listed = await store.list_sources("src")
        assert sorted(listed, key=lambda s: s.id) == [s1b, s2]
        assert await store.get_source("src", "S1") == s1b
        assert await store.get_source("src", "S3") is None
        assert await store.get_source("other", "S1") is None
        assert await store.list_sources("other") == []

    async def test_add_source_to_unknown_run_raises(self, store: Store) -> None:
        with pytest.raises(RunNotFound):
            await store.add_source("ghost", Source(id="S1", url="https://x.example"))

    # -- leases --------------------------------------------------------------------------

    async def test_lease_is_exclusive_per_run_and_released_on_exit(self, store: Store) -> None:
        async with store.lease("r"):
            with pytest.raises(RunBusy) as busy:
                async with store.lease("r"):
                    pytest.fail("a second holder got the lease")
            assert busy.value.run_id == "r" and "r" in str(busy.value)
            async with store.lease("other"):  # other runs are independent
                pass
        async with store.lease("r"):  # free again after a normal exit
            pass
        with pytest.raises(ZeroDivisionError):
            async with store.lease("r"):
                raise ZeroDivisionError
        async with store.lease("r"):  # and after an exception
            pass

    async def test_lease_holder_is_visible_without_taking_the_lease(self, store: Store) -> None:
        if await store.is_leased("r") is None:
            pytest.skip("not applicable: the backend cannot tell whether a run is driven")
        assert await store.is_leased("r") is False
        async with store.lease("r"):
            assert await store.is_leased("r") is True
            assert await store.is_leased("r") is True  # asking does not take or break it
            assert await store.is_leased("other") is False
        assert await store.is_leased("r") is False

    async def test_lease_is_seen_by_a_second_store_over_the_same_data(self, store_factory: StoreFactory) -> None:
        if not self.reopen:
            pytest.skip("not applicable: the backend is not persistent (reopen = False)")
        first, second = await open_from(store_factory), await open_from(store_factory)
        try:
            async with first.lease("shared"):
                assert await second.is_leased("shared") in (True, None)
                with pytest.raises(RunBusy):
                    async with second.lease("shared"):
                        pytest.fail("two stores over the same data both got the lease")
            assert await second.is_leased("shared") in (False, None)
            async with second.lease("shared"):
                pass
        finally:
            await first.aclose()
            await second.aclose()

    # -- lifecycle -----------------------------------------------------------------------

    async def test_usable_as_async_context_manager(self, store_factory: StoreFactory) -> None:
        async with await open_from(store_factory) as store:
            await store.create_run(make_run("ctx"))
            assert (await store.get_run("ctx")).id == "ctx"
        await store.aclose()  # closing twice is harmless

    async def test_data_survives_close_and_reopen(self, store_factory: StoreFactory) -> None:
        if not self.reopen:
            pytest.skip("not applicable: the backend is not persistent (reopen = False)")
        big = ToolResultEvent(step=9, call_id="big", name="fetch", text="ß" * 300_000)
        events = [*every_event_type(), big]
        first = await open_from(store_factory)
        try:
            parent, child = make_run("p", created_at=1.0), make_run("p.0", parent_id="p", created_at=2.0)
            await first.create_run(parent)
            await first.create_run(child)
            await first.append_many("p.0", events)
            await first.update_run("p", status="finished", answer="A", steps=2)
            source = Source(id="S1", url="https://a.example", retrieved_at=3.0)
            await first.add_source("p.0", source)
            key = await first.put_blob(b"blob bytes")
        finally:
            await first.aclose()
        second = await open_from(store_factory)
        try:
            run = await second.get_run("p")
            assert (run.status, run.answer, run.steps) == ("finished", "A", 2)
            assert await second.list_runs(parent_id="p") == [child]
            assert [s.event for s in await second.events("p.0")] == events
            assert await second.list_sources("p.0") == [source]
            assert await second.get_blob(key) == b"blob bytes"
            assert await second.append("p.0", NoteAdded(text="after reopen")) == len(events) + 1
        finally:
            await second.aclose()


__all__ = ["StoreConformance", "StoreFactory", "every_event_type", "make_run", "open_from", "sample_turn"]
