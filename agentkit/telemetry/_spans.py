"""Spans from a run's committed trace events, in the OpenTelemetry GenAI conventions.

- ``invoke_agent {agent}`` (INTERNAL): one per *session* of a run, i.e. from its
  ``RunStarted`` (or the ``StatusChanged(running)`` of a resume) to its ``RunFinished`` or
  ``StatusChanged(interrupted)``; its span id is that start event's. A session whose process
  died without recording its end ends at its last event (made by the next session's start). A
  child run's (heavy trajectory, delegated sub-agent) sessions are children of the parent
  run's session that was open when they began.
- ``chat {model}`` (CLIENT): a model call, from the run's previous event (the loop commits
  what precedes a call right before it, so the call began then) to its turn's commit. Its
  request attributes are the settings the request was sent with (the turn's ``request``:
  only what was sent), ``gen_ai.response.id`` the provider's; with content on, the messages
  the call sent, its system message first (rebuilt by the run layer from the fold as it was
  then, :func:`agentkit.telemetry.describe_calls`), and the answer.
- ``execute_tool {tool}`` (INTERNAL): from the result's commit minus its measured duration;
  the call's progress reports (an MCP server's notifications, recorded with the result in
  its ``meta["progress"]``, each with its time since the call began) are its span events.

Ids derive from (root run id) and (run id, event seq), so every process that follows a run
names its spans alike: a process makes the spans of the run's events past the run's
*watermark* (:mod:`agentkit.telemetry._ledger`), those another process made but never got
exported (a SIGKILL, a collector that was down) included.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from importlib import metadata

import anyio
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import Link, NonRecordingSpan, Span, SpanContext, SpanKind, Status, StatusCode

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
)
from agentkit.store.fold import RunState
from agentkit.telemetry import _content as content
from agentkit.telemetry._attributes import (
    PROGRESS_MESSAGE,
    Attributes,
    minus,
    progress_reports,
    request_attributes,
    summary_turn,
    usage_attributes,
)
from agentkit.telemetry._ids import span_id_of, trace_id_of
from agentkit.telemetry._inputs import CallInputs
from agentkit.telemetry._ledger import ExportLedger
from agentkit.telemetry._state import (
    Call,
    FollowedRun,
    PresetIds,
    Session,
    ends_session,
    ns,
    server_attributes,
    session_at,
    starts_session,
    weak,
)
from agentkit.vocabulary import AssistantTurn, ToolCall

log = logging.getLogger("agentkit.telemetry")
SCOPE = "agentkit"
SCHEMA_URL = "https://opentelemetry.io/schemas/1.41.0"
PROVIDERS = {"moonshot": "moonshot_ai", "openai": "openai", "vertex": "gcp.vertex_ai"}
"""agentkit's provider profiles by their GenAI ``gen_ai.provider.name`` (others: the profile name)."""
TOOL_ERROR = "tool_error"
PROGRESS_EVENT = "agentkit.tool.progress"
"""A span event on ``execute_tool``: a progress report of the running call (``agentkit.progress``,
``agentkit.progress.total``; its message as ``agentkit.progress.message`` when content is captured)."""
DIED = "the process ended without recording the run's end (a crash or a kill); resumed later"
FLUSH_S = 2.0
"""How long the end of a session waits for the spans it made to be exported (then counted)."""


