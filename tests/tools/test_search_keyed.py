"""Keyed search backends (Tavily, Exa, Brave, Serper, Jina) against a loopback JSON API:
their documented requests and answers, retries, fail-over, auth errors, the automatic chain
and keys that never reach a message, an event or the store."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from agentkit import Agent
from agentkit.store.sqlite import SQLiteStore
from agentkit.task.sections import SEARCH_KEY_VARS, SearchSpec, ToolSettings
from agentkit.testing import ScriptedModel, Turn, call
from agentkit.tools._search_http import retry_after_s
from agentkit.tools._search_keyed import KEYED_BACKENDS
from agentkit.tools._sources import source_id_for
from agentkit.tools.web_search import (
    BraveBackend,
    ExaBackend,
    JinaBackend,
    SerperBackend,
    TavilyBackend,
    WebSearchArgs,
    WebSearchTool,
    backends_for,
)

pytestmark = pytest.mark.anyio

KEYS = {
    "TAVILY_API_KEY": "tvly-SECRET-0001",
    "EXA_API_KEY": "exa-SECRET-0002",
    "BRAVE_API_KEY": "brave-SECRET-0003",
    "SERPER_API_KEY": "serper-SECRET-0004",
    "JINA_API_KEY": "jina_SECRET-0005",
}


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    """Lower-case names."""
    body: Any


@dataclass
class Answer:
    status: int = 200
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class ApiServer:
    """A loopback JSON API answering GET and POST: ``route(path, handler)`` with
    ``handler(Call) -> Answer``; every call is kept in ``calls[path]``."""

    def __init__(self) -> None:
        self.routes: dict[str, Callable[[Call], Answer]] = {}
        self.calls: dict[str, list[Call]] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                headers = {k.lower(): v for k, v in self.headers.items()}
                seen = Call(self.command, parts.path, query, headers, json.loads(raw) if raw else None)
                server.calls.setdefault(parts.path, []).append(seen)
                route = server.routes.get(parts.path)
                answer = route(seen) if route else Answer(404, {"error": "no such route"})
                body = json.dumps(answer.json).encode()
                self.send_response(answer.status)
                for k, v in {"Content-Type": "application/json", **answer.headers}.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = _serve
            do_POST = _serve

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def route(self, path: str, handler: Callable[[Call], Answer]) -> None:
        self.routes[path] = handler

    def count(self, path: str) -> int:
        return len(self.calls.get(path, []))


@pytest.fixture
def api() -> Iterator[ApiServer]:
    server = ApiServer()
    server._thread.start()
    try:
        yield server
    finally:
        server._httpd.shutdown()
        server._httpd.server_close()


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Every keyed backend's variable set (the alternative Brave one unset)."""
    for names in SEARCH_KEY_VARS.values():
        for var in names:
            monkeypatch.delenv(var, raising=False)
    for var, value in KEYS.items():
        monkeypatch.setenv(var, value)
    return KEYS


@pytest.fixture
def no_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for names in SEARCH_KEY_VARS.values():
        for var in names:
            monkeypatch.delenv(var, raising=False)


def tavily_answer(query: str, n: int, host: str = "https://t.example") -> Answer:
    rows = [{"title": f"T{i} {query}", "url": f"{host}/{i}", "content": f"tavily {i}", "score": 0.9} for i in range(n)]
    return Answer(json={"query": query, "results": rows, "response_time": 0.4})


def serper_answer(query: str, n: int) -> Answer:
    organic = [
        {"title": f"S{i} {query}", "link": f"https://s.example/{i}", "snippet": f"serper {i}", "position": i + 1}
        for i in range(n)
    ]
    return Answer(json={"searchParameters": {"q": query, "type": "search"}, "organic": organic})


# -- each service's documented request and answer ------------------------------------------------


@dataclass
class Spec:
    backend: type[Any]
    method: str
    path: str
    auth: tuple[str, str]
    answer: Callable[[Call], Answer]
    check: Callable[[Call], None]


def _tavily_check(c: Call) -> None:
    assert c.body == {"query": "ocean vents", "max_results": 3, "search_depth": "basic"}


