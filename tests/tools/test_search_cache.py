"""web_search results kept in the store: a resumed run re-running its search, a repeated run,
and a later run reading a cached local document, all without asking a backend again."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from agentkit import Agent
from agentkit.llm.types import AssistantTurn, ToolCall
from agentkit.store.events import AssistantMessage, RunInfo, RunStarted, ToolResultEvent
from agentkit.store.memory import MemoryStore
from agentkit.store.sqlite import SQLiteStore
from agentkit.testing import FakeRequest, ScriptedModel, Turn
from agentkit.tools._index import build_index
from agentkit.tools._search_cache import NAMESPACE, CachedSearch, cache_key
from agentkit.tools.base import ToolContext
from agentkit.tools.fetch import FetchArgs, FetchTool
from agentkit.tools.web_search import LocalBackend, SearchHit, SearxngBackend, WebSearchArgs, WebSearchTool

pytestmark = pytest.mark.anyio


def searx(web: Any, path: str = "/sx") -> list[str]:
    queries: list[str] = []

    def handler(query_string: str) -> Any:
        q = parse_qs(query_string)["q"][0]
        queries.append(q)
        rows = [{"url": f"https://example.org/{i}", "title": f"R{i} {q}", "content": f"about {q}"} for i in range(3)]
        return web.Reply(200, json.dumps({"results": rows}).encode(), {"Content-Type": "application/json"})

    web.route(f"{path}/search", handler)
    return queries


def test_the_key_is_the_normalised_query_the_count_and_the_chain() -> None:
    chain = ["searxng http://a", "duckduckgo"]
    key = cache_key("Deep  sea\tVents", 10, chain)
    assert key == cache_key(" deep sea vents ", 10, chain)
    assert key != cache_key("deep sea vents", 5, chain)
    assert key != cache_key("deep sea vents", 10, ["duckduckgo"])
    assert key != cache_key("deep-sea vents", 10, chain)


async def test_a_resumed_run_reuses_the_search_its_first_process_made(web: Any, tmp_path: Path) -> None:
    """The first process searched, stored the results and died before committing the call's
    result; the resumed run re-runs the call and is answered from the store."""
    queries = searx(web)
    path = tmp_path / "runs.db"
    call = ToolCall(
        id="web_search:0",
        name="web_search",
        arguments='{"query": "vent fauna"}',
        parsed={"query": "vent fauna"},
    )
    first = SQLiteStore(path)
    await first.create_run(RunInfo(id="r1", task="q"))
    await first.append("r1", RunStarted(task="q"))
    await first.append("r1", AssistantMessage(step=1, turn=AssistantTurn(reasoning="search", tool_calls=[call])))
    dying = WebSearchTool([SearxngBackend(web.url("/sx"))])
    ctx = ToolContext(run_id="r1", call_id=call.id, step=1, store=first, workdir=tmp_path)
    out = await dying.invoke(WebSearchArgs(query="vent fauna"), ctx)
    assert out.meta["cached"] is False and queries == ["vent fauna"]
    await dying.aclose()
    await first.aclose()

    def respond(req: FakeRequest) -> Turn:
        [result] = [m for m in req.messages if m["role"] == "tool"]
        assert "R0 vent fauna" in result["content"]
        return Turn(content="Vent fauna found.")

    store = SQLiteStore(path)  # a new process
    resumed = WebSearchTool([SearxngBackend(web.url("/sx"))])
    result = await Agent(llm=ScriptedModel(respond), tools=[resumed], plan=False, store=store).resume("r1")
    assert result.status == "finished" and result.answer == "Vent fauna found."
    assert queries == ["vent fauna"]  # the backend was not asked again
    [event] = [e.event for e in await store.events("r1") if isinstance(e.event, ToolResultEvent)]
    assert event.meta["cached"] is True and len(event.sources) == 3
    assert {s.id for s in await store.list_sources("r1")} == set(event.sources)
    await resumed.aclose()
    await store.aclose()


async def test_expired_or_disabled_entries_search_again(web: Any, make_ctx: Any) -> None:
    queries = searx(web)
    backend = SearxngBackend(web.url("/sx"))
    ctx = await make_ctx()
    stale = CachedSearch("searxng", [SearchHit("Old", "https://old.example/", "old")], time.time() - 3600)
    await ctx.store.put_cached(NAMESPACE, cache_key("q", 10, [backend.identity]), stale.encode())
    tool = WebSearchTool([backend], cache_ttl_s=60)
    out = await tool.invoke(WebSearchArgs(query="q"), ctx)
    assert out.meta["cached"] is False and queries == ["q"] and "old.example" not in out.text
    out = await tool.invoke(WebSearchArgs(query="q"), ctx)  # the fresh entry replaced the stale one
    assert out.meta["cached"] is True and queries == ["q"]
    off = WebSearchTool([backend], cache_ttl_s=0)
    out = await off.invoke(WebSearchArgs(query="q"), ctx)
    assert out.meta["cached"] is False and queries == ["q", "q"]
    await ctx.store.put_cached(NAMESPACE, cache_key("broken", 10, [backend.identity]), b"\x00not json")
    out = await tool.invoke(WebSearchArgs(query="broken"), ctx)
    assert not out.is_error and out.meta["cached"] is False  # an unreadable entry is a miss
    await tool.aclose()


async def test_empty_and_failed_searches_are_not_kept(web: Any, make_ctx: Any) -> None:
    answers = iter([b'{"results": []}', b"<html>down</html>", b'{"results": [{"url": "https://x.example/"}]}'])
    web.route("/sx/search", lambda q: web.Reply(200, next(answers), {"Content-Type": "application/json"}))
    tool = WebSearchTool([SearxngBackend(web.url("/sx"))])
    ctx = await make_ctx()
    assert (await tool.invoke(WebSearchArgs(query="q"), ctx)).meta["results"] == 0
    assert (await tool.invoke(WebSearchArgs(query="q"), ctx)).is_error
    out = await tool.invoke(WebSearchArgs(query="q"), ctx)
    assert out.meta["results"] == 1 and out.meta["cached"] is False
    await tool.aclose()


async def test_a_cached_local_document_is_readable_in_a_later_run(tmp_path: Path, make_ctx: Any) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "tides.md").write_text("# Tide tables\n\nThe spring tide at Brest reached 7.9 metres in March.\n")
    index = tmp_path / "index.sqlite"
    build_index(docs, index)
    store = MemoryStore()
    tool = WebSearchTool([LocalBackend(index)])
    first = await make_ctx(store=store, run_id="a")
    out = await tool.invoke(WebSearchArgs(query="spring tide"), first)
    assert out.meta["cached"] is False
    index.unlink()  # a later run cannot search the index: only the store can answer
    later = await make_ctx(store=store, run_id="b")
    out = await tool.invoke(WebSearchArgs(query="Spring  tide"), later)
    assert not out.is_error and out.meta["cached"] is True
    [sid] = out.sources
    read = await FetchTool().invoke(FetchArgs(url=sid), later)
    assert not read.is_error and "7.9 metres" in read.text and read.meta["origin"] == "store"
