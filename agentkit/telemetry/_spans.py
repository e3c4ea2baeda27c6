"""Spans from a run's committed trace events, in the OpenTelemetry GenAI conventions.

- ``invoke_agent {agent}`` (INTERNAL): one per *session* of a run, i.e. from its
  ``RunStarted`` (or the ``StatusChanged(running)`` of a resume) to its ``RunFinished`` or
  ``StatusChanged(interrupted)``; its span id is that start event's. A session whose process
  died without recording its end is exported by the process that resumes the run, ending at
  the session's last event. A child run's (heavy trajectory, delegated sub-agent) sessions
  are children of the parent run's session that was open when they began.
- ``chat {model}`` (CLIENT): a model call, from the run's previous event (the loop commits
  what precedes a call right before it, so the call began then) to its turn's commit.
- ``execute_tool {tool}`` (INTERNAL): from the result's commit minus its measured duration;
  the call's progress reports (an MCP server's notifications, recorded with the result in
  its ``meta["progress"]``, each with its time since the call began) are its span events.

Ids derive from (root run id) and (run id, event seq), so a resumed run continues its trace
and a span made once is never made again by another process.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any
from urllib.parse import urlsplit

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import Link, NonRecordingSpan, Span, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.util.types import AttributeValue

from agentkit._redact import Redactor
from agentkit.store.base import Store
from agentkit.store.events import (
    Aggregated,
    AssistantMessage,
    BudgetDecision,
    ErrorEvent,
    PlanUpdated,
    RunFinished,
    RunStarted,
    StatusChanged,
    StoredEvent,
    ToolResultEvent,
    TraceEvent,
)
from agentkit.store.fold import RunState
from agentkit.telemetry import _content
from agentkit.telemetry._ids import span_id_of, trace_id_of
from agentkit.vocabulary import AssistantTurn, ToolCall, Usage

log = logging.getLogger("agentkit.telemetry")
SCOPE = "agentkit"
SCHEMA_URL = "https://opentelemetry.io/schemas/1.41.0"
AGENT_NAME = "agentkit"
PROVIDERS = {"moonshot": "moonshot_ai", "openai": "openai", "vertex": "gcp.vertex_ai"}
"""agentkit's provider profiles by their GenAI ``gen_ai.provider.name`` (others: the profile name)."""
TOOL_ERROR = "tool_error"
PROGRESS_EVENT = "agentkit.tool.progress"
"""A span event on ``execute_tool``: a progress report of the running call (``agentkit.progress``,
``agentkit.progress.total``; its message as ``agentkit.progress.message`` when content is captured)."""
PROGRESS_MESSAGE = "agentkit.progress.message"
DIED = "the process ended without recording the run's end (a crash or a kill); resumed later"
Attributes = dict[str, AttributeValue]


def _ns(ts: float) -> int:
    return int(ts * 1e9)


def _starts_session(event: TraceEvent) -> bool:
    return isinstance(event, RunStarted) or (isinstance(event, StatusChanged) and event.status == "running")


def _ends_session(event: TraceEvent) -> bool:
    return isinstance(event, RunFinished) or (isinstance(event, StatusChanged) and event.status != "running")


class _PresetIds(IdGenerator):
    """The ids agentkit sets for the span being started; the provider's own otherwise."""

    def __init__(self, fallback: IdGenerator) -> None:
        self.fallback = fallback
        self.trace_id: int | None = None
        self.span_id: int | None = None

    def generate_span_id(self) -> int:
        span_id, self.span_id = self.span_id, None
        return span_id if span_id is not None else self.fallback.generate_span_id()

    def generate_trace_id(self) -> int:
        trace_id, self.trace_id = self.trace_id, None
        return trace_id if trace_id is not None else self.fallback.generate_trace_id()


@dataclass
class _Session:
    span: Span
    context: Context
    """The span as the parent of the session's model and tool call spans."""
    seq: int
    usage: Usage
    """The run's usage when the session began (the span reports what was used during it)."""
    cost_usd: float
    errors: list[ErrorEvent] = field(default_factory=list)


