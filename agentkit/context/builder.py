"""The message view sent to the model, computed from the run state."""

from __future__ import annotations

from agentkit._state import RunState, TurnRecord, assistant_message, tool_message, user_message
from agentkit.llm.types import Message
from agentkit.planner import plan_messages


class ContextBuilder:
    """Renders the conversation incrementally: finished turns are rendered once and reused,
    so building the view costs O(new events) per step, not O(history)."""

    def __init__(self, *, system_prompt: str, reasoning_field: str | None) -> None:
        self.system_prompt = system_prompt
        self.reasoning_field = reasoning_field
        self._cache: list[list[Message]] = []

    def head(self, state: RunState) -> list[Message]:
        """Pinned: system prompt and task."""
        return [{"role": "system", "content": self.system_prompt}, user_message(state.task)]

    def pinned(self, state: RunState) -> list[Message]:
        msgs = self.head(state)
        if state.plan_event is not None:
            msgs.extend(plan_messages(state.plan_event.plan))
        msgs.extend(user_message(n.text) for n in state.head_notices)
        return msgs

    def render_record(self, record: TurnRecord) -> list[Message]:
        out = [assistant_message(record.event, self.reasoning_field)]
        for call in record.event.turn.tool_calls:
            result = record.results.get(call.id)
            if result is not None:
                out.append(tool_message(result))
        out.extend(user_message(n.text) for n in record.notices)
        return out

    def messages(self, state: RunState) -> list[Message]:
        records = state.records
        # Only the last record can still change (results or notices arriving); re-render it.
        del self._cache[max(0, len(records) - 1):]
        for record in records[len(self._cache):]:
            self._cache.append(self.render_record(record))
        msgs = self.pinned(state)
        for part in self._cache:
            msgs.extend(part)
        return msgs
