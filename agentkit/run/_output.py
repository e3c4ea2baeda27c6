"""Structured output: the final answer as a validated object.

``Agent(output_type=MyModel)`` (any type pydantic validates: a model, a dataclass, a
``TypedDict``, ``list[...]``) or ``Agent(output_schema={...})`` / the task file's
``output.schema`` (a JSON schema) make an :class:`OutputContract`. The run then:

- tells the model the schema in its system prompt, from the first turn;
- checks every answer (a turn with no tool call, or the final turn at a limit): the JSON is
  read leniently (code fences stripped, the JSON taken out of prose around it, broken JSON
  repaired), but what is read must validate (pydantic for a type, ``jsonschema`` for a schema);
- sends the schema as ``response_format: json_schema`` (where the host takes it, see
  :meth:`agentkit.llm._request.RequestRules`) only on the turns meant to produce the final
  answer: the final turn at a limit, and the one re-ask below. Never on an ordinary turn: the
  loop cannot know a turn will be the last before it comes back, and a schema-constrained turn
  may not call tools on hosts that constrain the whole reply (llama.cpp's and vLLM's grammars
  cover the text the tool calls are written in; the Kimi docs say nothing of response_format
  beside tools). An answer that does not validate gets ONE re-ask: the problems quoted, the
  schema sent, tools offered with ``tool_choice: none`` (so the prompt prefix stays cached);
- ends ``finished`` (``stopped`` at a limit) with :attr:`RunResult.output` the validated object
  and ``answer`` its JSON; an answer still invalid after the re-ask ends the run ``failed``
  (``stop_reason`` quotes the problems, ``answer`` keeps the model's text, ``output`` is None).
  A run a limit stops before any valid answer (a cost limit mid-call) ends ``stopped`` with
  ``output`` None. The parsed JSON is stored on the run's ``RunFinished`` event, so a resumed or
  shown finished run gives the same output.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from json_repair import repair_json
from pydantic import TypeAdapter, ValidationError

from agentkit.llm._repair import strip_special_tokens
from agentkit.llm.types import ResponseSchema

RETRY_KIND = "output_retry"
"""The kind of the harness message that asks once more for an answer that matches the schema."""
_FENCED = re.compile(r"```[A-Za-z0-9_-]*[ \t]*\n?(.*?)```", re.S)
_NAME = re.compile(r"[^A-Za-z0-9_-]+")
_MAX_PROBLEMS = 10


class OutputInvalid(ValueError):
    """An answer is not JSON that matches the output schema; the message lists where and why."""


@dataclass(frozen=True)
class Checked:
    data: Any
    """The answer's JSON, parsed (what the trace keeps)."""
    value: Any
    """The validated object (an instance of the output type; the JSON for a schema)."""


