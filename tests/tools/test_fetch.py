"""The fetch tool against loopback servers: extraction, charsets, paging, PDF, errors, store, cache."""

from __future__ import annotations

import gzip
from typing import Any

import anyio
import pytest

from agentkit.store import MemoryStore, blob_key
from agentkit.tools._extract import decode_text, paginate
from agentkit.tools._sources import normalize_url, source_id_for, with_default_scheme
from agentkit.tools.fetch import FetchArgs, FetchCache, FetchTool

pytestmark = pytest.mark.anyio

HTML = "text/html; charset=utf-8"


async def fetch(tool: FetchTool, ctx: Any, url: str, page: int = 1) -> Any:
    return await tool.invoke(FetchArgs(url=url, page=page), ctx)


@pytest.fixture
async def tool() -> Any:
    t = FetchTool(allow_private_hosts=True)
    yield t
    await t.aclose()


# -- extraction ---------------------------------------------------------------------------


async def test_article_keeps_content_and_drops_boilerplate(web: Any, make_ctx: Any, tool: FetchTool) -> None:
    url = web.add_fixture("/science/vents", "article.html", HTML)
    ctx = await make_ctx()
    out = await fetch(tool, ctx, url)
    assert not out.is_error, out.text
    sid = source_id_for(url)
    assert out.text.startswith(f"[source {sid}] Deep-Sea Vents Host Unexpected Microbial Diversity — page 1 of 1")
    assert "Author: Marta Okonkwo" in out.text and "Date: 2024-05-14" in out.text
    for kept in (
        "more than 4,000 microbial lineages",
        "## Chemistry instead of sunlight",
        "decades to recover",
        "National Ocean Science Foundation",
    ):
        assert kept in out.text
    for dropped in (
        "Accept all cookies",
        "We use cookies",
        "Subscribe today",
        "Most read",
        "Advertisement",
        "All rights reserved",
        "Privacy policy",
        "First!!!",
        "Home",
    ):
        assert dropped not in out.text, dropped
    assert out.sources == [sid]
    source = await ctx.store.get_source(ctx.run_id, sid)
    assert source is not None and source.kind == "page" and source.url == url
    assert source.title.startswith("Deep-Sea Vents")
    assert source.meta["author"] == "Marta Okonkwo" and source.meta["content_type"] == "text/html"
    assert source.meta["final_url"] == url
    blob = await ctx.store.get_blob(source.content_hash or "")
    assert blob is not None and source.content_hash == blob_key(blob)
    assert "Deep-sea mining" in blob.decode() or "deep-sea mining" in blob.decode()


async def test_blog_post_drops_widgets(web: Any, make_ctx: Any, tool: FetchTool) -> None:
    url = web.add_fixture("/p/caching", "blog.html", HTML)
    out = await fetch(tool, await make_ctx(), url)
    assert not out.is_error
    assert "Cache hit rate on pull requests rose from 3% to 81%." in out.text
    assert "cache_key = sha256(sources + flags + toolchain_version)" in out.text
    for dropped in ("Got it!", "Tag cloud", "Related posts", "Share this post", "Powered by", "No spam"):
        assert dropped not in out.text, dropped


def _page(body: str, head: str = "", *, japanese: bool = False) -> str:
    filler = (
        "この段落には本文を抽出するのに十分な長さの文章が含まれています。"
        if japanese
        else "Dieser Absatz enthält genügend Text für die Extraktion des Hauptinhalts. "
    )
    heading = "見出し" if japanese else "Überschrift"
    para = f"<p>{body} " + filler * 4 + "</p>"
    return (
        f"<html><head>{head}<title>Charset test</title></head><body><nav><a href='/'>Start</a></nav>"
        f"<article><h1>{heading}</h1>{para}{para}</article><footer>Impressum</footer></body></html>"
    )


LATIN = "Größe, café, naïve façade"
CP1252 = "“Smart quotes” cost 5 € – a dash"


