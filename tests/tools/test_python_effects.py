"""The python tool's effects: each call commits the cell it ran (and a figure per saved plot)
as typed events, and a new kernel replays the committed cells from them (real kernels)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import orjson
import pytest

from agentkit.llm.types import AssistantTurn, ToolCall
from agentkit.store import SQLiteStore
from agentkit.store.events import AssistantMessage, CellExecuted, FigureProduced, RunInfo, StatusChanged
from agentkit.store.fold import load_state
from agentkit.tools.base import ToolContext, ToolRegistry, ToolResult
from agentkit.tools.python import PythonTool

pytestmark = pytest.mark.anyio
RUN = "r"

PLOT = "import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()"


class Session:
    """Calls and commits the way the loop does: the turn, then the call's events in one append."""

    def __init__(self, store: SQLiteStore, tool: PythonTool, workdir: Path) -> None:
        self.store, self.tool, self.workdir = store, tool, workdir
        self.registry = ToolRegistry([tool])
        self.step = 0

    async def turn(self, code: str, *, commit: bool = True) -> ToolResult:
        self.step += 1
        arguments = {"code": code}
        call = ToolCall(
            id=f"python:{self.step}", name="python", arguments=orjson.dumps(arguments).decode(), parsed=arguments
        )
        await self.store.append(RUN, AssistantMessage(step=self.step, turn=AssistantTurn(tool_calls=[call])))
        return await self.run(call, commit=commit)

    async def run(self, call: ToolCall, *, commit: bool = True) -> ToolResult:
        ctx = ToolContext(run_id=RUN, call_id=call.id, step=self.step, store=self.store, workdir=self.workdir)
        result = await self.registry.execute(call, ctx)
        events = result.events(self.step)
        await self.store.append_many(RUN, events if commit else events[:-1])  # no result: a crash
        return result


@pytest.fixture
async def session(tmp_path: Path) -> AsyncIterator[Session]:
    tool = PythonTool(pool_size=0, isolation="none", timeout_s=60)
    async with SQLiteStore(tmp_path / "t.db") as store:
        await store.create_run(RunInfo(id=RUN, task="t"))
        try:
            yield Session(store, tool, (tmp_path / "runs" / RUN).resolve())
        finally:
            await tool.aclose()


async def test_cells_and_figures_are_effects_of_the_call(session: Session) -> None:
    first = await session.turn("x = 20")
    assert [type(e) for e in first.output.effects] == [CellExecuted]
    cell = first.output.effects[0]
    assert isinstance(cell, CellExecuted) and (cell.code, cell.ok, cell.restarted) == ("x = 20", True, False)
    plot = await session.turn(PLOT)
    cell, figure = plot.output.effects
    assert isinstance(cell, CellExecuted) and cell.ok
    assert isinstance(figure, FigureProduced) and figure.mime_type == "image/png"
    assert figure.path == "figures/figure-001.png" and figure.workdir == str(session.workdir)
    assert figure.location == plot.output.attachments[0].path and await anyio.Path(figure.location).is_file()
    failed = await session.turn("1 / 0")
    assert [(e.code, e.ok) for e in failed.output.effects if isinstance(e, CellExecuted)] == [("1 / 0", False)]
    stored = [s.event for s in await session.store.events(RUN)]
    assert [type(e).__name__ for e in stored] == [
        "AssistantMessage",
        "CellExecuted",
        "ToolResultEvent",
        "AssistantMessage",
        "CellExecuted",
        "FigureProduced",
        "ToolResultEvent",
        "AssistantMessage",
        "CellExecuted",
        "ToolResultEvent",
    ]
    state = await load_state(session.store, RUN)
    assert state.replay_cells == ["x = 20", PLOT]
    assert [f.location for f in state.figures] == [figure.location]


async def test_a_new_kernel_replays_committed_cells_once(session: Session) -> None:
    """A crash after a cell's effects but before its result: the resumed run runs the call again,
    and a later kernel replays that cell once, not twice."""
    await session.turn("x = 20")
    await session.turn(PLOT)
    crashed = await session.turn("x += 1", commit=False)
    assert crashed.output.meta["ok"] is True
    await session.tool.close_run(RUN)  # the process died with its kernel
    await session.store.append(RUN, StatusChanged(status="running", reason="resumed"))
    pending = (await load_state(session.store, RUN)).pending_calls
    assert [c.id for c in pending] == ["python:3"]
    again = await session.run(pending[0])  # the resumed run runs the unanswered call
    assert "re-ran 2 earlier cell(s)" in again.output.text and again.output.meta["replayed"] == 2
    await session.tool.close_run(RUN)  # and once more in a new kernel
    out = await session.turn("x")
    assert "re-ran 3 earlier cell(s)" in out.output.text, out.output.text
    assert "Out[4]: 21" in out.output.text, out.output.text  # x += 1 ran once
