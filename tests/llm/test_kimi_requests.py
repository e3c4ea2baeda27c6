"""Requests to K2.6, K2.7 Code and K3 carry exactly the fields each model takes.

Scripted runs go through the real client and loop to the strict fake, whose Kimi rules are
written from the platform's docs apart from the client's tables (agentkit/testing/_kimi_rules.py):
each run must finish with no 400, and every request body is checked field by field.
"""

from __future__ import annotations

from typing import Any

import pytest

from agentkit import Agent, tool
from agentkit.llm.client import OpenAICompatibleModel, RetryPolicy
from agentkit.llm.types import ModelRequest
from agentkit.testing import FakeProvider, FakeRequest, Turn, call

pytestmark = pytest.mark.anyio
FAST = RetryPolicy(initial_backoff=0.001, max_backoff=0.01, max_attempts=2)
Q = [{"role": "user", "content": "q"}]


@tool
async def lookup(term: str, limit: int = 5) -> str:
    """Look a term up in the glossary."""
    return f"{term}: {limit} entries"


@tool
async def search(query: str, site: str | None = None) -> str:
    """Search the web."""
    return f"results for {query} on {site or 'any site'}"


SCRIPT = [
    Turn(content="1. Look it up.\n2. Answer.", reasoning="plan it"),
    Turn(reasoning="first, the glossary", tool_calls=[call("lookup", term="K3")]),
    Turn(content="", reasoning="I stopped early"),  # an empty reply: asked again, kept in history
    Turn(reasoning="now the web", tool_calls=[call("search", query="K3 window"), call("lookup", term="MFJS")]),
    Turn(content="K3 reads 1,048,576 tokens.", reasoning="done"),
]


async def scripted_run(model: str, **options: Any) -> tuple[FakeProvider, str]:
    with FakeProvider(SCRIPT) as fake:
        llm = OpenAICompatibleModel(model, "moonshot", base_url=fake.base_url, api_key="k", retry=FAST, **options)
        async with Agent(llm=llm, tools=[lookup, search]) as agent:
            result = await agent.run("How long a context does K3 read?")
    assert fake.errors == [], fake.errors
    assert result.status == "finished", (result.status, result.error)
    return fake, result.run_id


def fields(request: FakeRequest) -> set[str]:
    return set(request.body)


BASE = {"model", "messages", "stream", "stream_options", "prompt_cache_key"}
TOOLS = {"tools"}


def expect_requests(fake: FakeProvider, run_id: str, model: str, extra: dict[str, Any], output: str) -> None:
    assert len(fake.requests) == len(SCRIPT)
    plan, *turns = fake.requests
    assert fields(plan) == BASE | set(extra) | {output}  # the plan asks with no tools
    for request in turns:
        assert fields(request) == BASE | TOOLS | set(extra) | {output}, request.index
    for request in fake.requests:
        assert request.body["model"] == model and request.body["prompt_cache_key"] == run_id
        assert {k: request.body[k] for k in extra} == extra
        assert isinstance(request.body[output], int) and request.body[output] > 0


@pytest.mark.parametrize(
    ("options", "extra"),
    [
        ({"thinking": True}, {"thinking": {"type": "enabled"}}),
        ({"thinking": True, "preserve_thinking": True}, {"thinking": {"type": "enabled", "keep": "all"}}),
        ({"preserve_thinking": True}, {"thinking": {"type": "enabled", "keep": "all"}}),
        ({"thinking": False}, {"thinking": {"type": "disabled"}}),
        ({}, {}),  # the service's default: thinking on, earlier reasoning ignored
    ],
    ids=["on", "on-keep", "keep", "off", "default"],
)
async def test_k26_runs_thinking_on_with_and_without_keep_and_off(
    options: dict[str, Any], extra: dict[str, Any]
) -> None:
    fake, run_id = await scripted_run("kimi-k2.6", **options)
    expect_requests(fake, run_id, "kimi-k2.6", extra, "max_completion_tokens")
    last = fake.requests[-1].messages
    answers = [m for m in last if m["role"] == "assistant" and not m.get("tool_calls")]
    kept = [m.get("reasoning_content") for m in answers]
    if options.get("preserve_thinking"):  # every earlier turn's reasoning goes back, the plan's is ""
        assert kept == ["", "I stopped early"]
    else:
        assert kept == [None, None]