@pytest.mark.parametrize(
    ("name", "content_type", "encoding", "head", "bom", "expected"),
    [
        ("header-only", "text/html; charset=ISO-8859-1", "latin-1", "", b"", LATIN),
        ("meta-only", "text/html", "latin-1", '<meta charset="iso-8859-1">', b"", LATIN),
        (
            "http-equiv",
            "text/html",
            "latin-1",
            '<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1">',
            b"",
            LATIN,
        ),
        ("cp1252-declared", "text/html; charset=windows-1252", "cp1252", "", b"", CP1252),
        ("cp1252-as-latin1", "text/html; charset=iso-8859-1", "cp1252", "", b"", CP1252),
        ("utf8-bom", "text/html; charset=iso-8859-1", "utf-8", "", b"\xef\xbb\xbf", LATIN),
        ("utf8-mislabeled", "text/html; charset=iso-8859-1", "utf-8", '<meta charset="iso-8859-1">', b"", LATIN),
        ("header-beats-meta", "text/html; charset=utf-8", "utf-8", '<meta charset="windows-1252">', b"", CP1252),
        ("shift-jis-meta", "text/html", "shift_jis", '<meta charset="Shift_JIS">', b"", "日本語のテキストです"),
        ("undeclared-latin1", "text/html", "latin-1", "", b"", LATIN),
    ],
)
async def test_charsets(
    name: str,
    content_type: str,
    encoding: str,
    head: str,
    bom: bytes,
    expected: str,
    web: Any,
    make_ctx: Any,
    tool: FetchTool,
) -> None:
    body = bom + _page(expected, head, japanese=encoding == "shift_jis").encode(encoding)
    url = web.add(f"/{name}", body, content_type)
    out = await fetch(tool, await make_ctx(), url)
    assert not out.is_error, out.text
    assert expected in out.text
    assert ("見出し" if encoding == "shift_jis" else "Überschrift") in out.text
    assert "Ã" not in out.text and "\ufffd" not in out.text


def test_decode_text_order() -> None:
    assert decode_text("café".encode(), "latin-1") == ("café", "utf-8")  # mislabeled UTF-8
    assert decode_text("café".encode("latin-1"), "utf-8")[0] == "café"  # mislabeled latin-1: detected
    assert decode_text("Привет, как дела? Это тест кодировки, достаточно длинный.".encode("cp1251"))[0].startswith(
        "Привет"
    )
    assert decode_text(b"\xff\xfeh\x00i\x00", "latin-1")[0] == "hi"  # UTF-16 BOM wins
    assert decode_text("€".encode("cp1252"), "iso-8859-1") == ("€", "cp1252")  # WHATWG alias


# -- passthrough formats, PDF ---------------------------------------------------------------


async def test_json_text_and_xml_pass_through(web: Any, make_ctx: Any, tool: FetchTool) -> None:
    ctx = await make_ctx()
    out = await fetch(tool, ctx, web.add_fixture("/data.json", "data.json", "application/json"))
    assert not out.is_error
    assert '"dataset": "global-ocean-temperature"' in out.text and '"anomaly": 0.96' in out.text
    out = await fetch(tool, ctx, web.add_fixture("/notes.txt", "notes.txt", "text/plain; charset=utf-8"))
    assert "Sediment cores 27-A to 27-F stored at -80 °C for sequencing." in out.text
    source = await ctx.store.get_source(ctx.run_id, out.sources[0])
    assert source is not None and source.meta["content_type"] == "text/plain"
    out = await fetch(tool, ctx, web.add_fixture("/feed.xml", "feed.xml", "application/rss+xml"))
    assert "<title>Ocean Gazette feed</title>" in out.text


