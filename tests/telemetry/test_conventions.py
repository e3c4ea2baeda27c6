"""The spans speak the GenAI semantic conventions as the ``opentelemetry-semantic-conventions``
package names them: every ``gen_ai.*`` attribute agentkit sets is one the package defines and
none it marks as replaced by another name; and a chat span's request attributes are the
settings its request sent (a temperature the task set and the model's rules kept)."""

from __future__ import annotations

import ast
import inspect

import pytest
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes

from agentkit import Agent, tool
from agentkit.telemetry import CAPTURE_CONTENT_ENV
from agentkit.testing import FakeProvider, FakeRequest, Turn, call
from tests.telemetry.conftest import Spans

pytestmark = pytest.mark.anyio


def defined_names() -> dict[str, str]:
    """Each ``gen_ai.*`` attribute name the package defines, with the note written under it."""
    names: dict[str, str] = {}
    body = ast.parse(inspect.getsource(gen_ai_attributes)).body
    for node, after in zip(body, [*body[1:], None], strict=True):
        if not isinstance(node, ast.AnnAssign) or not isinstance(node.value, ast.Constant):
            continue
        value = node.value.value
        if isinstance(value, str) and value.startswith("gen_ai."):
            note = after.value.value if isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant) else ""
            names[value] = str(note)
    return names


@tool
async def lookup(term: str) -> str:
    """Look a term up."""
    return f"{term}: 42"


def respond(req: FakeRequest) -> Turn:
    if not req.tools:
        return Turn(content="1. Look it up.\n2. Answer.")
    if not any(m["role"] == "tool" for m in req.messages):
        return Turn(reasoning="need a lookup", tool_calls=[call("lookup", term="answer")])
    return Turn(content="The answer is 42.")


async def test_every_gen_ai_attribute_is_one_the_conventions_package_names(
    spans: Spans, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CAPTURE_CONTENT_ENV, "true")  # content attributes too
    spans.instrument()
    with FakeProvider(respond, strict=False) as fake:
        agent = Agent(provider="openai", base_url=fake.base_url, api_key="sk-test-0", tools=[lookup], seed=3)
        agent.temperature = 0.3
        async with agent:
            result = await agent.run("What is the answer?")
    assert result.status == "finished", result.error
    known = defined_names()
    assert "gen_ai.request.max_tokens" in known and "gen_ai.openai.request.seed" in known  # the parse found them
    used = {k for s in spans.all for k in (s.attributes or {}) if k.startswith("gen_ai.")}
    assert {"gen_ai.input.messages", "gen_ai.request.temperature", "gen_ai.response.id"} <= used
    assert sorted(used - known.keys()) == []
    assert sorted(k for k in used if "Replaced by" in known[k]) == []

    bodies = {f"chatcmpl-{r.index + 1}": r.body for r in fake.requests}
    chats = spans.named("chat")
    assert len(chats) == len(fake.requests) == 3
    for chat in chats:  # what each request sent, not what the task said
        attrs = chat.attributes or {}
        body = bodies[str(attrs["gen_ai.response.id"])]
        assert attrs["gen_ai.request.temperature"] == body["temperature"] == 0.3
        assert attrs["gen_ai.request.max_tokens"] == body["max_tokens"]
        assert attrs["gen_ai.request.seed"] == body["seed"] == 3


async def test_a_temperature_the_model_does_not_take_is_not_recorded(spans: Spans) -> None:
    """K3's temperature is not configurable: the client leaves it out of the body, so the span
    says none was sent though the task asked for one; its output limit is the
    ``max_completion_tokens`` it sent."""
    with FakeProvider(respond) as fake:
        agent = Agent(provider="moonshot", model="kimi-k3", base_url=fake.base_url, api_key="k", tools=[lookup])
        agent.temperature = 0.3
        async with agent:
            result = await agent.run("What is the answer?")
    assert result.status == "finished", result.error
    bodies = {f"chatcmpl-{r.index + 1}": r.body for r in fake.requests}
    for chat in spans.named("chat"):
        attrs = chat.attributes or {}
        body = bodies[str(attrs["gen_ai.response.id"])]
        assert "temperature" not in body and "gen_ai.request.temperature" not in attrs
        assert "max_tokens" not in body
        assert attrs["gen_ai.request.max_tokens"] == attrs["agentkit.request.max_completion_tokens"]
        assert attrs["gen_ai.request.max_tokens"] == body["max_completion_tokens"]
