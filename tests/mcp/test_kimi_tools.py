"""An MCP server's tools on a Kimi model, against the strict fake: more than the 128 a request
may carry fail the run before anything is sent, with one message; names with dots and slashes
and schemas outside MFJS reach the model in a form it takes, and calls come back to the tool."""

from __future__ import annotations

import pytest
from mcp_helpers import hostile_spec

from agentkit import Agent
from agentkit.llm._tool_wire import wire_name
from agentkit.llm.client import OpenAICompatibleModel, RetryPolicy
from agentkit.store import ToolResultEvent
from agentkit.testing import FakeProvider, FakeRequest, Turn, call

pytestmark = pytest.mark.anyio
FAST = RetryPolicy(initial_backoff=0.001, max_attempts=2)


def kimi(fake: FakeProvider) -> OpenAICompatibleModel:
    return OpenAICompatibleModel("kimi-k3", "moonshot", base_url=fake.base_url, api_key="k", retry=FAST)


async def test_an_mcp_server_with_130_tools_fails_the_run_before_any_request() -> None:
    with FakeProvider([Turn(content="never asked")]) as fake:
        async with Agent(llm=kimi(fake), tools=[], mcp=[hostile_spec("many")]) as agent:
            result = await agent.run("q")
    assert result.status == "failed" and fake.requests == []
    assert "kimi-k3 takes at most 128 tools in a request" in (result.error or "")
    assert "has 132" in (result.error or "")  # 130 of the server's, update_plan and note


async def test_mcp_names_and_schemas_reach_a_kimi_model_in_a_form_it_takes() -> None:
    # A server named 21st: its tools are 21st__..., which the Kimi API refuses (a name must not
    # start with a digit; MoonshotAI/kimi-cli#2531); they go under an alias and come back.
    read = wire_name("21st__files_read_v2", "moonshot")
    grep = wire_name("21st__grep", "moonshot")
    assert read.startswith("t_21st__files_read_v2_") and grep.startswith("t_21st__grep_")

    def respond(req: FakeRequest) -> Turn:
        if not any(m["role"] == "tool" for m in req.messages):
            return Turn(reasoning="read", tool_calls=[call(read, path="a.txt", range={"start": 2})])
        return Turn(content="read it", reasoning="done")

    with FakeProvider(respond) as fake:
        async with Agent(llm=kimi(fake), tools=[], plan=False, mcp=[hostile_spec("kimi", name="21st")]) as agent:
            result = await agent.run("q")
            results = [e.event for e in await agent.store.events(result.run_id) if isinstance(e.event, ToolResultEvent)]
    assert fake.errors == [] and result.status == "finished", (fake.errors, result.error)
    assert [r.name for r in results] == ["21st__files_read_v2"]  # the tool's own name in the trace
    assert results[0].text.endswith('files.read/v2 got {"path": "a.txt", "range": {"start": 2}}')
    sent = {t["function"]["name"]: t["function"] for t in fake.requests[0].tools}
    assert "strict" not in sent[read]  # rewritten into MFJS
    props = sent[read]["parameters"]["properties"]
    assert props["range"]["description"] == "Lines to read." and "$ref" not in props["range"]
    assert props["path"] == {"type": "string", "description": "Format: uri-reference"}
    assert sent[grep]["strict"] is False  # a pattern: MFJS cannot say it, so it goes unchanged
    assert sent[grep]["parameters"]["properties"]["regex"]["pattern"] == "^.+$"