async def test_pdf_with_page_markers(web: Any, make_ctx: Any, make_pdf: Any, tool: FetchTool) -> None:
    pdf = make_pdf(
        [
            "Annual report 2023\nRevenue grew by 12 percent.",
            "Outlook (2024)\nWe expect growth.",
            "Appendix\nTable of figures.",
        ],
        title="Annual Report",
        author="Finance Team",
    )
    ctx = await make_ctx()
    url = web.add("/report.pdf", pdf, "application/pdf")
    out = await fetch(tool, ctx, url)
    assert not out.is_error, out.text
    assert out.text.startswith(f"[source {source_id_for(url)}] Annual Report — page 1 of 1")
    assert "PDF, 3 pages" in out.text and "Author: Finance Team" in out.text
    text = out.text
    assert text.index("[PDF page 1]") < text.index("Revenue grew by 12 percent.") < text.index("[PDF page 2]")
    assert text.index("[PDF page 2]") < text.index("Outlook (2024)") < text.index("[PDF page 3]")
    source = await ctx.store.get_source(ctx.run_id, out.sources[0])
    assert source is not None and source.kind == "pdf" and source.meta["content_type"] == "application/pdf"
    # sniffed by its magic number when the server does not say what it is
    out = await fetch(tool, ctx, web.add("/download", pdf, "application/octet-stream") + "?id=7")
    assert not out.is_error and "Revenue grew by 12 percent." in out.text


async def test_broken_pdf_is_a_clear_error(web: Any, make_ctx: Any, tool: FetchTool) -> None:
    out = await fetch(tool, await make_ctx(), web.add("/bad.pdf", b"%PDF-1.4\n garbage \x00\x01", "application/pdf"))
    assert out.is_error and "PDF" in out.text


# -- paging ---------------------------------------------------------------------------------


async def test_long_document_is_paged(web: Any, make_ctx: Any, tool: FetchTool) -> None:
    paragraphs = [
        f"Paragraph {i:03d}. " + "Lorem ipsum dolor sit amet, consectetur adipiscing. " * 12 for i in range(80)
    ]
    url = web.add("/long.txt", "\n\n".join(paragraphs), "text/plain; charset=utf-8")
    ctx = await make_ctx()
    first = await fetch(tool, ctx, url)
    n = first.meta["pages"]
    assert n >= 4 and first.text.splitlines()[0].endswith(f"— page 1 of {n}")
    sid = first.sources[0]
    assert f'call fetch("{sid}", page=2)' in first.text
    seen: list[str] = []
    for k in range(1, n + 1):
        out = await fetch(tool, ctx, sid if k % 2 else url, page=k)
        assert not out.is_error and f"— page {k} of {n}" in out.text.splitlines()[0]
        body = out.text.split("\n\n", 1)[1].rsplit("\n\n", 1)[0]
        assert len(body) <= 12_000
        assert body.startswith("Paragraph ")  # cut at a paragraph boundary
        seen += [p[:13] for p in body.split("\n\n")]
    assert seen == [p[:13] for p in paragraphs]  # nothing lost, nothing repeated
    assert "[end of document" in out.text
    bad = await fetch(tool, ctx, url, page=n + 1)
    assert bad.is_error and f"Page {n + 1} is out of range" in bad.text and f"has {n} pages" in bad.text
    assert web.hits["/long.txt"] == 1  # every other page came from the store


def test_paginate_cuts() -> None:
    assert paginate("short", 100) == ["short"]
    text = "a" * 50 + "\n\n" + "b" * 50 + "\n" + "c" * 50
    assert paginate(text, 120) == ["a" * 50, "b" * 50 + "\n" + "c" * 50]  # paragraphs first
    assert paginate("a" * 50 + "\n" + "b" * 80, 100) == ["a" * 50, "b" * 80]
    hard = paginate("x" * 250, 100)
    assert hard == ["x" * 100, "x" * 100, "x" * 50]


# -- errors ---------------------------------------------------------------------------------