@dataclass
class _Run:
    run_id: str
    trace_id: int
    parent_id: str | None
    label: str | None
    parent: SpanContext | None
    """The parent run's session open when this run's current session began."""
    last_ts: float
    """The latest event of the run or of a run under it: when its next model call began."""
    sessions: list[int] = field(default_factory=list)
    """Seqs of the events that began the run's sessions, oldest first."""
    session: _Session | None = None
    base: Attributes | None = None
    """Attributes every span of the run has (from its configuration, which does not change)."""
    call_base: Attributes | None = None
    """And those of its model calls (server, request settings)."""

    @property
    def agent_name(self) -> str:
        return self.label if self.parent_id and self.label else AGENT_NAME


class RunTracer:
    """Turns committed events into spans (a :data:`agentkit.telemetry.RunObserver`)."""

    def __init__(
        self, provider: trace.TracerProvider, *, capture_content: bool = False, secrets: Iterable[str] = ()
    ) -> None:
        try:
            version = metadata.version("agentkit")
        except metadata.PackageNotFoundError:
            version = ""
        self.provider = provider
        self._tracer = provider.get_tracer(SCOPE, version, schema_url=SCHEMA_URL)
        generator = getattr(self._tracer, "id_generator", None)
        if not isinstance(generator, IdGenerator):
            raise TypeError(
                "agentkit traces need the OpenTelemetry SDK's TracerProvider (opentelemetry.sdk.trace), "
                f"which lets a resumed run name its spans as before; got {type(provider).__name__}"
            )
        if not isinstance(generator, _PresetIds):
            generator = _PresetIds(generator)
            self._tracer.id_generator = generator  # type: ignore[attr-defined]
        self._ids = generator
        self._lock = threading.Lock()
        self._runs: dict[str, _Run] = {}
        self.capture = capture_content
        self.scrub = Redactor(secrets)
        self._warned = False

    async def __call__(self, store: Store, state: RunState, events: Sequence[StoredEvent]) -> None:
        if not events:
            return
        try:
            run = self._runs.get(state.run_id)
            if run is None:
                run = await self._open(store, state, events[0])
            for stored in events:
                self._on_event(run, state, stored)
        except Exception as exc:  # tracing never breaks a run (nor prints a traceback to a CLI user)
            if not self._warned:
                self._warned = True
                log.warning(
                    "agentkit: a trace span could not be made (%s: %s); tracing goes on", type(exc).__name__, exc
                )
            log.debug("trace span failure", exc_info=True)

    # -- finding a run's place in its trace (the only awaits: all before any state changes) --

    async def _open(self, store: Store, state: RunState, first: StoredEvent) -> _Run:
        info = await store.get_run(state.run_id)
        trace_id = await self._trace_of(store, info.id, info.parent_id)
        history = [] if isinstance(first.event, RunStarted) else await store.events(state.run_id)
        before = [s for s in history if s.seq < first.seq]
        starts = [s for s in before if _starts_session(s.event)]
        dead = (
            starts[-1] if starts and not any(_ends_session(s.event) for s in before if s.seq > starts[-1].seq) else None
        )
        parent = parent_then = None
        if info.parent_id is not None:
            parent = await self._session_of(store, info.parent_id, trace_id, first.event.ts, now=True)
            if dead is not None:
                parent_then = await self._session_of(store, info.parent_id, trace_id, dead.event.ts, now=False)
        if state.run_id in self._runs:  # opened by a concurrent commit meanwhile
            return self._runs[state.run_id]
        run = _Run(
            run_id=state.run_id,
            trace_id=trace_id,
            parent_id=info.parent_id,
            label=info.label,
            parent=parent,
            last_ts=before[-1].event.ts if before else first.event.ts,
            sessions=[s.seq for s in starts],
        )
        self._runs[run.run_id] = run
        if dead is not None and _starts_session(first.event):  # its process died: it ends where its events end
            self._dead_session(run, state, dead, before[-1], parent_then)
        elif dead is not None:  # traced from the middle of a session (instrumented while it ran)
            self._begin(run, state, dead)
        return run

    async def _trace_of(self, store: Store, run_id: str, parent_id: str | None) -> int:
        seen = {run_id}
        while parent_id is not None and parent_id not in seen:
            known = self._runs.get(parent_id)
            if known is not None:
                return known.trace_id
            seen.add(parent_id)
            try:
                info = await store.get_run(parent_id)
            except KeyError:
                break
            run_id, parent_id = info.id, info.parent_id
        return trace_id_of(run_id)

    async def _session_of(
        self, store: Store, run_id: str, trace_id: int, at: float, *, now: bool
    ) -> SpanContext | None:
        """The span of ``run_id``'s session that was open at time ``at`` (``now``: the one open
        in this process, when there is one)."""
        known = self._runs.get(run_id)
        if now and known is not None and known.session is not None:
            return known.session.span.get_span_context()
        starts = [s for s in await store.events(run_id) if _starts_session(s.event) and s.event.ts <= at]
        if not starts:
            return None
        flags = TraceFlags(TraceFlags.SAMPLED)
        return SpanContext(trace_id, span_id_of(run_id, starts[-1].seq), is_remote=True, trace_flags=flags)

    # -- events to spans (synchronous) -------------------------------------------------------

    def _on_event(self, run: _Run, state: RunState, stored: StoredEvent) -> None:
        event = stored.event
        if _starts_session(event):
            self._begin(run, state, stored)
        elif run.session is not None:
            if isinstance(event, AssistantMessage):
                self._chat(run, state, stored, event.turn, "execute")
            elif isinstance(event, PlanUpdated | Aggregated) and event.turn is not None:
                self._chat(run, state, stored, event.turn, "plan" if isinstance(event, PlanUpdated) else "aggregate")
            elif isinstance(event, BudgetDecision) and isinstance(event.detail.get("usage"), dict):
                self._summary_call(run, state, stored, Usage.model_validate(event.detail["usage"]))
            elif isinstance(event, ToolResultEvent):
                self._tool(run, state, stored, event)
            elif isinstance(event, ErrorEvent):
                run.session.errors.append(event)
            elif _ends_session(event):
                self._end(run, state, stored)
        self._touch(run, event.ts)

    def _touch(self, run: _Run, ts: float) -> None:
        seen: set[str] = set()
        current: _Run | None = run
        while current is not None and current.run_id not in seen:
            seen.add(current.run_id)
            current.last_ts = max(current.last_ts, ts)
            current = self._runs.get(current.parent_id) if current.parent_id else None

    def _start(
        self,
        name: str,
        kind: SpanKind,
        run: _Run,
        seq: int,
        parent: SpanContext | Context | None,
        start: float,
        attributes: Attributes,
        links: Sequence[Link] = (),
    ) -> Span:
        if isinstance(parent, SpanContext):
            context = trace.set_span_in_context(NonRecordingSpan(parent), Context())
        else:
            context = parent if parent is not None else Context()
        with self._lock:
            self._ids.trace_id, self._ids.span_id = run.trace_id, span_id_of(run.run_id, seq)
            try:
                return self._tracer.start_span(
                    name, context=context, kind=kind, attributes=attributes, links=links, start_time=_ns(start)
                )
            finally:
                self._ids.trace_id = self._ids.span_id = None

    def _common(self, run: _Run, state: RunState, operation: str) -> Attributes:
        if run.base is None:
            run.base = {"gen_ai.conversation.id": run.run_id}
            provider = state.config.get("provider")
            if isinstance(provider, str) and provider:
                run.base["gen_ai.provider.name"] = PROVIDERS.get(provider, provider)
        return {"gen_ai.operation.name": operation, **run.base}

    def _call_common(self, run: _Run, state: RunState) -> Attributes:
        if run.call_base is None:
            run.call_base = {**self._server(state), **_request_attributes(state)}
            model = state.config.get("model")
            if isinstance(model, str) and model:
                run.call_base["gen_ai.request.model"] = model
        return {**self._common(run, state, "chat"), **run.call_base}

    def _server(self, state: RunState) -> Attributes:
        base_url = state.config.get("base_url")
        if not isinstance(base_url, str) or not base_url:
            return {}
        try:
            parts = urlsplit(base_url)
            host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            return {}
        return {"server.address": host, "server.port": port} if host else {}

    def _agent_attributes(self, run: _Run, state: RunState, seq: int) -> Attributes:
        attrs = self._common(run, state, "invoke_agent")
        attrs.update(
            {"gen_ai.agent.name": run.agent_name, "gen_ai.agent.id": run.run_id, "agentkit.run.id": run.run_id}
        )
        model = state.config.get("model")
        if isinstance(model, str) and model:
            attrs["gen_ai.request.model"] = model
        if run.parent_id:
            attrs["agentkit.run.parent_id"] = run.parent_id
        if run.label:
            attrs["agentkit.run.label"] = run.label
        heavy = state.config.get("heavy")
        if isinstance(heavy, int) and heavy > 1:
            attrs["agentkit.ensembles.heavy.trajectories"] = heavy
        attrs["agentkit.run.session"] = run.sessions.index(seq) + 1 if seq in run.sessions else 1
        return attrs

    def _begin(self, run: _Run, state: RunState, stored: StoredEvent) -> None:
        if run.session is not None:  # a start without an end in between: close the open one
            self._end(run, state, stored)
        if stored.seq not in run.sessions:
            run.sessions.append(stored.seq)
        earlier = [s for s in run.sessions if s < stored.seq]
        links = (
            [Link(SpanContext(run.trace_id, span_id_of(run.run_id, earlier[-1]), is_remote=True))] if earlier else []
        )
        attrs = self._agent_attributes(run, state, stored.seq)
        if earlier:
            attrs["agentkit.run.resumed"] = True
        if self.capture:
            if isinstance(state.config.get("system_prompt"), str):
                attrs["gen_ai.system_instructions"] = self.scrub.json([_content._text(state.config["system_prompt"])])
            attrs["gen_ai.input.messages"] = self.scrub.json(_content.user_messages(state.task, []))
        name = f"invoke_agent {run.agent_name}"
        span = self._start(name, SpanKind.INTERNAL, run, stored.seq, run.parent, stored.event.ts, attrs, links)
        context = trace.set_span_in_context(span, Context())
        run.session = _Session(span, context, seq=stored.seq, usage=state.usage, cost_usd=state.cost_usd)

    def _end(self, run: _Run, state: RunState, stored: StoredEvent) -> None:
        session, event = run.session, stored.event
        assert session is not None
        span = session.span
        status, reason, answer = "interrupted", None, None
        if isinstance(event, RunFinished):
            status, reason, answer = event.status, event.stop_reason, event.answer
        elif isinstance(event, StatusChanged):
            status, reason = event.status, event.reason
        span.set_attributes(_usage_attributes(_minus(state.usage, session.usage)))
        span.set_attribute("agentkit.cost_usd", max(0.0, state.cost_usd - session.cost_usd))
        span.set_attribute("agentkit.run.status", status)
        span.set_attribute("agentkit.steps", state.step)
        if reason:
            span.set_attribute("agentkit.run.stop_reason", self.scrub(reason))
        if status == "failed":
            span.set_attribute("error.type", session.errors[-1].kind if session.errors else "_OTHER")
            span.set_status(Status(StatusCode.ERROR, self.scrub(reason or "failed")))
        if self.capture and answer:
            out = [{"role": "assistant", "parts": [_content._text(answer)], "finish_reason": "stop"}]
            span.set_attribute("gen_ai.output.messages", self.scrub.json(out))
        span.end(end_time=_ns(event.ts))
        run.session = None
        self._runs.pop(run.run_id, None)  # a later resume finds its place again

    def _dead_session(
        self, run: _Run, state: RunState, start: StoredEvent, last: StoredEvent, parent: SpanContext | None
    ) -> None:
        attrs = self._agent_attributes(run, state, start.seq)
        attrs.update({"agentkit.run.status": "interrupted", "agentkit.run.stop_reason": DIED})
        if start.seq != run.sessions[0]:
            attrs["agentkit.run.resumed"] = True
        name = f"invoke_agent {run.agent_name}"
        span = self._start(name, SpanKind.INTERNAL, run, start.seq, parent, start.event.ts, attrs)
        span.end(end_time=_ns(max(last.event.ts, start.event.ts)))

    def _chat(self, run: _Run, state: RunState, stored: StoredEvent, turn: AssistantTurn, phase: str) -> None:
        model = state.config.get("model")
        requested = model if isinstance(model, str) and model else turn.model
        attrs = self._call_common(run, state)
        if requested:
            attrs["gen_ai.request.model"] = requested
        if turn.model:
            attrs["gen_ai.response.model"] = turn.model
        if turn.finish_reason:
            attrs["gen_ai.response.finish_reasons"] = [turn.finish_reason]
        attrs.update(_usage_attributes(turn.usage))
        attrs.update({"agentkit.phase": phase, "agentkit.cost_usd": turn.cost_usd, "agentkit.attempts": turn.attempts})
        if not turn.usage_reported:
            attrs["agentkit.usage_estimated"] = True
        event = stored.event
        if isinstance(event, AssistantMessage):
            attrs["agentkit.step"] = event.step
        if self.capture:
            attrs["gen_ai.output.messages"] = self.scrub.json(_content.output_messages(turn))
            new = self._new_input(state, event)
            if new is not None:
                attrs["gen_ai.input.messages"] = self.scrub.json(new)
        self._call_span(run, stored, f"chat {requested}".rstrip(), attrs)

    def _summary_call(self, run: _Run, state: RunState, stored: StoredEvent, usage: Usage) -> None:
        model = state.config.get("model")
        attrs = self._call_common(run, state)
        attrs.update(_usage_attributes(usage))
        attrs["agentkit.phase"] = "summary"
        self._call_span(run, stored, f"chat {model or ''}".rstrip(), attrs)

    def _call_span(self, run: _Run, stored: StoredEvent, name: str, attrs: Attributes) -> None:
        assert run.session is not None
        end = stored.event.ts
        span = self._start(name, SpanKind.CLIENT, run, stored.seq, run.session.context, min(run.last_ts, end), attrs)
        span.end(end_time=_ns(end))

    def _new_input(self, state: RunState, event: TraceEvent) -> list[dict[str, Any]] | None:
        """The messages added since the previous model call (the earlier ones are on earlier
        spans; the full view is the context builder's, rebuilt for every call)."""
        if isinstance(event, PlanUpdated):
            return _content.user_messages(state.task, [])
        if not isinstance(event, AssistantMessage) or not state.records or state.records[-1].event is not event:
            return None
        if len(state.records) == 1:
            return _content.user_messages(state.task, state.head_notices)
        previous = state.records[-2]
        results = [previous.results[c.id] for c in previous.event.turn.tool_calls if c.id in previous.results]
        return _content.tool_messages(results) + _content.user_messages(None, previous.notices)

    def _tool(self, run: _Run, state: RunState, stored: StoredEvent, event: ToolResultEvent) -> None:
        assert run.session is not None
        call: ToolCall | None = None
        for record in reversed(state.records):
            found = next((c for c in record.event.turn.tool_calls if c.id == event.call_id), None)
            if found is not None:
                if record.results.get(event.call_id) is not event:
                    return  # a duplicate commit the fold ignored
                call = found
                break
        attrs = self._common(run, state, "execute_tool")
        attrs.update(
            {
                "gen_ai.tool.name": event.name,
                "gen_ai.tool.call.id": event.call_id,
                "gen_ai.tool.type": "function",
                "agentkit.step": event.step,
            }
        )
        child = event.meta.get("child_run")
        if isinstance(child, str):
            attrs["agentkit.child_run"] = child
        if event.is_error:
            attrs["error.type"] = TOOL_ERROR
        if self.capture:
            if call is not None:
                attrs["gen_ai.tool.call.arguments"] = self.scrub.json(_content.tool_arguments(call))
            attrs["gen_ai.tool.call.result"] = self.scrub(event.text)
        start = min(event.ts - event.duration_s, event.ts)
        name = f"execute_tool {event.name}"
        span = self._start(name, SpanKind.INTERNAL, run, stored.seq, run.session.context, start, attrs)
        for at_s, progress in _progress(event.meta.get("progress")):
            if not self.capture:
                progress.pop(PROGRESS_MESSAGE, None)  # the tool's own words are content
            elif PROGRESS_MESSAGE in progress:
                progress[PROGRESS_MESSAGE] = self.scrub(str(progress[PROGRESS_MESSAGE]))
            span.add_event(PROGRESS_EVENT, attributes=progress, timestamp=_ns(min(start + at_s, event.ts)))
        if event.is_error:
            span.set_status(Status(StatusCode.ERROR, self.scrub(event.text[:200]) if self.capture else TOOL_ERROR))
        span.end(end_time=_ns(event.ts))


