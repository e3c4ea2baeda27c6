"""How the client reads providers' failures: overflow texts and their numbers, error objects
inside 200 answers, and anything else a server or the SDK throws (always a ModelError).

Bodies are the providers' real texts (sources named beside each), served over real HTTP by a
loopback ReplayServer and read by the real openai SDK.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import orjson
import pytest

from agentkit.llm.client import OpenAICompatibleModel, RetryPolicy
from agentkit.llm.errors import ContextLengthExceeded, ModelError, ModelRetriesExhausted
from agentkit.llm.types import ModelRequest, StreamDelta
from agentkit.testing import Recorded, ReplayServer
from tests.llm.conftest import wire_kwargs

pytestmark = pytest.mark.anyio
FAST = RetryPolicy(initial_backoff=0.001, max_backoff=0.01, max_attempts=3)
Q = [{"role": "user", "content": "question"}]
WIRE: list[str] = []
"""How :func:`call`'s clients post (every test runs over each wire, see conftest.py)."""


@pytest.fixture(autouse=True)
def each_wire(wire: str) -> Iterator[None]:
    WIRE[:] = [wire]
    yield
    WIRE.clear()


def error(status: int, err: dict[str, Any]) -> Recorded:
    return Recorded(status=status, body=orjson.dumps({"error": err}))


def sse(*events: dict[str, Any] | bytes) -> Recorded:
    body = b"".join(e if isinstance(e, bytes) else b"data: " + orjson.dumps(e) + b"\n\n" for e in events)
    return Recorded(status=200, body=body + b"data: [DONE]\n\n", content_type="text/event-stream")


def chunk(delta: dict[str, Any], finish: str | None = None, **top: Any) -> dict[str, Any]:
    return {
        "id": "gen-1",
        "object": "chat.completion.chunk",
        "model": "moonshotai/kimi-k2-thinking",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **top,
    }


OK = sse(chunk({"role": "assistant", "content": "fine"}), chunk({}, "stop"))


async def call(responses: list[Recorded], *, stream: bool = True, on_delta: Any = None) -> tuple[Any, ReplayServer]:
    """The turn, or the error ``complete()`` raised, and the server (to count requests)."""
    with ReplayServer(responses) as server:
        llm = OpenAICompatibleModel(
            "kimi-k2-thinking", "custom", base_url=server.base_url, stream=stream, retry=FAST, **wire_kwargs(WIRE[0])
        )
        try:
            return await llm.complete(ModelRequest(messages=Q), on_delta=on_delta), server
        except Exception as exc:
            return exc, server
        finally:
            await llm.aclose()


OVERFLOWS = [
    # MoonshotAI/kimi-cli#2011: Moonshot's own answer.
    (
        {
            "message": "Invalid request: Your request exceeded model token limit: 262144 (requested: 269030)",
            "type": "invalid_request_error",
        },
        262_144,
        269_030,
    ),
    # vLLM (infiniflow/ragflow#5646).
    (
        {
            "message": "This model's maximum context length is 8192 tokens. However, you requested 8598 tokens "
            "(3478 in the messages, 5120 in the completion). Please reduce the length of the messages or "
            "completion.",
            "type": "BadRequestError",
            "param": None,
            "code": 400,
        },
        8192,
        8598,
    ),
    # vLLM when max_tokens alone does not fit (andrewcho-dev/opsconductor-ng TOKEN_LIMIT_FIX.md).
    (
        {
            "message": "'max_tokens' or 'max_completion_tokens' is too large: 8000. This model's maximum context "
            "length is 4096 tokens and your request has 2778 input tokens (8000 > 4096 - 2778). None",
            "type": "BadRequestError",
            "param": None,
            "code": 400,
        },
        4096,
        10_778,
    ),
    # vLLM's renderer wording, with K2's 262,144 window.
    (
        {
            "message": "This model's maximum context length is 262144 tokens. However, you requested 0 output "
            "tokens and your prompt contains at least 262145 input tokens, for a total of at least 262145 "
            "tokens. Please reduce the length of the input prompt or the number of requested output tokens. "
            "(parameter=input_tokens, value=262145)",
            "type": "BadRequestError",
            "param": "input_tokens",
            "code": 400,
        },
        262_144,
        262_145,
    ),
    # llama-cpp-python's server (llama_cpp/server/errors.py rewrites "Requested tokens (3000) exceed
    # context window of 2048" into the OpenAI text).
    (
        {
            "message": "This model's maximum context length is 2048 tokens. However, you requested 3461 tokens "
            "(3000 in the messages, 461 in the completion). Please reduce the length of the messages or "
            "completion.",
            "type": "invalid_request_error",
            "param": "messages",
            "code": "context_length_exceeded",
        },
        2048,
        3461,
    ),
    # llama.cpp server with the counts beside the message.
    (
        {
            "code": 400,
            "message": "request (4476 tokens) exceeds the available context size (4096 tokens), try increasing it",
            "type": "exceed_context_size_error",
            "n_prompt_tokens": 4476,
            "n_ctx": 4096,
        },
        4096,
        4476,
    ),
    # llama.cpp server, older builds: no numbers.
    (
        {
            "code": 400,
            "message": "the request exceeds the available context size, try increasing it",
            "type": "invalid_request_error",
        },
        None,
        None,
    ),
    # OpenRouter's own pre-flight refusal.
    (
        {
            "message": "This endpoint's maximum context length is 16384 tokens. However, you requested about "
            "26265 tokens (26255 of text input, 10 in the output). Please reduce the length of either one, or "
            "use the context-compression plugin to compress your prompt automatically.",
            "code": 400,
            "metadata": {"provider_name": None},
        },
        16_384,
        26_265,
    ),
    # Together.
    (
        {"message": "The input (516368 tokens) is longer than the model's context length (262144 tokens)."},
        262_144,
        516_368,
    ),
    # Ollama: says by how much, not the window.
    ({"message": "prompt too long; exceeded max context length by 100918 tokens"}, None, None),
]