async def test_http_and_content_errors(web: Any, make_ctx: Any, make_pdf: Any) -> None:
    ctx = await make_ctx()
    tool = FetchTool(allow_private_hosts=True, max_bytes=50_000, timeout_s=1.0)
    web.reply("/gone", 404, b"nope", {"Content-Type": "text/html"})
    web.reply("/boom", 500, b"", {"Content-Type": "text/html"})
    web.reply("/forbidden", 403, b"", {"Content-Type": "text/html"})
    web.reply("/img.png", 200, b"\x89PNG\r\n\x1a\n" + bytes(200), {"Content-Type": "image/png"})
    web.reply("/big", 200, b"x" * 60_000, {"Content-Type": "text/plain"})
    web.reply("/stream", 200, headers={"Content-Type": "text/plain"}, chunks=(b"y" * 8192 for _ in range(1000)))
    web.reply("/slow", 200, b"late", {"Content-Type": "text/plain"}, delay_s=3.0)
    web.reply("/loop", 302, headers={"Location": "/loop"})
    web.reply("/empty", 200, b"<html><body></body></html>", {"Content-Type": "text/html"})
    web.reply("/blank.txt", 200, b"   \n ", {"Content-Type": "text/plain"})
    expected = {
        "/gone": "HTTP 404",
        "/boom": "HTTP 500",
        "/forbidden": "refuses automated access",
        "/img.png": "the image: not an image this framework can read",  # image URLs are read; this one is not one
        "/big": "over the 0.0476837 MB limit",
        "/stream": "larger than the 0.0476837 MB limit",
        "/slow": "timed out",
        "/loop": "too many redirects",
        "/empty": "no readable text",
        "/blank.txt": "no readable text",
    }
    try:
        for path, message in expected.items():
            out = await fetch(tool, ctx, web.url(path))
            assert out.is_error, path
            assert message in out.text, (path, out.text)
        assert web.hits["/loop"] == 6  # the first request and five redirects
        out = await fetch(tool, ctx, "http://")
        assert out.is_error and "invalid URL" in out.text
        out = await fetch(tool, ctx, "http://127.0.0.1:1/closed")
        assert out.is_error and "could not connect" in out.text
        out = await fetch(tool, ctx, "S00000000")
        assert out.is_error and "No source with id S00000000" in out.text
        assert await ctx.store.list_sources(ctx.run_id) == []  # failures register nothing
    finally:
        await tool.aclose()


async def test_hostile_html_does_not_crash(web: Any, make_ctx: Any, tool: FetchTool) -> None:
    nested = "<div>" * 20_000 + "deep text" + "</div>" * 10
    hostile = (
        "<html><head><script>while(1){}</script><style>p{}</style></head><body>\x00\x00"
        + nested
        + "<p>Visible paragraph " * 50
        + "<svg><foreignObject><iframe src='javascript:x'>"
        + "<table>" * 500
        + "</body>"
    ).encode()
    ctx = await make_ctx()
    out = await fetch(tool, ctx, web.add("/hostile", hostile, HTML))
    assert isinstance(out.text, str) and out.text
    assert "while(1)" not in out.text
    out = await fetch(tool, ctx, web.add("/binary", bytes(range(256)) * 50, "text/html"))
    assert isinstance(out.text, str)


async def test_redirects_are_followed(web: Any, make_ctx: Any, tool: FetchTool) -> None:
    new = web.add_fixture("/new", "blog.html", HTML)
    web.reply("/old", 301, headers={"Location": "/mid"})
    web.reply("/mid", 307, headers={"Location": new})
    ctx = await make_ctx()
    out = await fetch(tool, ctx, web.url("/old"))
    assert not out.is_error and "Final URL: " + new in out.text
    source = await ctx.store.get_source(ctx.run_id, source_id_for(web.url("/old")))
    assert source is not None and source.meta["final_url"] == new and source.url == web.url("/old")


async def test_gzip_and_user_agent(web: Any, make_ctx: Any, tool: FetchTool) -> None:
    body = gzip.compress((_page("Komprimierter Inhalt")).encode())
    web.reply("/gz", 200, body, {"Content-Type": HTML, "Content-Encoding": "gzip"})
    out = await fetch(tool, await make_ctx(), web.url("/gz"))
    assert not out.is_error and "Komprimierter Inhalt" in out.text
    headers = web.requests[-1][1]
    assert headers["User-Agent"] == "agentkit/0.1 (+research agent)"


# -- store and cache ------------------------------------------------------------------------


