"""An offline model for ``agentkit run`` and ``agentkit eval``: no key, no network, no GPU.

    python -m agentkit.testing --responder agentkit.testing.offline:researcher --port 8765

serves an OpenAI-compatible endpoint on ``http://127.0.0.1:8765/v1`` whose "model" is this
script: it plans, searches for the task's question, reads the first result and answers with that
page's opening sentence, citing it; it outlines and writes a report from the run's answer. It
reads nothing but the request, so it is not a model of anything: it answers benchmark questions
wrongly. It is there to try task files, tools, the store, reports, ``agentkit view`` and ``agentkit
eval``'s machinery offline (``tasks/offline.yaml`` points at it) before spending money on a real
model. Point a task file at it with ``model: {provider: custom, base_url:
"http://127.0.0.1:8765/v1"}``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from agentkit.context.summary import SUMMARY_SYSTEM
from agentkit.testing.script import FakeRequest, Turn, call

PLAN = (
    "1. Search for the question.\n2. Read the most relevant source.\n"
    "3. Answer from it, citing it. (agentkit's offline scripted model)"
)
_ID = re.compile(r"\[(?:source )?(S[0-9a-f]{8})\]")
_SENTENCE = re.compile(r"[A-Z][^.!?]{30,400}[.!?](?=\s|$)")


def researcher() -> Callable[[FakeRequest], Turn]:
    """The responder factory ``python -m agentkit.testing --responder`` loads."""
    return _respond


def _respond(req: FakeRequest) -> Turn:
    system = str(req.messages[0].get("content") or "") if req.messages else ""
    if system.startswith("You write sections of a research report"):
        return _report(str(req.messages[-1].get("content") or ""))
    if system == SUMMARY_SYSTEM:  # old turns condensed when the context is full
        return Turn(content="Searched for the question and read the first result: " + _answer(req))
    if not req.tools:  # the plan, or a heavy run's aggregation
        return Turn(reasoning="A short plan.", content=PLAN if "numbered plan" in _text(req) else _answer(req))
    tools = {str(t.get("function", {}).get("name")) for t in req.tools}
    made = [tc["function"]["name"] for m in req.messages for tc in m.get("tool_calls") or []]
    if "web_search" in tools and "web_search" not in made:
        return Turn(reasoning="Search for the question first.", tool_calls=[call("web_search", query=_question(req))])
    found = _ID.findall(_results(req))
    if "fetch" in tools and "fetch" not in made and found:
        return Turn(reasoning="Read the first result.", tool_calls=[call("fetch", url=found[0])])
    return Turn(reasoning="Answer from what was read.", content=_answer(req))


def _text(req: FakeRequest) -> str:
    return "\n".join(str(m.get("content") or "") for m in req.messages)


def _question(req: FakeRequest) -> str:
    users = [str(m.get("content") or "") for m in req.messages if m.get("role") == "user"]
    question = " ".join((users[0] if users else "").split())
    return question[:200] or "research"


def _results(req: FakeRequest) -> str:
    return "\n".join(str(m.get("content") or "") for m in req.messages if m.get("role") == "tool")


def _answer(req: FakeRequest) -> str:
    """The fetched page's first full sentence with its source id, or a plain admission."""
    for text in reversed([str(m.get("content") or "") for m in req.messages if m.get("role") == "tool"]):
        ids = _ID.findall(text)
        if ids and (sentence := _first_sentence(text)):
            return f"{sentence} [{ids[0]}]"
    return "agentkit's offline scripted model found nothing to answer from."


def _first_sentence(text: str) -> str | None:
    """The first sentence of the page's prose (headings, emphasis lines and the tool's header
    lines left out; a paragraph's lines joined)."""
    for paragraph in text.split("\n\n"):
        lines = [line.strip() for line in paragraph.splitlines()]
        if any(not line or line.startswith(("#", "*", "[source", "URL:", "Results for")) for line in lines[:1]):
            continue
        found = _SENTENCE.search(" ".join(lines))
        if found:
            return found.group(0).strip()
    return None


def _report(prompt: str) -> Turn:
    if "JSON list of strings" in prompt:
        return Turn(content='["Findings"]')
    answer = re.search(r"Final answer of the run:\n(.+?)(?:\n\n|$)", prompt, re.S)
    return Turn(content=answer.group(1).strip() if answer else "The run gave no answer.")
