"""agentkit's fake provider must agree with recorded real traffic (tests/fixtures/recorded/).

Compared structurally over raw HTTP: status codes, error envelopes (keys and value types),
error texts (numbers and account ids aside), chunk and usage shapes, finish reasons.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx2
import pytest

from agentkit.testing import FakeProvider, RateLimited, Recorded, StreamError, Turn, call

RECORDED = Path(__file__).parents[1] / "fixtures" / "recorded"
BIG = [{"role": "user", "content": "word " * 4000}]


def rec(name: str) -> Recorded:
    return Recorded.load(RECORDED / name)


def shape(value: Any) -> Any:
    """Keys and value types, recursively (lists by their first element)."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


def template(text: str) -> str:
    """An error text with its numbers and account ids taken out."""
    text = re.sub(r"org-\w+", "org-*", text)
    text = re.sub(r"ak-\w+", "ak-*", text)
    return re.sub(r"\d+", "N", text)


def message_of(body: dict[str, Any]) -> str:
    inner = body.get("error", body)
    return str(inner["message"])


def post(fake: FakeProvider, body: dict[str, Any]) -> httpx2.Response:
    with httpx2.Client(timeout=30) as http:
        return http.post(fake.base_url + "/chat/completions", json=body)


def sse_payloads(raw: bytes) -> list[dict[str, Any]]:
    return [
        json.loads(line[len("data: ") :])
        for line in raw.decode().splitlines()
        if line.startswith("data: ") and line != "data: [DONE]"
    ]


@pytest.mark.parametrize(
    ("style", "name"),
    [
        ("moonshot", "moonshot/context_overflow_400.json"),
        ("vllm", "vllm/context_length_400.json"),
        ("sglang", "sglang/context_length_400.json"),
        ("llamacpp", "llamacpp/exceed_context_400.json"),
    ],
)
def test_overflow_answers_are_the_real_servers_answers(style: str, name: str) -> None:
    recorded = rec(name)
    real = json.loads(recorded.body)
    with FakeProvider([], context_window=1000, error_style=style) as fake:  # type: ignore[arg-type]
        answer = post(fake, {"model": "m", "messages": BIG, "max_tokens": 100})
    assert answer.status_code == recorded.status == 400
    assert answer.headers["content-type"].startswith("application/json")
    body = answer.json()
    assert shape(body) == shape(real)
    assert template(message_of(body)) == template(message_of(real))
    inner, real_inner = body.get("error", body), real.get("error", real)
    assert inner["type"] == real_inner["type"]


def test_the_moonshot_overflow_numbers_are_the_window_and_the_request() -> None:
    with FakeProvider([], context_window=1000) as fake:
        answer = post(fake, {"model": "m", "messages": BIG, "max_tokens": 100})
        assert fake.prompt_tokens == [] and len(fake.errors) == 1  # refused before the script
    match = re.fullmatch(
        r"Invalid request: Your request exceeded model token limit: (\d+) \(requested: (\d+)\)",
        message_of(answer.json()),
    )
    assert match is not None
    window, requested = int(match[1]), int(match[2])
    assert window == 1000 and requested > window


def test_missing_reasoning_is_moonshots_400() -> None:
    real = json.loads(rec("moonshot/missing_reasoning_400.json").body)
    history = [
        {"role": "system", "content": "s"},
        {"role": "user", "content": "q"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"id": "a:0", "type": "function", "function": {"name": "a", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "a:0", "content": "r"},
    ]
    with FakeProvider([Turn(content="x")]) as fake:
        answer = post(fake, {"model": "m", "messages": history})
    assert answer.status_code == 400
    assert shape(answer.json()) == shape(real)
    assert message_of(answer.json()) == message_of(real)  # both name index 2


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("rate_limit", "moonshot/rate_limit_429.json"),
        ("overloaded", "moonshot/engine_overloaded_429.json"),
        ("quota", "moonshot/quota_429.json"),
    ],
)
def test_429s_are_moonshots(kind: str, name: str) -> None:
    recorded = rec(name)
    real = json.loads(recorded.body)
    retry_after = None if kind != "rate_limit" else 1.0
    with FakeProvider([RateLimited(retry_after, kind=kind)]) as fake:  # type: ignore[arg-type]
        answer = post(fake, {"model": "m", "messages": [{"role": "user", "content": "q"}]})
    assert answer.status_code == recorded.status == 429
    assert shape(answer.json()) == shape(real)
    assert answer.json()["error"]["type"] == real["error"]["type"]
    assert template(message_of(answer.json())) == template(message_of(real))
    if kind == "overloaded":  # the recorded answer has no Retry-After
        assert not {"retry-after", "retry-after-ms"} & {k.lower() for k in recorded.headers}
        assert "retry-after" not in answer.headers


