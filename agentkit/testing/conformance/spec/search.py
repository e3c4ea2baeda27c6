"""Capability ``search``: full-text search over runs' traces (``search_text``, what the
``recall`` tool asks) and run tags (``tagged_runs``)."""

from __future__ import annotations

from agentkit.store._search import SNIPPET_CHARS
from agentkit.store.events import (
    AssistantMessage,
    BudgetDecision,
    CellExecuted,
    ErrorEvent,
    NoteAdded,
    PlanUpdated,
    RunFinished,
    RunStarted,
    Source,
    ToolResultEvent,
    TraceEvent,
    UserMessage,
)
from agentkit.testing.conformance._harness import Backend, NotApplicable, spec
from agentkit.testing.conformance.capabilities import Capability
from agentkit.testing.conformance.data import make_run, sample_turn

search = spec(Capability.SEARCH)
SNIPPET_MAX = SNIPPET_CHARS + 2  # the ellipses


def _filler(n: int) -> str:
    return " ".join(f"filler{i % 97}" for i in range(n))


@search
async def every_kind_of_trace_text_is_found_with_where_it_is(backend: Backend) -> None:
    store = await backend.open()
    await store.create_run(make_run("k", config={"model": {"name": "configword"}}))
    turn = sample_turn(1, reasoning="thinking about aardvark habitats", content="said bandicoot")
    calls = [turn.tool_calls[0].model_copy(update={"arguments": '{"query": "capybara facts"}'}), turn.tool_calls[1]]
    turn = turn.model_copy(update={"tool_calls": calls})
    events: list[TraceEvent] = [
        RunStarted(task="research the dugong", config={"api_key_env": "configword"}),
        PlanUpdated(plan="1. find the echidna", reason="initial"),
        AssistantMessage(step=1, turn=turn),
        NoteAdded(text="the fossa is shy", call_id="c1"),
        CellExecuted(code="gerenuk = 1", ok=True, call_id="c1"),
        ToolResultEvent(step=1, call_id="c1", name="web_search", text="the hoatzin smells", sources=["S7", "S8"]),
        BudgetDecision(action="prune", detail={"summary": "the ibex climbed", "usage": {}, "drop_before": 1}),
        UserMessage(text="jackal notice from the harness"),
        ErrorEvent(kind="other", message="jackal error"),
        RunFinished(status="finished", answer="the kakapo is the answer"),
    ]
    seqs = await store.append_many("k", events)
    key = await store.put_blob(b"the lemur page text")
    await store.add_source("k", Source(id="S9", url="https://lemur.example/", title="Lemurs", content_hash=key))
    expect = {
        "dugong": ("task", seqs[0], None, None, None),
        "echidna": ("plan", seqs[1], None, None, None),
        "aardvark": ("reasoning", seqs[2], 1, None, None),
        "bandicoot": ("message", seqs[2], 1, None, None),
        "capybara": ("calls", seqs[2], 1, None, "web_search, fetch"),
        "fossa": ("note", seqs[3], 1, None, None),  # a tool's effect takes its result's step
        "gerenuk": ("code", seqs[4], 1, None, None),
        "hoatzin": ("tool_result", seqs[5], 1, "S7", "web_search"),
        "ibex": ("summary", seqs[6], None, None, None),
        "kakapo": ("answer", seqs[9], None, None, None),
        "lemur": ("source", None, None, "S9", None),
    }
    for word, (kind, seq, step, source, tool) in expect.items():
        hits = await store.search_text(["k"], word)
        assert len(hits) == 1, (word, hits)
        hit = hits[0]
        where = (hit.run_id, hit.kind, hit.seq, hit.step, hit.source_id, hit.tool)
        assert where == ("k", kind, seq, step, source, tool)
        assert word in hit.snippet.lower()
        assert hit.rank > 0
    assert await store.search_text(["k"], "jackal") == []  # harness notices and errors are not indexed
    assert await store.search_text(["k"], "configword") == []  # nor a run's configuration


