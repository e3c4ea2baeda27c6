"""Two builders of one local index at once (an eval's concurrent runs of one task file): both
end with the whole corpus indexed once; neither fails on the other's rows."""

from __future__ import annotations

import threading
from pathlib import Path

from agentkit.tools._index import IndexStats, build_index, search_index


def test_two_builders_at_once_both_see_every_document_once(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for k in range(120):
        (corpus / f"doc{k:03}.md").write_text(f"# Note {k}\n\nThe marker word zebra{k} appears in note {k}.\n")
    index = corpus / ".agentkit" / "index.sqlite"
    start = threading.Barrier(2)
    stats: list[IndexStats] = []
    errors: list[BaseException] = []

    def build() -> None:
        start.wait()
        try:
            stats.append(build_index(corpus, index))
        except BaseException as exc:  # the test reports it below
            errors.append(exc)

    threads = [threading.Thread(target=build) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(s.added for s in stats) == [0, 120] and all(s.documents == 120 for s in stats)
    assert [h.path for h in search_index(index, "zebra77")] == ["doc077.md"]
