"""A tiny OTLP/HTTP trace receiver on loopback: accepts ``POST /v1/traces`` (protobuf) and
keeps the raw bodies, decoded with opentelemetry-proto's ``ExportTraceServiceRequest``."""

from __future__ import annotations

import gzip
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from agentkit.testing._http import LoopbackService


def value_of(v: AnyValue) -> Any:
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [value_of(x) for x in v.array_value.values]
    return getattr(v, kind) if kind else None


@dataclass
class Span:
    name: str
    trace_id: int
    span_id: int
    parent_id: int | None
    kind: int
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    status_code: int
    resource: dict[str, Any] = field(default_factory=dict)
    links: list[int] = field(default_factory=list)


class OtlpReceiver(LoopbackService):
    _thread_name = "otlp-receiver"

    def __init__(self) -> None:
        super().__init__()
        self.bodies: list[bytes] = []
        self.paths: list[str] = []
        self.refused = 0
        self.refuse = False
        """Answer 400 (a collector refusing the batch: the exporter gives it up) and keep nothing."""
        self.arrived = threading.Condition()

    @property
    def endpoint(self) -> str:
        """What ``OTEL_EXPORTER_OTLP_ENDPOINT`` takes (the exporter adds ``/v1/traces``)."""
        return self.base_url.removesuffix("/v1")

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                if receiver.refuse:
                    receiver.refused += 1
                    self.send_response(400)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                with receiver.arrived:  # kept before the exporter hears back: once it has, the body is here
                    receiver.paths.append(self.path)
                    receiver.bodies.append(body)
                    receiver.arrived.notify_all()
                reply = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200 if self.path == "/v1/traces" else 404)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: object) -> None:
                pass

        return Handler

    def wait_for(self, count: int, timeout: float = 60.0) -> list[Span]:
        """Wait until ``count`` spans arrived (an export, not the clock; the timeout only
        bounds a failure) and return every span received."""
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.spans()) >= count, timeout=timeout)
        return self.spans()

    def spans(self) -> list[Span]:
        out: list[Span] = []
        for body in list(self.bodies):
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            for rs in request.resource_spans:
                resource = {a.key: value_of(a.value) for a in rs.resource.attributes}
                for ss in rs.scope_spans:
                    for s in ss.spans:
                        out.append(
                            Span(
                                name=s.name,
                                trace_id=int.from_bytes(s.trace_id, "big"),
                                span_id=int.from_bytes(s.span_id, "big"),
                                parent_id=int.from_bytes(s.parent_span_id, "big") if s.parent_span_id else None,
                                kind=s.kind,
                                start_ns=s.start_time_unix_nano,
                                end_ns=s.end_time_unix_nano,
                                attributes={a.key: value_of(a.value) for a in s.attributes},
                                status_code=s.status.code,
                                resource=resource,
                                links=[int.from_bytes(link.span_id, "big") for link in s.links],
                            )
                        )
        return out
