"""The offline search corpus: build_index (FTS5, incremental) and the ``local`` backend."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from agentkit.tools._index import build_index, search_index
from agentkit.tools._sources import source_id_for
from agentkit.tools.fetch import FetchArgs, FetchTool
from agentkit.tools.web_search import LocalBackend, WebSearchArgs, WebSearchTool

from_fixtures = Path(__file__).resolve().parent.parent / "fixtures" / "web"

NOTES = "Tide tables\n\nThe spring tide at Brest reached 7.9 metres on the equinox.\n"


@pytest.fixture
def corpus(tmp_path: Path, make_pdf: Any) -> Path:
    root = tmp_path / "corpus"
    (root / "guides").mkdir(parents=True)
    (root / ".git").mkdir()
    (root / "guides" / "kelp.md").write_text(
        "# Kelp forest restoration\n\nSea urchins graze kelp down to barrens; restoring sea otters "
        "brings the forests back.\n\n## Methods\n\nDivers cull urchins and transplant kelp.\n"
    )
    (root / "tides.txt").write_text(NOTES)
    shutil.copy(from_fixtures / "article.html", root / "vents.html")
    (root / "report.pdf").write_bytes(
        make_pdf(
            ["Coral bleaching report\nBleaching affected 84 percent of reefs.", "Recommendations\nReduce emissions."],
            title="Coral Bleaching Report 2024",
        )
    )
    long_doc = "\n\n".join(f"Section {i}. " + "Generic filler words about the sea. " * 30 for i in range(30))
    (root / "guides" / "long.md").write_text("# Long handbook\n\n" + long_doc + "\n\nThe albatross appendix.\n")
    (root / ".git" / "ignored.md").write_text("albatross kelp tide coral")
    (root / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (root / "broken.pdf").write_bytes(b"%PDF-1.4 not really a pdf")
    return root


def test_build_and_query(corpus: Path, tmp_path: Path) -> None:
    index = tmp_path / "index.sqlite"
    stats = build_index(corpus, index)
    assert (stats.added, stats.updated, stats.removed, stats.unchanged) == (5, 0, 0, 0)
    assert stats.documents == 5 and stats.chunks > 5
    assert [path for path, _ in stats.failed] == ["broken.pdf"]

    hits = search_index(index, "hydrothermal vents microbial lineages")
    assert hits[0].path == "vents.html"
    assert hits[0].title.startswith("Deep-Sea Vents Host Unexpected Microbial Diversity")
    assert "**" in hits[0].snippet  # matched words are marked
    assert "Accept all cookies" not in (hits[0].text or "")  # HTML is extracted, not indexed raw

    hits = search_index(index, "coral bleaching reefs")
    assert hits[0].path == "report.pdf" and hits[0].title == "Coral Bleaching Report 2024"
    assert "[PDF page 1]" in (hits[0].text or "")

    hits = search_index(index, "urchin restoring otters")  # porter stemming: urchins, restore
    assert hits[0].path == "guides/kelp.md" and hits[0].title == "Kelp forest restoration"

    hits = search_index(index, "albatross")  # only in the last chunk of a long document
    assert [h.path for h in hits] == ["guides/long.md"]
    assert "**albatross**" in hits[0].snippet and "Section 0" not in hits[0].snippet

    hits = search_index(index, "brest tide", limit=1)
    assert len(hits) == 1 and hits[0].text == NOTES.strip()

    assert isinstance(search_index(index, '"AND OR NEAR( x* ^ - :'), list)  # no FTS syntax errors
    assert search_index(index, '"* ^ - :)') == []
    assert search_index(index, "   ") == []
    assert search_index(index, "kelp", limit=10, with_text=False)[0].text is None


def test_incremental_reindex(corpus: Path, tmp_path: Path) -> None:
    index = tmp_path / "index.sqlite"
    build_index(corpus, index)
    again = build_index(corpus, index)
    assert (again.added, again.updated, again.removed, again.unchanged) == (0, 0, 0, 5)

    tides = corpus / "tides.txt"
    os.utime(tides, (1_000_000, 1_000_000))  # touched, same content: not re-extracted
    touched = build_index(corpus, index)
    assert (touched.updated, touched.unchanged) == (0, 5)

    tides.write_text("Tide tables\n\nNeap tides at Saint-Malo were unusually weak.\n")
    (corpus / "guides" / "kelp.md").unlink()
    (corpus / "new.md").write_text("# Seagrass\n\nSeagrass meadows store carbon.\n")
    changed = build_index(corpus, index)
    assert (changed.added, changed.updated, changed.removed, changed.unchanged) == (1, 1, 1, 3)
    assert changed.documents == 5
    assert search_index(index, "Brest") == []
    assert search_index(index, "Saint-Malo")[0].path == "tides.txt"
    assert search_index(index, "urchins") == []
    assert search_index(index, "seagrass carbon")[0].path == "new.md"


@pytest.mark.anyio
async def test_local_backend_through_the_tools(corpus: Path, tmp_path: Path, make_ctx: Any) -> None:
    index = tmp_path / "idx" / "corpus.sqlite"
    build_index(corpus, index)
    search = WebSearchTool([LocalBackend(index)])
    fetch = FetchTool()  # guarded: local documents never touch the network
    ctx = await make_ctx()
    out = await search.invoke(WebSearchArgs(query="spring tide Brest"), ctx)
    assert not out.is_error and out.meta["backend"] == "local"
    sid = source_id_for("local:tides.txt")
    assert out.text.splitlines()[1] == f"1. [{sid}] Tide tables"
    assert "   local:tides.txt" in out.text
    source = await ctx.store.get_source(ctx.run_id, sid)
    assert source is not None and source.kind == "search_result" and source.content_hash
    read = await fetch.invoke(FetchArgs(url=sid), ctx)
    assert not read.is_error and "7.9 metres" in read.text and read.meta["origin"] == "store"
    read = await fetch.invoke(FetchArgs(url="local:tides.txt"), ctx)
    assert not read.is_error and "7.9 metres" in read.text
    unknown = await fetch.invoke(FetchArgs(url="local:nowhere.md"), ctx)
    assert unknown.is_error and "local search index" in unknown.text
    missing = await WebSearchTool([LocalBackend(tmp_path / "none.sqlite")]).invoke(WebSearchArgs(query="x"), ctx)
    assert missing.is_error and "agentkit index DIR" in missing.text
    await fetch.aclose()


@pytest.mark.anyio
async def test_local_backend_from_settings_indexes_the_folder(corpus: Path, make_ctx: Any) -> None:
    tool = WebSearchTool()
    ctx = await make_ctx(settings={"search": {"backend": "local", "index": str(corpus)}})
    out = await tool.invoke(WebSearchArgs(query="coral bleaching", max_results=2), ctx)
    assert not out.is_error and "Coral Bleaching Report 2024" in out.text
    assert (corpus / ".agentkit" / "index.sqlite").is_file()
    assert out.meta["results"] <= 2
