"""What the loop tells the model besides the task: its system prompt and the final-answer request."""

from __future__ import annotations

import datetime as _dt

SYSTEM_PROMPT = """You are a careful research agent. You answer by working step by step with \
tools and checking what you find.
- Search, then read the most relevant sources in full before relying on them; prefer primary sources.
- Cite the sources you rely on by their ids in square brackets, e.g. [S1a2b3c].
- Use the python tool for any calculation or data analysis instead of doing it in your head.
- When tool results are hidden to save space, re-read them with fetch and the source id.
- When you are done, reply with the final answer (no tool call): direct, complete, with citations.
Today's date is {date}."""

FINAL_ANSWER_PROMPT = (
    "You have reached the step limit ({reason}). Do not call any more tools. Give your best "
    "final answer now from what you have found, and say what remains unverified."
)


def system_prompt(instructions: str | None = None) -> str:
    """The system prompt of a run started today, with the user's ``instructions`` after it."""
    prompt = SYSTEM_PROMPT.format(date=_dt.date.today().isoformat())
    return f"{prompt}\n\n{instructions}" if instructions else prompt