@pytest.mark.parametrize(("err", "limit", "requested"), OVERFLOWS)
async def test_overflow_answers_are_context_length_exceeded_with_window_and_size(
    err: dict[str, Any], limit: int | None, requested: int | None
) -> None:
    exc, server = await call([error(400, err)])
    assert isinstance(exc, ContextLengthExceeded), exc
    assert (exc.limit, exc.requested, exc.status) == (limit, requested, 400)
    assert err["message"] in str(exc)
    assert server.served == 1


async def test_an_overflow_forwarded_by_openrouter_from_moonshot_names_the_upstream() -> None:
    raw = '{"error":{"message":"Invalid request: Your request exceeded model token limit: 262144 (requested: 269030)"}}'
    body = {"message": "Provider returned error", "code": 400, "metadata": {"raw": raw, "provider_name": "Moonshot AI"}}
    exc, server = await call([error(400, body)])
    assert isinstance(exc, ContextLengthExceeded) and server.served == 1
    assert (exc.limit, exc.requested) == (262_144, 269_030)
    assert "Moonshot AI" in str(exc) and "Provider returned error" in str(exc)


async def test_a_per_minute_token_budget_is_not_an_overflow() -> None:
    # Groq's 413 for a TPM budget (cline/cline#4971): shrinking the context is not the fix.
    body = {
        "message": "Request too large for model `moonshotai/kimi-k2-instruct` in organization `org_01` service "
        "tier `on_demand` on tokens per minute (TPM): Limit 10000, Requested 15088, please reduce your message "
        "size and try again.",
        "type": "tokens",
        "code": "rate_limit_exceeded",
    }
    exc, _ = await call([error(413, body)])
    assert isinstance(exc, ModelError) and not isinstance(exc, ContextLengthExceeded)
    assert exc.status == 413


# Error objects inside a 200 stream (OpenRouter: "errors that occur mid-generation still arrive as
# regular data: events with an error field", openrouter.ai/docs/api-reference/streaming).


async def test_a_transient_error_mid_stream_is_retried() -> None:
    # The 502 OpenRouter sends mid-stream when the upstream drops (OpenRouterTeam/ai-sdk-provider#440).
    broken = sse(
        chunk({"role": "assistant", "reasoning": "thinking"}),
        {
            "error": {
                "code": 502,
                "message": "Network connection lost.",
                "metadata": {"error_type": "provider_unavailable"},
            }
        },
    )
    deltas: list[StreamDelta] = []
    turn, server = await call([broken, OK], on_delta=deltas.append)
    assert not isinstance(turn, Exception), turn
    assert turn.content == "fine" and turn.attempts == 2 and server.served == 2
    assert [d.kind for d in deltas].count("restart") == 1  # the live view drops "thinking"


async def test_openrouter_documented_mid_stream_server_error_is_retried() -> None:
    documented = sse(
        {
            "id": "cmpl-abc123",
            "object": "chat.completion.chunk",
            "created": 1234567890,
            "model": "gpt-3.5-turbo",
            "provider": "openai",
            "error": {"code": "server_error", "message": "Provider disconnected unexpectedly"},
            "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}],
        }
    )
    turn, server = await call([documented, OK])
    assert not isinstance(turn, Exception), turn
    assert turn.attempts == 2 and server.served == 2


