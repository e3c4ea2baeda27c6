"""Where fetch used to lose a page's text: markdown escapes, a dropped standfirst, an article
only the publisher's JSON-LD holds. Pages served from loopback and read through ``FetchTool``;
the repairs themselves (:mod:`agentkit.tools._html_text`) are checked on small inputs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agentkit.tools._extract import extract, extract_html
from agentkit.tools._html_text import coverage, plain_markdown, publisher_body
from agentkit.tools._sources import source_id_for
from agentkit.tools.fetch import FetchArgs, FetchTool

pytestmark = pytest.mark.anyio

HTML = "text/html; charset=utf-8"


@pytest.fixture
async def tool() -> Any:
    t = FetchTool(allow_private_hosts=True)
    yield t
    await t.aclose()


async def stored_text(ctx: Any, url: str) -> str:
    source = await ctx.store.get_source(ctx.run_id, source_id_for(url))
    blob = await ctx.store.get_blob(source.content_hash)
    assert blob is not None
    return str(blob.decode("utf-8"))


async def test_page_text_is_kept_as_written_not_markdown_escaped(web: Any, make_ctx: Any, tool: FetchTool) -> None:
    url = web.add_fixture("/blog/festival", "festival.html", HTML)
    ctx = await make_ctx()
    out = await tool.invoke(FetchArgs(url=url), ctx)
    assert not out.is_error, out.text
    text = await stored_text(ctx, url)
    for kept in (
        "# [The Palace] Backstage at the Daehak-ro Festival",
        "three items from <The Palace: Tale of Jang Noksu> in front of",
        "2018.04.05 ~ OPEN RUN",
        "Seats in rows A*B are reserved",
        "Choreographer_Jeong Hye Jin, Director_Oh Kyeong Taek",
        "\n- 2 hours before the show, the box office opens; bring the booking number [B-1024].",
        "\n1. Tickets are sold at the door",
        "\n# of seats for wheelchair users",
        "C:\\shows\\palace\\_final",  # a backslash the page wrote stays one backslash
        '`cue_list[3] = "fade*2"`',  # code is verbatim
        'return f"{name_of_cue} \\_ {level}"  # a literal backslash: \\_',
    ):
        assert kept in text, kept
        assert kept.strip() in out.text, kept
    assert "\\[" not in text and "\\<" not in text and "\\_J" not in text and "\\~" not in text


async def test_standfirst_the_page_shows_leads_the_text(web: Any, make_ctx: Any, tool: FetchTool) -> None:
    url = web.add_fixture("/2016/cider", "standfirst.html", HTML)
    ctx = await make_ctx()
    out = await tool.invoke(FetchArgs(url=url), ctx)
    assert not out.is_error, out.text
    text = await stored_text(ctx, url)
    lead = "Seit Dezember 2015 verschickt eine Cider Connection zahlreiche Abmahnungen"
    assert text.startswith(lead) and text.count(lead) == 1
    assert text.index("Zwei Männer Arm in Arm") > text.index(lead)
    assert "Ein Muster, das über einen einzelnen Fotografen hinausgeht".casefold() in text.casefold()
    for dropped in ("Impressum", "Spenden", "Markus R."):
        assert dropped not in text, dropped


async def test_article_rendered_by_scripts_comes_from_the_publishers_article_body(
    web: Any, make_ctx: Any, tool: FetchTool
) -> None:
    url = web.add_fixture("/comment/3046526", "scripted.html", HTML)
    ctx = await make_ctx()
    out = await tool.invoke(FetchArgs(url=url), ctx)
    assert not out.is_error, out.text
    text = await stored_text(ctx, url)
    assert text.startswith("The re-election of the island's president was no easy feat.")
    assert "She triumphed using political shrewdness" in text
    assert text.endswith("almost insulting to residents who asked for a hearing, not a fare cut.")
    assert text.count("\n\n") == 2  # the publisher's paragraphs
    assert "rabbit hole" not in text  # the author box the extraction had taken for the article


def test_a_description_the_page_does_not_show_is_not_added() -> None:
    body = " ".join(f"Paragraph {i} of the report says something specific about the harbour survey." for i in range(8))
    page = f"""<html><head><title>Harbour survey</title>
    <meta name="description" content="Best prices ✓ Free delivery ✓ Read the test now and compare all offers today">
    </head><body><article><h1>Harbour survey</h1><p>{body}</p></article></body></html>"""
    text = extract_html(page.encode(), "https://x.example/a").text
    assert "Best prices" not in text and text.startswith("# Harbour survey")


def test_a_description_the_text_already_has_is_not_repeated() -> None:
    first = "The survey of the harbour counted 412 vessels, the highest number since records began in 1961."
    rest = " ".join("More findings of the survey follow in this paragraph, in detail." for _ in range(8))
    page = f"""<html><head><title>Harbour survey</title>
    <meta name="description" content="The survey of the harbour counted 412 vessels, the highest number since…">
    </head><body><article><p class="lead">{first}</p><p>{rest}</p></article></body></html>"""
    text = extract_html(page.encode(), "https://x.example/a").text
    assert text.count("412 vessels") == 1


# -- the repairs on small inputs ------------------------------------------------------------


@pytest.mark.parametrize(
    ("escaped", "plain"),
    [
        ("snake\\_case and \\[1\\] and \\<b> and a \\*b\\* and \\~", "snake_case and [1] and <b> and a *b* and ~"),
        ("a literal \\\\\\_ stays", "a literal \\_ stays"),  # 3 backslashes: 1 literal + the escape
        ("two literal \\\\\\\\\\_", "two literal \\\\_"),
        (
            "\\- dash\n\n1\\. one\n\n\\# hash\n\n\\> quote\n\n\\+ plus",
            "- dash\n\n1. one\n\n# hash\n\n> quote\n\n+ plus",
        ),
        ("- \\- item starting with a dash\n  - 2\\) nested", "- - item starting with a dash\n  - 2) nested"),
        ("> \\# quoted hash", "> # quoted hash"),
        ("mid-line 1\\. and \\# stay", "mid-line 1\\. and \\# stay"),  # trafilatura escapes these only at a start
        ("code `a\\_b` and ``x `\\[` y`` kept", "code `a\\_b` and ``x `\\[` y`` kept"),
        ("```\nfence \\_ \\[kept\\]\n```\nafter \\_", "```\nfence \\_ \\[kept\\]\n```\nafter _"),
        ("table | a\\|b | c\\_d |", "table | a\\|b | c_d |"),  # a cell's pipe stays escaped
        ("e\u0301t\u00e9", "\u00e9t\u00e9"),  # NFC
    ],
)
def test_plain_markdown_undoes_trafilaturas_escapes(escaped: str, plain: str) -> None:
    assert plain_markdown(escaped) == plain


class _Tree:
    """What publisher_body reads of a parsed page: its JSON-LD scripts."""

    def __init__(self, *scripts: str) -> None:
        self.scripts = scripts

    def iterfind(self, path: str) -> list[Any]:
        assert path == './/script[@type="application/ld+json"]'
        return [type("Script", (), {"text": s})() for s in self.scripts]


ARTICLE = " ".join(f"Sentence {i} of the publisher's own article text about the harbour survey." for i in range(12))


def test_publisher_body_only_when_the_extraction_missed_it() -> None:
    ld = json.dumps({"@graph": [{"@type": "WebPage"}, {"@type": "NewsArticle", "articleBody": ARTICLE}]})
    assert publisher_body(_Tree(ld), "A photo caption.") == ARTICLE
    assert publisher_body(_Tree(ld), ARTICLE) == ""  # already extracted
    assert publisher_body(_Tree(ld), ARTICLE + " And more text the extraction found besides.") == ""
    short = json.dumps({"articleBody": "Too short to be an article."})
    assert publisher_body(_Tree(short), "A photo caption.") == ""


def test_publisher_body_renders_markup_and_survives_bad_json() -> None:
    html_body = "<p>" + ARTICLE + "</p><ul><li><p>one point made in a list item</p></li></ul>"
    ld = json.dumps([{"articleBody": html_body}])
    got = publisher_body(_Tree("{not json", "[" * 100_000, ld), "caption")
    assert got == ARTICLE + "\n\none point made in a list item"


def test_coverage_ignores_case_quotes_and_punctuation() -> None:
    assert coverage("Toyota's top-selling vehicle, the RAV4", "toyota’s top selling vehicle — the rav4!") == 1.0
    assert coverage("entirely different words here", "nothing of that") == 0.0


def test_extract_still_refuses_a_page_without_text() -> None:
    from agentkit.tools._extract import ExtractionError

    with pytest.raises(ExtractionError):
        extract(b"<html><head><title>t</title></head><body><script>x()</script></body></html>", "text/html", "u")