def _exa_check(c: Call) -> None:
    assert c.body == {"query": "ocean vents", "numResults": 3, "contents": {"highlights": True}}


def _brave_check(c: Call) -> None:
    assert c.query == {"q": "ocean vents", "count": "3"} and c.body is None


def _serper_check(c: Call) -> None:
    assert c.body == {"q": "ocean vents", "num": 3}


def _jina_check(c: Call) -> None:
    assert c.query == {"q": "ocean vents"} and c.headers["x-respond-with"] == "no-content"


SPECS = {
    "tavily": Spec(
        TavilyBackend,
        "POST",
        "/search",
        ("authorization", f"Bearer {KEYS['TAVILY_API_KEY']}"),
        lambda c: tavily_answer(c.body["query"], 4),
        _tavily_check,
    ),
    "exa": Spec(
        ExaBackend,
        "POST",
        "/search",
        ("x-api-key", KEYS["EXA_API_KEY"]),
        lambda c: Answer(
            json={
                "requestId": "b59",
                "results": [
                    {
                        "id": f"https://e.example/{i}",
                        "url": f"https://e.example/{i}",
                        "title": f"E{i}",
                        "publishedDate": "2024-05-01T00:00:00.000Z",
                        "author": "A. Author",
                        "highlights": [f"exa {i} first", "second"],
                    }
                    for i in range(4)
                ],
            }
        ),
        _exa_check,
    ),
    "brave": Spec(
        BraveBackend,
        "GET",
        "/res/v1/web/search",
        ("x-subscription-token", KEYS["BRAVE_API_KEY"]),
        lambda c: Answer(
            json={
                "type": "search",
                "web": {
                    "type": "search",
                    "results": [
                        {
                            "title": f"<strong>B{i}</strong>",
                            "url": f"https://b.example/{i}",
                            "description": f"brave <strong>{i}</strong> &amp; more",
                        }
                        for i in range(4)
                    ],
                },
            }
        ),
        _brave_check,
    ),
    "serper": Spec(
        SerperBackend,
        "POST",
        "/search",
        ("x-api-key", KEYS["SERPER_API_KEY"]),
        lambda c: serper_answer(c.body["q"], 4),
        _serper_check,
    ),
    "jina": Spec(
        JinaBackend,
        "GET",
        "/",
        ("authorization", f"Bearer {KEYS['JINA_API_KEY']}"),
        lambda c: Answer(
            json={
                "code": 200,
                "status": 20000,
                "data": [
                    {"title": f"J{i}", "url": f"https://j.example/{i}", "description": f"jina {i}", "content": ""}
                    for i in range(4)
                ],
            }
        ),
        _jina_check,
    ),
}

FIRST_HIT = {
    "tavily": ("T0 ocean vents", "https://t.example/0", "tavily 0"),
    "exa": ("E0", "https://e.example/0", "exa 0 first … second"),
    "brave": ("B0", "https://b.example/0", "brave 0 & more"),
    "serper": ("S0 ocean vents", "https://s.example/0", "serper 0"),
    "jina": ("J0", "https://j.example/0", "jina 0"),
}


@pytest.mark.parametrize("name", list(SPECS))
async def test_each_service_is_spoken_as_documented(
    name: str, api: ApiServer, keys: dict[str, str], make_ctx: Any
) -> None:
    spec = SPECS[name]
    api.route(spec.path, spec.answer)
    backend = spec.backend(base_url=api.url())
    assert backend.name == name and KEYED_BACKENDS[name] is spec.backend
    tool = WebSearchTool([backend])
    out = await tool.invoke(WebSearchArgs(query="ocean vents", max_results=3), await make_ctx())
    await tool.aclose()
    assert not out.is_error, out.text
    [seen] = api.calls[spec.path]
    assert seen.method == spec.method
    header, value = spec.auth
    assert seen.headers[header] == value
    assert seen.headers["accept"] == "application/json"
    spec.check(seen)
    title, url, snippet = FIRST_HIT[name]
    lines = out.text.splitlines()
    assert lines[0] == f'Results for "ocean vents" ({name}):'
    assert lines[1:4] == [f"1. [{source_id_for(url)}] {title}", f"   {url}", f"   {snippet}"]
    assert out.meta["results"] == 3 and "4. [" not in out.text  # max_results honoured


