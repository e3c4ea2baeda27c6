"""An OpenAI-compatible chat-completions server on loopback, scripted turn by turn.

It streams SSE the way Moonshot does (reasoning first, then content, then tool calls with
id and name in their first chunk and argument fragments keyed by ``index``; usage in the
last choice), answers 400 like the real service when reasoning is missing from an
assistant tool-call turn or a tool call is left unanswered, and (strict mode) when the latest
tool-call turn does not carry back verbatim the reasoning streamed for it, or when a request
breaks a Kimi model's documented rules (``agentkit.testing._kimi_rules``: the thinking switch,
reasoning efforts, fixed sampling values, tools, ``response_format``, video parts, Preserved
Thinking); it caps the output the way the service does (``max_tokens`` is not honoured by K2.6
and later: a turn longer than the service's default comes back cut, ``finish_reason: length``). It refuses requests
over a context window with Moonshot's, vLLM's, SGLang's or llama.cpp's 400 (``error_style``),
lists a window at ``GET /v1/models`` the way vLLM does (``models_window``), can leave usage out
of streams (``send_usage=False``), and injects faults: 429 (rate limit, overloaded, quota),
5xx, dropped and truncated streams, an ``error`` chunk inside a 200 stream, an empty 200
stream, malformed arguments (script them as raw text). Texts and shapes come from
tests/fixtures/recorded/ (see ``agentkit.testing._wire``).

    with FakeProvider([Turn(tool_calls=[call("lookup", term="x")]), Turn(content="done")]) as fake:
        agent = Agent(provider="custom", base_url=fake.base_url, tools=[lookup], plan=False)
        result = agent.run_sync("question")

Run it standalone (for benchmarks, other processes): ``python -m agentkit.testing
--responder package.module:function [--port N]``; it prints ``READY <base_url>``. With
``--responder agentkit.testing.offline:researcher`` it is an offline model for ``agentkit run``
and ``agentkit eval`` (:mod:`agentkit.testing.offline`).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib
import socket
import sys
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler
from typing import Any

import orjson

from agentkit.testing import _wire
from agentkit.testing._http import LoopbackService
from agentkit.testing._kimi_rules import (
    TOOL_LIMIT,
    check_preserved_reasoning,
    check_request,
    output_cap,
    preserves_reasoning,
    thinking_enabled,
    without_images,
)
from agentkit.testing._turns import as_read
from agentkit.testing._wire import ErrorStyle, UsageStyle
from agentkit.testing.script import (
    Delay,
    DropStream,
    EmptyStream,
    FakeRequest,
    Fault,
    HttpError,
    RateLimited,
    Responder,
    Script,
    ScriptItem,
    ServerError,
    StreamError,
    TruncateStream,
    Turn,
    check_latest_reasoning,
    count_tokens,
    validate_messages,
)


class FakeProvider(LoopbackService):
    """A scripted OpenAI-compatible endpoint on ``127.0.0.1``; use as a context manager."""

    _thread_name = "fake-provider"

    def __init__(
        self,
        script: Sequence[ScriptItem] | Responder,
        *,
        model: str | None = None,
        reasoning_field: str = "reasoning_content",
        strict: bool = True,
        latency_s: float = 0.0,
        context_window: int | None = None,
        chunk_chars: int = 64,
        keep_requests: bool = True,
        api_key: str | None = None,
        check_reasoning: bool = True,
        error_style: ErrorStyle = "moonshot",
        usage_style: UsageStyle = "moonshot",
        send_usage: bool = True,
        models_window: int | None = None,
        tool_limit: int | None = TOOL_LIMIT,
        response_format: bool = True,
        port: int = 0,
    ) -> None:
        self.script = Script(script)
        self.model = model
        """The model the answers say was served (``None``: the one each request named)."""
        self.tool_limit = tool_limit
        """Most tools a Kimi request may carry (the tool-use guide's 128; the OpenAPI dropped the
        limit on 2026-07-20, so ``None`` turns the check off)."""
        self.response_format = response_format
        """The host takes ``response_format`` (``False``: a request with it is refused, 400)."""
        self.reasoning_field = reasoning_field
        self.strict = strict
        self.check_reasoning = check_reasoning
        """In strict mode: the latest tool-call turn must carry back its reasoning verbatim."""
        self.latency_s = latency_s
        self.context_window = context_window
        self.error_style: ErrorStyle = error_style
        self.usage_style: UsageStyle = usage_style
        self.send_usage = send_usage
        """``False``: streams carry no usage (as some servers send none)."""
        self.models_window = models_window
        """Served as ``max_model_len`` at ``GET /v1/models``; ``None``: that route answers 404."""
        self.chunk_chars = chunk_chars
        self.keep_requests = keep_requests
        self.api_key = api_key
        self.requests: list[FakeRequest] = []
        self.errors: list[str] = []
        """Every 4xx the server answered (validation failures show up here)."""
        self.faults_served: list[str] = []
        self.request_count = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.prompt_tokens: list[int] = []
        self.cached_tokens: list[int] = []
        self.produced_reasoning: dict[str, str] = {}
        """Reasoning streamed with each tool call, by the call's id (for the verbatim check)."""
        self._lock = threading.Lock()
        self._token_cache: dict[bytes, int] = {}
        self._prefixes: set[bytes] = set()
        """Every message prefix served so far, each as a hash chained over its messages."""
        super().__init__(port)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        provider = self

        class Handler(_Handler):
            fake = provider

        return Handler

    # accounting
    def _count_prompt(self, body: dict[str, Any]) -> tuple[int, int]:
        """Prompt tokens and the prefix-cache hit: the longest run of leading messages (tools
        first) that an earlier request also began with, as a service's automatic prefix cache
        keeps every prefix it has seen (a summary call in between does not evict the run's own
        prefix). Counted over the messages as the service reads them (earlier turns' reasoning is not read
        without Preserved Thinking: ``agentkit.testing._turns``)."""
        hashes: list[bytes] = []
        counts: list[int] = []
        head = orjson.dumps(body.get("tools") or [])
        messages = as_read(body.get("messages", []), self.reasoning_field, preserves_reasoning(body))
        for part in [head, *[orjson.dumps(m) for m in messages]]:
            h = hashlib.blake2b(part, digest_size=16).digest()
            n = self._token_cache.get(h)
            if n is None:
                message = orjson.loads(part) if part is not head else None
                stripped, image_tokens = without_images(message) if isinstance(message, dict) else (None, 0)
                text = orjson.dumps(stripped).decode() if image_tokens else part.decode()
                n = count_tokens(text) + 4 + image_tokens
                self._token_cache[h] = n
            hashes.append(h)
            counts.append(n)
        cached, hit, chain = 0, True, b""
        for h, n in zip(hashes, counts, strict=True):
            chain = hashlib.blake2b(chain + h, digest_size=16).digest()
            if hit and chain in self._prefixes:
                cached += n
            else:
                hit = False
                self._prefixes.add(chain)
        return sum(counts), cached

    def _refusal(self, request: FakeRequest, prompt: int) -> HttpError | None:
        """The 400 the strict real service would answer, or ``None``."""
        if self.strict:
            error = check_request(request.body, tool_limit=self.tool_limit, response_format=self.response_format)
            thinking = thinking_enabled(request.body)
            if error is None:
                error = validate_messages(request.messages, self.reasoning_field if thinking else None)
            if error is None and thinking and preserves_reasoning(request.body):
                error = check_preserved_reasoning(request.messages, self.reasoning_field)
            if error is None and self.check_reasoning and thinking:
                error = check_latest_reasoning(request.messages, self.reasoning_field, self.produced_reasoning)
            if error is not None:
                return HttpError(400, error)
        window = self.context_window
        max_tokens = output_cap(request.body) or 0
        if window is not None and _wire.overflow_exceeded(self.error_style, window, prompt, max_tokens):
            body = _wire.overflow_body(self.error_style, window, prompt, max_tokens)
            inner = body.get("error", body)
            return HttpError(400, str(inner["message"]), body=body)
        return None

    def _next(self, body: dict[str, Any]) -> tuple[ScriptItem, int, int]:
        with self._lock:
            self.request_count += 1
            request = FakeRequest(index=self.request_count - 1, body=body)
            if self.keep_requests:
                self.requests.append(request)
            prompt, cached = self._count_prompt(body)
            refusal = self._refusal(request, prompt)
            if refusal is not None:
                self.errors.append(refusal.message)
                return refusal, prompt, cached
            item = self.script.next(request)
            if isinstance(item, Fault):
                self.faults_served.append(type(item).__name__)
            self.prompt_tokens.append(prompt)
            self.cached_tokens.append(cached)
            return item, prompt, cached

    def _following_turn(self, body: dict[str, Any]) -> Turn:
        """The turn after a stream fault, put back so the retry gets it whole."""
        with self._lock:
            item = self.script.next(FakeRequest(index=self.request_count - 1, body=body))
            if not isinstance(item, Turn):
                item = Turn(content="(the fault was scripted without a turn after it)")
            self.script.put_back(item)
            return item

    def served(self, body: dict[str, Any]) -> str:
        """The model name the answer to ``body`` carries."""
        return self.model or str(body.get("model") or "kimi-k3")

    def _produced(self, turn: Turn, first_index: int) -> None:
        with self._lock:
            for i, tc in enumerate(turn.tool_calls):
                index = first_index + i
                self.produced_reasoning[_call_id(tc.name, index, tc.id)] = turn.reasoning
                self.produced_reasoning[f"functions.{tc.name}:{index}"] = turn.reasoning  # ids a client rewrote


