"""A byte cap on what an MCP server sends, applied while it is read.

The ``mcp`` SDK reads each JSON-RPC message whole (a stdout line, an HTTP body or SSE event)
before anything can look at it, so a 100 MB tool result costs the client hundreds of MB and
a minute of parsing. Here the bytes are capped on their way in: a message longer than the
cap keeps its first ``cap`` bytes, the rest is read and dropped (only counted), and the head
is closed into a valid message (pydantic-core's partial JSON parser) that says how much was
cut. A cut tool result keeps its whole content blocks and the head of a text block cut
midway, and says in its ``_meta`` (:data:`CUT_META`) how large it was, which the result's
rendering tells the model; any other cut answer becomes a JSON-RPC error for its request; a
cut request or notification from the server is dropped.

:class:`LineCapper` does it for newline-delimited streams (stdio, SSE), :class:`BodyCapper`
for a whole body (an HTTP JSON answer); :class:`CappedTransport` puts them under the HTTP
client the SDK is given, and :mod:`agentkit.tools._mcp_stdio` under the server's stdout.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx2
import orjson
import pydantic_core

log = logging.getLogger("agentkit.mcp")

TAIL = 512
"""Bytes kept from the end of a cut message (where a server may have put its ``id``)."""
INTERNAL_ERROR = -32603
_TRAILING_ID = re.compile(rb'"id"\s*:\s*(-?\d+|"(?:[^"\\]|\\.)*")\s*[,}]')

Cut = Callable[[bytes, int, bytes], bytes | None]
"""``cut(head, total, tail)``: the message to pass on in place of one of ``total`` bytes whose
first bytes are ``head`` and last ``tail`` (``None``: drop it)."""


CUT_META = "agentkit/cut"
"""The key under a cut result's ``_meta``: ``{"bytes": its size, "read": the bytes read}``."""


def cut_note(total: int, read: int) -> str:
    return (
        f"[… {total - read:,} bytes cut: the server's answer was {total:,} bytes; agentkit reads at most "
        f"{read:,} bytes of one answer (max_result_bytes of the server's spec)]"
    )


def cut_message(cap: int) -> Cut:
    """The :data:`Cut` for one JSON-RPC message (a stdio line, a JSON body, an SSE data field)."""

    def cut(head: bytes, total: int, tail: bytes) -> bytes | None:
        try:
            message = pydantic_core.from_json(head, allow_partial="trailing-strings")
        except ValueError:
            message = None
        if not isinstance(message, dict) or "method" in message:
            log.warning("an MCP message of %d bytes was over the %d-byte cap and was dropped", total, cap)
            return None  # half a request or notification is of no use to anyone
        rid = message["id"] if "id" in message else _trailing_id(tail)
        if not isinstance(rid, int | str) or isinstance(rid, bool):
            log.warning("an MCP answer of %d bytes was over the %d-byte cap and names no request", total, cap)
            return None
        result = message.get("result")
        if isinstance(result, dict) and isinstance(result.get("content"), list):
            cut = {"bytes": total, "read": cap}
            out: dict[str, Any] = {"jsonrpc": "2.0", "id": rid, "result": _cut_result(result, cut)}
        else:
            error = {"code": INTERNAL_ERROR, "message": f"the answer could not be read: {cut_note(total, cap)[1:-1]}"}
            out = {"jsonrpc": "2.0", "id": rid, "error": error}
        return orjson.dumps(out)

    return cut


def cut_sse_line(cap: int) -> Cut:
    """The :data:`Cut` for a line of an event stream: a ``data:`` field is cut as a message;
    any other field that long (a comment, an id) is dropped."""
    message = cut_message(cap)

    def cut(head: bytes, total: int, tail: bytes) -> bytes | None:
        field, colon, value = head.partition(b":")
        if field != b"data" or not colon:
            return None
        skip = len(field) + 1 + (1 if value.startswith(b" ") else 0)
        inner = message(head[skip:], total - skip, tail.rstrip(b"\r"))
        return None if inner is None else b"data: " + inner

    return cut


def _trailing_id(tail: bytes) -> Any:
    found = _TRAILING_ID.findall(tail)
    if not found:
        return None
    try:
        return orjson.loads(found[-1])
    except orjson.JSONDecodeError:
        return None


def _cut_result(result: dict[str, Any], cut: dict[str, int]) -> dict[str, Any]:
    """A tool result cut somewhere: its whole content blocks (and the head of a text block cut
    midway); fields after ``content`` only when they came whole; ``cut`` in its ``_meta``."""
    from mcp_types import ContentBlock
    from pydantic import TypeAdapter, ValidationError

    keys = list(result)
    content: list[Any] = list(result["content"])
    cut_inside = keys[-1] == "content"
    if cut_inside and content:
        last = _text_head(content.pop())
        if last is not None:  # an image or resource cut midway is no image at all: dropped
            content.append(last)
    adapter: TypeAdapter[Any] = TypeAdapter(ContentBlock)
    blocks: list[Any] = []
    for block in content:
        try:
            adapter.validate_python(block)
        except ValidationError:
            continue
        blocks.append(block)
    out: dict[str, Any] = {"content": blocks}
    complete = keys[:-1]  # the last key parsed may be cut; the ones before it came whole
    for key in ("isError", "structuredContent"):
        if key in complete:
            out[key] = result[key]
    meta = result.get("_meta")
    out["_meta"] = {**(meta if "_meta" in complete and isinstance(meta, dict) else {}), CUT_META: cut}
    return out


