"""What the standard ``OTEL_*`` variables ask of agentkit's traces (no opentelemetry import)."""

from __future__ import annotations

import os
from collections.abc import Mapping

CAPTURE_CONTENT_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
_ENDPOINT_VARS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_TRACES_EXPORTER")
_CAPTURE_ON = {"true", "1", "yes", "on", "span_only", "span_and_event"}


def tracing_requested(env: Mapping[str, str]) -> bool:
    """Whether the ``OTEL_*`` variables ask for traces (an exporter or endpoint named, the SDK
    not disabled, the exporter not ``none``)."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if env.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none":
        return False
    return any(env.get(name, "").strip() for name in _ENDPOINT_VARS)


def capture_requested(env: Mapping[str, str] = os.environ) -> bool:
    """``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` is on (``true``; ``SPAN_ONLY`` and
    ``SPAN_AND_EVENT`` as the newer GenAI instrumentations spell it)."""
    return env.get(CAPTURE_CONTENT_ENV, "").strip().lower() in _CAPTURE_ON
