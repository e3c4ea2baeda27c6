"""Tools generic in their argument model, and the effects a result carries to the trace."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, Field

from agentkit import Tool, ToolContext, ToolOutput, ToolRegistry, tool
from agentkit.llm._repair import make_tool_call
from agentkit.store.events import NoteAdded, PlanUpdated, ToolResultEvent
from agentkit.store.memory import MemoryStore

pytestmark = pytest.mark.anyio


class ScaleArgs(BaseModel):
    value: float
    factor: float = Field(2.0, gt=0)


class Scale(Tool[ScaleArgs]):
    """Scales a number; notes what it did and revises the plan (two effects)."""

    def __init__(self) -> None:
        super().__init__("scale", "Scale a number.", ScaleArgs)
        self.seen: list[object] = []

    async def invoke(self, args: ScaleArgs, ctx: ToolContext) -> ToolOutput:
        self.seen.append(args)
        product = args.value * args.factor
        return ToolOutput(
            text=f"{product:g}",
            effects=[
                NoteAdded(text=f"{args.value:g} x {args.factor:g} = {product:g}", call_id="someone else"),
                PlanUpdated(plan="1. scaled", reason="update"),
            ],
        )


class Legacy(Tool):
    """A subclass written before tools were generic: untyped, returns a plain string."""

    def __init__(self) -> None:
        super().__init__("legacy", "Echo.", ScaleArgs)

    async def invoke(self, args, ctx):  # type: ignore[no-untyped-def]
        return f"value={args.value}"


def ctx(call_id: str) -> ToolContext:
    return ToolContext(run_id="r", call_id=call_id, step=3, store=MemoryStore(), workdir=Path("."))


async def test_a_typed_tool_gets_its_own_validated_model() -> None:
    scale = Scale()
    registry = ToolRegistry([scale])
    result = await registry.execute(make_tool_call("c1", "scale", '{"value": 21}'), ctx("c1"))
    assert result.output.text == "42" and not result.output.is_error
    assert scale.seen == [ScaleArgs(value=21, factor=2.0)] and type(scale.seen[0]) is ScaleArgs
    bad = await registry.execute(make_tool_call("c2", "scale", '{"value": 1, "factor": 0}'), ctx("c2"))
    assert bad.output.is_error and "- factor: Input should be greater than 0" in bad.output.text
    assert len(scale.seen) == 1  # invalid arguments never reach invoke


async def test_the_effects_come_first_stamped_with_the_call_then_the_result() -> None:
    result = await ToolRegistry([Scale()]).execute(make_tool_call("c1", "scale", '{"value": 3}'), ctx("c1"))
    note, plan, event = result.events(step=3)
    assert isinstance(note, NoteAdded) and note.text == "3 x 2 = 6" and note.call_id == "c1"
    assert isinstance(plan, PlanUpdated) and plan.call_id == "c1" and plan.reason == "update"
    assert isinstance(event, ToolResultEvent)
    assert (event.step, event.call_id, event.name, event.text, event.effects) == (3, "c1", "scale", "6", 2)
    assert event.duration_s == result.duration_s


async def test_function_tools_and_untyped_subclasses_keep_working() -> None:
    @tool
    def add(a: int, b: int = 1) -> int:
        """Add two numbers."""
        return a + b

    @tool
    async def nothing() -> None:
        """Return nothing."""

    registry = ToolRegistry([add, nothing, Legacy()])
    out = await add.invoke(add.args_model(a=1, b=2), ctx("x"))
    assert out == ToolOutput(text="3")
    assert (await registry.execute(make_tool_call("a", "add", '{"a": 41}'), ctx("a"))).output.text == "42"
    assert (await registry.execute(make_tool_call("n", "nothing", "{}"), ctx("n"))).output.text == "(no output)"
    legacy = await registry.execute(make_tool_call("l", "legacy", '{"value": 5}'), ctx("l"))
    assert legacy.output == ToolOutput(text="value=5.0")
    [event] = legacy.events(step=1)
    assert isinstance(event, ToolResultEvent) and event.effects == 0
