"""What an MCP server says, made safe for the model: tool names, input schemas, results."""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from typing import TYPE_CHECKING, Any

import orjson

from agentkit.context.images import ImageError, store_image
from agentkit.store.events import Source
from agentkit.tools._mcp_cap import CUT_META, cut_note
from agentkit.tools._sources import source_id_for
from agentkit.tools.base import ToolContext, ToolOutput
from agentkit.vocabulary import ImageRef

if TYPE_CHECKING:
    import mcp_types

MAX_NAME = 64
MAX_DESCRIPTION = 2_000
MAX_SCHEMA_BYTES = 32_000
"""An input schema larger than this is refused (it would be sent with every model request)."""


def tool_name(server: str, remote: str, taken: set[str]) -> str:
    """``server__tool`` in the characters function names allow (letters, digits, ``_``, ``-``),
    at most 64 of them, unique among ``taken`` (which it joins)."""
    ascii_name = unicodedata.normalize("NFKD", remote).encode("ascii", "ignore").decode()
    clean = re.sub(r"[^A-Za-z0-9_-]+", "_", ascii_name).strip("_") or "tool"
    base = f"{server}__{clean}"[:MAX_NAME]
    name, n = base, 1
    while name in taken:
        n += 1
        suffix = f"_{n}"
        name = base[: MAX_NAME - len(suffix)] + suffix
    taken.add(name)
    return name


