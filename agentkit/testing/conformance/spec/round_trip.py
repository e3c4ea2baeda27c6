"""Capability ``round_trip``: what is stored comes back exactly (or, for text that is not
valid Unicode, with U+FFFD in place of each lone surrogate), and is a copy."""

from __future__ import annotations

from agentkit.store.base import RunNotFound
from agentkit.store.events import AssistantMessage, NoteAdded, RunStarted, Source, ToolResultEvent, TraceEvent
from agentkit.testing.conformance._harness import Backend, raises, spec
from agentkit.testing.conformance.capabilities import Capability
from agentkit.testing.conformance.data import every_event_type, make_run, sample_turn
from agentkit.vocabulary import AssistantTurn, ToolCall

round_trip = spec(Capability.ROUND_TRIP)


@round_trip
async def every_event_type_round_trips_exactly(backend: Backend) -> None:
    store = await backend.open()
    await store.create_run(make_run("t"))
    originals = every_event_type()
    for event in originals:
        await store.append("t", event)
    log = await store.events("t")
    assert [s.event for s in log] == originals
    for stored, original in zip(log, originals, strict=True):
        assert type(stored.event) is type(original)
        assert stored.event.model_dump() == original.model_dump()


@round_trip
async def large_payloads_round_trip_exactly(backend: Backend) -> None:
    store = await backend.open()
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


@round_trip
async def text_that_is_not_valid_unicode_is_stored_with_replacement_characters(backend: Backend) -> None:
    # A provider's JSON may carry "\\ud800" (valid JSON, a lone surrogate in Python);
    # a command-line argument with undecodable bytes arrives as "\\udcff".
    store = await backend.open()
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
    with raises(RunNotFound):
        await store.find_run("u\udcff")


@round_trip
async def stored_data_is_not_aliased(backend: Backend) -> None:
    store = await backend.open()
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


@round_trip
async def nul_characters_in_text_round_trip(backend: Backend) -> None:
    # A fetched page or a model's answer may hold U+0000 (ids are the store's own: not here).
    store = await backend.open()
    await store.create_run(make_run("nul", task="a\x00b", label="l\x00"))
    await store.update_run("nul", answer="x\x00y", stop_reason="\x00")
    run = await store.get_run("nul")
    assert (run.task, run.label, run.answer, run.stop_reason) == ("a\x00b", "l\x00", "x\x00y", "\x00")
    source = Source(id="S1", url="https://a.example/\x00", title="t\x00", meta={"k\x00": "v\x00"})
    await store.add_source("nul", source)
    assert await store.list_sources("nul") == [source]
    events: list[TraceEvent] = [
        NoteAdded(text="\x00"),
        ToolResultEvent(step=1, call_id="c", name="fetch", text="\x00" + "p" * 10_000, meta={"\x00": ["\x00"]}),
    ]
    await store.append_many("nul", events)
    assert [s.event for s in await store.events("nul")] == events
