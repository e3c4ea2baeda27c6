"""fetch honours robots.txt (RFC 9309) against loopback servers: allow, disallow, ignore,
unavailable (4xx) and unreachable (5xx, no answer) files, redirects, limits and the cache."""

from __future__ import annotations

import socket
from typing import Any

import anyio
import pytest

from agentkit.net import _ssrf
from agentkit.net._http import USER_AGENT
from agentkit.task.sections import FetchSpec, ToolSettings
from agentkit.tools._robots import ROBOTS_MAX_BYTES, RobotsCache
from agentkit.tools.fetch import FetchArgs, FetchTool

pytestmark = pytest.mark.anyio

PAGE = "<html><body><article><p>" + "Readable page text. " * 20 + "</p></article></body></html>"
RULES = """# comments and blank lines are fine

User-agent: *
Disallow: /private
Allow: /private/open
Disallow: /*.pdf$

User-agent: otherbot
Disallow: /
"""


async def fetch(tool: FetchTool, ctx: Any, url: str) -> Any:
    return await tool.invoke(FetchArgs(url=url), ctx)


@pytest.fixture
async def tool() -> Any:
    t = FetchTool(allow_private_hosts=True)
    yield t
    await t.aclose()


def pages(web: Any, *paths: str) -> None:
    for path in paths:
        web.add(path, PAGE)


async def test_rules_allow_and_disallow(web: Any, make_ctx: Any, tool: FetchTool) -> None:
    web.add("/robots.txt", RULES, "text/plain")
    pages(web, "/public", "/private/page", "/private/open/page", "/report.pdf", "/report.pdf.html")
    ctx = await make_ctx()
    for path in ("/public", "/private/open/page", "/report.pdf.html"):
        out = await fetch(tool, ctx, web.url(path))
        assert not out.is_error, (path, out.text)
        assert "Readable page text." in out.text
    for path in ("/private/page", "/report.pdf"):
        out = await fetch(tool, ctx, web.url(path))
        assert out.is_error, path
        assert out.text.startswith(f"Not fetched: {web.url(path)} is disallowed by robots.txt"), out.text
        assert web.url("/robots.txt") in out.text and "Fetching it again will not help" in out.text
        assert web.hits[path] == 0
    # the longest match wins (/private/open over /private) and `*`/`$` are patterns, as
    # RFC 9309 §2.2.2-2.2.3 say: urllib.robotparser would refuse /private/open/page
    assert web.hits["/robots.txt"] == 1  # once per site, however many pages
    robots_request = next(headers for path, headers in web.requests if path == "/robots.txt")
    assert robots_request["User-Agent"] == USER_AGENT
    assert await ctx.store.list_sources(ctx.run_id) != []  # the allowed pages only
    assert {s.url for s in await ctx.store.list_sources(ctx.run_id)} == {
        web.url(p) for p in ("/public", "/private/open/page", "/report.pdf.html")
    }


async def test_our_product_token_has_its_own_group(web: Any, make_ctx: Any, tool: FetchTool) -> None:
    web.add("/robots.txt", "User-agent: agentkit\nDisallow: /\n\nUser-agent: *\nAllow: /\n", "text/plain")
    pages(web, "/a")
    out = await fetch(tool, await make_ctx(), web.url("/a"))
    assert out.is_error and "disallowed by robots.txt" in out.text
    assert web.hits["/a"] == 0


async def test_ignoring_robots_from_the_task_or_the_python_api(web: Any, make_ctx: Any, tool: FetchTool) -> None:
    web.add("/robots.txt", "User-agent: *\nDisallow: /\n", "text/plain")
    pages(web, "/a", "/b", "/c")
    out = await fetch(tool, await make_ctx(run_id="file", settings={"fetch": {"respect_robots": False}}), web.url("/a"))
    assert not out.is_error, out.text
    typed = ToolSettings({"fetch": FetchSpec(allow_private_hosts=True, respect_robots=False)})
    out = await fetch(FetchTool(), await make_ctx(run_id="typed", settings=typed), web.url("/b"))
    assert not out.is_error, out.text
    assert web.hits["/robots.txt"] == 0  # not even asked
    honouring = await make_ctx(run_id="honouring")
    ignoring_tool = FetchTool(allow_private_hosts=True, respect_robots=False)  # the tool's word wins
    out = await fetch(ignoring_tool, honouring, web.url("/c"))
    assert not out.is_error, out.text
    assert web.hits["/robots.txt"] == 0
    out = await fetch(tool, await make_ctx(run_id="default"), web.url("/c") + "?again")
    assert out.is_error and "disallowed by robots.txt" in out.text  # the default honours it
    assert web.hits["/robots.txt"] == 1
    await ignoring_tool.aclose()