class OutputContract:
    """What the final answer must be (see the module docstring)."""

    def __init__(self, schema: dict[str, Any], name: str, adapter: TypeAdapter[Any] | None = None) -> None:
        self.schema, self.name, self.adapter = schema, name, adapter
        if adapter is None:
            from jsonschema import Draft202012Validator
            from jsonschema.validators import validator_for

            cls = validator_for(schema, default=Draft202012Validator)
            cls.check_schema(schema)  # raises jsonschema.SchemaError
            self._validator: Any = cls(schema)

    @classmethod
    def of(cls, output_type: Any = None, output_schema: Mapping[str, Any] | None = None) -> OutputContract | None:
        """The contract for ``Agent(output_type=..., output_schema=...)`` (at most one of them)."""
        if output_type is not None and output_schema is not None:
            raise ValueError("pass output_type or output_schema, not both")
        if output_type is not None:
            adapter: TypeAdapter[Any] = TypeAdapter(output_type)
            schema = adapter.json_schema()
            name = getattr(output_type, "__name__", "") or str(schema.get("title") or "")
            return cls(schema, _wire_name(name), adapter)
        if output_schema is not None:
            if not isinstance(output_schema, Mapping):
                raise ValueError("output_schema must be a JSON schema (a mapping)")
            from jsonschema import SchemaError

            schema = dict(output_schema)
            try:
                return cls(schema, _wire_name(str(schema.get("title") or "")))
            except SchemaError as exc:
                raise ValueError(f"output_schema is not a valid JSON schema: {schema_error(exc)}") from None
        return None

    @property
    def request_schema(self) -> ResponseSchema:
        return ResponseSchema(name=self.name, json_schema=self.schema)

    def instructions(self) -> str:
        """What the system prompt says of the answer's form."""
        schema = json.dumps(self.schema, indent=2, ensure_ascii=False)
        return (
            "Your final answer (the reply in which you call no tool) must be a single JSON value that "
            "matches this JSON schema, with no other text before or after it. Cite sources by their ids "
            "in square brackets inside the JSON's strings where they belong.\n```json\n" + schema + "\n```"
        )

    def retry_prompt(self, problem: OutputInvalid) -> str:
        return (
            f"Your final answer does not match the required JSON schema:\n{problem}\n"
            "Reply again with only the corrected JSON value (no tool calls, no other text)."
        )

    def check(self, text: str) -> Checked:
        """The answer in ``text``, validated. Raises :class:`OutputInvalid`."""
        first: OutputInvalid | None = None
        for data in _candidates(text):
            try:
                return Checked(data, self.validate(data))
            except OutputInvalid as exc:
                first = first or exc
        if first is not None:
            raise first
        raise OutputInvalid("- the reply holds no JSON value" + (": it is empty" if not text.strip() else ""))

    def validate(self, data: Any) -> Any:
        """The validated object for parsed JSON ``data``. Raises :class:`OutputInvalid`."""
        if self.adapter is not None:
            try:
                return self.adapter.validate_json(orjson.dumps(data))
            except ValidationError as exc:
                lines = [
                    f"- {'.'.join(str(p) for p in e['loc']) or '(the whole value)'}: {e['msg']}"
                    for e in exc.errors(include_url=False)[:_MAX_PROBLEMS]
                ]
                raise OutputInvalid("\n".join(lines)) from None
        errors = sorted(self._validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path])
        if errors:
            lines = [
                f"- {'.'.join(str(p) for p in e.absolute_path) or '(the whole value)'}: {_short(e.message)}"
                for e in errors[:_MAX_PROBLEMS]
            ]
            raise OutputInvalid("\n".join(lines))
        return data

    def typed(self, data: Any) -> Any:
        """A stored output (its JSON) as the validated object again (a resumed or shown run)."""
        try:
            return self.validate(data)
        except OutputInvalid as exc:
            raise ValueError(f"the run's stored output no longer matches the output type:\n{exc}") from None

    def data_of(self, value: Any) -> Any:
        """The JSON of a validated object (the inverse of :meth:`typed`)."""
        return value if self.adapter is None else self.adapter.dump_python(value, mode="json")


def answer_text(data: Any) -> str:
    """The answer a run with an output type ends with: its output's JSON, indented."""
    return json.dumps(data, indent=2, ensure_ascii=False)


def canonical(data: Any) -> str:
    """One spelling for equal JSON values (keys sorted), for voting."""
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS).decode()


def schema_error(exc: Any) -> str:
    """A ``jsonschema.SchemaError`` in one line, with the path to the bad keyword."""
    where = ".".join(str(p) for p in exc.absolute_path)
    return f"{where}: {_short(exc.message)}" if where else _short(exc.message)


def _candidates(text: str) -> list[Any]:
    """The JSON values ``text`` may hold, most likely first: all of it; each fenced block; each
    value embedded in prose; then the same repaired (only a span that starts and ends like a
    JSON object or array, so prose is never turned into data)."""
    text = strip_special_tokens(text).strip()
    spans = [text, *(m.group(1).strip() for m in _FENCED.finditer(text))]
    found: list[Any] = []
    for span in spans:
        try:
            found.append(orjson.loads(span))
        except orjson.JSONDecodeError:
            continue
    decoder = json.JSONDecoder()
    for match in re.finditer(r"[{\[]", text):
        try:
            value, _ = decoder.raw_decode(text, match.start())
        except ValueError:
            continue
        if isinstance(value, dict | list) and value not in found:
            found.append(value)
    for span in spans:
        start = min((i for i in (span.find("{"), span.find("[")) if i >= 0), default=-1)
        end = max(span.rfind("}"), span.rfind("]"))
        if start < 0 or end <= start:
            continue
        try:
            repaired = repair_json(span[start : end + 1], return_objects=True, skip_json_loads=False)
        except Exception:  # json_repair is total in practice; stay safe anyway
            continue
        if isinstance(repaired, dict | list) and repaired and repaired not in found:
            found.append(repaired)
    return found


def _wire_name(name: str) -> str:
    """A ``json_schema.name`` OpenAI-style hosts take (``^[a-zA-Z0-9_-]{1,64}$``)."""
    clean = _NAME.sub("_", name).strip("_")[:64]
    return clean or "final_answer"


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


__all__ = ["RETRY_KIND", "Checked", "OutputContract", "OutputInvalid", "answer_text", "canonical", "schema_error"]
