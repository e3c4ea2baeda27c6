"""Plan first, then execute: the planning request and the ``update_plan`` tool."""

from __future__ import annotations

from pydantic import BaseModel, Field

from agentkit.llm.types import AssistantTurn, Message
from agentkit.store.events import NoteAdded, PlanUpdated
from agentkit.store.fold import NOTE_TOOL, PLAN_TOOL
from agentkit.tools.base import Tool, ToolContext, ToolOutput

PLANNING_PROMPT = (
    "Before using any tool, write a short numbered plan (3-7 steps) for this task: what you "
    "need to find out, which tools you will use, and how you will check the answer. "
    "Reply with the plan only."
)
# The instruction to carry the plan out is pinned with the plan in every view:
# agentkit.context.messages.EXECUTE_PROMPT (the context layer builds the view; it does not
# import the planner).


def planning_messages(head: list[Message]) -> list[Message]:
    """The planning request: the pinned head (system, task) plus the planning instruction."""
    return [*head, {"role": "user", "content": PLANNING_PROMPT}]


def plan_from_turn(turn: AssistantTurn) -> str:
    plan = turn.content.strip()
    if not plan and turn.tool_calls:
        plan = "(the model answered the planning request with tool calls instead of a plan)"
    return plan or "(the model gave no plan)"


class _PlanArgs(BaseModel):
    plan: str = Field(description="The whole revised plan, as a numbered list.", min_length=1)
    reason: str = Field("", description="What you learned that changes the plan.")


class UpdatePlanTool(Tool[_PlanArgs]):
    """Lets the model revise its plan; the loop keeps the latest plan visible."""

    def __init__(self) -> None:
        super().__init__(
            PLAN_TOOL,
            "Replace your plan with a revised one (send the whole plan). Use it when findings "
            "change what you need to do.",
            _PlanArgs,
            timeout_s=5,
        )

    async def invoke(self, args: _PlanArgs, ctx: ToolContext) -> ToolOutput:
        revised = PlanUpdated(plan=args.plan, reason="update", explanation=args.reason)
        return ToolOutput(text=f"Plan updated:\n{args.plan}", effects=[revised])


class _NoteArgs(BaseModel):
    text: str = Field(description="The finding to keep: facts, numbers, source ids.", min_length=1, max_length=4000)


class NoteTool(Tool[_NoteArgs]):
    """Findings the agent must not lose: notes stay pinned in the context through pruning."""

    def __init__(self) -> None:
        super().__init__(
            NOTE_TOOL,
            "Save a key finding (with its source ids) that must stay visible even when old tool "
            "results are hidden to save context.",
            _NoteArgs,
            timeout_s=5,
        )

    async def invoke(self, args: _NoteArgs, ctx: ToolContext) -> ToolOutput:
        return ToolOutput(text=f"Noted: {args.text}", effects=[NoteAdded(text=args.text)])