# -- retries, fail-over, the store's cache (binding) ---------------------------------------------


async def test_an_error_then_a_rate_limit_fail_over_to_the_third_and_the_repeat_comes_from_the_store(
    api: ApiServer, keys: dict[str, str], make_ctx: Any
) -> None:
    api.route("/t/search", lambda c: Answer(502, {"detail": "bad gateway"}))
    api.route("/b/res/v1/web/search", lambda c: Answer(429, {"error": "slow down"}, {"Retry-After": "0"}))
    api.route("/s/search", lambda c: serper_answer(c.body["q"], 3))
    tool = WebSearchTool(
        [
            TavilyBackend(base_url=api.url("/t"), backoff_s=0),
            BraveBackend(base_url=api.url("/b")),
            SerperBackend(base_url=api.url("/s")),
        ]
    )
    ctx = await make_ctx()
    out = await tool.invoke(WebSearchArgs(query="Deep sea vents", max_results=3), ctx)
    assert not out.is_error, out.text
    assert out.meta["backend"] == "serper" and out.meta["cached"] is False
    assert out.meta["problems"] == [
        "tavily: HTTP 502 (3 attempts)",
        "brave: rate limited (HTTP 429, Retry-After 0 s) (3 attempts)",
    ]
    assert out.text.splitlines()[0].startswith('Results for "Deep sea vents" (serper; failed over from tavily')
    assert (api.count("/t/search"), api.count("/b/res/v1/web/search"), api.count("/s/search")) == (3, 3, 1)
    first_ids = out.sources
    assert len(first_ids) == 3

    again = await tool.invoke(WebSearchArgs(query="  deep SEA   vents ", max_results=3), ctx)
    assert (api.count("/t/search"), api.count("/b/res/v1/web/search"), api.count("/s/search")) == (3, 3, 1)
    assert not again.is_error and again.meta["cached"] is True and again.meta["backend"] == "serper"
    assert again.meta["cached_at"] and again.sources == first_ids
    assert again.text.splitlines()[0] == 'Results for "deep SEA vents" (serper, from the store\'s cache):'

    other_run = await make_ctx(store=ctx.store, run_id="run-2")  # a repeated run on the same store
    repeat = await tool.invoke(WebSearchArgs(query="deep sea vents", max_results=3), other_run)
    assert repeat.meta["cached"] is True and api.count("/s/search") == 1
    registered = {s.id: s for s in await ctx.store.list_sources("run-2")}
    assert set(registered) == set(first_ids)  # citations work in the new run too
    assert all(s.kind == "search_result" and s.meta["backend"] == "serper" for s in registered.values())

    more = await tool.invoke(WebSearchArgs(query="deep sea vents", max_results=5), ctx)
    assert more.meta["cached"] is False  # another count is another search
    await tool.aclose()


async def test_a_transient_error_is_retried_and_then_answers(
    api: ApiServer, keys: dict[str, str], make_ctx: Any
) -> None:
    answers = iter([Answer(503), Answer(429, headers={"Retry-After": "0"}), None])
    api.route("/search", lambda c: next(answers) or tavily_answer("q", 2))
    tool = WebSearchTool([TavilyBackend(base_url=api.url(), backoff_s=0)])
    out = await tool.invoke(WebSearchArgs(query="q"), await make_ctx())
    await tool.aclose()
    assert not out.is_error and out.meta["backend"] == "tavily" and out.meta["problems"] == []
    assert api.count("/search") == 3


async def test_a_long_retry_after_fails_over_at_once(api: ApiServer, keys: dict[str, str], make_ctx: Any) -> None:
    api.route("/t/search", lambda c: Answer(429, {"error": "quota"}, {"Retry-After": "3600"}))
    api.route("/s/search", lambda c: serper_answer(c.body["q"], 1))
    tool = WebSearchTool([TavilyBackend(base_url=api.url("/t")), SerperBackend(base_url=api.url("/s"))])
    out = await tool.invoke(WebSearchArgs(query="q"), await make_ctx())
    await tool.aclose()
    assert out.meta["backend"] == "serper"
    assert out.meta["problems"] == ["tavily: rate limited (HTTP 429, Retry-After 3600 s)"]
    assert api.count("/t/search") == 1  # not waited for


