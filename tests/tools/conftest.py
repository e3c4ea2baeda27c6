"""Loopback web fixtures for the research-tool tests (no test touches the network)."""

from __future__ import annotations

import ssl
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from agentkit.store import MemoryStore, RunInfo
from agentkit.tools.base import ToolContext

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "web"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    chunks: Iterable[bytes] | None = None
    """Streamed without Content-Length (the connection closes at the end)."""
    delay_s: float = 0.0


Route = Reply | Callable[[str], Reply]


class WebServer:
    """A threaded HTTP server on 127.0.0.1 serving registered routes and counting hits."""

    Reply = Reply

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.hits: Counter[str] = Counter()
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.request_times: list[float] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                server.hits[parts.path] += 1
                server.requests.append((self.path, dict(self.headers.items())))
                server.request_times.append(time.monotonic())
                route = server.routes.get(parts.path)
                if route is None:
                    reply = Reply(404, b"not found", {"Content-Type": "text/plain"})
                else:
                    reply = route(parts.query) if callable(route) else route
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                try:
                    self.send_response(reply.status)
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    if reply.chunks is None:
                        self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    if reply.chunks is None:
                        self.wfile.write(reply.body)
                    else:
                        for chunk in reply.chunks:
                            self.wfile.write(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def use_tls(self, context: ssl.SSLContext) -> None:
        """Serve HTTPS from now on (the listening socket is wrapped in place)."""
        self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def add(
        self,
        path: str,
        body: bytes | str = b"",
        content_type: str = "text/html; charset=utf-8",
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> str:
        data = body.encode() if isinstance(body, str) else body
        hdrs = {"Content-Type": content_type} if content_type else {}
        self.routes[path] = Reply(status, data, {**hdrs, **(headers or {})})
        return self.url(path)

    def add_fixture(self, path: str, name: str, content_type: str) -> str:
        return self.add(path, (FIXTURES / name).read_bytes(), content_type)

    def reply(
        self,
        path: str,
        status: int = 200,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        *,
        chunks: Iterable[bytes] | None = None,
        delay_s: float = 0.0,
    ) -> str:
        self.routes[path] = Reply(status, body, headers or {}, chunks, delay_s)
        return self.url(path)

    def route(self, path: str, handler: Callable[[str], Reply]) -> str:
        """``handler(query_string) -> Reply`` answers every request to ``path``."""
        self.routes[path] = handler
        return self.url(path)


@pytest.fixture
def web() -> Iterator[WebServer]:
    server = WebServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def make_ctx(tmp_path: Path) -> Callable[..., Awaitable[ToolContext]]:
    """``await make_ctx(store=None, run_id="run-1", settings=None)``: a run context."""

    async def make(**kwargs: Any) -> ToolContext:
        return await new_ctx(tmp_path, **kwargs)

    return make


@pytest.fixture(name="make_pdf")
def make_pdf_fixture() -> Callable[..., bytes]:
    return make_pdf


async def new_ctx(
    tmp_path: Path, *, store: MemoryStore | None = None, run_id: str = "run-1", settings: dict[str, Any] | None = None
) -> ToolContext:
    store = store or MemoryStore()
    await store.create_run(RunInfo(id=run_id, task="test"))
    return ToolContext(run_id=run_id, call_id="call-1", step=1, store=store, workdir=tmp_path, settings=settings or {})


def _pdf_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def make_pdf(pages: list[str], *, title: str | None = None, author: str | None = None) -> bytes:
    """A small valid PDF (Helvetica text, one content stream per page), written by hand."""
    n = len(pages)
    font_id, info_id = 3, 4 + 2 * n
    objects: dict[int, bytes] = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: ("<< /Type /Pages /Kids [" + " ".join(f"{4 + 2 * i} 0 R" for i in range(n)) + f"] /Count {n} >>").encode(),
        font_id: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    }
    for i, text in enumerate(pages):
        page_id, content_id = 4 + 2 * i, 5 + 2 * i
        ops = ["BT", "/F1 11 Tf", "14 TL", "72 760 Td"]
        for line in text.splitlines():
            ops.append(f"({_pdf_escape(line)}) Tj T*")
        ops.append("ET")
        stream = "\n".join(ops).encode("cp1252")
        objects[page_id] = (
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {content_id} 0 R "
            f"/Resources << /Font << /F1 {font_id} 0 R >> >> >>"
        ).encode()
        objects[content_id] = b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream"
    info = ["/Producer (agentkit tests)", "/CreationDate (D:20240301120000Z)"]
    if title:
        info.append(f"/Title ({_pdf_escape(title)})")
    if author:
        info.append(f"/Author ({_pdf_escape(author)})")
    objects[info_id] = ("<< " + " ".join(info) + " >>").encode()
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets: dict[int, int] = {}
    for oid in sorted(objects):
        offsets[oid] = len(out)
        out += b"%d 0 obj\n" % oid + objects[oid] + b"\nendobj\n"
    xref = len(out)
    size = max(objects) + 1
    out += b"xref\n0 %d\n0000000000 65535 f \n" % size
    for oid in range(1, size):
        out += b"%010d 00000 n \n" % offsets[oid]
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (size, info_id, xref)
    return bytes(out)