@search
async def hits_never_cross_into_runs_not_asked_for(backend: Backend) -> None:
    store = await backend.open()
    for run_id, parent in (("a", None), ("b", None), ("a.0", "a")):
        await store.create_run(make_run(run_id, parent_id=parent))
        await store.append(run_id, NoteAdded(text=f"shared marmot word, written in {run_id}"))
    key = await store.put_blob(b"marmot page")
    await store.add_source("b", Source(id="S1", url="https://m.example/", content_hash=key))
    assert {h.run_id for h in await store.search_text(["a"], "marmot")} == {"a"}  # not its child either
    assert {h.run_id for h in await store.search_text(["a.0"], "marmot")} == {"a.0"}
    assert {(h.run_id, h.kind) for h in await store.search_text(["b"], "marmot")} == {("b", "note"), ("b", "source")}
    both = await store.search_text(["a", "b", "ghost"], "marmot", k=10)
    assert sorted(h.run_id for h in both) == ["a", "b", "b"]
    assert await store.search_text(["ghost"], "marmot") == []
    assert await store.search_text([], "marmot") == []


@search
async def chunks_holding_more_of_the_query_rank_first_and_k_limits(backend: Backend) -> None:
    store = await backend.open()
    await store.create_run(make_run("r"))
    texts = [
        "the quokka eats",
        "a quokka and a numbat and a bilby together",
        "numbat alone",
        "unrelated words only",
        "bilby burrows",
    ]
    seqs = await store.append_many("r", [NoteAdded(text=t) for t in texts])
    hits = await store.search_text(["r"], "quokka numbat bilby", k=10)
    assert hits[0].seq == seqs[1]
    assert {h.seq for h in hits} == {seqs[0], seqs[1], seqs[2], seqs[4]}
    ranks = [h.rank for h in hits]
    assert ranks == sorted(ranks, reverse=True)
    assert len(await store.search_text(["r"], "quokka numbat bilby", k=2)) == 2
    assert await store.search_text(["r"], "quokka", k=0) == []


@search
async def queries_are_words_never_syntax(backend: Backend) -> None:
    store = await backend.open()
    await store.create_run(make_run("q"))
    await store.append("q", NoteAdded(text="the zebra said 'hello' (near the col: value) AND NOT * stars"))
    hostile = [
        '"',
        "'",
        "NEAR(",
        "NEAR(zebra",
        "*",
        "zebra*",
        "a AND",
        "OR",
        "NOT",
        "col:zebra",
        "-zebra",
        "^zebra",
        ")(",
        "{zebra}",
        "%s",
        "?",
        "\\",
        "zebra\x00",
        "zebra \ud800",
        "!@#$%^&*()_+=[]|;<>,./`~",
        "zebra " * 5000,
        "x" * 100_000,
    ]
    for query in hostile:
        hits = await store.search_text(["q"], query)  # must not raise
        if "zebra" in query:
            assert [h.seq for h in hits] == [1], query
    assert len(await store.search_text(["q"], "NEAR( AND OR NOT")) == 1  # plain words, found as such
    for nothing in ["", "   ", "!!!", "*", '"']:
        assert await store.search_text(["q"], nothing) == [], nothing


@search
async def unicode_text_is_folded_the_same_way_everywhere(backend: Backend) -> None:
    store = await backend.open()
    await store.create_run(make_run("u"))
    notes = [
        "Population of Zürich in 2019",
        "Москва — столица",
        "我在北京大学学习",
        "東京タワーの高さ",
        "서울은 크다",
        "emoji 🙂 text and a lone \ud800 surrogate",
        "STRASSE in caps, Straße in German",
    ]
    seqs = await store.append_many("u", [NoteAdded(text=t) for t in notes])
    cases = {
        "zurich": seqs[0],
        "ZÜRICH": seqs[0],
        "zürich": seqs[0],
        "москва": seqs[1],
        "МОСКВА": seqs[1],
        "北京": seqs[2],  # characters written without spaces: found as a phrase
        "東京": seqs[3],
        "서울": seqs[4],
        "surrogate": seqs[5],
    }
    for query, seq in cases.items():
        assert [h.seq for h in await store.search_text(["u"], query)] == [seq], query
    assert await store.search_text(["u"], "京北") == []  # a phrase keeps its order
    assert {h.seq for h in await store.search_text(["u"], "strasse")} == {seqs[6]}
    (hit,) = await store.search_text(["u"], "Moskva москва")
    assert "Москва" in hit.snippet


