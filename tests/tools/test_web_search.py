"""web_search: backends (SearXNG on loopback, ddgs monkeypatched), fail-over, breaker, rate limit."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any, ClassVar
from urllib.parse import parse_qs

import anyio
import pytest
from pydantic import ValidationError

from agentkit.task.sections import SEARCH_KEY_VARS
from agentkit.tools._search_backends import CircuitBreaker, RateLimiter
from agentkit.tools._sources import source_id_for
from agentkit.tools.fetch import FetchArgs, FetchTool
from agentkit.tools.web_search import (
    DuckDuckGoBackend,
    SearxngBackend,
    WebSearchArgs,
    WebSearchTool,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
def no_search_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """No keyed backend in the automatic chain, whatever the machine's environment holds."""
    for names in SEARCH_KEY_VARS.values():
        for var in names:
            monkeypatch.delenv(var, raising=False)


def searx_results(query: str, n: int = 3, host: str = "https://example.org") -> dict[str, Any]:
    return {
        "query": query,
        "results": [
            {
                "url": f"{host}/{query.replace(' ', '-')}/{i}",
                "title": f"Result {i} for {query}",
                "content": f"Snippet {i} about {query}.",
                "engine": "fake",
            }
            for i in range(1, n + 1)
        ],
        "unresponsive_engines": [],
    }


def searx_route(web: Any, path: str, *, fail: int = 0, status: int = 500, n: int = 3) -> list[str]:
    """A SearXNG-like JSON endpoint at ``path``/search: the first ``fail`` calls answer ``status``."""
    queries: list[str] = []

    def handler(query_string: str) -> Any:
        params = parse_qs(query_string)
        q = params.get("q", [""])[0]
        queries.append(q)
        if params.get("format") != ["json"]:
            return web.Reply(403, b"format not allowed", {"Content-Type": "text/plain"})
        if len(queries) <= fail:
            return web.Reply(status, b"upstream error", {"Content-Type": "text/plain"})
        return web.Reply(200, json.dumps(searx_results(q, n)).encode(), {"Content-Type": "application/json"})

    web.route(f"{path}/search", handler)
    return queries


async def search(tool: WebSearchTool, ctx: Any, query: str, max_results: int = 10) -> Any:
    return await tool.invoke(WebSearchArgs(query=query, max_results=max_results), ctx)


async def test_searxng_results_are_listed_and_registered(web: Any, make_ctx: Any) -> None:
    queries = searx_route(web, "/sx")
    tool = WebSearchTool([SearxngBackend(web.url("/sx"))])
    ctx = await make_ctx()
    out = await search(tool, ctx, "deep  sea vents", max_results=2)
    await tool.aclose()
    assert not out.is_error
    assert queries == ["deep sea vents"]
    url1 = "https://example.org/deep-sea-vents/1"
    sid1 = source_id_for(url1)
    lines = out.text.splitlines()
    assert lines[0] == 'Results for "deep sea vents" (searxng):'
    assert lines[1] == f"1. [{sid1}] Result 1 for deep sea vents"
    assert lines[2] == f"   {url1}"
    assert lines[3] == "   Snippet 1 about deep sea vents."
    assert lines[4].startswith("2. [S") and "3. [" not in out.text  # max_results honoured
    assert out.sources == [sid1, source_id_for("https://example.org/deep-sea-vents/2")]
    source = await ctx.store.get_source(ctx.run_id, sid1)
    assert source is not None and source.kind == "search_result" and source.url == url1
    assert source.meta["snippet"] == "Snippet 1 about deep sea vents." and source.meta["backend"] == "searxng"
    assert source.content_hash is None


async def test_fail_over_to_the_next_backend(web: Any, make_ctx: Any) -> None:
    first = searx_route(web, "/one", fail=10)
    second = searx_route(web, "/two")
    tool = WebSearchTool([SearxngBackend(web.url("/one"), backoff_s=0), SearxngBackend(web.url("/two"))])
    tool.backends[1].name = "searxng-b"
    out = await search(tool, await make_ctx(), "ocean")
    await tool.aclose()
    assert not out.is_error
    header = 'Results for "ocean" (searxng-b; failed over from searxng: HTTP 500 (3 attempts)):'
    assert out.text.splitlines()[0] == header
    assert len(first) == 3 and len(second) == 1  # a server error is retried, then the next backend answers
    assert out.meta["backend"] == "searxng-b" and out.meta["problems"] == ["searxng: HTTP 500 (3 attempts)"]