class RunTracer:
    """Turns committed events into spans (a :data:`agentkit.telemetry.RunObserver`)."""

    def __init__(
        self,
        provider: trace.TracerProvider,
        *,
        capture_content: bool = False,
        secrets: Iterable[str] = (),
        ledger: ExportLedger | None = None,
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
        if not isinstance(generator, PresetIds):
            generator = PresetIds(generator)
            self._tracer.id_generator = generator  # type: ignore[attr-defined]
        self._ids = generator
        self._lock = threading.Lock()
        self._runs: dict[str, FollowedRun] = {}
        self._inputs: dict[str, Callable[[], CallInputs | None]] = {}
        self.ledger = ledger or ExportLedger()
        self.capture = capture_content
        self.scrub = Redactor(secrets)
        self.encode = content.Encoder(self.scrub)
        self._warned = False

    def describe_calls(self, run_id: str, inputs: CallInputs) -> None:
        if self.capture:
            self._inputs[run_id] = weak(inputs)

    async def __call__(self, store: Store, state: RunState, events: Sequence[StoredEvent]) -> None:
        if not events:
            return
        try:
            run = self._runs.get(state.run_id)
            if run is None:
                run = await self._open(store, state.run_id, events[0])
            self._make_calls(run)
            for stored in events:
                self._arrive(run, stored)
            if run.early:
                await self._fill_gaps(store, run)
            if run.ended and run.session is None and self._runs.get(run.run_id) is run:
                self._drop(run)
                await self._flush()
                await self.ledger.save()
            else:
                run.ended = False
                await self.ledger.save([run.run_id])
        except Exception as exc:  # tracing never breaks a run (nor prints a traceback to a CLI user)
            self._failed(exc)

    def _failed(self, exc: Exception) -> None:
        if not self._warned:
            self._warned = True
            log.warning("agentkit: a trace span could not be made (%s: %s); tracing goes on", type(exc).__name__, exc)
        log.debug("trace span failure", exc_info=exc)

    def flush(self, timeout_millis: int = 30_000) -> bool:
        """Export what the provider holds now; with a provider of the caller's, the spans made
        so far count as exported once it is done."""
        flush = getattr(self.provider, "force_flush", None)
        if flush is None:
            return True
        made = None if self.ledger.confirms else self.ledger.pending_ids()
        done = bool(flush(timeout_millis))
        if done and made:
            self.ledger.exported(made)
        return done

    async def _flush(self) -> None:
        with anyio.move_on_after(FLUSH_S):
            await anyio.to_thread.run_sync(self.flush, int(FLUSH_S * 1000), abandon_on_cancel=True)

    # -- finding a run's place in its trace (the only awaits: before its events are taken) ---

    async def _open(self, store: Store, run_id: str, first: StoredEvent) -> FollowedRun:
        info = await store.get_run(run_id)
        trace_id = await self._trace_of(store, info.id, info.parent_id)
        fresh = isinstance(first.event, RunStarted) and first.seq == 1
        made_after = await self.ledger.open(store, run_id, fresh=fresh)
        history = [] if fresh else await store.events(run_id)
        parents: dict[int, SpanContext | None] = {}
        parent_now = None
        if info.parent_id is not None:
            parent_now = await self._session_of(store, info.parent_id, trace_id, first.event.ts)
            earlier = [s for s in history if starts_session(s.event) and s.seq < first.seq]
            if earlier:
                starts = await self._starts_of(store, info.parent_id)
                for s in earlier:
                    parents[s.seq] = session_at(trace_id, info.parent_id, starts, s.event.ts)
        if run_id in self._runs:  # opened by a concurrent commit meanwhile
            return self._runs[run_id]
        run = FollowedRun(
            run_id=run_id,
            trace_id=trace_id,
            parent_id=info.parent_id,
            label=info.label,
            made_after=made_after,
            parents=parents,
            parent_now=parent_now,
            fold=RunState(run_id=run_id),
        )
        self._runs[run_id] = run
        for stored in history:  # what the run did before: spans of what was never exported
            self._arrive(run, stored)
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

    async def _starts_of(self, store: Store, run_id: str) -> list[tuple[int, float]]:
        return [(s.seq, s.event.ts) for s in await store.events(run_id) if starts_session(s.event)]

    async def _session_of(self, store: Store, run_id: str, trace_id: int, at: float) -> SpanContext | None:
        """The span of ``run_id``'s session open at time ``at``: the one open in this process
        when there is one."""
        known = self._runs.get(run_id)
        if known is not None and known.session is not None:
            return self._span_of(known, known.session).get_span_context()
        return session_at(trace_id, run_id, await self._starts_of(store, run_id), at)

    async def _fill_gaps(self, store: Store, run: FollowedRun) -> None:
        """Events were told out of order: take the run's events from the store, in order."""
        for stored in await store.events(run.run_id, after=run.applied):
            if stored.seq > run.applied:
                run.early.pop(stored.seq, None)
                self._process(run, stored)
        for seq in sorted(run.early):
            stored = run.early.pop(seq)
            if seq > run.applied:
                self._process(run, stored)

    # -- events to spans (synchronous) -------------------------------------------------------

    def _arrive(self, run: FollowedRun, stored: StoredEvent) -> None:
        if stored.seq <= run.applied:
            return  # taken already (with the history, or from the store)
        if stored.seq != run.applied + 1:
            run.early[stored.seq] = stored
            return
        self._process(run, stored)
        while run.applied + 1 in run.early:
            self._process(run, run.early.pop(run.applied + 1))

    def _process(self, run: FollowedRun, stored: StoredEvent) -> None:
        event = stored.event
        run.fold.apply(event, stored.seq)
        run.applied = stored.seq
        make = stored.seq > run.made_after
        try:
            if starts_session(event):
                if run.session is not None:  # the previous session has no end: its process died
                    self._close(run, stored, make, died=True)
                self._begin(run, stored, make)
            elif run.session is not None:
                if isinstance(event, AssistantMessage):
                    self._chat(run, stored, event.turn, "execute", make)
                elif isinstance(event, PlanUpdated | Aggregated) and event.turn is not None:
                    self._chat(run, stored, event.turn, "plan" if isinstance(event, PlanUpdated) else "aggregate", make)
                elif isinstance(event, BudgetDecision) and isinstance(event.detail.get("usage"), dict):
                    # the context builder's summary call (its usage, and what the call was, in the decision)
                    self._chat(run, stored, summary_turn(event.detail), "summary", make)
                elif isinstance(event, ToolResultEvent):
                    self._tool(run, stored, event, make)
                elif isinstance(event, ErrorEvent):
                    run.session.errors.append(event)
                elif ends_session(event):
                    self._close(run, stored, make, died=False)
        except Exception as exc:  # one span that cannot be made: the others still are
            self._failed(exc)
        run.own_ts = event.ts
        self._touch(run, event.ts)
        self.ledger.seen(run.run_id, stored.seq)

    def _touch(self, run: FollowedRun, ts: float) -> None:
        seen: set[str] = set()
        current: FollowedRun | None = run
        while current is not None and current.run_id not in seen:
            seen.add(current.run_id)
            current.last_ts = max(current.last_ts, ts)
            current = self._runs.get(current.parent_id) if current.parent_id else None

    def _drop(self, run: FollowedRun) -> None:
        """The run's session is over: what waits is made now, and the run is forgotten (a
        later event of it finds its place again)."""
        self._make_calls(run, force=True)
        self._runs.pop(run.run_id, None)
        self._inputs.pop(run.run_id, None)
        self.ledger.close(run.run_id)

    def _start(
        self,
        name: str,
        kind: SpanKind,
        run: FollowedRun,
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
                    name, context=context, kind=kind, attributes=attributes, links=links, start_time=ns(start)
                )
            finally:
                self._ids.trace_id = self._ids.span_id = None

    def _common(self, run: FollowedRun, operation: str) -> Attributes:
        if run.base is None:
            config = run.fold.config
            run.base = {"gen_ai.conversation.id": run.run_id}
            provider = config.get("provider")
            if isinstance(provider, str) and provider:
                run.base["gen_ai.provider.name"] = PROVIDERS.get(provider, provider)
        return {"gen_ai.operation.name": operation, **run.base}

    def _agent_attributes(self, run: FollowedRun, seq: int) -> Attributes:
        config = run.fold.config
        attrs = self._common(run, "invoke_agent")
        attrs.update(
            {"gen_ai.agent.name": run.agent_name, "gen_ai.agent.id": run.run_id, "agentkit.run.id": run.run_id}
        )
        model = config.get("model")
        if isinstance(model, str) and model:
            attrs["gen_ai.request.model"] = model
        if run.parent_id:
            attrs["agentkit.run.parent_id"] = run.parent_id
        if run.label:
            attrs["agentkit.run.label"] = run.label
        heavy = config.get("heavy")
        if isinstance(heavy, int) and heavy > 1:
            attrs["agentkit.ensembles.heavy.trajectories"] = heavy
        attrs["agentkit.run.session"] = run.sessions.index(seq) + 1 if seq in run.sessions else 1
        return attrs

    # -- sessions ----------------------------------------------------------------------------

    def _begin(self, run: FollowedRun, stored: StoredEvent, make: bool) -> None:
        if stored.seq not in run.sessions:
            run.sessions.append(stored.seq)
        parent = run.parents.get(stored.seq, run.parent_now)
        fold = run.fold
        run.session = Session(stored.seq, stored.event.ts, parent, usage=fold.usage, cost_usd=fold.cost_usd)
        if make:
            self._span_of(run, run.session)

    def _span_of(self, run: FollowedRun, session: Session) -> Span:
        """The session's span, started now if it was not yet (with its own start time)."""
        if session.span is None:
            earlier = [s for s in run.sessions if s < session.seq]
            links = (
                [Link(SpanContext(run.trace_id, span_id_of(run.run_id, earlier[-1]), is_remote=True))]
                if earlier
                else []
            )
            attrs = self._agent_attributes(run, session.seq)
            if earlier:
                attrs["agentkit.run.resumed"] = True
            if self.capture:
                system = run.fold.config.get("system_prompt")
                if isinstance(system, str):
                    attrs["gen_ai.system_instructions"] = self.encode.json([content.text_part(system)])
                attrs["gen_ai.input.messages"] = self.encode.json(content.user_messages(run.fold.task, []))
            name, seq = f"invoke_agent {run.agent_name}", session.seq
            span = self._start(name, SpanKind.INTERNAL, run, seq, session.parent, session.start_ts, attrs, links)
            session.span, session.context = span, trace.set_span_in_context(span, Context())
        return session.span

    def _context_of(self, run: FollowedRun) -> Context:
        assert run.session is not None
        self._span_of(run, run.session)
        assert run.session.context is not None
        return run.session.context

    def _close(self, run: FollowedRun, stored: StoredEvent, make: bool, *, died: bool) -> None:
        session, event, fold = run.session, stored.event, run.fold
        assert session is not None
        run.session, run.ended = None, True
        if not make:
            return  # its span was exported before
        span = self._span_of(run, session)
        status, reason, answer = "interrupted", DIED if died else None, None
        if isinstance(event, RunFinished) and not died:
            status, reason, answer = event.status, event.stop_reason, event.answer
        elif isinstance(event, StatusChanged) and not died:
            status, reason = event.status, event.reason
        span.set_attributes(usage_attributes(minus(fold.usage, session.usage)))
        span.set_attribute("agentkit.cost_usd", max(0.0, fold.cost_usd - session.cost_usd))
        span.set_attribute("agentkit.run.status", status)
        span.set_attribute("agentkit.steps", fold.step)
        if reason:
            span.set_attribute("agentkit.run.stop_reason", self.scrub(reason))
        if status == "failed":
            span.set_attribute("error.type", session.errors[-1].kind if session.errors else "_OTHER")
            span.set_status(Status(StatusCode.ERROR, self.scrub(reason or "failed")))
        if self.capture and answer:
            out = [{"role": "assistant", "parts": [content.text_part(answer)], "finish_reason": "stop"}]
            span.set_attribute("gen_ai.output.messages", self.encode.json(out))
        end = run.own_ts if died else event.ts
        span.end(end_time=ns(max(end, session.start_ts)))
        self.ledger.made(run.run_id, span, stored.seq)

    # -- model calls -------------------------------------------------------------------------

    def _chat(self, run: FollowedRun, stored: StoredEvent, turn: AssistantTurn, phase: str, make: bool) -> None:
        if not make:
            return
        event, fold = stored.event, run.fold
        # the fold when the call was made: without the event it made (a turn, a prune's decision)
        turns = len(fold.records) - (1 if isinstance(event, AssistantMessage) else 0)
        decisions = len(fold.budget) - (1 if isinstance(event, BudgetDecision) else 0)
        start = min(run.last_ts or event.ts, event.ts)
        call = Call(stored, turn, phase, self._context_of(run), start, turns, decisions)
        rebuilt = isinstance(event, AssistantMessage | BudgetDecision) or (
            isinstance(event, PlanUpdated) and event.reason == "initial"
        )
        if self.capture and rebuilt and self._inputs_of(run.run_id) is None:
            run.calls.append(call)  # its messages are rebuilt once the run layer says how
            self.ledger.hold(run.run_id, stored.seq)
            return
        self._make_call(run, call, self._inputs_of(run.run_id) if self.capture else None)

    def _inputs_of(self, run_id: str) -> CallInputs | None:
        ref = self._inputs.get(run_id)
        return ref() if ref is not None else None

    def _make_calls(self, run: FollowedRun, *, force: bool = False) -> None:
        """Make the chat spans that waited for the run's call messages (``force``: without them)."""
        if not run.calls:
            return
        inputs = self._inputs_of(run.run_id)
        if inputs is None and not force:
            return
        calls, run.calls = run.calls, []
        for call in calls:
            try:
                self._make_call(run, call, inputs)
            except Exception as exc:
                self._failed(exc)
            finally:
                self.ledger.release(run.run_id, call.stored.seq)

    def _make_call(self, run: FollowedRun, call: Call, inputs: CallInputs | None) -> None:
        turn, event = call.turn, call.stored.event
        attrs = self._call_attributes(run, turn, call.phase)
        if isinstance(event, AssistantMessage):
            attrs["agentkit.step"] = event.step
        if self.capture:
            if call.phase != "summary":  # a summary's answer is kept as the prune's summary, not as a turn
                attrs["gen_ai.output.messages"] = self.encode.json(content.output_messages(turn))
            attrs.update(self._inputs_attributes(run, call, inputs))
        name = f"chat {attrs.get('gen_ai.request.model') or turn.model}".rstrip()
        self._call_span(run, call.stored, name, attrs, call.parent, call.start)

    def _inputs_attributes(self, run: FollowedRun, call: Call, inputs: CallInputs | None) -> Attributes:
        """``gen_ai.input.messages``: what the call sent, its system message included (a
        chat-completions request carries its instructions in the history, which the conventions
        record there, not in ``gen_ai.system_instructions``)."""
        if inputs is None:
            return {}
        fold = run.fold
        then = dataclasses.replace(fold, records=fold.records[: call.records], budget=fold.budget[: call.budget])
        try:
            messages = inputs(then, call.stored.event)
        except Exception as exc:  # the run layer could not rebuild them: the span goes without
            self._failed(exc)
            return {}
        if messages is None:
            return {}
        return {"gen_ai.input.messages": self.encode.inputs(messages, run.encoded)}

    def _call_attributes(self, run: FollowedRun, turn: AssistantTurn, phase: str) -> Attributes:
        if run.server is None:
            run.server = server_attributes(run.fold.config.get("base_url"))
        attrs = {**self._common(run, "chat"), **run.server}
        if turn.request:
            attrs.update(request_attributes(turn.request, self.scrub))
        else:  # a turn recorded without its request (a scripted model, an older trace)
            model = run.fold.config.get("model")
            if isinstance(model, str) and model:
                attrs["gen_ai.request.model"] = model
        if turn.response_id:
            attrs["gen_ai.response.id"] = self.scrub(turn.response_id)
        if turn.model:
            attrs["gen_ai.response.model"] = turn.model
        if turn.finish_reason:
            attrs["gen_ai.response.finish_reasons"] = [turn.finish_reason]
        attrs.update(usage_attributes(turn.usage))
        attrs.update({"agentkit.phase": phase, "agentkit.cost_usd": turn.cost_usd, "agentkit.attempts": turn.attempts})
        if not turn.usage_reported:
            attrs["agentkit.usage_estimated"] = True
        return attrs

    def _call_span(
        self, run: FollowedRun, stored: StoredEvent, name: str, attrs: Attributes, parent: Context, start: float
    ) -> None:
        span = self._start(name, SpanKind.CLIENT, run, stored.seq, parent, start, attrs)
        span.end(end_time=ns(stored.event.ts))
        self.ledger.made(run.run_id, span, stored.seq)

    # -- tool calls --------------------------------------------------------------------------

    def _tool(self, run: FollowedRun, stored: StoredEvent, event: ToolResultEvent, make: bool) -> None:
        call: ToolCall | None = None
        for record in reversed(run.fold.records):
            found = next((c for c in record.event.turn.tool_calls if c.id == event.call_id), None)
            if found is not None:
                if record.results.get(event.call_id) is not event:
                    return  # a duplicate commit the fold ignored
                call = found
                break
        if not make:
            return
        attrs = self._common(run, "execute_tool")
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
                attrs["gen_ai.tool.call.arguments"] = self.encode.json(content.tool_arguments(call))
            attrs["gen_ai.tool.call.result"] = self.scrub(event.text)
        start = min(event.ts - event.duration_s, event.ts)
        name = f"execute_tool {event.name}"
        span = self._start(name, SpanKind.INTERNAL, run, stored.seq, self._context_of(run), start, attrs)
        for at_s, progress in progress_reports(event.meta.get("progress")):
            if not self.capture:
                progress.pop(PROGRESS_MESSAGE, None)  # the tool's own words are content
            elif PROGRESS_MESSAGE in progress:
                progress[PROGRESS_MESSAGE] = self.scrub(str(progress[PROGRESS_MESSAGE]))
            span.add_event(PROGRESS_EVENT, attributes=progress, timestamp=ns(min(start + at_s, event.ts)))
        if event.is_error:
            span.set_status(Status(StatusCode.ERROR, self.scrub(event.text[:200]) if self.capture else TOOL_ERROR))
        span.end(end_time=ns(event.ts))
        self.ledger.made(run.run_id, span, stored.seq)