@search
async def huge_texts_are_found_anywhere_with_short_snippets(backend: Backend) -> None:
    store = await backend.open()
    await store.create_run(make_run("h"))
    body = _filler(200_000)  # ~1.6 MB of text
    text = f"{body[:800_000]} the okapi is in the middle {body[800_000:]} and the tapir at the end"
    (seq,) = await store.append_many("h", [ToolResultEvent(step=3, call_id="c", name="fetch", text=text)])
    key = await store.put_blob(f"{body} then a wombat".encode())
    await store.add_source("h", Source(id="S1", url="https://big.example/", content_hash=key))
    for word, where in (("okapi", seq), ("tapir", seq), ("wombat", None)):
        (hit,) = await store.search_text(["h"], word)
        assert (hit.seq, hit.kind) == (where, "source" if where is None else "tool_result"), word
        assert word in hit.snippet and len(hit.snippet) <= SNIPPET_MAX, hit.snippet
    assert len(await store.search_text(["h"], "filler5", k=100)) == 100
    for hit in await store.search_text(["h"], "filler5 filler6", k=20):
        assert len(hit.snippet) <= SNIPPET_MAX


@search
async def a_replaced_source_is_searched_by_its_new_text_only(backend: Backend) -> None:
    store = await backend.open()
    await store.create_run(make_run("s"))
    old = await store.put_blob(b"old text about the pangolin")
    new = await store.put_blob(b"new text about the narwhal")
    source = Source(id="S1", url="https://p.example/", title="Pangolins", content_hash=old)
    await store.add_source("s", source)
    await store.add_source("s", source)  # registered again, unchanged
    assert len(await store.search_text(["s"], "pangolin")) == 1
    await store.add_source("s", source.model_copy(update={"content_hash": new, "title": "Narwhals"}))
    assert await store.search_text(["s"], "pangolin") == []
    (hit,) = await store.search_text(["s"], "narwhal")
    assert (hit.kind, hit.source_id, hit.seq) == ("source", "S1", None)
    image = await store.put_blob(bytes(range(256)) * 10)  # not UTF-8: only its title and URL are text
    await store.add_source("s", Source(id="S2", url="https://i.example/quoll.png", title="quoll", content_hash=image))
    assert [h.source_id for h in await store.search_text(["s"], "quoll")] == ["S2"]


@search
async def the_index_survives_reopening(backend: Backend) -> None:
    if not backend.reopen:
        raise NotApplicable("the backend is not persistent (reopen = False)")
    first = await backend.open()
    await first.create_run(make_run("p", tags=["series"]))
    await first.append("p", NoteAdded(text="the axolotl note"))
    await backend.close(first)
    second = await backend.open()
    assert [h.seq for h in await second.search_text(["p"], "axolotl")] == [1]
    await second.append("p", NoteAdded(text="another axolotl"))
    assert len(await second.search_text(["p"], "axolotl")) == 2
    assert [r.id for r in await second.tagged_runs("series")] == ["p"]


@search
async def runs_are_found_by_tag_newest_first(backend: Backend) -> None:
    store = await backend.open()
    await store.create_run(make_run("t1", created_at=1.0, tags=["climate", "2026"]))
    await store.create_run(make_run("t2", created_at=2.0, tags=["climate"]))
    await store.create_run(make_run("t2.0", parent_id="t2", created_at=3.0, tags=["climate"]))
    await store.create_run(make_run("t3", created_at=4.0))
    await store.create_run(make_run("odd", created_at=5.0, tags=["ünï \x00 code", "climate"]))
    assert [r.id for r in await store.tagged_runs("climate")] == ["odd", "t2.0", "t2", "t1"]
    assert [r.id for r in await store.tagged_runs("climate", limit=2)] == ["odd", "t2.0"]
    assert [r.id for r in await store.tagged_runs("2026")] == ["t1"]
    assert [r.id for r in await store.tagged_runs("ünï \x00 code")] == ["odd"]
    assert await store.tagged_runs("Climate") == []  # matched exactly
    assert (await store.get_run("t1")).tags == ["climate", "2026"]
    await store.update_run("t3", tags=["climate"])
    await store.update_run("t1", tags=[])
    assert [r.id for r in await store.tagged_runs("climate")] == ["odd", "t3", "t2.0", "t2"]
    assert (await store.get_run("t1")).tags == []
