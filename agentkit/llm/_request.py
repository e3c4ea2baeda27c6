"""A request body made to obey the model's and the host's rules before it is sent.

:class:`RequestRules` is built once per client (it checks the options the caller chose against
the model, so a wrong one fails at construction with one message) and applied to every body:
the ``thinking`` object or ``reasoning_effort`` the model takes and nothing it refuses; no
sampling field the service fixes; only the ``tool_choice`` values it allows; the output cap
under the field name the model reads, within its documented maximum; ``prompt_cache_key``
where the host takes it; the answer's JSON schema as ``response_format`` where the host and the
model take it (in MFJS for the Kimi API); and the tools as the model's API takes them (count,
names, schemas; see :mod:`agentkit.llm._tool_wire`). Tool calls that come back get their tools' own names
(:meth:`RequestRules.received`).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Literal

import orjson

from agentkit.llm._schema import NotExpressible, to_mfjs
from agentkit.llm._tool_wire import WireNames, tool_count_problem, wire_tools
from agentkit.llm.errors import ConfigurationError, ModelError
from agentkit.llm.models import FIXED_SAMPLING, model_traits, option_problem, thinking_on
from agentkit.llm.profiles import ProviderProfile
from agentkit.llm.types import AssistantTurn, ModelRequest

_CACHED_TOOL_SETS = 32


class ToolsRefused(ModelError):
    """The request's tools cannot go to this model (too many, names that clash); nothing was sent."""


