"""A hand-made run in a MemoryStore: sources with stored text, a python result with a figure."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

from agentkit.llm.types import AssistantTurn, ToolCall
from agentkit.store.events import (
    AssistantMessage,
    NoteAdded,
    RunFinished,
    RunInfo,
    RunStarted,
    Source,
    ToolResultEvent,
)
from agentkit.store.memory import MemoryStore

RUN = "run-1"
S_WHO = "S1a2b3c4d"
S_NASA = "Sdeadbeef"
S_UNUSED = "S00c0ffee"
S_GHOST = "S99999999"  # never fetched: not a source of the run

WHO_TEXT = (
    "The World Health Organization reported that global life expectancy rose to 73.4 years in 2019. "
    "Life expectancy increased by more than 6 years between 2000 and 2019, the report said. "
    "Healthy life expectancy also increased, from 58.3 years to 63.7 years."
)
NASA_TEXT = (
    "NASA measured that the Arctic sea ice minimum extent declined about 12.6% per decade since 1979. "
    "In September 2012 the ice covered 3,410,000 square kilometres, the lowest on record."
)


def tiny_png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * 4 for _ in range(4))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


async def make_run(
    tmp_path: Path, *, who_title: str = "World health statistics 2020", who_url: str = "https://www.who.int/data/stats"
) -> MemoryStore:
    store = MemoryStore()
    await store.create_run(RunInfo(id=RUN, task="How did life expectancy and Arctic sea ice change since 2000?"))
    fig = tmp_path / "fig1.png"
    fig.write_bytes(tiny_png())
    calls = [ToolCall(id="c1", name="fetch", arguments="{}"), ToolCall(id="c2", name="python", arguments="{}")]
    for event in [
        RunStarted(task="How did life expectancy and Arctic sea ice change since 2000?"),
        AssistantMessage(step=1, turn=AssistantTurn(content="", tool_calls=calls)),
        ToolResultEvent(step=1, call_id="c1", name="fetch", text=WHO_TEXT, sources=[S_WHO]),
        ToolResultEvent(
            step=1,
            call_id="c2",
            name="python",
            text="mean gain per year: 0.3158",
            attachments=[{"path": str(fig), "mime_type": "image/png"}],
        ),
        NoteAdded(text="WHO: life expectancy 73.4 years in 2019"),
        RunFinished(status="finished", answer="Life expectancy rose to 73.4 years; Arctic ice fell 12.6% per decade."),
    ]:
        await store.append(RUN, event)
    for sid, url, title, text in [
        (S_WHO, who_url, who_title, WHO_TEXT),
        (S_NASA, "https://climate.nasa.gov/vital-signs/arctic-sea-ice/", "Arctic Sea Ice Minimum", NASA_TEXT),
        (S_UNUSED, "https://example.org/unused", "Unused page", "Nothing relevant here."),
    ]:
        key = await store.put_blob(text.encode())
        await store.add_source(
            RUN, Source(id=sid, url=url, title=title, content_hash=key, retrieved_at=1_700_000_000.0)
        )
    return store
