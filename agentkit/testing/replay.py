"""Serve recorded provider responses verbatim over real HTTP on loopback.

A recording is a body file (``NAME.json``, ``NAME.sse``, ``NAME.txt``) and a sidecar
``NAME.meta.json`` that says where it comes from and how it was served::

    {"body": "NAME.sse", "status": 200, "content_type": "text/event-stream",
     "headers": {"retry-after": "1"}, "source": "owner/repo path@commit or URL",
     "provider": "moonshot", "model": "kimi-k2-thinking", "kind": "stream", "notes": "..."}

    with ReplayServer([Recorded.load(path)]) as server:
        model = OpenAICompatibleModel(provider="custom", base_url=server.base_url, api_key="test")

``POST .../chat/completions`` serves the next recording in order (an SSE body is written
exactly as recorded, one HTTP chunk per event); ``GET .../models`` serves ``models``.

A raw exchange (``NAME.http``: the response exactly as it came off the socket, status line,
headers, chunked framing and terminator included) is written byte for byte and the connection
closed after it, as the recording server did; its sidecar names it as the body. With
``"drops_next_request": true`` in the sidecar the connection stays open and the next request on
it is closed unanswered: the server said keep-alive and then hung up, and a client that reused
the connection met the reset.
"""

from __future__ import annotations

import http.client
import io
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import orjson

from agentkit.testing._http import LoopbackService

_META_SUFFIX = ".meta.json"
_HOP_BY_HOP = frozenset({"content-length", "transfer-encoding", "connection", "content-encoding", "keep-alive"})
_EVENT_END = re.compile(rb"\r?\n\r?\n")
_RAW_SUFFIX = ".http"


@dataclass
class Recorded:
    """One recorded HTTP response of a real provider."""

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    source: str = ""
    """Where the recording comes from (repository, path and commit, or a URL)."""
    meta: dict[str, Any] = field(default_factory=dict)
    """The whole sidecar (provider, model, kind, notes...)."""
    raw: bytes | None = None
    """The whole response as recorded off the socket, served byte for byte (``None``: served
    from ``status``, ``headers`` and ``body``)."""
    drops_next_request: bool = False
    """The recorded server closed the connection after this response although it said
    keep-alive: the next request on that connection is closed unanswered."""

    @classmethod
    def from_http(cls, raw: bytes, *, source: str = "", meta: dict[str, Any] | None = None) -> Recorded:
        """A raw HTTP/1.1 response: ``status``, ``headers`` and the ``body`` (chunked framing
        removed) are read from it by the standard library's response parser; ``raw`` keeps it whole."""
        response = http.client.HTTPResponse(_BytesSocket(raw))  # type: ignore[arg-type]
        response.begin()
        body = response.read()
        headers = {key.lower(): value for key, value in response.getheaders()}
        return cls(
            status=response.status,
            body=body,
            content_type=headers.get("content-type", "application/json"),
            headers=headers,
            source=source,
            meta=meta or {},
            raw=raw,
            drops_next_request=bool((meta or {}).get("drops_next_request")),
        )

    @classmethod
    def load(cls, path: str | Path) -> Recorded:
        """Read a recording from its body file, its ``.meta.json`` sidecar, or its bare name."""
        path = Path(path)
        if path.name.endswith(_META_SUFFIX):
            meta_path = path
        elif path.suffix:
            meta_path = path.with_suffix(_META_SUFFIX)
        else:
            meta_path = path.with_name(path.name + _META_SUFFIX)
        try:
            meta = orjson.loads(meta_path.read_bytes())
        except FileNotFoundError:
            raise FileNotFoundError(f"recording {path} has no sidecar {meta_path.name}") from None
        if not isinstance(meta, dict):
            raise ValueError(f"{meta_path}: the sidecar must be a JSON object")
        for key in ("body", "status", "source"):
            if not meta.get(key) and meta.get(key) != 0:
                raise ValueError(f"{meta_path}: missing {key!r} (every recording names its body, status and source)")
        body = (meta_path.parent / str(meta["body"])).read_bytes()
        if str(meta["body"]).endswith(_RAW_SUFFIX):
            recorded = cls.from_http(body, source=str(meta["source"]), meta=meta)
            if recorded.status != int(meta["status"]):
                raise ValueError(f"{meta_path}: status {meta['status']} but the exchange says {recorded.status}")
            return recorded
        headers = meta.get("headers") or {}
        return cls(
            status=int(meta["status"]),
            body=body,
            content_type=str(meta.get("content_type") or "application/json"),
            headers={str(k): str(v) for k, v in headers.items()},
            source=str(meta["source"]),
            meta=meta,
        )

    @property
    def is_stream(self) -> bool:
        return self.content_type.split(";")[0].strip() == "text/event-stream"

    def events(self) -> list[bytes]:
        """The body cut after each blank line (the pieces concatenate to the exact body)."""
        pieces: list[bytes] = []
        start = 0
        for match in _EVENT_END.finditer(self.body):
            pieces.append(self.body[start : match.end()])
            start = match.end()
        if start < len(self.body):
            pieces.append(self.body[start:])
        return pieces