@pytest.mark.parametrize("status", [404, 401, 403, 410])
async def test_an_unavailable_file_allows_everything(status: int, web: Any, make_ctx: Any, tool: FetchTool) -> None:
    web.reply("/robots.txt", status, b"User-agent: *\nDisallow: /\n", {"Content-Type": "text/plain"})
    pages(web, "/a")
    out = await fetch(tool, await make_ctx(), web.url("/a"))
    assert not out.is_error, out.text  # RFC 9309 §2.3.1.3: 4xx, the crawler may access anything


async def test_an_unreachable_file_disallows_everything_for_a_while(web: Any, make_ctx: Any) -> None:
    now = [1000.0]
    tool = FetchTool(allow_private_hosts=True, robots=RobotsCache(unreachable_ttl_s=300.0, clock=lambda: now[0]))
    web.reply("/robots.txt", 503, b"busy", {"Content-Type": "text/plain"})
    pages(web, "/a")
    ctx = await make_ctx()
    for _ in range(2):
        out = await fetch(tool, ctx, web.url("/a"))
        assert out.is_error
        assert "robots.txt" in out.text and "could not be read (HTTP 503)" in out.text, out.text
        assert "RFC 9309 treats an unreachable robots.txt as disallowing every page" in out.text
    assert web.hits["/a"] == 0 and web.hits["/robots.txt"] == 1  # the verdict is cached ...
    now[0] += 301  # ... for a few minutes only: then the site is asked again
    web.reply("/robots.txt", 404, b"", {"Content-Type": "text/plain"})
    out = await fetch(tool, ctx, web.url("/a"))
    assert not out.is_error, out.text
    assert web.hits["/robots.txt"] == 2 and web.hits["/a"] == 1
    await tool.aclose()


async def test_a_site_that_does_not_answer(make_ctx: Any, tool: FetchTool) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    out = await fetch(tool, await make_ctx(), f"http://127.0.0.1:{port}/page")
    assert out.is_error and "robots.txt" in out.text and "could not connect" in out.text, out.text


async def test_robots_redirects_are_followed_five_times(web: Any, make_ctx: Any, tool: FetchTool) -> None:
    web.reply("/robots.txt", 301, headers={"Location": "/robots-real.txt"})
    web.add("/robots-real.txt", "User-agent: *\nDisallow: /secret\n", "text/plain")
    pages(web, "/secret", "/open")
    ctx = await make_ctx()
    assert (await fetch(tool, ctx, web.url("/secret"))).is_error
    assert not (await fetch(tool, ctx, web.url("/open"))).is_error
    assert web.hits["/robots-real.txt"] == 1

    loop_tool = FetchTool(allow_private_hosts=True)
    web.reply("/robots.txt", 302, headers={"Location": "/robots.txt"})  # more than five hops: unavailable
    out = await fetch(loop_tool, ctx, web.url("/secret"))
    assert not out.is_error, out.text
    assert web.hits["/robots.txt"] == 1 + 6
    await loop_tool.aclose()


async def test_a_redirect_into_a_disallowed_path_is_refused(web: Any, make_ctx: Any, tool: FetchTool) -> None:
    web.add("/robots.txt", "User-agent: *\nDisallow: /members\n", "text/plain")
    web.reply("/go", 302, headers={"Location": "/members/list"})
    pages(web, "/members/list")
    out = await fetch(tool, await make_ctx(), web.url("/go"))
    assert out.is_error and f"{web.url('/members/list')} is disallowed by robots.txt" in out.text, out.text
    assert web.hits["/go"] == 1 and web.hits["/members/list"] == 0


