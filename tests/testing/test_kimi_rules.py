"""The strict fake speaks the Kimi platform's rules for K2.5, K2.6, K2.7 Code and K3: every rule
refuses a request that breaks it, with the recorded body where one exists (tests/fixtures/
recorded/) and the fake's own, synthetic wording otherwise (agentkit/testing/_kimi_rules.py says
which), and accepts the same request once it obeys. Driven over real HTTP."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx2
import pytest

from agentkit.testing import FakeProvider, Recorded, Turn, call
from agentkit.testing._mfjs_check import SCHEMA_ERROR

RECORDED = Path(__file__).parents[1] / "fixtures" / "recorded"
Q = [{"role": "user", "content": "q"}]
PNG = (
    "data:image/png;base64,"
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4DwABBAEAwS2OUAAAAABJRU5ErkJggg=="
)
MP4 = "data:video/mp4;base64,AAAAGGZ0eXBtcDQyAAAAAG1wNDJpc29t"


def post(fake: FakeProvider, body: dict[str, Any]) -> httpx2.Response:
    with httpx2.Client(timeout=30) as http:
        return http.post(fake.base_url + "/chat/completions", json=body)


def answer(body: dict[str, Any], **fake_options: Any) -> tuple[int, str]:
    with FakeProvider([Turn(content="ok")], **fake_options) as fake:
        response = post(fake, body)
    if response.status_code == 200:
        return 200, ""
    return response.status_code, str(response.json()["error"]["message"])


def tool(name: str = "lookup", parameters: dict[str, Any] | None = None, **fn: Any) -> dict[str, Any]:
    params = {"type": "object", "properties": {"q": {"type": "string"}}} if parameters is None else parameters
    return {"type": "function", "function": {"name": name, "description": "d", "parameters": params, **fn}}


# Each case: (model, a request that breaks a rule, the text of the refusal, the same request obeying it)
CASES: list[tuple[str, dict[str, Any], str, dict[str, Any]]] = [
    # thinking: K3 has no such field; K2.7 Code cannot turn it off; K2.6 takes type and keep only
    ("kimi-k3", {"thinking": {"type": "enabled"}}, "thinking is not supported by this model", {}),
    ("kimi-k2.7-code", {"thinking": {"type": "disabled"}}, "thinking cannot be disabled", {}),
    (
        "kimi-k2.7-code",
        {"thinking": {"type": "enabled", "keep": "some"}},
        "invalid thinking.keep",
        {"thinking": {"type": "enabled", "keep": "all"}},
    ),
    (
        "kimi-k2.6",
        {"thinking": {"type": "enabled", "keep": "recent"}},
        "invalid thinking.keep",
        {"thinking": {"type": "enabled", "keep": "all"}},
    ),
    ("kimi-k2.6", {"thinking": {"type": "enabled", "budget": 9}}, "unknown field(s) in thinking: budget", {}),
    ("kimi-k2.5", {"thinking": {"type": "enabled", "keep": "all"}}, "unknown field(s) in thinking: keep", {}),
    ("kimi-k2.6", {"thinking": True}, "invalid thinking: expected an object", {"thinking": {"type": "enabled"}}),
    # reasoning_effort: K3's three values; K2.x has none
    ("kimi-k3", {"reasoning_effort": "medium"}, "invalid reasoning_effort 'medium'", {"reasoning_effort": "high"}),
    ("kimi-k2.6", {"reasoning_effort": "high"}, "reasoning_effort is not supported by this model", {}),
    (
        "kimi-k2.5",
        {"thinking": {"type": "enabled"}, "reasoning_effort": "high"},
        "thinking and reasoning_effort cannot be set together",
        {"thinking": {"type": "enabled"}},
    ),
    # fixed sampling values (recorded texts: "invalid <field>: only <value> is allowed for this model")
    ("kimi-k2.6", {"temperature": 0.7}, "invalid temperature: only 1 is allowed for this model", {"temperature": 1}),
    (
        "kimi-k2.6",
        {"thinking": {"type": "disabled"}, "temperature": 1.0},
        "invalid temperature: only 0.6 is allowed for this model",
        {"thinking": {"type": "disabled"}, "temperature": 0.6},
    ),
    ("kimi-k3", {"top_p": 0.9}, "invalid top_p: only 0.95 is allowed for this model", {"top_p": 0.95}),
    ("kimi-k3", {"n": 2}, "invalid n: only 1 is allowed for this model", {"n": 1}),
    ("kimi-k2.7-code", {"presence_penalty": 0.5}, "invalid presence_penalty: only 0 is allowed", {}),
    ("kimi-k3", {"frequency_penalty": 1}, "invalid frequency_penalty: only 0 is allowed", {"frequency_penalty": 0}),
    # tool_choice while thinking: K2.x auto | none; K3 any
    ("kimi-k2.6", {"tools": [tool()], "tool_choice": "required"}, "tool_choice 'required'", {"tools": [tool()]}),
    ("kimi-k2.7-code", {"tools": [tool()], "tool_choice": "required"}, "tool_choice 'required'", {"tools": [tool()]}),
    # tools: names, duplicates, the root object, MFJS unless strict: false
    (
        "kimi-k3",
        {"tools": [tool("21st_builder")]},
        "function name '21st_builder' does not match",
        {"tools": [tool("m_21st")]},
    ),
    ("kimi-k3", {"tools": [tool("files.read/v2")]}, "does not match", {"tools": [tool("files_read_v2")]}),
    ("kimi-k3", {"tools": [tool(), tool()]}, "function name lookup is duplicated", {"tools": [tool()]}),
    (
        "kimi-k3",
        {"tools": [tool(parameters={"properties": {}})]},
        'tools.function.parameters.type is required and must be "object"',
        {"tools": [tool(parameters={"type": "object", "properties": {}})]},
    ),
    (
        "kimi-k2.6",
        {"tools": [tool(parameters={"type": "object", "properties": {"q": {"description": "no type"}}})]},
        SCHEMA_ERROR.format(path="properties.q", what="type is not defined"),
        {"tools": [tool(parameters={"type": "object", "properties": {"q": {"description": "no type"}}}, strict=False)]},
    ),
    # prompt_cache_key is a string
    ("kimi-k3", {"prompt_cache_key": 42}, "prompt_cache_key must be a string", {"prompt_cache_key": "run-1"}),
    # video only for video models (K2.6), media only in user messages, as data URLs or ms:// files
    (
        "kimi-k3",
        {"messages": [{"role": "user", "content": [{"type": "video_url", "video_url": {"url": MP4}}]}]},
        "this model does not support video input",
        {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": PNG}}]}]},
    ),
    (
        "kimi-k2.6",
        {"messages": [{"role": "user", "content": [{"type": "video_url", "video_url": "https://example.org/a.mp4"}]}]},
        "video_url must be a base64 data URL or ms://FILE_ID",
        {"messages": [{"role": "user", "content": [{"type": "video_url", "video_url": {"url": MP4}}]}]},
    ),
    (
        "kimi-k3",
        {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": "https://example.org/a.png"}]}]},
        "image_url must be a base64 data URL or ms://FILE_ID",
        {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": "ms://file-abc"}]}]},
    ),
]


@pytest.mark.parametrize(("model", "broken", "refusal", "fixed"), CASES, ids=lambda v: v if isinstance(v, str) else "")
def test_each_rule_refuses_what_breaks_it_and_accepts_the_fix(
    model: str, broken: dict[str, Any], refusal: str, fixed: dict[str, Any]
) -> None:
    status, message = answer({"model": model, "messages": Q, **broken})
    assert status == 400 and refusal in message, message
    assert answer({"model": model, "messages": Q, **fixed}) == (200, "")


def test_the_temperature_refusal_is_the_recorded_body() -> None:
    recorded = Recorded.load(RECORDED / "moonshot" / "invalid_temperature_400.json")
    with FakeProvider([Turn(content="ok")]) as fake:
        response = post(fake, {"model": "kimi-k2.6", "messages": Q, "temperature": 0})
    assert response.status_code == recorded.status == 400
    assert response.json() == json.loads(recorded.body)


def test_more_than_128_tools_are_refused_unless_the_limit_is_switched_off() -> None:
    tools = [tool(f"tool_{i}") for i in range(129)]
    status, message = answer({"model": "kimi-k3", "messages": Q, "tools": tools})
    assert status == 400 and "cannot exceed 128 (got 129)" in message
    assert answer({"model": "kimi-k3", "messages": Q, "tools": tools[:128]}) == (200, "")
    # The OpenAPI dropped maxItems on 2026-07-20 (the guide still says 128): a switch.
    assert answer({"model": "kimi-k3", "messages": Q, "tools": tools}, tool_limit=None) == (200, "")


def test_preserved_thinking_needs_every_assistant_messages_reasoning() -> None:
    history = [*Q, {"role": "assistant", "content": "an earlier answer"}, {"role": "user", "content": "and now?"}]
    kept = [*Q, {"role": "assistant", "content": "an earlier answer", "reasoning_content": ""}, history[-1]]
    for model, extra in [
        ("kimi-k3", {}),
        ("kimi-k2.7-code", {}),
        ("kimi-k2.6", {"thinking": {"type": "enabled", "keep": "all"}}),
    ]:
        status, message = answer({"model": model, "messages": history, **extra})
        assert status == 400 and "reasoning_content is missing in assistant message at index 1" in message
        assert answer({"model": model, "messages": kept, **extra}) == (200, "")
    # Without keep, K2.6 ignores earlier turns' reasoning: nothing to send back.
    assert answer({"model": "kimi-k2.6", "messages": history}) == (200, "")


def test_k26_does_not_honour_max_tokens_alone() -> None:
    """A host's reference: "max_tokens is deprecated and not honored". A request with only
    max_tokens gets the service's default output (about 1024 tokens): a longer turn comes back
    cut, with finish_reason length; max_completion_tokens is honoured."""
    long = Turn(content="answer", reasoning="think " * 3000, tool_calls=[call("lookup", q="x")])
    body = {"model": "kimi-k2.6", "messages": Q, "tools": [tool()]}
    with FakeProvider([long, long]) as fake:
        cut = post(fake, {**body, "max_tokens": 32_000}).json()
        whole = post(fake, {**body, "max_completion_tokens": 32_000}).json()
    choice = cut["choices"][0]
    assert choice["finish_reason"] == "length" and cut["usage"]["completion_tokens"] == 1024
    assert choice["message"]["content"] == "" and "tool_calls" not in choice["message"]
    assert whole["choices"][0]["finish_reason"] == "tool_calls"
    # K2.5 still reads max_tokens.
    with FakeProvider([long]) as fake:
        k25 = post(fake, {"model": "kimi-k2.5", "messages": Q, "tools": [tool()], "max_tokens": 32_000}).json()
    assert k25["choices"][0]["finish_reason"] == "tool_calls"


def test_a_model_the_fake_does_not_know_keeps_the_older_looser_checks() -> None:
    assert answer({"model": "gpt-5", "messages": Q, "temperature": 0.3, "tools": [tool("files.read")]}) == (200, "")