async def test_a_rate_limit_mid_stream_exhausts_the_budget_with_its_reason() -> None:
    limited = sse({"error": {"code": 429, "message": "Rate limit exceeded: free-models-per-min."}})
    exc, server = await call([limited] * FAST.max_attempts)
    assert isinstance(exc, ModelRetriesExhausted) and exc.status == 429
    assert "free-models-per-min" in str(exc) and server.served == FAST.max_attempts


async def test_an_overflow_reported_mid_stream_carries_the_upstream_numbers() -> None:
    raw = '{"error":{"message":"Invalid request: Your request exceeded model token limit: 262144 (requested: 270001)"}}'
    stream = sse(
        chunk({"role": "assistant", "content": ""}),
        {
            "error": {
                "code": 400,
                "message": "Provider returned error",
                "metadata": {"raw": raw, "provider_name": "Moonshot AI"},
            }
        },
    )
    exc, server = await call([stream])
    assert isinstance(exc, ContextLengthExceeded) and (exc.limit, exc.requested) == (262_144, 270_001)
    assert "Moonshot AI" in str(exc) and server.served == 1


async def test_token_limit_after_finish_length_is_final_and_not_an_overflow() -> None:
    # Recorded as tests/fixtures/recorded/openrouter/stream_error_token_limit.sse with a 43-token
    # prompt and max_completion_tokens=10: the output ran out, the window did not.
    stream = sse(
        chunk({"role": "assistant", "reasoning": "We need"}, "length"),
        {"error": {"code": 400, "message": "Token limit reached"}, "choices": [{"index": 0, "delta": {}}]},
    )
    exc, server = await call([stream, OK])
    assert type(exc) is ModelError and exc.status == 400
    assert "Token limit reached" in str(exc) and "max_tokens" in str(exc)
    assert server.served == 1


async def test_an_error_body_in_a_plain_200_answer_is_mapped_too() -> None:
    overflow = {
        "code": 400,
        "message": "This endpoint's maximum context length is 16384 tokens. However, you requested about "
        "26265 tokens (26255 of text input, 10 in the output).",
    }
    exc, server = await call([Recorded(status=200, body=orjson.dumps({"error": overflow}))], stream=False)
    assert isinstance(exc, ContextLengthExceeded) and (exc.limit, exc.requested) == (16_384, 26_265)
    assert server.served == 1
    busy = Recorded(status=200, body=orjson.dumps({"error": {"code": 503, "message": "No instances available"}}))
    plain_ok = Recorded(
        status=200,
        body=orjson.dumps(
            {"model": "m", "choices": [{"index": 0, "message": {"content": "fine"}, "finish_reason": "stop"}]}
        ),
    )
    turn, server = await call([busy, plain_ok], stream=False)
    assert not isinstance(turn, Exception), turn
    assert turn.content == "fine" and turn.attempts == 2


# Only ModelErrors leave complete().


async def test_an_event_that_is_not_json_is_retried_and_never_escapes_as_a_decode_error() -> None:
    bad = sse(chunk({"content": "a"}), b"data: {not json\n\n")
    exc, server = await call([bad] * FAST.max_attempts)
    assert isinstance(exc, ModelRetriesExhausted) and "not JSON" in str(exc)
    assert server.served == FAST.max_attempts
    assert not isinstance(exc, openai.OpenAIError | ValueError)
    turn, _ = await call([bad, OK])
    assert not isinstance(turn, Exception) and turn.attempts == 2


async def test_a_plain_answer_that_is_not_json_is_a_model_error() -> None:
    html = Recorded(status=200, body=b"<html>502 Bad Gateway</html>", content_type="text/html")
    exc, server = await call([html] * FAST.max_attempts, stream=False)
    assert isinstance(exc, ModelRetriesExhausted) and "Bad Gateway" in str(exc)
    assert server.served == FAST.max_attempts


async def test_finish_reason_error_without_an_error_object_is_retried() -> None:
    ended = sse(chunk({"content": "par"}), chunk({}, "error"))
    turn, _ = await call([ended, OK])
    assert not isinstance(turn, Exception), turn
    assert turn.content == "fine" and turn.attempts == 2


async def test_an_unexpected_exception_becomes_a_model_error() -> None:
    def explode(delta: StreamDelta) -> None:
        raise RuntimeError("live view broke")

    exc, _ = await call([OK], on_delta=explode)
    assert isinstance(exc, ModelError) and "live view broke" in str(exc)
    assert isinstance(exc.__cause__, RuntimeError)