async def test_second_fetch_comes_from_the_store(web: Any, make_ctx: Any, tool: FetchTool) -> None:
    url = web.add_fixture("/a", "article.html", HTML)
    ctx = await make_ctx()
    first = await fetch(tool, ctx, url)
    assert first.meta["origin"] == "network"
    again = await fetch(tool, ctx, url + "#comments")  # same normalised URL
    by_id = await fetch(tool, ctx, first.sources[0])
    assert again.meta["origin"] == by_id.meta["origin"] == "store"
    assert again.text == first.text == by_id.text
    assert web.hits["/a"] == 1
    assert [s.id for s in await ctx.store.list_sources(ctx.run_id)] == first.sources


async def test_cache_is_shared_between_runs_and_stores(web: Any, make_ctx: Any) -> None:
    url = web.add_fixture("/a", "article.html", HTML)
    cache = FetchCache()
    tool_a, tool_b = FetchTool(allow_private_hosts=True, cache=cache), FetchTool(allow_private_hosts=True, cache=cache)
    shared_store = MemoryStore()
    ctx1 = await make_ctx(store=shared_store, run_id="traj-1")
    ctx2 = await make_ctx(store=shared_store, run_id="traj-2")
    ctx3 = await make_ctx(run_id="other-store")
    out1 = await fetch(tool_a, ctx1, url)
    out2 = await fetch(tool_b, ctx2, url)
    out3 = await fetch(tool_b, ctx3, url)
    await tool_a.aclose()
    await tool_b.aclose()
    assert web.hits["/a"] == 1
    assert out2.meta["origin"] == out3.meta["origin"] == "cache"
    assert out1.text == out2.text == out3.text
    for ctx in (ctx2, ctx3):  # registered in each run, text present in each store
        source = await ctx.store.get_source(ctx.run_id, out1.sources[0])
        assert source is not None and source.content_hash
        assert await ctx.store.get_blob(source.content_hash) is not None
    assert cache.hits == 2 and cache.misses == 1 and len(cache) >= 1


async def test_concurrent_fetches_download_once(web: Any, make_ctx: Any) -> None:
    web.reply("/slowish", 200, _page("Gleichzeitig").encode(), {"Content-Type": HTML}, delay_s=0.3)
    tool = FetchTool(allow_private_hosts=True, cache=FetchCache())
    store = MemoryStore()
    ctxs = [await make_ctx(store=store, run_id=f"t{i}") for i in range(5)]
    outs: list[Any] = []

    async def one(ctx: Any) -> None:
        outs.append(await fetch(tool, ctx, web.url("/slowish")))

    async with anyio.create_task_group() as tg:
        for ctx in ctxs:
            tg.start_soon(one, ctx)
    await tool.aclose()
    assert web.hits["/slowish"] == 1
    assert all(not o.is_error and "Gleichzeitig" in o.text for o in outs)


async def test_evicted_cache_text_is_fetched_again(web: Any, make_ctx: Any) -> None:
    url = web.add_fixture("/a", "article.html", HTML)
    tool = FetchTool(allow_private_hosts=True, cache=FetchCache(max_text_chars=10))
    await fetch(tool, await make_ctx(run_id="r1"), url)
    out = await fetch(tool, await make_ctx(run_id="r2"), url)  # another store, text not kept
    await tool.aclose()
    assert not out.is_error and "microbial lineages" in out.text
    assert web.hits["/a"] == 2


def test_url_helpers() -> None:
    assert normalize_url("HTTP://Example.COM:80/a?utm_source=x&b=1#frag") == "http://example.com/a?b=1"
    assert normalize_url("https://example.com") == "https://example.com/"
    assert source_id_for("https://example.com/a#x") == source_id_for("https://EXAMPLE.com/a")
    assert source_id_for("https://example.com/a").startswith("S") and len(source_id_for("https://x.org")) == 9
    assert with_default_scheme("example.com/page") == "https://example.com/page"
    assert with_default_scheme("file:///etc/passwd") == "file:///etc/passwd"
    assert normalize_url("local:docs/a.md") == "local:docs/a.md"
