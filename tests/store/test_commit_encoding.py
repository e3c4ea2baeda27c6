"""A committed event is dumped to JSON once: the run book's check (what the store keeps) and
the store's encoding share one dump (#21: RunBook.commit encoded each event twice)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from agentkit.run._runs import RunBook
from agentkit.store.events import NoteAdded, RunInfo
from agentkit.store.fold import RunState
from agentkit.store.sqlite import SQLiteStore


def test_a_commit_dumps_the_event_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    original = NoteAdded.model_dump

    def counting(self: NoteAdded, **kwargs: Any) -> dict[str, Any]:
        calls.append(str(kwargs.get("mode", "python")))
        return original(self, **kwargs)

    async def main() -> list[str]:
        store = SQLiteStore(tmp_path / "s.db")
        try:
            await store.create_run(RunInfo(id="r1", task="t"))
            book = RunBook(store, RunState(run_id="r1"))
            monkeypatch.setattr(NoteAdded, "model_dump", counting)
            await book.commit(NoteAdded(text="x" * 20_000))  # long enough to go to a blob
            await book.commit_many([NoteAdded(text="a"), NoteAdded(text="b")])
            monkeypatch.undo()
            events = await store.events("r1")
            assert [e.event.text for e in events if isinstance(e.event, NoteAdded)] == ["x" * 20_000, "a", "b"]
            return calls
        finally:
            await store.aclose()

    assert anyio.run(main) == ["json", "json", "json"]