def input_schema(tool: mcp_types.Tool) -> tuple[dict[str, Any] | None, str]:
    """The tool's JSON schema as the model gets it, or None and why it cannot be used."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    schema = tool.input_schema
    if not isinstance(schema, dict):
        return None, "its input schema is not a JSON object"
    try:
        size = len(orjson.dumps(schema))
    except TypeError as exc:
        return None, f"its input schema is not JSON ({exc})"
    if size > MAX_SCHEMA_BYTES:
        return None, f"its input schema is {size:,} bytes (at most {MAX_SCHEMA_BYTES:,})"
    if schema.get("type", "object") != "object":
        return None, f"its input schema describes {schema.get('type')!r}, not an object of arguments"
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.path) or "(top)"
        return None, f"its input schema is invalid at {where}: {_short(exc.message, 200)}"
    params = {k: v for k, v in schema.items() if k != "$schema"}
    params["type"] = "object"
    params.setdefault("properties", {})
    return params, ""


def description(tool: mcp_types.Tool, server: str) -> str:
    text = (tool.description or tool.title or "").strip() or f"{tool.name} (MCP server {server})"
    return _short(text, MAX_DESCRIPTION)


def argument_problems(schema: dict[str, Any], arguments: object) -> list[str]:
    """Where ``arguments`` break ``schema`` (empty when they fit)."""
    from jsonschema import Draft202012Validator

    errors = sorted(Draft202012Validator(schema).iter_errors(arguments), key=lambda e: list(e.path))
    out = []
    for err in errors[:10]:
        loc = ".".join(str(p) for p in err.path) or "(arguments)"
        out.append(f"- {loc}: {_short(err.message, 300)}")
    return out


async def render(
    result: mcp_types.CallToolResult, *, server: str, remote: str, name: str, ctx: ToolContext, cap: int
) -> ToolOutput:
    """A call's result as a tool output: text kept, images stored as blobs (a placeholder in the
    text, the key in ``meta["blobs"]``; a checked, downscaled copy in ``images`` for a vision
    model), embedded resources registered as sources (a text blob decoded to its text); the
    whole text is a source of its own, so a citation or a capped result can point at it. At
    most ``cap`` bytes of text are kept: the rest is cut with a line saying how much."""
    import mcp_types as t

    budget = _Budget(cap)
    parts: list[str] = []
    blobs: list[dict[str, Any]] = []
    images: list[ImageRef] = []
    sources: list[str] = []
    for block in result.content:
        if isinstance(block, t.TextContent):
            parts.append(budget.take(block.text))
        elif isinstance(block, t.ImageContent | t.AudioContent):
            kind = "image" if isinstance(block, t.ImageContent) else "audio"
            data = _b64(block.data)
            if data is None:
                parts.append(f"[{kind} from {name}: not valid base64, dropped]")
                continue
            key = await ctx.store.put_blob(data)
            blobs.append({"key": key, "mime_type": block.mime_type, "bytes": len(data), "kind": kind})
            parts.append(f"[{kind} {len(blobs)}: {block.mime_type}, {len(data):,} bytes, stored as blob {key[:12]}]")
            if kind == "image":  # checked and downscaled for a vision model; a bad one stays a blob only
                try:
                    images.append(await store_image(ctx.store, data, f"image {len(blobs)} from {name}"))
                except ImageError as exc:
                    parts.append(f"[image {len(blobs)} cannot be shown: {exc}]")
        elif isinstance(block, t.ResourceLink):
            sid = await _add_source(ctx, block.uri, block.title or block.name, None, server, remote)
            sources.append(sid)
            about = f" — {block.description}" if block.description else ""
            parts.append(f"[source {sid}] {block.title or block.name}: {block.uri}{about}")
        elif isinstance(block, t.EmbeddedResource):
            res = block.resource
            text: str | None = res.text if isinstance(res, t.TextResourceContents) else None
            data = None
            if isinstance(res, t.BlobResourceContents):
                data = _b64(res.blob)
                if data is None:
                    parts.append(f"[resource {res.uri}: not valid base64, dropped]")
                    continue
                text = _blob_text(data, res.mime_type)
            if text is not None:
                text = budget.take(text)
                key = await ctx.store.put_blob(text.encode("utf-8"))
                sid = await _add_source(ctx, res.uri, res.uri, key, server, remote)
                sources.append(sid)
                parts.append(f"[source {sid}] {res.uri}\n{text}")
            elif data is not None:
                key = await ctx.store.put_blob(data)
                blobs.append({"key": key, "mime_type": res.mime_type, "bytes": len(data), "kind": "resource"})
                parts.append(f"[resource {res.uri}: {res.mime_type or 'binary'}, {len(data):,} bytes, blob {key[:12]}]")
        else:
            parts.append(f"[{getattr(block, 'type', 'unknown')} content from {name}: not shown]")
    if result.structured_content is not None and not any(parts):
        parts.append(budget.take(orjson.dumps(result.structured_content, option=orjson.OPT_NON_STR_KEYS).decode()))
    if budget.cut:
        parts.append(budget.note())
    text = "\n".join(p for p in parts if p) or "(no output)"
    meta: dict[str, Any] = {"mcp_server": server, "mcp_tool": remote}
    if blobs:
        meta["blobs"] = blobs
    cut = (result.meta or {}).get(CUT_META)
    if isinstance(cut, dict) and isinstance(cut.get("bytes"), int) and isinstance(cut.get("read"), int):
        total, read = cut["bytes"], cut["read"]
        meta["answer_bytes"] = total
        budget.cut += total - read
        text = f"{cut_note(total, read)}\n{text}\n[… {total - read:,} bytes cut]"
    if budget.cut:
        meta["cut_bytes"] = budget.cut
    if not result.is_error and text.strip():
        key = await ctx.store.put_blob(text.encode("utf-8"))
        uri = f"mcp://{server}/{remote}#{ctx.call_id}"
        sid = await _add_source(ctx, uri, f"{server}: {remote}", key, server, remote, kind="mcp_result")
        sources.insert(0, sid)
        meta["source_id"] = sid
        text = f"[source {sid}] {name}\n{text}"
    return ToolOutput(text=text, is_error=bool(result.is_error), sources=sources, images=images, meta=meta)


class _Budget:
    """The bytes of text a result may still keep; what is over is cut (and counted)."""

    def __init__(self, cap: int) -> None:
        self.cap, self.left, self.cut = cap, cap, 0

    def take(self, text: str) -> str:
        """``text``, or as much of its head as the budget still allows."""
        if len(text) * 4 <= self.left:  # (a UTF-8 character is at most 4 bytes)
            self.left -= len(text.encode("utf-8"))
            return text
        data = text.encode("utf-8")
        if len(data) <= self.left:
            self.left -= len(data)
            return text
        kept = data[: self.left].decode("utf-8", errors="ignore")
        self.cut += len(data) - len(kept.encode("utf-8"))
        self.left = 0
        return kept

    def note(self) -> str:
        return f"[… {self.cut:,} bytes cut: a result keeps at most {self.cap:,} bytes of text]"


_TEXT_TYPES = re.compile(r"text/[\w.+-]+|application/(?:[\w.-]+\+)?(?:json|xml|yaml|x-yaml|javascript|csv)", re.I)


def _blob_text(data: bytes, mime_type: str | None) -> str | None:
    """The text of a blob resource whose type says it is text (its charset, else UTF-8), or
    ``None`` for anything else, or bytes that are not text in that charset."""
    if not mime_type or not _TEXT_TYPES.fullmatch(mime_type.split(";", 1)[0].strip()):
        return None
    found = re.search(r"charset=\"?([\w.:-]+)", mime_type, re.I)
    try:
        return data.decode(found.group(1) if found else "utf-8")
    except (LookupError, UnicodeDecodeError):
        return None


async def _add_source(
    ctx: ToolContext, uri: str, title: str, key: str | None, server: str, remote: str, *, kind: str = "mcp_resource"
) -> str:
    sid = source_id_for(uri)
    meta = {"mcp_server": server, "mcp_tool": remote}
    await ctx.store.add_source(ctx.run_id, Source(id=sid, url=uri, title=title, content_hash=key, kind=kind, meta=meta))
    return sid


def _b64(data: str) -> bytes | None:
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return None


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
