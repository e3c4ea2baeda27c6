"""The summary request that condenses the oldest turns into a pinned summary."""

from __future__ import annotations

from agentkit.llm.types import Message
from agentkit.store.fold import TurnRecord

SUMMARY_SYSTEM = (
    "You condense the transcript of a research agent's earlier steps. The agent will continue "
    "from your summary alone, so keep every fact, number, name, date and source id (like "
    "[S1a2b3c]) it found, what it tried that failed, and what is still open. Be dense: "
    "bullet points, no preamble."
)


def summary_transcript(records: list[TurnRecord], limit_chars: int) -> str:
    per_result = max(300, limit_chars // max(1, 2 * sum(len(r.results) or 1 for r in records)))
    lines: list[str] = []
    for record in records:
        turn = record.event.turn
        lines.append(f"## Step {record.event.step}")
        if turn.content.strip():
            lines.append(f"Agent: {turn.content.strip()}")
        for call in turn.tool_calls:
            lines.append(f"Call: {call.name}({call.arguments[:300]})")
            result = record.results.get(call.id)
            if result is not None:
                text = result.text if len(result.text) <= per_result else result.text[:per_result] + " …"
                src = f" [sources: {', '.join(result.sources)}]" if result.sources else ""
                lines.append(f"Result{src}: {text}")
    text = "\n".join(lines)
    return text[:limit_chars]


def summary_messages(previous: str | None, transcript: str) -> list[Message]:
    body = f"Earlier summary:\n{previous}\n\n" if previous else ""
    return [
        {"role": "system", "content": SUMMARY_SYSTEM},
        {"role": "user", "content": f"{body}Transcript of the next steps:\n{transcript}\n\nWrite the updated summary."},
    ]