async def test_circuit_breaker_skips_a_failing_backend_then_retries(web: Any, make_ctx: Any) -> None:
    now = [1000.0]
    first = searx_route(web, "/one", fail=3)
    second = searx_route(web, "/two")
    tool = WebSearchTool(
        [SearxngBackend(web.url("/one"), attempts=1), SearxngBackend(web.url("/two"))],
        failure_threshold=2,
        cooldown_s=30.0,
        cache_ttl_s=0,  # the same query each time: every one must reach the backends
        clock=lambda: now[0],
    )
    ctx = await make_ctx()
    for _ in range(2):
        assert not (await search(tool, ctx, "q")).is_error
    assert len(first) == 2  # two consecutive failures: the breaker opens
    out = await search(tool, ctx, "q")
    assert len(first) == 2 and len(second) == 3  # skipped
    assert "skipped for 30 s after 2 consecutive failures" in out.text
    now[0] += 31  # cooldown over: one trial call (it fails: open again)
    await search(tool, ctx, "q")
    assert len(first) == 3
    await search(tool, ctx, "q")
    assert len(first) == 3
    now[0] += 31  # the backend has recovered: the trial succeeds and closes the breaker
    out = await search(tool, ctx, "q")
    assert len(first) == 4 and out.meta["backend"] == "searxng" and out.meta["problems"] == []
    await tool.aclose()


async def test_all_backends_failing_is_an_error(web: Any, make_ctx: Any) -> None:
    searx_route(web, "/one", fail=10, status=503)
    web.reply("/two/search", 200, b"<html>not json</html>", {"Content-Type": "text/html"})
    tool = WebSearchTool(
        [
            SearxngBackend(web.url("/one"), backoff_s=0),
            SearxngBackend(web.url("/two")),
            SearxngBackend("http://127.0.0.1:1"),
        ]
    )
    out = await search(tool, await make_ctx(), "anything")
    await tool.aclose()
    assert out.is_error
    assert out.text.startswith(
        'web_search failed for "anything": searxng: HTTP 503 (3 attempts); searxng: the response is not'
    )
    assert "ConnectError" in out.text


async def test_no_results_is_not_an_error(web: Any, make_ctx: Any) -> None:
    web.reply("/sx/search", 200, json.dumps({"results": []}).encode(), {"Content-Type": "application/json"})
    tool = WebSearchTool([SearxngBackend(web.url("/sx"))])
    out = await search(tool, await make_ctx(), "zzzzqqq")
    await tool.aclose()
    assert not out.is_error and out.text.startswith('No results for "zzzzqqq" (searxng)')


async def test_unresponsive_engines_fail_over(web: Any, make_ctx: Any) -> None:
    body = {"results": [], "unresponsive_engines": [["google", "timeout"], ["bing", "CAPTCHA"]]}
    web.reply("/one/search", 200, json.dumps(body).encode(), {"Content-Type": "application/json"})
    searx_route(web, "/two")
    tool = WebSearchTool([SearxngBackend(web.url("/one")), SearxngBackend(web.url("/two"))])
    out = await search(tool, await make_ctx(), "x")
    await tool.aclose()
    assert not out.is_error and "unresponsive engines: google, bing" in out.text


async def test_rate_limit_spaces_requests(web: Any, make_ctx: Any) -> None:
    searx_route(web, "/sx")
    backend = SearxngBackend(web.url("/sx"), min_interval_s=0.25)
    sends: list[float] = []
    send = backend.search

    async def timed_search(query: str, max_results: int) -> Any:
        sends.append(time.monotonic())  # when the limiter let the request go
        return await send(query, max_results)

    backend.search = timed_search  # type: ignore[method-assign]
    tool = WebSearchTool([backend])
    ctx = await make_ctx()
    async with anyio.create_task_group() as tg:
        for i in range(4):
            tg.start_soon(search, tool, ctx, f"q{i}")
    await tool.aclose()
    assert len(web.request_times) == 4 and len(sends) == 4
    # Measured where the limiter acts: arrival times at the server add the machine's load jitter.
    gaps = [b - a for a, b in itertools.pairwise(sends)]
    assert min(gaps) >= 0.24, gaps


async def test_rate_limiter_and_breaker_units() -> None:
    limiter = RateLimiter(0.1)
    started = time.monotonic()
    for _ in range(3):
        await limiter.wait()
    assert time.monotonic() - started >= 0.19
    now = [0.0]
    breaker = CircuitBreaker(2, 10.0, clock=lambda: now[0])
    breaker.record_failure()
    assert breaker.allow()
    breaker.record_failure()
    assert not breaker.allow() and breaker.retry_in() == 10.0
    now[0] = 10.0
    assert breaker.allow()
    breaker.record_success()
    assert breaker.allow() and breaker.failures == 0


class FakeDDGS:
    """Stands in for ``ddgs.DDGS``; behaviour is set per test through class attributes."""

    calls: ClassVar[list[tuple[str, dict[str, Any]]]] = []
    behaviour: ClassVar[Any] = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def text(self, query: str, **kwargs: Any) -> list[dict[str, Any]]:
        FakeDDGS.calls.append((query, kwargs))
        if isinstance(FakeDDGS.behaviour, BaseException):
            raise FakeDDGS.behaviour
        n = kwargs.get("max_results") or 10
        return [
            {"title": f"DDG {i}", "href": f"https://ddg.example/{i}", "body": f"ddg body {i}"} for i in range(1, n + 1)
        ]


@pytest.fixture
def fake_ddgs(monkeypatch: pytest.MonkeyPatch) -> type[FakeDDGS]:
    import ddgs

    FakeDDGS.calls = []
    FakeDDGS.behaviour = None
    monkeypatch.setattr(ddgs, "DDGS", FakeDDGS)
    return FakeDDGS