class RequestRules:
    """The rules one client's requests obey (see the module docstring)."""

    def __init__(
        self,
        model: str,
        profile: ProviderProfile,
        *,
        thinking: bool | None = None,
        reasoning_effort: str | None = None,
        preserve_thinking: bool | None = None,
    ) -> None:
        self.model, self.profile = model, profile
        self.traits = model_traits(model)
        problem = option_problem(
            self.traits,
            model,
            thinking=thinking,
            reasoning_effort=reasoning_effort,
            preserve_thinking=preserve_thinking,
        )
        if problem is not None:
            raise ConfigurationError(f"{problem[0]}: {problem[1]}")
        self.thinking, self.reasoning_effort, self.preserve_thinking = thinking, reasoning_effort, preserve_thinking
        self._tool_sets: OrderedDict[bytes, list[dict[str, Any]]] = OrderedDict()
        self._name_sets: OrderedDict[tuple[str, ...], WireNames] = OrderedDict()
        self._history: tuple[tuple[tuple[str, str], ...], list[dict[str, Any]], list[dict[str, Any]]] | None = None
        """The latest request's tool names, messages and renamed messages."""

    @property
    def preserves_reasoning(self) -> Literal["all", "current_turn"]:
        """``all``: every earlier assistant turn's reasoning is context for the model (send it back
        on every assistant message); ``current_turn``: the service reads only the current turn's."""
        return self.traits.preserves_reasoning(self.preserve_thinking)

    def shape(self, body: dict[str, Any], request: ModelRequest) -> dict[str, Any]:
        """``body`` made to obey the rules, in place (its ``messages`` list is replaced, never
        edited, when tool names change)."""
        on = self._thinking(body)
        self._sampling(body, on)
        self._tool_choice(body, on)
        self._output(body)
        if self.profile.prompt_cache_key and request.cache_key and "prompt_cache_key" not in body:
            # OAS-EN (every K model): "For Coding Agents, this is typically a session id or task id
            # ...; if the session is exited and later resumed, this value should remain the same."
            # The run id is exactly that. (One third-party matrix measured a higher cost with the key,
            # AGENTZONE 2026-05-20; the platform's docs recommend it, and they are followed here.)
            body["prompt_cache_key"] = request.cache_key
        self._response_format(body, request)
        self._tools(body)
        return body

    def received(self, turn: AssistantTurn, request: ModelRequest) -> AssistantTurn:
        """``turn`` with each tool call under its tool's own name (the model called the wire name)."""
        if not turn.tool_calls:
            return turn
        names = self._names([_name_of(t) for t in request.tools])
        calls = [
            c if names.own(c.name) == c.name else c.model_copy(update={"name": names.own(c.name)})
            for c in turn.tool_calls
        ]
        if all(a is b for a, b in zip(calls, turn.tool_calls, strict=True)):
            return turn
        return turn.model_copy(update={"tool_calls": calls})

    # -- the rules -------------------------------------------------------------------------

    def _thinking(self, body: dict[str, Any]) -> bool:
        traits = self.traits
        thinking = self.thinking
        raw = body.get("thinking")
        if isinstance(raw, bool):  # extra_body={"thinking": False}: the documented object instead
            thinking = raw if thinking is None else thinking
            body.pop("thinking")
        on = thinking_on(traits, thinking)
        kimi = traits.family != "other"
        if traits.thinking_field:
            keep = bool(self.preserve_thinking) and traits.preserved_thinking == "optional"
            if thinking is not None or keep:
                # OAS-EN KimiK26ChatRequest: thinking {type: enabled | disabled (required), keep: "all" | null}
                asked: dict[str, Any] = {"type": "enabled" if on else "disabled"}
                if keep:
                    asked["keep"] = "all"
                body["thinking"] = asked
        elif kimi:
            # K3: no `thinking` in its schema ("remove the K2.x thinking configuration"); K2.7 Code:
            # "you do not need to (and should not) pass the thinking parameter"; K2 Thinking: none.
            body.pop("thinking", None)
        if traits.reasoning_efforts:
            if self.reasoning_effort is not None:
                body["reasoning_effort"] = self.reasoning_effort
        elif kimi or "thinking" in body:
            body.pop("reasoning_effort", None)  # K2.x has no effort control (never beside thinking)
        elif self.reasoning_effort is not None:
            body["reasoning_effort"] = self.reasoning_effort  # another model: as the caller asked
        return on

    def _sampling(self, body: dict[str, Any], on: bool) -> None:
        traits = self.traits
        if traits.fixed_sampling:
            for name in FIXED_SAMPLING:  # KIMI-PARAMS: "Fixed ... so do not pass it explicitly"
                body.pop(name, None)
            return
        fixed = traits.temperature(on)
        if fixed is not None:
            body["temperature"] = fixed
        if traits.fixed_top_p is not None:
            body.pop("top_p", None)  # the service fixes it; a different value is refused

    def _tool_choice(self, body: dict[str, Any], on: bool) -> None:
        allowed = self.traits.thinking_tool_choices
        if on and allowed is not None and body.get("tool_choice") not in (None, *allowed):
            body.pop("tool_choice")

    def _output(self, body: dict[str, Any]) -> None:
        key = "max_tokens"
        if self.traits.output_field == "max_completion_tokens" and self.profile.max_completion_tokens:
            key = "max_completion_tokens"
            value = body.pop("max_tokens", None)
            if value is not None and key not in body:
                body[key] = value
        value = body.get(key)
        caps = [c for c in (self.traits.max_output, self.profile.output_caps.get(self.model)) if c]
        if isinstance(value, int) and caps and value > min(caps):
            body[key] = min(caps)

    def _response_format(self, body: dict[str, Any], request: ModelRequest) -> None:
        """The answer's schema as ``response_format: json_schema``, where the host and the model
        take it and the schema's root is an object: the Kimi JSON mode guide says the model "will
        only generate JSON Object type JSON documents", and OpenAI's structured outputs require an
        object root too. Any other answer is checked (and asked for again) by the run alone.

        Kimi API: the schema in MFJS with ``strict: true`` (OAS-EN: "the schema must conform to the
        MFJS specification"); a schema MFJS cannot state goes as it is with ``strict: false``
        ("only guarantees the output is a valid JSON object"), as a tool's would. Other hosts get
        the schema as it is with ``strict: false``: OpenAI's strict mode refuses schemas with
        optional fields or open objects (every pydantic model with a default), and the run
        validates the answer itself either way."""
        wanted = request.response_schema
        if wanted is None or not (self.profile.response_format and self.traits.response_format):
            return
        schema = wanted.json_schema
        if schema.get("type") != "object":
            return
        strict = False
        if self.traits.tool_rules == "moonshot":
            try:
                schema, strict = to_mfjs(schema), True
            except NotExpressible:  # sent as it is, strict: false (the documented way for such a schema)
                strict = False
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": wanted.name, "schema": schema, "strict": strict},
        }

    def _tools(self, body: dict[str, Any]) -> None:
        tools: list[dict[str, Any]] = body.get("tools") or []
        if tools:
            problem = tool_count_problem(len(tools), self.traits, self.model)
            if problem is not None:
                raise ToolsRefused(problem)
        names = self._names([_name_of(t) for t in tools])
        if tools:
            body["tools"] = self._wire_tools(tools, names)
        choice = body.get("tool_choice")
        if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
            fn = choice["function"]
            body["tool_choice"] = {**choice, "function": {**fn, "name": names.wire(str(fn.get("name", "")))}}
        messages = body.get("messages")
        if isinstance(messages, list):
            body["messages"] = self._renamed_history(messages, names)

    def _renamed_history(self, messages: list[dict[str, Any]], names: WireNames) -> list[dict[str, Any]]:
        """:func:`_renamed_history`, walking only what the previous request did not send: a
        run's view grows by appending, and its earlier messages are the same objects from step
        to step, so the renamed prefix is reused (walking the whole history grew with the run)."""
        key = tuple(names.to_wire.items())
        start, before = 0, self._history
        if before is not None and before[0] == key:
            sent, renamed = before[1], before[2]
            limit = min(len(sent), len(messages))
            while start < limit and messages[start] is sent[start]:
                start += 1
            out = renamed[:start] + _renamed_history(messages[start:], names)
        else:
            out = _renamed_history(messages, names)
        self._history = (key, list(messages), out)
        return out

    def _names(self, names: list[str]) -> WireNames:
        """The wire names of a tool set, made once per distinct set of names."""
        key = tuple(names)
        cached = self._name_sets.get(key)
        if cached is None:
            try:
                cached = WireNames(names, self.traits.tool_rules)
            except ValueError as exc:
                raise ToolsRefused(str(exc)) from None
            self._name_sets[key] = cached
            if len(self._name_sets) > _CACHED_TOOL_SETS:
                self._name_sets.popitem(last=False)
        return cached

    def _wire_tools(self, tools: list[dict[str, Any]], names: WireNames) -> list[dict[str, Any]]:
        """The wire form of a tool set, computed once per distinct set (the registry's schemas
        are the same from call to call)."""
        key = orjson.dumps(tools)
        cached = self._tool_sets.get(key)
        if cached is None:
            cached = wire_tools(tools, self.traits, names)
            self._tool_sets[key] = cached
            if len(self._tool_sets) > _CACHED_TOOL_SETS:
                self._tool_sets.popitem(last=False)
        else:
            self._tool_sets.move_to_end(key)
        return cached