@pytest.mark.parametrize("model", ["kimi-k2.7-code", "kimi-k2.7-code-highspeed"])
async def test_k27_code_runs_with_no_thinking_field_and_every_turns_reasoning(model: str) -> None:
    fake, run_id = await scripted_run(model)
    expect_requests(fake, run_id, model, {}, "max_completion_tokens")
    answers = [m for m in fake.requests[-1].messages if m["role"] == "assistant" and not m.get("tool_calls")]
    assert [m["reasoning_content"] for m in answers] == ["", "I stopped early"]


@pytest.mark.parametrize("effort", ["low", "high", "max", None])
async def test_k3_runs_with_each_reasoning_effort(effort: str | None) -> None:
    fake, run_id = await scripted_run("kimi-k3", reasoning_effort=effort)
    extra = {} if effort is None else {"reasoning_effort": effort}  # None: the service's default, max
    expect_requests(fake, run_id, "kimi-k3", extra, "max_completion_tokens")


async def test_k25_and_k2_thinking_keep_their_requests() -> None:
    fake, run_id = await scripted_run("kimi-k2.5")
    expect_requests(fake, run_id, "kimi-k2.5", {"temperature": 1.0}, "max_tokens")
    fake, run_id = await scripted_run("kimi-k2-thinking")
    expect_requests(fake, run_id, "kimi-k2-thinking", {"temperature": 1.0}, "max_tokens")


@pytest.mark.parametrize("model", ["kimi-k3", "kimi-k2.7-code", "kimi-k2.6"])
def test_no_field_the_service_fixes_is_sent_whatever_the_caller_asks(model: str) -> None:
    extra = {"top_p": 0.5, "n": 2, "presence_penalty": 0.3, "frequency_penalty": 0.1, "thinking": True}
    llm = OpenAICompatibleModel(model, "moonshot", api_key="k", extra_body=extra)
    body = llm.build_body(ModelRequest(messages=Q, temperature=0.2, max_tokens=5000, seed=1))
    sent = set(body) - {"model", "messages", "stream", "stream_options", "seed", "max_completion_tokens"}
    assert sent == ({"thinking"} if model == "kimi-k2.6" else set())
    assert body["max_completion_tokens"] == 5000 and "max_tokens" not in body


def test_the_output_cap_is_the_hosts_field_within_the_documented_maximum() -> None:
    big = ModelRequest(messages=Q, max_tokens=2_000_000)
    assert (
        OpenAICompatibleModel("kimi-k3", "moonshot", api_key="k").build_body(big)["max_completion_tokens"] == 1_048_576
    )
    assert (
        OpenAICompatibleModel("kimi-k2.6", "moonshot", api_key="k").build_body(big)["max_completion_tokens"] == 262_144
    )
    # OpenRouter documents max_tokens only; its K2.7 Code serves at most 16,384 tokens.
    routed = OpenAICompatibleModel("kimi-k2.7-code", "openrouter", api_key="k").build_body(big)
    assert routed["max_tokens"] == 16_384 and "max_completion_tokens" not in routed
    # K3 forces tools if asked: "required" and named choices are its own (K2.x refuses them).
    k3 = OpenAICompatibleModel("kimi-k3", "moonshot", api_key="k", extra_body={"tool_choice": "required"})
    tools = [{"type": "function", "function": {"name": "find", "parameters": {"type": "object"}}}]
    assert k3.build_body(ModelRequest(messages=Q, tools=tools))["tool_choice"] == "required"


def test_the_cache_key_goes_only_to_hosts_that_take_it() -> None:
    request = ModelRequest(messages=Q, cache_key="run-1")
    assert OpenAICompatibleModel("kimi-k3", "moonshot", api_key="k").build_body(request)["prompt_cache_key"] == "run-1"
    for provider in ("custom", "openrouter"):
        llm = OpenAICompatibleModel("kimi-k3", provider, base_url="http://127.0.0.1:9/v1", api_key="k")
        assert "prompt_cache_key" not in llm.build_body(request)
