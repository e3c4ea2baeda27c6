"""What the tracer keeps of each run it follows: its sessions, the chat spans waiting for their
messages, its own fold; and the small helpers of span identity and timing."""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from opentelemetry.context import Context
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import Span, SpanContext, TraceFlags

from agentkit.store.events import ErrorEvent, RunFinished, RunStarted, StatusChanged, StoredEvent, TraceEvent
from agentkit.store.fold import RunState
from agentkit.telemetry._attributes import Attributes
from agentkit.telemetry._content import Encoded
from agentkit.telemetry._ids import span_id_of
from agentkit.telemetry._inputs import CallInputs
from agentkit.vocabulary import AssistantTurn, Usage

AGENT_NAME = "agentkit"


def ns(ts: float) -> int:
    return int(ts * 1e9)


def starts_session(event: TraceEvent) -> bool:
    return isinstance(event, RunStarted) or (isinstance(event, StatusChanged) and event.status == "running")


def ends_session(event: TraceEvent) -> bool:
    return isinstance(event, RunFinished) or (isinstance(event, StatusChanged) and event.status != "running")


class PresetIds(IdGenerator):
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
class Session:
    seq: int
    """The seq of the event that began it (its span's id)."""
    start_ts: float
    parent: SpanContext | None
    usage: Usage
    """The run's usage when the session began (the span reports what was used during it)."""
    cost_usd: float
    span: Span | None = None
    """Started when something of the session is to be exported (a span of a session whose
    spans another process exported is never made again)."""
    context: Context | None = None
    errors: list[ErrorEvent] = field(default_factory=list)


@dataclass
class Call:
    """A chat span to make: now, or once the run's call messages can be rebuilt."""

    stored: StoredEvent
    turn: AssistantTurn
    phase: str
    parent: Context
    start: float
    records: int
    """Turns of the fold when the call was made (the fold then: these and the budget decisions)."""
    budget: int


@dataclass
class FollowedRun:
    run_id: str
    trace_id: int
    parent_id: str | None
    label: str | None
    made_after: int
    """Spans of events after this seq are made here (earlier ones were exported before)."""
    parents: dict[int, SpanContext | None]
    """The parent run's session open when each session of this run began (by its start seq)."""
    parent_now: SpanContext | None
    fold: RunState
    """The run's state up to the last event turned into spans (its own fold: events are taken in seq order)."""
    applied: int = 0
    early: dict[int, StoredEvent] = field(default_factory=dict)
    """Events told before one with a lower seq (concurrent commits), waiting for it."""
    last_ts: float = 0.0
    """The latest event of the run or of a run under it: when its next model call began."""
    own_ts: float = 0.0
    """The run's own latest event (where a session whose process died ends)."""
    sessions: list[int] = field(default_factory=list)
    """Seqs of the events that began the run's sessions, oldest first."""
    session: Session | None = None
    ended: bool = False
    """A session ended during the current observer call."""
    calls: list[Call] = field(default_factory=list)
    """Chat spans waiting for the run's call messages (content on, a resumed run's history)."""
    base: Attributes | None = None
    """Attributes every span of the run has (from its configuration, which does not change)."""
    server: Attributes | None = None
    """And those of its model calls (the server)."""
    encoded: Encoded = field(default_factory=dict)
    """The messages of its latest call, encoded (content on)."""

    @property
    def agent_name(self) -> str:
        return self.label if self.parent_id and self.label else AGENT_NAME


def weak(inputs: CallInputs) -> Callable[[], CallInputs | None]:
    """A reference that does not keep the run loop alive (a bound method's object)."""
    if inspect.ismethod(inputs):
        return weakref.WeakMethod(inputs)
    return lambda: inputs


def session_at(trace_id: int, run_id: str, starts: list[tuple[int, float]], at: float) -> SpanContext | None:
    """The span of the session of ``run_id`` (its starts: seq and time) open at time ``at``."""
    before = [seq for seq, ts in starts if ts <= at]
    if not before:
        return None
    flags = TraceFlags(TraceFlags.SAMPLED)
    return SpanContext(trace_id, span_id_of(run_id, before[-1]), is_remote=True, trace_flags=flags)


def server_attributes(base_url: object) -> Attributes:
    if not isinstance(base_url, str) or not base_url:
        return {}
    try:
        parts = urlsplit(base_url)
        host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return {}
    return {"server.address": host, "server.port": port} if host else {}
