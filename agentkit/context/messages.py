"""Messages in the provider's wire format, built from trace events: the pieces the context
builder assembles into the view (the assistant turn as the provider wants it back, a tool
result, a harness notice, the pinned plan)."""

from __future__ import annotations

from collections.abc import Sequence

from agentkit.context.images import MAX_TURN_IMAGES, image_part
from agentkit.store.events import AssistantMessage, FigureProduced, ToolResultEvent
from agentkit.store.fold import PLAN_TOOL, TurnRecord
from agentkit.vocabulary import ImageRef, Message

EXECUTE_PROMPT = (
    "Carry out the plan step by step with the tools. Call several tools in one turn when they "
    f"are independent. Use {PLAN_TOOL} to revise the plan when you learn something that changes "
    "it. When you have the answer, reply with it directly, without calling a tool."
)


def assistant_message(
    event: AssistantMessage, reasoning_field: str | None, reasoning: str | None = None, *, every_turn: bool = False
) -> Message:
    """The assistant turn as the provider wants it back in history.

    Its reasoning goes back on a tool-call turn, and on every turn when ``every_turn`` (models
    that keep earlier turns' reasoning as context: K3, K2.7 Code, K2.6 with ``keep: "all"``,
    whose docs say to keep "the reasoning_content from every historical assistant message").

    ``reasoning`` replaces the turn's reasoning text (an elided turn's placeholder); it is used
    only for a turn that had reasoning. OpenRouter's ``reasoning_details`` go back verbatim
    (their ``signature`` / encrypted ``data`` are checked upstream), except for an elided turn,
    whose blocks would carry the full text the elision removes; providers accept older turns
    without their blocks.
    """
    turn = event.turn
    msg: Message = {"role": "assistant", "content": turn.content}
    elided = reasoning is not None and bool(turn.reasoning)
    if turn.tool_calls:
        msg["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in turn.tool_calls
        ]
    if reasoning_field and (turn.tool_calls or every_turn):
        # Moonshot answers 400 "thinking is enabled but reasoning_content is missing in
        # assistant tool call message" when a tool-call turn lacks the field, so it is always
        # sent; a turn that had no reasoning sends "" and no invented text. Evidence for "":
        # Moonshot's own client (MoonshotAI/kimi-cli, kosong PR #2446) keeps
        # `reasoning_content: ""` for a turn whose stream carried empty reasoning and omits the
        # field only for turns that never had any; PR #2498 fixed a 400 from a Moonshot
        # backend by sending "" instead of dropping the field. Against: two third-party
        # reports say K2.5/K2.6 treat "" as missing (earendil-works/pi#4251,
        # iOfficeAI/gemini-cli-pro#36, neither with a recorded request), and agentkit's
        # FakeProvider follows them. No recorded Moonshot answer refuses "", so nothing is
        # made up here; a recording that shows the refusal would justify a marker text.
        if not turn.reasoning:
            msg[reasoning_field] = ""
        else:
            msg[reasoning_field] = reasoning if elided and reasoning is not None else turn.reasoning
    if turn.reasoning_details and not elided:
        msg["reasoning_details"] = turn.reasoning_details
    return msg


def tool_message(result: ToolResultEvent, text: str | None = None) -> Message:
    return {
        "role": "tool",
        "tool_call_id": result.call_id,
        "name": result.name,
        "content": result.text if text is None else text,
    }


def user_message(text: str) -> Message:
    return {"role": "user", "content": text}


def task_message(task: str, images: Sequence[ImageRef], vision: bool) -> Message:
    """The task, with its images as image parts for a vision model, else named in text."""
    if not images:
        return user_message(task)
    if not vision:
        named = "; ".join(f"{ref.label or 'image'} ({ref.width}x{ref.height})" for ref in images)
        return user_message(
            f"{task}\n\n[{len(images)} image(s) came with this task ({named}); this model cannot see images.]"
        )
    return {"role": "user", "content": [{"type": "text", "text": task}, *(image_part(ref) for ref in images)]}


def figures_message(record: TurnRecord) -> list[Message]:
    """After a turn's tool results: the images its calls produced (sandbox figures, fetched or
    MCP images), as image parts of one user
    message (the chat-completions protocol takes only text in ``role: tool`` messages). At
    most :data:`MAX_TURN_IMAGES`, the newest; the others stay named in the tool results."""
    refs: list[ImageRef] = []
    for call in record.event.turn.tool_calls:
        refs += [e.image for e in record.effects.get(call.id, []) if isinstance(e, FigureProduced) and e.image]
        result = record.results.get(call.id)
        if result is not None:
            refs += result.images
    if not refs:
        return []
    shown = refs[-MAX_TURN_IMAGES:]
    note = "" if len(shown) == len(refs) else f" (the newest {len(shown)} of {len(refs)})"
    names = ", ".join(ref.label for ref in shown)
    text = f"[Images from the tool calls above{note}: {names}.]"
    return [{"role": "user", "content": [{"type": "text", "text": text}, *(image_part(ref) for ref in shown)]}]


def plan_messages(plan: str, reasoning_field: str | None = None) -> list[Message]:
    """How the plan stays visible: a pinned assistant turn and the instruction to execute it.
    ``reasoning_field``: a model that keeps every turn's reasoning gets the field, empty (this
    turn is agentkit's, not the model's, so it has no reasoning to send back)."""
    pinned: Message = {"role": "assistant", "content": f"Plan:\n{plan}"}
    if reasoning_field:
        pinned[reasoning_field] = ""
    return [pinned, {"role": "user", "content": EXECUTE_PROMPT}]


__all__ = ["EXECUTE_PROMPT", "assistant_message", "plan_messages", "tool_message", "user_message"]