def test_an_error_chunk_ends_a_200_stream_as_openrouter_sends_it() -> None:
    recorded = rec("openrouter/stream_error_token_limit.sse")
    real = sse_payloads(recorded.body)
    real_error = next(c for c in real if "error" in c)
    with FakeProvider([StreamError(), Turn(reasoning="We need to respond", content="Hello")]) as fake:
        answer = post(fake, {"model": "m", "messages": [{"role": "user", "content": "q"}], "stream": True})
    assert answer.status_code == recorded.status == 200
    assert answer.headers["content-type"].startswith("text/event-stream")
    assert answer.content.rstrip().endswith(b"data: [DONE]") and recorded.body.rstrip().endswith(b"data: [DONE]")
    ours = sse_payloads(answer.content)
    error = ours[-1]
    assert shape(error["error"]) == shape(real_error["error"]) and error["error"] == real_error["error"]
    assert set(error) - {"provider", "usage"} <= set(real_error)
    assert (
        [c["finish_reason"] for c in error["choices"]] == [c["finish_reason"] for c in real_error["choices"]] == [None]
    )
    before_real = real[real.index(real_error) - 1]
    assert ours[-2]["choices"][0]["finish_reason"] == before_real["choices"][0]["finish_reason"] == "length"


def test_openai_style_usage_sits_where_deepseek_puts_it() -> None:
    recorded = sse_payloads(rec("deepseek/reasoner_thinking_stream.sse").body)
    real_last = recorded[-1]
    with FakeProvider(
        [Turn(reasoning="Hmm", content="Hi")], usage_style="openai", reasoning_field="reasoning_content"
    ) as fake:
        answer = post(fake, {"model": "m", "messages": [{"role": "user", "content": "q"}], "stream": True})
    ours = sse_payloads(answer.content)
    last = ours[-1]
    assert "usage" in last and "usage" in real_last  # top level of the finishing chunk
    assert set(last["usage"]) <= set(real_last["usage"])
    assert set(last["usage"]["prompt_tokens_details"]) <= set(real_last["usage"]["prompt_tokens_details"])
    assert last["choices"][0]["finish_reason"] == real_last["choices"][0]["finish_reason"] == "stop"
    assert all("usage" not in c for c in ours[:-1])


def test_stream_chunks_have_the_recorded_envelope_and_delta_fields() -> None:
    recorded = sse_payloads(rec("deepseek/reasoner_thinking_stream.sse").body)
    real_keys = set(recorded[0])
    real_delta_keys = {k for c in recorded for k in c["choices"][0]["delta"]}
    with FakeProvider([Turn(reasoning="r" * 100, content="c" * 100)], chunk_chars=10) as fake:
        answer = post(fake, {"model": "m", "messages": [{"role": "user", "content": "q"}], "stream": True})
    for chunk in sse_payloads(answer.content):
        assert {"id", "object", "created", "model", "choices"} <= real_keys
        assert set(chunk) - {"usage"} <= real_keys
        assert chunk["object"] == recorded[0]["object"] == "chat.completion.chunk"
        [choice] = chunk["choices"]
        assert set(choice["delta"]) <= real_delta_keys
        assert set(choice) - {"usage"} <= set(recorded[0]["choices"][0]) | {"finish_reason"}


def test_finish_reasons_are_ones_real_providers_send() -> None:
    seen = set()
    for path in RECORDED.glob("*/*.meta.json"):
        r = Recorded.load(path)
        if r.status != 200:
            continue
        chunks = sse_payloads(r.body) if r.is_stream else [json.loads(r.body)]
        seen |= {c.get("finish_reason") for p in chunks for c in p.get("choices") or []} - {None}
    assert {"stop", "tool_calls", "length"} <= seen
    turns = [Turn(content="a"), Turn(tool_calls=[call("f", x=1)]), Turn(content="b", finish_reason="length")]
    with FakeProvider(turns, strict=False) as fake:
        finishes = [
            post(fake, {"model": "m", "messages": [{"role": "user", "content": "q"}]}).json()["choices"][0][
                "finish_reason"
            ]
            for _ in turns
        ]
    assert set(finishes) <= seen


def test_whole_completions_have_the_recorded_message_and_tool_call_shape() -> None:
    real = json.loads(rec("deepseek/dice_turn2_parallel_tool_calls.json").body)
    real_message = real["choices"][0]["message"]
    with FakeProvider(
        [Turn(reasoning="why", content="c", tool_calls=[call("roll_dice")])], usage_style="openai"
    ) as fake:
        ours = post(fake, {"model": "m", "messages": [{"role": "user", "content": "q"}]}).json()
    message = ours["choices"][0]["message"]
    assert set(message) <= set(real_message)
    assert set(message["tool_calls"][0]) <= set(real_message["tool_calls"][0])
    assert set(message["tool_calls"][0]["function"]) == set(real_message["tool_calls"][0]["function"])
    assert set(ours) - {"usage"} <= set(real)
    assert set(ours["usage"]) <= set(real["usage"])
    assert set(ours["usage"]["prompt_tokens_details"]) == set(real["usage"]["prompt_tokens_details"])
