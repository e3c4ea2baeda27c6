"""The tools of a replay: today's tools' schemas, the trace's results.

No tool runs: each call gets the result (and the effects: a revised plan, a note, a Python
cell, a sub-agent's cost) its run recorded, committed in the order the run committed them.
Tools today's code cannot make (an MCP server's, a custom function of a Python agent) are
stood in for by their recorded schemas, where the run had them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from agentkit.replays._script import ReplayDone
from agentkit.store.events import StoredEvent, ToolResultEvent
from agentkit.store.fold import RunState
from agentkit.tools.base import Attachment, Tool, ToolContext, ToolOutput, ToolRegistry, ToolResult
from agentkit.vocabulary import ToolCall


class _AnyArguments(BaseModel):
    model_config = ConfigDict(extra="allow")


class RecordedTool(Tool[_AnyArguments]):
    """A tool known only by the schema a run sent for it."""

    def __init__(self, schema: dict[str, Any]) -> None:
        function = schema.get("function", {})
        super().__init__(str(function.get("name")), str(function.get("description", "")), _AnyArguments)
        self._schema = schema

    async def invoke(self, args: _AnyArguments, ctx: ToolContext) -> ToolOutput:
        raise RuntimeError("a recorded tool never runs")  # RecordedTools answers from the trace


class RecordedTools(ToolRegistry):
    """A registry whose calls are answered from a run's trace."""

    def __init__(
        self, today: ToolRegistry, source: RunState, events: Sequence[StoredEvent], schemas: list[dict[str, Any]] | None
    ) -> None:
        super().__init__(list(today))
        self._source = source
        self._order = {e.event.call_id: i for i, e in enumerate(events) if isinstance(e.event, ToolResultEvent)}
        self._recorded_schemas = schemas or []

    async def open_run(self, run_id: str, ctx: ToolContext) -> list[str]:
        """No tool opens (no kernel, no MCP server); tools the run had that today's code does not
        make join from their recorded schemas, where they were."""
        names = [str(s.get("function", {}).get("name", "")) for s in self._recorded_schemas]
        missing = [s for s, n in zip(self._recorded_schemas, names, strict=True) if n and n not in self]
        if not missing:
            return []
        tools = list(self)
        for schema in missing:
            before = names[: names.index(schema["function"]["name"])]
            at = max((i + 1 for i, t in enumerate(tools) if t.name in before), default=0)
            tools.insert(at, RecordedTool(schema))
        self._tools = {t.name: t for t in tools}
        return []

    async def close_run(self, run_id: str) -> None:
        return None

    async def aclose(self) -> None:
        return None

    async def execute_all(
        self,
        calls: Sequence[ToolCall],
        make_ctx: Callable[[ToolCall], ToolContext],
        on_result: Callable[[ToolResult], Awaitable[None]],
    ) -> None:
        """The recorded results, one by one, in the order the run committed them."""
        for call in sorted(calls, key=lambda c: self._order.get(c.id, len(self._order))):
            await on_result(self._recorded(call))

    def _recorded(self, call: ToolCall) -> ToolResult:
        for record in reversed(self._source.records):
            result = record.results.get(call.id)
            if result is not None:
                output = ToolOutput(
                    text=result.text,
                    is_error=result.is_error,
                    attachments=[Attachment.model_validate(a) for a in result.attachments],
                    sources=list(result.sources),
                    images=list(result.images),
                    meta=dict(result.meta),
                    effects=list(record.effects.get(call.id, [])),
                )
                return ToolResult(call=call, output=output, duration_s=result.duration_s)
        raise ReplayDone(f"the trace has no result for {call.name} ({call.id}): the recorded run ended before it")
