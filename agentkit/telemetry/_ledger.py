"""Which spans of a run reached the exporter, and the run's *watermark* kept in the store.

A run's spans are made from its committed events (each span by one event: a model call's and a
tool's by their own, a session's ``invoke_agent`` by the event that ends it, or by the next
session's start when its process died). The watermark is a seq such that every span made by
the run's events up to it was exported. A process that resumes the run makes again, with the
same ids, the spans of the events after it: so a span is exported at least once whatever dies
when (a SIGKILL drops the batch processor's queue; an exporter that fails keeps the watermark
where it was). A span exported but not yet counted when its process died is exported twice,
with the same ids and the same content (made from the same events), which a backend keying
spans by id keeps once.

"Exported" means confirmed: by the exporters agentkit wraps (the providers it configures from
the ``OTEL_*`` variables: :class:`ConfirmingExporter`, ``SUCCESS`` only); with a provider of
the caller's, whose exporters agentkit does not see, by a flush of that provider (export was
attempted). The watermark is written with the store's keyed cache, from the event loop (the
exporter reports from its own thread).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import Span

from agentkit.store.base import Store

log = logging.getLogger("agentkit.telemetry")
NAMESPACE = "agentkit.telemetry"
"""The store's keyed-cache namespace of the watermarks (key ``exported:RUN_ID``, value the seq)."""


def _key(run_id: str) -> str:
    return f"exported:{run_id}"


@dataclass
class _RunLedger:
    store: Store
    saved: int
    """The watermark in the store (as read, or last written)."""
    seen: int
    """Every event up to this seq has been turned into spans in this process."""
    pending: dict[int, int] = field(default_factory=dict)
    """Span id -> seq of the event that made it: made, not confirmed yet."""
    held: Counter[int] = field(default_factory=Counter)
    """Seqs of events whose spans wait to be made (a call's messages not yet rebuilt)."""
    open: bool = True
    """A tracer is following the run (its entry stays while it does)."""
    low: int | None = None
    """The lowest seq that made a span waiting (pending or held), when known (``None``: to be
    found again: a confirmation or a release may have removed it)."""

    def watermark(self) -> int:
        if self.low is None:
            waiting = [*self.pending.values(), *self.held]
            self.low = min(waiting) if waiting else 0
        if not self.low:
            return max(self.saved, self.seen)
        return max(self.saved, min(self.low - 1, self.seen))

    def waits(self, seq: int) -> None:
        if self.low is not None and (not self.low or seq < self.low):
            self.low = seq


@dataclass
class _Owner:
    run_id: str
    left: int
    """Confirmations still expected (one per exporter)."""


class ExportLedger:
    """The spans made and confirmed, per run. ``confirms``: how many exporters confirm each
    span (those agentkit wrapped); 0 when the provider is the caller's (a flush confirms)."""

    def __init__(self, confirms: int = 0) -> None:
        self.confirms = confirms
        self._lock = threading.Lock()
        self._runs: dict[str, _RunLedger] = {}
        self._owners: dict[int, _Owner] = {}

    async def open(self, store: Store, run_id: str, *, fresh: bool) -> int:
        """Start following ``run_id``: the seq after which its events' spans are to be made
        (the stored watermark, or what this process already made). ``fresh``: a run that
        starts now (nothing stored to read)."""
        entry = self._runs.get(run_id)
        if entry is None:
            saved = 0 if fresh else _parse(await store.get_cached(NAMESPACE, _key(run_id)))
            entry = self._runs.get(run_id)  # opened by a concurrent commit meanwhile
            if entry is None:
                entry = self._runs[run_id] = _RunLedger(store, saved, saved)
        entry.open = True
        return max(entry.seen, entry.saved)

    def close(self, run_id: str) -> None:
        """No tracer follows the run any more (its entry goes once it has nothing to tell)."""
        entry = self._runs.get(run_id)
        if entry is not None:
            entry.open = False

    def seen(self, run_id: str, seq: int) -> None:
        entry = self._runs.get(run_id)
        if entry is not None:
            entry.seen = max(entry.seen, seq)

    def made(self, run_id: str, span: Span, seq: int) -> None:
        """``span`` (ended) was made by event ``seq``; a span the sampler dropped is never
        exported and counts as done."""
        context = span.get_span_context()
        entry = self._runs.get(run_id)
        if entry is None or not context.trace_flags.sampled:
            return
        with self._lock:
            entry.pending[context.span_id] = seq
            entry.waits(seq)
            self._owners[context.span_id] = _Owner(run_id, max(1, self.confirms))

    def hold(self, run_id: str, seq: int) -> None:
        entry = self._runs.get(run_id)
        if entry is not None:
            with self._lock:
                entry.held[seq] += 1
                entry.waits(seq)

    def release(self, run_id: str, seq: int) -> None:
        entry = self._runs.get(run_id)
        if entry is not None:
            with self._lock:
                entry.held[seq] -= 1
                if entry.held[seq] <= 0:
                    del entry.held[seq]
                    entry.low = None

    def exported(self, span_ids: Iterable[int]) -> None:
        """These spans reached the collector (any thread)."""
        with self._lock:
            for span_id in span_ids:
                owner = self._owners.get(span_id)
                if owner is None:
                    continue
                owner.left -= 1
                if owner.left > 0:  # another exporter has yet to deliver it
                    continue
                del self._owners[span_id]
                entry = self._runs.get(owner.run_id)
                if entry is not None and entry.pending.pop(span_id, None) == entry.low:
                    entry.low = None

    def pending_ids(self) -> list[int]:
        with self._lock:
            return list(self._owners)

    def watermark(self, run_id: str) -> int | None:
        entry = self._runs.get(run_id)
        if entry is None:
            return None
        with self._lock:
            return entry.watermark()

    async def save(self, run_ids: Sequence[str] | None = None) -> None:
        """Write the watermarks that moved (of ``run_ids``, default every run's), and forget
        runs nobody follows whose every span is counted."""
        for run_id in list(self._runs) if run_ids is None else run_ids:
            entry = self._runs.get(run_id)
            if entry is None:
                continue
            with self._lock:
                mark = entry.watermark()
            if mark > entry.saved:
                try:
                    await entry.store.put_cached(NAMESPACE, _key(run_id), str(mark).encode())
                except Exception:  # its store is closed or gone: a later process exports again
                    if entry.open:
                        raise
                    log.debug("watermark of run %s not written", run_id, exc_info=True)
                    self._runs.pop(run_id, None)
                    continue
                entry.saved = max(entry.saved, mark)
            with self._lock:
                done = not entry.open and not entry.pending and not entry.held and entry.saved >= entry.seen
            if done:
                self._runs.pop(run_id, None)


def _parse(raw: bytes | None) -> int:
    try:
        return max(0, int(raw or b"0"))
    except ValueError:
        return 0


class ConfirmingExporter(SpanExporter):
    """An exporter that tells the ledger which spans it delivered (``SUCCESS`` only)."""

    def __init__(self, exporter: SpanExporter, ledger: ExportLedger) -> None:
        self.exporter, self.ledger = exporter, ledger

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = self.exporter.export(spans)
        if result is SpanExportResult.SUCCESS:
            self.ledger.exported(s.context.span_id for s in spans if s.context is not None)
        return result

    def shutdown(self) -> None:
        self.exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.exporter.force_flush(timeout_millis)
