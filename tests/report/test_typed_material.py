"""The report's Python outputs and figures come from typed effects (CellExecuted,
FigureProduced), and a run stored before effects were typed gives the same material."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentkit.llm.types import AssistantTurn, ToolCall
from agentkit.report.writer import gather
from agentkit.store.events import (
    AssistantMessage,
    CellExecuted,
    FigureProduced,
    RunFinished,
    RunInfo,
    RunStarted,
    ToolResultEvent,
    TraceEvent,
)
from agentkit.store.memory import MemoryStore

from .helpers import RUN, make_run, tiny_png

pytestmark = pytest.mark.anyio


async def typed_run(tmp_path: Path, *, tool_name: str = "python") -> MemoryStore:
    """The helpers' run as stored today: the Python call's cell and figure are effects."""
    store = MemoryStore()
    task = "How did life expectancy and Arctic sea ice change since 2000?"
    await store.create_run(RunInfo(id=RUN, task=task))
    (tmp_path / "fig1.png").write_bytes(tiny_png())
    calls = [
        ToolCall(id="c2", name=tool_name, arguments='{"code": "plot()"}'),
        ToolCall(id="c3", name=tool_name, arguments='{"code": "import sys"}'),
    ]
    events: list[TraceEvent] = [
        RunStarted(task=task),
        AssistantMessage(step=1, turn=AssistantTurn(tool_calls=calls)),
        CellExecuted(code="plot()", ok=True, call_id="c2"),
        FigureProduced(path="fig1.png", workdir=str(tmp_path), call_id="c2"),
        ToolResultEvent(step=1, call_id="c2", name=tool_name, text="mean gain per year: 0.3158", effects=2),
        ToolResultEvent(step=1, call_id="c3", name=tool_name, text="Invalid arguments: 7 problems", effects=0),
        RunFinished(status="finished", answer="Life expectancy rose to 73.4 years."),
    ]
    await store.append_many(RUN, events)
    return store


async def test_python_outputs_and_figures_come_from_effects(tmp_path: Path) -> None:
    material = await gather(await typed_run(tmp_path), RUN)
    assert material.python_outputs == ["mean gain per year: 0.3158"]  # the result that ran no cell is not one
    assert material.figures == [str(tmp_path / "fig1.png")]
    # The effects say what a result did, whatever the tool is called.
    renamed = await gather(await typed_run(tmp_path, tool_name="py"), RUN)
    assert (renamed.python_outputs, renamed.figures) == (material.python_outputs, material.figures)


async def test_a_run_stored_before_effects_were_typed_gives_the_same_material(tmp_path: Path) -> None:
    legacy = await gather(await make_run(tmp_path), RUN)
    typed = await gather(await typed_run(tmp_path), RUN)
    assert legacy.python_outputs == typed.python_outputs == ["mean gain per year: 0.3158"]
    assert legacy.figures == typed.figures == [str(tmp_path / "fig1.png")]