async def test_only_the_first_half_mebibyte_is_read(web: Any, make_ctx: Any, tool: FetchTool) -> None:
    filler = "# padding\n" * (ROBOTS_MAX_BYTES // 10 + 100)  # past the parsing limit
    web.add("/robots.txt", "User-agent: *\nDisallow: /early\n" + filler + "Disallow: /late\n", "text/plain")
    pages(web, "/early", "/late")
    ctx = await make_ctx()
    assert (await fetch(tool, ctx, web.url("/early"))).is_error
    assert not (await fetch(tool, ctx, web.url("/late"))).is_error  # a rule past the limit is not read


async def test_concurrent_fetches_share_one_download(web: Any, make_ctx: Any, tool: FetchTool) -> None:
    web.reply("/robots.txt", 200, b"User-agent: *\nDisallow: /x\n", {"Content-Type": "text/plain"}, delay_s=0.2)
    pages(web, *(f"/p{i}" for i in range(5)))
    ctx = await make_ctx()
    results: list[Any] = []

    async def one(i: int) -> None:
        results.append(await fetch(tool, ctx, web.url(f"/p{i}")))

    async with anyio.create_task_group() as tg:
        for i in range(5):
            tg.start_soon(one, i)
    assert all(not r.is_error for r in results) and len(results) == 5
    assert web.hits["/robots.txt"] == 1


async def test_a_bounded_cache_forgets_the_oldest_site(web: Any, make_ctx: Any) -> None:
    tool = FetchTool(allow_private_hosts=True, robots=RobotsCache(max_hosts=1))
    web.add("/robots.txt", "User-agent: *\nAllow: /\n", "text/plain")
    pages(web, "/a")
    ctx = await make_ctx()
    for url in (web.url("/a"), web.url("/a", host="localhost") + "?2", web.url("/a") + "?3"):
        assert not (await fetch(tool, ctx, url)).is_error
    assert len(tool.robots) == 1
    assert web.hits["/robots.txt"] == 3  # 127.0.0.1, localhost, 127.0.0.1 again (forgotten)
    await tool.aclose()


PUBLIC_IP = "93.184.216.34"


async def test_the_robots_file_is_fetched_through_the_guard(
    web: Any, make_ctx: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guarded fetches read robots.txt through the guard too: the host is vetted and only the
    vetted address is dialled (connections to the public alias land on the loopback server)."""
    real_connect = anyio.connect_tcp
    dialled: list[str] = []

    async def getaddrinfo(host: str, port: int, **kwargs: Any) -> list[Any]:
        ips = {"public.example": PUBLIC_IP, "internal.example": "127.0.0.1"}
        if host not in ips:
            raise OSError(f"unknown host {host}")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ips[host], port))]

    async def connect_tcp(remote_host: Any, remote_port: int, **kwargs: Any) -> Any:
        dialled.append(str(remote_host))
        return await real_connect("127.0.0.1" if str(remote_host) == PUBLIC_IP else remote_host, remote_port, **kwargs)

    monkeypatch.setattr(_ssrf, "_getaddrinfo", getaddrinfo)
    monkeypatch.setattr(anyio, "connect_tcp", connect_tcp)
    web.add("/robots.txt", "User-agent: *\nDisallow: /private\n", "text/plain")
    pages(web, "/private", "/public")
    tool = FetchTool()
    ctx = await make_ctx()
    out = await fetch(tool, ctx, f"http://public.example:{web.port}/private")
    assert out.is_error and "disallowed by robots.txt" in out.text, out.text
    out = await fetch(tool, ctx, f"http://public.example:{web.port}/public")
    assert not out.is_error, out.text
    assert dialled == [PUBLIC_IP, PUBLIC_IP]  # robots.txt, then the allowed page: both vetted
    out = await fetch(tool, ctx, f"http://internal.example:{web.port}/public")
    assert out.is_error and out.text.startswith("Refused"), out.text  # robots.txt is not asked either
    assert web.hits["/robots.txt"] == 1 and web.hits["/private"] == 0
    await tool.aclose()
