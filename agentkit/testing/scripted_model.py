"""ScriptedModel: an in-process :class:`~agentkit.llm.types.Model` for unit tests (no HTTP)."""

from __future__ import annotations

import inspect
from collections.abc import Sequence

from agentkit.llm._repair import make_tool_call
from agentkit.llm._stream import assign_tool_call_ids
from agentkit.llm.errors import ContextLengthExceeded, ModelError, looks_like_context_overflow
from agentkit.llm.profiles import ProviderProfile, get_profile
from agentkit.llm.types import AssistantTurn, DeltaHandler, ModelRequest, StreamDelta, Usage
from agentkit.testing import _wire
from agentkit.testing.script import (
    Delay,
    FakeRequest,
    Fault,
    HttpError,
    Responder,
    Script,
    ScriptItem,
    Turn,
    count_tokens,
    validate_messages,
)


class ScriptedModel:
    """Answers requests from a script of :class:`Turn` items (or a responder function).

    It applies the same message checks as the fake provider (reasoning on tool-call turns,
    one tool message per call id) and records every request in :attr:`requests`.
    Transport faults (429, dropped streams) need the HTTP :class:`FakeProvider`.
    """

    def __init__(
        self,
        script: Sequence[ScriptItem] | Responder,
        *,
        provider: str | ProviderProfile = "moonshot",
        model: str | None = None,
        strict: bool = True,
        context_window: int | None = None,
    ) -> None:
        self._script = Script(script)
        self._profile = provider if isinstance(provider, ProviderProfile) else get_profile(provider)
        self._model = model or self._profile.default_model
        self.strict = strict
        self.context_window = context_window
        self.requests: list[ModelRequest] = []

    @property
    def profile(self) -> ProviderProfile:
        return self._profile

    @property
    def model_name(self) -> str:
        return self._model

    async def aclose(self) -> None:
        return None

    async def complete(self, request: ModelRequest, *, on_delta: DeltaHandler | None = None) -> AssistantTurn:
        self.requests.append(request)
        if self.strict:
            error = validate_messages(request.messages, self._profile.reasoning_field)
            if error:
                raise ModelError(f"scripted model answered HTTP 400: {error}", status=400)
        prompt = sum(count_tokens(str(m.get("content") or "")) + 4 for m in request.messages)
        window, max_tokens = self.context_window, request.max_tokens or 0
        if window is not None and _wire.overflow_exceeded("moonshot", window, prompt, max_tokens):
            body = _wire.overflow_body("moonshot", window, prompt, max_tokens)
            raise ContextLengthExceeded(str(body["error"]["message"]), status=400)
        item = self._script.next(
            FakeRequest(index=len(self.requests) - 1, body={"messages": request.messages, "tools": request.tools})
        )
        while isinstance(item, Delay):
            item = self._script.next(FakeRequest(index=len(self.requests) - 1, body={}))
        if isinstance(item, HttpError):
            if looks_like_context_overflow(item.message):
                raise ContextLengthExceeded(item.message, status=item.status)
            raise ModelError(f"scripted model answered HTTP {item.status}: {item.message}", status=item.status)
        if isinstance(item, Fault) or not isinstance(item, Turn):
            raise TypeError(f"ScriptedModel cannot serve {item!r}; use FakeProvider for transport faults")
        if on_delta is not None:
            for delta in (
                StreamDelta(kind="reasoning", text=item.reasoning),
                StreamDelta(kind="content", text=item.content),
            ):
                if delta.text:
                    result = on_delta(delta)
                    if inspect.isawaitable(result):
                        await result
        calls = [make_tool_call(tc.id or "", tc.name, tc.arguments_text()) for tc in item.tool_calls]
        completion = item.completion_tokens or count_tokens(item.reasoning + item.content) + 1
        turn = AssistantTurn(
            content=item.content,
            reasoning=item.reasoning,
            tool_calls=calls,
            finish_reason=item.finish_reason or ("tool_calls" if calls else "stop"),
            usage=Usage(prompt_tokens=prompt, completion_tokens=completion, calls=1),
            model=self._model,
        )
        turn = assign_tool_call_ids(turn, self._profile.tool_call_id_style, request.tool_call_index)
        prices = self._profile.prices_for(self._model)
        return turn.model_copy(update={"cost_usd": prices.cost(prompt, 0, completion)})