def _name_of(tool: dict[str, Any]) -> str:
    fn = tool.get("function")
    return str(fn.get("name", "")) if isinstance(fn, dict) else ""


def _renamed_history(messages: list[dict[str, Any]], names: WireNames) -> list[dict[str, Any]]:
    """``messages`` with every tool name in their wire form (the model saw those names);
    the same list when nothing changes."""
    out: list[dict[str, Any]] | None = None
    for i, message in enumerate(messages):
        renamed = message
        calls = message.get("tool_calls")
        if isinstance(calls, list):
            new_calls = [_renamed_call(c, names) for c in calls]
            if any(a is not b for a, b in zip(new_calls, calls, strict=True)):
                renamed = {**message, "tool_calls": new_calls}
        elif message.get("role") == "tool" and isinstance(message.get("name"), str):
            wire = names.wire(message["name"])
            if wire != message["name"]:
                renamed = {**message, "name": wire}
        if renamed is not message:
            if out is None:
                out = list(messages[:i])
            out.append(renamed)
        elif out is not None:
            out.append(message)
    return messages if out is None else out


def _renamed_call(call: Any, names: WireNames) -> Any:
    fn = call.get("function") if isinstance(call, dict) else None
    if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
        return call
    wire = names.wire(fn["name"])
    return call if wire == fn["name"] else {**call, "function": {**fn, "name": wire}}


__all__ = ["RequestRules", "ToolsRefused"]