def _progress(recorded: object) -> list[tuple[float, dict[str, AttributeValue]]]:
    """A call's progress reports as the tool recorded them in its result's ``meta["progress"]``
    (``{at_s, progress, total?, message?}``): when, after the call began, and the span event's
    attributes. Anything not of that shape is skipped (a tool's meta is not trusted)."""
    out: list[tuple[float, dict[str, AttributeValue]]] = []
    for item in recorded if isinstance(recorded, list) else []:
        if not isinstance(item, dict):
            continue
        at_s, done, total = _number(item.get("at_s")), _number(item.get("progress")), _number(item.get("total"))
        if at_s is None or done is None:
            continue
        attrs: dict[str, AttributeValue] = {"agentkit.progress": done}
        if total is not None:
            attrs["agentkit.progress.total"] = total
        message = item.get("message")
        if isinstance(message, str) and message:
            attrs[PROGRESS_MESSAGE] = message[:200]
        out.append((max(0.0, at_s), attrs))
    return out


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _minus(a: Usage, b: Usage) -> Usage:
    return Usage(
        prompt_tokens=max(0, a.prompt_tokens - b.prompt_tokens),
        completion_tokens=max(0, a.completion_tokens - b.completion_tokens),
        cached_tokens=max(0, a.cached_tokens - b.cached_tokens),
        reasoning_tokens=max(0, a.reasoning_tokens - b.reasoning_tokens),
        calls=max(0, a.calls - b.calls),
    )


def _usage_attributes(usage: Usage) -> Attributes:
    return {
        "gen_ai.usage.input_tokens": usage.prompt_tokens,
        "gen_ai.usage.output_tokens": usage.completion_tokens,
        "gen_ai.usage.cache_read.input_tokens": usage.cached_tokens,
        "gen_ai.usage.reasoning.output_tokens": usage.reasoning_tokens,
    }


def _request_attributes(state: RunState) -> Attributes:
    config = state.config
    attrs: Attributes = {}
    for key, name, kind in (
        ("temperature", "gen_ai.request.temperature", float),
        ("seed", "gen_ai.request.seed", int),
        ("max_tokens", "gen_ai.request.max_tokens", int),
    ):
        value = config.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            attrs[name] = kind(value)
    return attrs
