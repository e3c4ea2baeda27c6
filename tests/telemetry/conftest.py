from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentkit import telemetry


class Spans:
    """Spans exported by an in-memory exporter, on a provider agentkit traces runs with."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider(shutdown_on_exit=False)
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))

    def instrument(self, **kw: object) -> None:
        telemetry.instrument(tracer_provider=self.provider, **kw)  # type: ignore[arg-type]

    @property
    def all(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def named(self, prefix: str) -> list[ReadableSpan]:
        return [s for s in self.all if s.name.startswith(prefix)]


@pytest.fixture
def spans() -> Iterator[Spans]:
    s = Spans()
    s.instrument()
    try:
        yield s
    finally:
        telemetry.uninstrument()
        s.provider.shutdown()