async def test_duckduckgo_backend(fake_ddgs: type[FakeDDGS], make_ctx: Any) -> None:
    tool = WebSearchTool([DuckDuckGoBackend(min_interval_s=0)])
    out = await search(tool, await make_ctx(), "kimi k2", max_results=3)
    assert not out.is_error and out.meta["backend"] == "duckduckgo"
    assert fake_ddgs.calls == [("kimi k2", {"max_results": 3, "safesearch": "moderate"})]
    assert "3. [" in out.text and "https://ddg.example/3" in out.text and "ddg body 2" in out.text


async def test_duckduckgo_no_results_is_a_soft_failure(fake_ddgs: type[FakeDDGS], web: Any, make_ctx: Any) -> None:
    from ddgs.exceptions import DDGSException, RatelimitException

    fake_ddgs.behaviour = DDGSException("No results found.")
    ctx = await make_ctx()
    alone = WebSearchTool([DuckDuckGoBackend(min_interval_s=0)], cache_ttl_s=0)
    out = await search(alone, ctx, "rare words")
    assert not out.is_error and out.text.startswith('No results for "rare words" (duckduckgo: no results')
    searx_route(web, "/sx")
    tool = WebSearchTool([DuckDuckGoBackend(min_interval_s=0), SearxngBackend(web.url("/sx"))], cache_ttl_s=0)
    out = await search(tool, ctx, "rare words")
    assert not out.is_error and out.meta["backend"] == "searxng"
    fake_ddgs.behaviour = RatelimitException("202 Ratelimit")
    out = await search(tool, ctx, "rare words")
    assert out.meta["problems"] == ["duckduckgo: rate limited (202 Ratelimit)"]
    fake_ddgs.behaviour = RuntimeError("TLS handshake failed")
    out = await search(alone, ctx, "rare words")
    assert out.is_error and "duckduckgo: RuntimeError: TLS handshake failed" in out.text
    await tool.aclose()


async def test_backends_from_task_settings(
    web: Any, make_ctx: Any, fake_ddgs: type[FakeDDGS], no_search_keys: None
) -> None:
    searx_route(web, "/sx", fail=3)  # every attempt of the first search fails
    tool = WebSearchTool(cache_ttl_s=0)
    ctx = await make_ctx(settings={"search": {"backend": ["searxng", "duckduckgo"], "url": web.url("/sx")}})
    out = await search(tool, ctx, "settings")
    assert out.meta["backend"] == "duckduckgo"
    out = await search(tool, ctx, "settings")
    assert out.meta["backend"] == "searxng"
    bad = await search(tool, await make_ctx(run_id="r2", settings={"search": {"backend": "searxng"}}), "x")
    assert bad.is_error and "search.url: required when the searxng backend is used" in bad.text
    bad = await search(tool, await make_ctx(run_id="r3", settings={"search": {"backend": "bing"}}), "x")
    assert bad.is_error and "unknown search backend; valid" in bad.text
    default = await search(tool, await make_ctx(run_id="r4"), "x")
    assert default.meta["backend"] == "duckduckgo"
    await tool.aclose()


def test_arguments_are_bounded() -> None:
    schema = WebSearchTool([]).schema["function"]
    assert schema["name"] == "web_search"
    assert list(schema["parameters"]["properties"]) == ["query", "max_results"]
    assert schema["parameters"]["properties"]["max_results"]["maximum"] == 50
    with pytest.raises(ValidationError):
        WebSearchArgs(query="x", max_results=51)
    with pytest.raises(ValidationError):
        WebSearchArgs(query="x", max_results=0)
    fetch_schema = FetchTool().schema["function"]
    assert fetch_schema["name"] == "fetch" and list(fetch_schema["parameters"]["properties"]) == ["url", "page"]


async def test_search_result_then_fetch_by_source_id(web: Any, make_ctx: Any) -> None:
    page = web.add_fixture("/article", "article.html", "text/html; charset=utf-8")
    body = {"results": [{"url": page, "title": "Vents article", "content": "Microbial lineages found."}]}
    web.reply("/sx/search", 200, json.dumps(body).encode(), {"Content-Type": "application/json"})
    search_tool = WebSearchTool([SearxngBackend(web.url("/sx"))])
    fetch_tool = FetchTool(allow_private_hosts=True)
    ctx = await make_ctx()
    found = await search(search_tool, ctx, "vents")
    sid = found.sources[0]
    read = await fetch_tool.invoke(FetchArgs(url=sid), ctx)
    assert not read.is_error and read.sources == [sid] and "4,000 microbial lineages" in read.text
    source = await ctx.store.get_source(ctx.run_id, sid)
    assert source is not None and source.kind == "page" and source.content_hash
    await search(search_tool, ctx, "vents")  # a later search must not demote the read page
    source = await ctx.store.get_source(ctx.run_id, sid)
    assert source is not None and source.kind == "page"
    await search_tool.aclose()
    await fetch_tool.aclose()
    assert web.hits["/article"] == 1