def test_retry_after_in_both_forms() -> None:
    assert retry_after_s("7") == 7.0 and retry_after_s(" 0 ") == 0.0 and retry_after_s(None) is None
    assert retry_after_s("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past: now
    assert (retry_after_s("Fri, 01 Jan 2100 00:00:00 GMT") or 0) > 3500
    assert retry_after_s("soon") is None


async def test_a_refused_key_is_a_hard_failure_naming_its_variable(
    api: ApiServer, keys: dict[str, str], make_ctx: Any
) -> None:
    echo = {"detail": {"error": f"Unauthorized: invalid API key {KEYS['TAVILY_API_KEY']}"}}
    api.route("/t/search", lambda c: Answer(401, echo))
    api.route("/s/search", lambda c: serper_answer(c.body["q"], 2))
    tool = WebSearchTool([TavilyBackend(base_url=api.url("/t")), SerperBackend(base_url=api.url("/s"))])
    ctx = await make_ctx()
    out = await tool.invoke(WebSearchArgs(query="q1"), ctx)
    assert out.meta["backend"] == "serper"
    [problem] = out.meta["problems"]
    assert problem == (
        "tavily: the service refused the API key (HTTP 401: Unauthorized: invalid API key ***); check TAVILY_API_KEY"
    )
    assert api.count("/t/search") == 1  # not retried
    out = await tool.invoke(WebSearchArgs(query="q2"), ctx)
    assert api.count("/t/search") == 1  # and out of the chain for the cooldown
    assert out.meta["problems"][0].startswith("tavily: skipped for 60 s: the service refused the API key")
    api.route("/s/search", lambda c: Answer(402, {"detail": {"error": "Not enough credits"}}))
    out = await tool.invoke(WebSearchArgs(query="q3"), ctx)
    assert out.is_error and "check SERPER_API_KEY" in out.text and "lack of credit" in out.text
    for text in (out.text, *(repr(b) for b in tool.backends)):
        assert not any(secret in text for secret in KEYS.values()), text
    await tool.aclose()


# -- the chain -------------------------------------------------------------------------------------


def names(search: SearchSpec, env: dict[str, str]) -> list[str]:
    return [b.name for b in backends_for(search, environ=env)]


def test_the_automatic_chain_follows_the_key_variables() -> None:
    assert names(SearchSpec(), {}) == ["duckduckgo"]
    assert names(SearchSpec(url="http://127.0.0.1:8888"), {}) == ["duckduckgo", "searxng"]
    env = {"EXA_API_KEY": "e", "BRAVE_SEARCH_API_KEY": "b", "JINA_API_KEY": " "}  # blank is unset
    assert names(SearchSpec(), env) == ["exa", "brave", "duckduckgo"]
    brave = backends_for(SearchSpec(backend="brave"), environ=env)[0]
    assert isinstance(brave, BraveBackend) and brave.key_var == "BRAVE_SEARCH_API_KEY"
    both = {**env, "BRAVE_API_KEY": "first"}
    brave = backends_for(SearchSpec(backend="brave"), environ=both)[0]
    assert isinstance(brave, BraveBackend) and brave.key_var == "BRAVE_API_KEY"
    every = {var: "k" for var in KEYS}
    assert names(SearchSpec(url="http://127.0.0.1:8888"), every) == [
        "tavily",
        "exa",
        "brave",
        "serper",
        "jina",
        "duckduckgo",
        "searxng",
    ]
    # a list named in the task is used as given
    assert names(SearchSpec(backend=["serper", "duckduckgo"]), every) == ["serper", "duckduckgo"]
    assert names(SearchSpec(backend="duckduckgo"), every) == ["duckduckgo"]
    with pytest.raises(ValueError, match=r"^search.backend: jina needs an API key: set JINA_API_KEY$"):
        backends_for(SearchSpec(backend=["duckduckgo", "jina"]), environ={})
    with pytest.raises(ValueError, match=r"brave needs an API key: set BRAVE_API_KEY or BRAVE_SEARCH_API_KEY"):
        backends_for(SearchSpec(backend="brave"), environ={})


def test_task_file_names_are_checked_in_the_usual_words() -> None:
    with pytest.raises(ValueError, match=r"search.backend: unknown search backend; did you mean 'tavily'\?"):
        _ = ToolSettings({"search": {"backend": "tavly"}}).search
    with pytest.raises(ValueError, match=r"search.backend\[1\]: 'exa' is listed twice"):
        _ = ToolSettings({"search": {"backend": ["exa", "exa"]}}).search
    assert ToolSettings({"search": {"backend": ["serper", "brave"]}}).search.backend == ["serper", "brave"]
    assert SearchSpec().backend is None


async def test_the_tool_picks_keyed_services_from_the_environment(
    api: ApiServer, monkeypatch: pytest.MonkeyPatch, no_keys: None, make_ctx: Any
) -> None:
    api.route("/s/search", lambda c: serper_answer(c.body["q"], 2))
    monkeypatch.setenv("SERPER_API_KEY", KEYS["SERPER_API_KEY"])
    tool = WebSearchTool(base_urls={"serper": api.url("/s")})
    out = await tool.invoke(WebSearchArgs(query="auto"), await make_ctx())  # the task names no backend
    assert not out.is_error and out.meta["backend"] == "serper"
    assert [b.name for b in tool.backends] == ["serper", "duckduckgo"]
    monkeypatch.delenv("SERPER_API_KEY")
    monkeypatch.setenv("EXA_API_KEY", KEYS["EXA_API_KEY"])
    built = WebSearchTool.from_settings(SearchSpec(), base_urls={"exa": api.url("/e")})
    assert [b.name for b in built.backends] == ["exa", "duckduckgo"]
    await tool.aclose()


# -- keys stay secret ------------------------------------------------------------------------------


async def test_no_key_reaches_an_event_a_source_the_cache_or_a_message(
    api: ApiServer, keys: dict[str, str], tmp_path: Any
) -> None:
    echo = {"detail": {"error": f"bad key {KEYS['TAVILY_API_KEY']}"}}
    api.route("/t/search", lambda c: Answer(403, echo))
    api.route("/s/search", lambda c: Answer(400, {"message": f"oops {KEYS['SERPER_API_KEY']}"}))
    api.route(
        "/b/res/v1/web/search", lambda c: Answer(json={"web": {"results": [{"title": "B", "url": "https://b.x"}]}})
    )
    store = SQLiteStore(tmp_path / "store.db")
    llm = ScriptedModel(
        [
            Turn(tool_calls=[call("web_search", query="secret handling")]),
            Turn(tool_calls=[call("web_search", query="secret handling", max_results=3)]),
            Turn(content="Done."),
        ]
    )
    tool = WebSearchTool(
        base_urls={"tavily": api.url("/t"), "serper": api.url("/s"), "brave": api.url("/b")},
        cache_ttl_s=None,
    )
    agent = Agent(
        llm=llm, tools=[tool], plan=False, store=store, settings={"search": {"backend": ["tavily", "serper", "brave"]}}
    )
    result = await agent.run("check secrets")
    assert result.answer == "Done."
    texts = [e.event.model_dump_json() for e in await store.events(result.run_id)]
    texts += [s.model_dump_json() for s in await store.list_sources(result.run_id)]
    results = [t for t in texts if '"tool_result"' in t]
    assert len(results) == 2 and "check TAVILY_API_KEY" in results[0]  # the refusal is reported ...
    assert "serper: HTTP 400: oops ***" in results[0]
    run = await store.get_run(result.run_id)
    texts.append(run.model_dump_json())
    from agentkit.tools._search_cache import NAMESPACE, cache_key

    chain = [b.identity for b in tool.backends]
    cached = await store.get_cached(NAMESPACE, cache_key("secret handling", 10, chain))
    assert cached is not None
    texts.append(cached.decode())
    for text in texts:  # ... and no key anywhere
        assert not any(secret in text for secret in KEYS.values()), text
    await tool.aclose()
    await store.aclose()
