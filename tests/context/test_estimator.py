"""The token estimate never undercuts the server's count by more than a small margin."""

from __future__ import annotations

import random

import orjson
import pytest

from agentkit import Agent, tool
from agentkit.context.tokens import TokenEstimator
from agentkit.run.live import AgentEvent, TurnStarted, UsageReported
from agentkit.testing import FakeRequest, ScriptedModel, Turn, call
from agentkit.testing.script import count_tokens

pytestmark = pytest.mark.anyio
SCHEMAS = orjson.dumps(
    [
        {
            "type": "function",
            "function": {"name": f"tool_{i}", "description": "Does a thing. " * 30, "parameters": {"type": "object"}},
        }
        for i in range(12)
    ]
)


def words(rng: random.Random, n: int) -> str:
    return " ".join(f"w{rng.randrange(10**6)}" for _ in range(n))


def test_tools_the_template_does_not_render_do_not_dilute_the_ratio() -> None:
    """The server counts only the messages (its template drops the tool schemas), while the
    bytes sent include them: calibrating on the first, small request used to set a ratio
    half the real one, and the estimate of the grown history fell to ~0.5x of the count."""
    rng = random.Random(1)
    est = TokenEstimator()
    messages: list[bytes] = [orjson.dumps({"role": "user", "content": words(rng, 200)})]
    worst = 1.0
    for _ in range(40):
        n_bytes = len(SCHEMAS) + sum(len(m) for m in messages)
        guess = est.estimate(n_bytes, len(messages))
        counted = sum(count_tokens(m.decode()) + 4 for m in messages)
        worst = min(worst, guess / counted)
        est.calibrate(n_bytes, len(messages), counted)
        messages.append(orjson.dumps({"role": "tool", "content": words(rng, rng.randrange(100, 3000))}))
    assert worst >= 0.9, f"estimate fell to {worst:.2f}x of the server's count"


def test_a_denser_text_raises_the_ratio_at_once() -> None:
    est = TokenEstimator()
    est.calibrate(30_000, 10, 18_040)  # 0.6 tokens per byte: digits, code, CJK
    assert est.estimate(30_000, 10) >= 18_040
    for _ in range(20):  # later, sparser requests never pull it below what was seen recently...
        est.calibrate(30_000, 10, 6_040)
    assert est.estimate(30_000, 10) >= 0.9 * 30_000 / 4  # ...nor below the conservative floor


async def test_a_server_without_tool_schemas_in_its_count_is_never_undercut() -> None:
    """ScriptedModel counts message text only, like a template that does not render tools;
    with large schemas the calibrated estimate still stays above its count."""
    tools = []
    for i in range(8):

        @tool(name=f"lookup_{i}", description="Look a thing up in a large catalogue. " * 40)
        def lookup(q: str) -> str:
            return "result " + words(random.Random(q), 400)

        tools.append(lookup)

    rng = random.Random(3)

    def respond(req: FakeRequest) -> Turn:
        if not req.tools:
            return Turn(content="- looked things up")
        done = sum(1 for m in req.messages if m["role"] == "tool")
        if done < 30:
            return Turn(reasoning="next", tool_calls=[call("lookup_0", q=str(rng.random()))])
        return Turn(content="done")

    seen: list[AgentEvent] = []
    model = ScriptedModel(respond)
    agent = Agent(llm=model, tools=tools, plan=False, context_window=24_000, on_event=seen.append)
    result = await agent.run("look things up")
    assert result.status == "finished", result.error
    ratios: list[float] = []
    guess = 0
    for event in seen:
        if isinstance(event, TurnStarted):
            guess = event.context_tokens if event.phase == "execute" else 0
        elif isinstance(event, UsageReported) and guess:
            ratios.append(guess / event.turn.prompt_tokens)
    assert len(ratios) == 31
    assert min(ratios) >= 0.9, min(ratios)