def _text_head(block: Any) -> dict[str, Any] | None:
    """The text block (or text resource) cut midway, worth reading still, else ``None``. The
    ``type`` may be missing: it may come after the text (the Python SDK's servers send it last)."""
    if not isinstance(block, dict):
        return None
    kind = block.get("type", "text" if "text" in block else None)
    if kind == "text" and isinstance(block.get("text"), str):
        return {**block, "type": "text"}
    resource = block.get("resource")
    if kind == "resource" and isinstance(resource, dict) and isinstance(resource.get("text"), str):
        return block  # (valid only if its uri came before the text)
    return None


class LineCapper:
    """Splits a byte stream into lines, holding at most ``cap`` bytes of any line: a longer
    line's head goes to ``cut`` once its end (or the stream's) is reached, the rest having
    been read and dropped. Lines come out without their ``\\n``."""

    def __init__(self, cap: int, cut: Cut) -> None:
        self.cap, self._cut = cap, cut
        self._buf = bytearray()
        self._total = 0
        self._tail = b""
        self.cuts = 0

    def feed(self, chunk: bytes) -> list[bytes]:
        out: list[bytes] = []
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            self._add(chunk[start:] if end < 0 else chunk[start:end])
            if end < 0:
                return out
            line = self._end()
            if line is not None:
                out.append(line)
            start = end + 1

    def finish(self) -> list[bytes]:
        """What is left at the end of the stream (a last line without ``\\n``)."""
        if not self._total:
            return []
        line = self._end()
        return [] if line is None else [line]

    def _add(self, piece: bytes) -> None:
        self._total += len(piece)
        room = self.cap - len(self._buf)
        if room > 0:
            self._buf += piece[:room]
        if self._total > self.cap:
            self._tail = (self._tail + piece[-TAIL:])[-TAIL:]

    def _end(self) -> bytes | None:
        head, total, tail = bytes(self._buf), self._total, self._tail
        self._buf, self._total, self._tail = bytearray(), 0, b""
        if total <= self.cap:
            return head
        self.cuts += 1
        return self._cut(head, total, tail)


class BodyCapper:
    """:class:`LineCapper` for a body that is one message whatever its newlines (JSON)."""

    def __init__(self, cap: int, cut: Cut) -> None:
        self.cap, self._cut = cap, cut
        self._buf = bytearray()
        self._total = 0
        self._tail = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        self._total += len(chunk)
        room = self.cap - len(self._buf)
        if room > 0:
            self._buf += chunk[:room]
        if self._total > self.cap:
            self._tail = (self._tail + chunk[-TAIL:])[-TAIL:]
        return []

    def finish(self) -> list[bytes]:
        if self._total <= self.cap:
            return [bytes(self._buf)]
        cut = self._cut(bytes(self._buf), self._total, self._tail)
        return [] if cut is None else [cut]


class _CappedStream(httpx2.AsyncByteStream):
    def __init__(self, inner: httpx2.AsyncByteStream, capper: LineCapper | BodyCapper, *, lines: bool) -> None:
        self._inner, self._capper, self._lines = inner, capper, lines

    async def __aiter__(self) -> AsyncIterator[bytes]:
        sep = b"\n" if self._lines else b""
        async for chunk in self._inner:
            for piece in self._capper.feed(chunk):
                yield piece + sep
        for piece in self._capper.finish():
            yield piece + sep

    async def aclose(self) -> None:
        await self._inner.aclose()


class _LimitedStream(httpx2.AsyncByteStream):
    """Any other body: read up to the cap, then the read fails."""

    def __init__(self, inner: httpx2.AsyncByteStream, cap: int) -> None:
        self._inner, self._cap = inner, cap

    async def __aiter__(self) -> AsyncIterator[bytes]:
        seen = 0
        async for chunk in self._inner:
            seen += len(chunk)
            if seen > self._cap:
                raise httpx2.ReadError(f"the server's answer is over {self._cap:,} bytes")
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


class CappedTransport(httpx2.AsyncBaseTransport):
    """The HTTP transport of an MCP client, with every answer capped at ``cap`` bytes per
    message (JSON bodies whole, event streams per ``data:`` line). Bodies must come
    uncompressed (the client asks for ``identity``): a compressed body could not be capped
    before it is inflated, so it is refused."""

    def __init__(self, cap: int, inner: httpx2.AsyncBaseTransport | None = None) -> None:
        self.cap = cap
        self._inner = inner if inner is not None else httpx2.AsyncHTTPTransport(trust_env=False)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response = await self._inner.handle_async_request(request)
        stream = response.stream
        assert isinstance(stream, httpx2.AsyncByteStream)
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            await stream.aclose()
            raise httpx2.DecodingError(f"the server compressed its answer ({encoding}) although asked not to")
        kind = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        capped: httpx2.AsyncByteStream
        if kind == "text/event-stream":
            capped = _CappedStream(stream, LineCapper(self.cap, cut_sse_line(self.cap)), lines=True)
        elif kind == "application/json":
            capped = _CappedStream(stream, BodyCapper(self.cap, cut_message(self.cap)), lines=False)
        else:
            capped = _LimitedStream(stream, self.cap)
        headers = [(k, v) for k, v in response.headers.raw if k.lower() != b"content-length"]
        return httpx2.Response(
            response.status_code, headers=headers, stream=capped, extensions=response.extensions, request=request
        )

    async def aclose(self) -> None:
        await self._inner.aclose()