class _Handler(BaseHTTPRequestHandler):
    fake: FakeProvider
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # small SSE writes would wait ~40 ms for a delayed ACK each

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        fake = self.fake
        if self.path.rstrip("/").endswith("/models") and fake.models_window is not None:
            self._json(200, _wire.models_listing(fake.model or "kimi-k3", fake.models_window))
            return
        self._json(404, _wire.error_body(f"no route {self.path}", "not_found"))

    def do_POST(self) -> None:
        fake = self.fake
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._json(404, _wire.error_body(f"no route {self.path}", "not_found"))
            return
        if fake.api_key is not None and self.headers.get("Authorization") != f"Bearer {fake.api_key}":
            self._json(401, _wire.error_body("Invalid Authentication", "invalid_authentication_error"))
            return
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            self._json(400, _wire.error_body(f"invalid JSON body: {exc}"))
            return
        with fake._lock:
            fake.in_flight += 1
            fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
        try:
            self._serve(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client went away (killed, cancelled)
        finally:
            with fake._lock:
                fake.in_flight -= 1

    def _serve(self, body: dict[str, Any]) -> None:
        fake = self.fake
        item, prompt, cached = fake._next(body)
        delay = fake.latency_s
        while isinstance(item, Delay):
            delay += item.seconds
            item, prompt, cached = fake._next(body)
        if delay:
            time.sleep(delay)
        streaming = bool(body.get("stream"))
        if isinstance(item, EmptyStream):
            if streaming:
                if item.then is not None:
                    with fake._lock:
                        fake.script.put_back(item.then)
                self._start_stream()
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
                return
            if item.then is not None:
                item = item.then
            else:
                with fake._lock:
                    item = fake.script.next(FakeRequest(index=fake.request_count - 1, body=body))
        if isinstance(item, RateLimited):
            self._rate_limited(item)
            return
        if isinstance(item, ServerError):
            self._json(item.status, _wire.error_body(item.message, "server_error"))
            return
        if isinstance(item, HttpError):
            self._json(item.status, item.body if item.body is not None else _wire.error_body(item.message))
            return
        if isinstance(item, StreamError) and not streaming:
            self._json(item.code, {"error": {"code": item.code, "message": item.message}})
            return
        cut: Fault | None = None
        if isinstance(item, DropStream | TruncateStream | StreamError):
            cut, item = item, fake._following_turn(body)
        if not isinstance(item, Turn):
            self._json(500, _wire.error_body(f"unsupported script item {item!r}", "server_error"))
            return
        first_index = sum(len(m.get("tool_calls") or []) for m in body.get("messages", []))
        if fake.strict:
            item = _capped(item, output_cap(body))
        fake._produced(item, first_index)
        usage = _usage(fake.usage_style, item, prompt, cached)
        served = fake.served(body)
        if streaming:
            self._stream(item, usage, first_index, cut, served)
        else:
            self._json(200, _completion(fake, item, usage, first_index, served))

    def _rate_limited(self, item: RateLimited) -> None:
        texts = {"rate_limit": _wire.RATE_LIMITED, "overloaded": _wire.OVERLOADED, "quota": _wire.QUOTA}
        message = texts[item.kind].format(seconds=item.retry_after or 1)
        headers: dict[str, str] = {}
        if item.retry_after is not None:
            headers = {"Retry-After": f"{item.retry_after:g}", "retry-after-ms": str(int(item.retry_after * 1000))}
        self._json(429, _wire.error_body(message, _wire.ERROR_TYPES[item.kind]), headers)

    def _json(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = orjson.dumps(payload)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()

    def _stream(self, turn: Turn, usage: dict[str, Any], first_index: int, cut: Fault | None, served: str) -> None:
        fake = self.fake
        events = _sse_events(fake, turn, usage if fake.send_usage else None, first_index, served)
        if isinstance(cut, StreamError):
            body_events = events[:-2]  # without the finish chunk and [DONE]
            if cut.after_events is not None:
                body_events = body_events[: cut.after_events]
            base = _wire.chunk_base(f"chatcmpl-{fake.request_count}", served)
            events = body_events + _wire.stream_error_events(base, cut.message, cut.code, after_length=cut.after_length)
            cut = None
        self._start_stream()
        limit = getattr(cut, "after_events", None)
        for n, event in enumerate(events):
            if limit is not None and n >= limit:
                if isinstance(cut, DropStream):
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                break
            self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def _completion_tokens(turn: Turn) -> int:
    if turn.completion_tokens is not None:
        return turn.completion_tokens
    text = turn.reasoning + turn.content + "".join(c.arguments_text() for c in turn.tool_calls)
    return count_tokens(text) + 1


def _usage(style: UsageStyle, turn: Turn, prompt: int, cached: int) -> dict[str, Any]:
    return _wire.usage_block(style, prompt, cached, _completion_tokens(turn))


def _capped(turn: Turn, cap: int | None) -> Turn:
    """``turn`` as a service with output cap ``cap`` sends it: whole when it fits, else its
    reasoning cut where the cap runs out, no answer and no calls, ``finish_reason: length``
    (reasoning comes first, so a small cap fills with it)."""
    if cap is None or _completion_tokens(turn) <= cap:
        return turn
    reasoning = turn.reasoning[: max(0, cap) * 4]
    return Turn(content="", reasoning=reasoning, finish_reason="length", completion_tokens=cap)


def _call_id(name: str, index: int, explicit: str | None) -> str:
    return explicit or f"{name}:{index}"


def _finish(turn: Turn) -> str:
    return turn.finish_reason or ("tool_calls" if turn.tool_calls else "stop")


def _pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] if text else []


def _sse_events(
    fake: FakeProvider, turn: Turn, usage: dict[str, Any] | None, first_index: int, served: str
) -> list[bytes]:
    """The turn as SSE events; the last two are the finish chunk and ``[DONE]``."""
    base = _wire.chunk_base(f"chatcmpl-{fake.request_count}", served)
    out: list[bytes] = []

    def emit(delta: dict[str, Any], finish: str | None = None, extra: dict[str, Any] | None = None) -> None:
        choice: dict[str, Any] = {"index": 0, "delta": delta, "finish_reason": finish}
        if extra:
            choice.update(extra)
        out.append(_wire.sse({**base, "choices": [choice]}))

    emit({"role": "assistant", "content": ""})
    size = fake.chunk_chars
    for piece in _pieces(turn.reasoning, size):
        emit({fake.reasoning_field: piece})
    for piece in _pieces(turn.content, size):
        emit({"content": piece})
    for i, tc in enumerate(turn.tool_calls):
        emit(
            {
                "tool_calls": [
                    {
                        "index": i,
                        "id": _call_id(tc.name, first_index + i, tc.id),
                        "type": "function",
                        "function": {"name": tc.name, "arguments": ""},
                    }
                ]
            }
        )
        for piece in _pieces(tc.arguments_text(), size):
            emit({"tool_calls": [{"index": i, "function": {"arguments": piece}}]})
    if usage is None:
        emit({}, _finish(turn))
    elif fake.usage_style == "moonshot":
        emit({}, _finish(turn), {"usage": usage})  # Moonshot: usage inside the last choice
    else:
        finish = {"index": 0, "delta": {}, "finish_reason": _finish(turn)}
        out.append(_wire.sse({**base, "choices": [finish], "usage": usage}))
    out.append(_wire.DONE)
    return out


def _completion(fake: FakeProvider, turn: Turn, usage: dict[str, Any], first_index: int, served: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": turn.content, fake.reasoning_field: turn.reasoning}
    if turn.tool_calls:
        message["tool_calls"] = [
            {
                "id": _call_id(tc.name, first_index + i, tc.id),
                "type": "function",
                "function": {"name": tc.name, "arguments": tc.arguments_text()},
            }
            for i, tc in enumerate(turn.tool_calls)
        ]
    return {
        "id": f"chatcmpl-{fake.request_count}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": served,
        "choices": [{"index": 0, "message": message, "finish_reason": _finish(turn)}],
        "usage": usage,
    }


def _load_responder(spec: str) -> Responder:
    module_name, _, attr = spec.partition(":")
    factory = getattr(importlib.import_module(module_name), attr)
    responder: Responder = factory()
    return responder


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m agentkit.testing",
        description="Run a scripted OpenAI-compatible server on 127.0.0.1. For an offline model to try "
        "agentkit run and agentkit eval with: --responder agentkit.testing.offline:researcher --port 8765 "
        "(tasks/offline.yaml points at it).",
    )
    parser.add_argument(
        "--responder", required=True, help="module:factory; the factory returns a function(FakeRequest) -> Turn | Fault"
    )
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: one the system picks)")
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--context-window", type=int, default=None)
    parser.add_argument(
        "--lenient",
        action="store_true",
        help="do not reject histories the real service would reject (to measure other frameworks)",
    )
    parser.add_argument("--reasoning-field", default="reasoning_content")
    args = parser.parse_args(argv)
    fake = FakeProvider(
        _load_responder(args.responder),
        latency_s=args.latency,
        context_window=args.context_window,
        keep_requests=False,
        strict=not args.lenient,
        reasoning_field=args.reasoning_field,
        port=args.port,
    )
    try:
        fake.start()
    except OSError as exc:
        parser.exit(2, f"error: cannot listen on 127.0.0.1:{args.port}: {exc.strerror or exc}\n")
    try:
        print(f"READY {fake.base_url}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            _wait_for_the_end()
    finally:
        fake.stop()


def _wait_for_the_end() -> None:
    """Serve until stdin closes when stdin is a pipe (a parent process that started this one
    ends it so); otherwise (a terminal, ``/dev/null`` in a script's background job) until Ctrl-C
    or SIGTERM (reading a terminal from a background job would stop this process)."""
    import os
    import signal
    import stat

    try:
        piped = stat.S_ISFIFO(os.fstat(sys.stdin.fileno()).st_mode)
    except (OSError, ValueError):  # no stdin at all
        piped = False
    if piped:
        sys.stdin.read()
        return
    ended = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: ended.set())
    while not ended.wait(3600):
        pass


if __name__ == "__main__":
    main()