class ReplayServer(LoopbackService):
    """Serves recordings in order on ``127.0.0.1``; use as a context manager."""

    _thread_name = "replay-server"

    def __init__(self, responses: Sequence[Recorded], *, models: Recorded | None = None) -> None:
        self.responses = list(responses)
        self.models = models
        self.requests: list[dict[str, Any]] = []
        """Parsed JSON bodies of ``POST .../chat/completions``, in order."""
        self.served = 0
        self._lock = threading.Lock()
        super().__init__()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        replay = self

        class Handler(_ReplayHandler):
            server_state = replay

        return Handler

    def _next(self, body: dict[str, Any]) -> Recorded | None:
        with self._lock:
            self.requests.append(body)
            if self.served >= len(self.responses):
                return None
            recorded = self.responses[self.served]
            self.served += 1
            return recorded


class _ReplayHandler(BaseHTTPRequestHandler):
    server_state: ReplayServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # small SSE writes would wait ~40 ms for a delayed ACK each
    _hang_up_next = False

    def log_message(self, format: str, *args: Any) -> None:
        return

    def handle_one_request(self) -> None:
        if self._hang_up_next:  # the server hung up after its last answer: this request gets none
            self.rfile.readline(65537)
            self.close_connection = True
            return
        super().handle_one_request()

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/models") and self.server_state.models is not None:
            self._send(self.server_state.models)
            return
        self._error(404, f"no route {self.path}", "not_found")

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._error(404, f"no route {self.path}", "not_found")
            return
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            self._error(400, f"invalid JSON body: {exc}", "invalid_request_error")
            return
        recorded = self.server_state._next(body if isinstance(body, dict) else {"body": body})
        if recorded is None:
            count = len(self.server_state.responses)
            self._error(400, f"ReplayServer: no recorded response left ({count} were given)", "replay_exhausted")
            return
        try:
            self._send(recorded)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _error(self, status: int, message: str, kind: str) -> None:
        data = orjson.dumps({"error": {"message": message, "type": kind}})
        self._send(Recorded(status=status, body=data))

    def _send(self, recorded: Recorded) -> None:
        if recorded.raw is not None:
            self.wfile.write(recorded.raw)
            self.wfile.flush()
            if recorded.drops_next_request:
                self._hang_up_next = True
            else:
                self.close_connection = True
            return
        self.send_response(recorded.status)
        self.send_header("Content-Type", recorded.content_type)
        for key, value in recorded.headers.items():
            if key.lower() not in _HOP_BY_HOP and key.lower() != "content-type":
                self.send_header(key, value)
        if recorded.is_stream:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for event in recorded.events():
                self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("Content-Length", str(len(recorded.body)))
            self.end_headers()
            self.wfile.write(recorded.body)
        self.wfile.flush()


class _BytesSocket:
    """What :class:`http.client.HTTPResponse` reads a recorded response from."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def makefile(self, mode: str, *args: Any, **kwargs: Any) -> io.BufferedReader:
        return io.BufferedReader(io.BytesIO(self._data))
