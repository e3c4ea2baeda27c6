"""OpenTelemetry traces of runs, made from their trace events (GenAI semantic conventions).

A run's spans come from the events it commits (:class:`agentkit.run._runs.RunBook` tells the
observers here after each commit), so a resumed run continues the same trace: the trace id
derives from the root run's id and each span id from (run id, event seq); start and end
times are the events' own. ``invoke_agent`` for each stretch of a run in one process (one
span from its start or resume to its end or interruption), ``chat`` for each model call,
``execute_tool`` for each tool call; heavy trajectories and delegated sub-agents are child
spans of their parent run's span.

A span is exported at least once: the store keeps, per run, up to which event every span was
confirmed exported, and a process that resumes the run exports again (same ids) the spans of
the events after it, those a killed process held in its batch included.

On when the ``otel`` extra is installed and ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` or ``OTEL_TRACES_EXPORTER``) is set, configured by
the standard ``OTEL_*`` variables; or after :func:`instrument`. Off, it costs one check per
committed event and imports no opentelemetry. Message and tool content is recorded only with
``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true``, and every recorded string is
scrubbed of credentials first.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from agentkit.telemetry._env import CAPTURE_CONTENT_ENV, tracing_requested
from agentkit.telemetry._inputs import CallInputs

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

    from agentkit.store.base import Store
    from agentkit.store.events import StoredEvent
    from agentkit.store.fold import RunState

RunObserver = Callable[["Store", "RunState", "Sequence[StoredEvent]"], Awaitable[None]]
"""Told of events right after a run committed them: (store, the run's fold, the events)."""

_active: RunObserver | None = None
_env_checked = False


def run_observers() -> tuple[RunObserver, ...]:
    """Who is told of committed events: the tracer set by :func:`instrument`, else one the
    ``OTEL_*`` variables ask for (looked at once per process, at the first commit)."""
    global _active, _env_checked
    if not _env_checked:
        _env_checked = True
        if _active is None and tracing_requested(os.environ):
            from agentkit.telemetry._setup import tracer_from_env

            _active = tracer_from_env()
    return (_active,) if _active is not None else ()


def describe_calls(run_id: str, inputs: CallInputs) -> None:
    """How to rebuild the messages of ``run_id``'s model calls, for their chat spans'
    ``gen_ai.input.messages`` (kept while the run is traced; a no-op when traces or message
    content are off). The caller is kept alive by nothing here (a bound method is held weakly)."""
    describe = getattr(_active, "describe_calls", None)
    if describe is not None:
        describe(run_id, inputs)


def instrument(
    tracer_provider: TracerProvider | None = None,
    *,
    capture_content: bool | None = None,
    secrets: Iterable[str] = (),
) -> None:
    """Trace every run of this process with ``tracer_provider`` (an SDK ``TracerProvider``;
    default: the global one when it is the SDK's, else one configured from ``OTEL_*``).

    ``capture_content``: record messages and tool arguments and results (default: the
    ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` variable). ``secrets``: strings
    to mask wherever they appear, besides the keys agentkit read itself and the values of
    secret-named environment variables (they are registered: masked in traces, reports and
    logs too, see :func:`agentkit._redact.register_secret`)."""
    global _active, _env_checked
    from agentkit.telemetry._setup import make_tracer

    _active = make_tracer(tracer_provider, capture_content=capture_content, secrets=secrets)
    _env_checked = True


def force_flush(timeout_millis: int = 30_000) -> bool:
    """Export the spans waiting in the batch processor now (they are at exit anyway); for
    long-lived processes, notebooks. ``True`` when done (or nothing is traced)."""
    flush = getattr(_active, "flush", None)
    return bool(flush(timeout_millis)) if flush is not None else True


def uninstrument() -> None:
    """Stop tracing runs (spans of runs still open are not exported)."""
    global _active, _env_checked
    _active = None
    _env_checked = True


__all__ = [
    "CAPTURE_CONTENT_ENV",
    "CallInputs",
    "RunObserver",
    "describe_calls",
    "force_flush",
    "instrument",
    "run_observers",
    "tracing_requested",
    "uninstrument",
]
