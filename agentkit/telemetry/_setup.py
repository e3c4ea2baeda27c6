"""The tracer provider, from the caller or from the standard ``OTEL_*`` variables.

The exporter reads its own variables (``OTLPSpanExporter()``: endpoint, headers, timeout,
compression, certificates), the batch processor its ``OTEL_BSP_*`` ones, the sampler
``OTEL_TRACES_SAMPLER``, the resource ``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES``;
``service.name`` is ``agentkit`` unless one of those names it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING

from agentkit.telemetry._env import capture_requested

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import TracerProvider

    from agentkit.telemetry._ledger import ExportLedger
    from agentkit.telemetry._spans import RunTracer

log = logging.getLogger("agentkit.telemetry")
SERVICE_NAME = "agentkit"


def make_tracer(
    provider: TracerProvider | None, *, capture_content: bool | None, secrets: Iterable[str] = ()
) -> RunTracer:
    from agentkit.telemetry._ledger import ExportLedger
    from agentkit.telemetry._spans import RunTracer

    ledger = ExportLedger()
    if provider is None:
        provider = _global_sdk_provider() or _provider_from_env(ledger)
        if provider is None:
            raise RuntimeError(
                "no tracer provider: pass tracer_provider=, or set OTEL_TRACES_EXPORTER / OTEL_EXPORTER_OTLP_ENDPOINT"
            )
    capture = capture_requested() if capture_content is None else capture_content
    return RunTracer(provider, capture_content=capture, secrets=secrets, ledger=ledger)


def tracer_from_env() -> RunTracer | None:
    """The tracer the ``OTEL_*`` variables ask for; ``None`` (and one warning) when the otel
    extra is not installed or the exporter asked for is not available."""
    try:
        import opentelemetry.sdk.trace  # noqa: F401
    except ImportError:
        log.warning(
            "OpenTelemetry variables are set but the otel extra is not installed: "
            "pip install 'agentkit[otel]' to export traces"
        )
        return None
    try:
        return make_tracer(None, capture_content=None)
    except (RuntimeError, ImportError, ValueError) as exc:
        log.warning("traces not exported: %s", exc)
        return None


def _global_sdk_provider() -> TracerProvider | None:
    """The application's own SDK provider (``opentelemetry-instrument``, or set in code)."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider as SdkProvider

    provider = trace.get_tracer_provider()
    return provider if isinstance(provider, SdkProvider) else None


def _provider_from_env(ledger: ExportLedger) -> TracerProvider | None:
    """A provider with the exporters the variables name, each telling ``ledger`` what it
    delivered (so a resumed run knows which of its spans to export again)."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider as SdkProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from agentkit.telemetry._ledger import ConfirmingExporter

    exporters = _exporters_from_env()
    if not exporters:
        return None
    resource = Resource.create({})
    if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
        resource = resource.merge(Resource({"service.name": SERVICE_NAME}))
    provider = SdkProvider(resource=resource)  # shut down (flushed) at exit
    ledger.confirms = len(exporters)
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(ConfirmingExporter(exporter, ledger)))
    return provider


def _exporters_from_env() -> list[SpanExporter]:
    names = [n.strip().lower() for n in os.environ.get("OTEL_TRACES_EXPORTER", "otlp").split(",") if n.strip()]
    exporters: list[SpanExporter] = []
    for name in names or ["otlp"]:
        if name == "none":
            return []
        if name == "console":
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter

            exporters.append(ConsoleSpanExporter())
        elif name == "otlp":
            exporters.append(_otlp_exporter())
        else:
            raise ValueError(f"OTEL_TRACES_EXPORTER={name!r} is not supported (otlp, console, none)")
    return exporters


def _otlp_exporter() -> SpanExporter:
    protocol = (
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL") or ""
    ).strip()
    if protocol == "grpc":
        try:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (  # type: ignore[import-not-found]
                OTLPSpanExporter as GrpcExporter,
            )
        except ImportError as exc:
            raise ImportError(
                "OTEL_EXPORTER_OTLP_PROTOCOL=grpc needs opentelemetry-exporter-otlp-proto-grpc "
                "(the otel extra brings http/protobuf)"
            ) from exc
        exporter: SpanExporter = GrpcExporter()
        return exporter
    if protocol not in ("", "http/protobuf"):
        raise ValueError(f"OTLP protocol {protocol!r} is not supported (http/protobuf, grpc)")
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()
