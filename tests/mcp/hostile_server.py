"""A hand-written MCP server over stdio (raw JSON-RPC lines) that misbehaves as argv[1] says.
Written without the SDK so that it can send what the SDK's own server never would.

- ``names``: tool names with spaces, unicode and 100 characters, two that clash once cleaned,
  an input schema that is invalid JSON Schema, and one too big to send with every request.
- ``garbage``: as ``names``, and non-JSON lines on stdout at start and before each answer.
- ``badlist``: a tools/list answer whose schema is not even an object of properties.
- ``babble``: only garbage on stdout, never MCP.
- ``dies``: a line on stderr, then exits at once.
- ``huge``: one tool, ``big(n, kind)``, whose answer is ``n`` bytes of text (``kind: text``;
  the ``id`` last, as the TypeScript SDK orders an answer's fields), a line of text then an
  image of ``n`` base64 bytes (``image``), or a notification of ``n`` bytes before a short
  answer (``notice``). Written 1 MB at a time: the server never holds it whole.
- ``many``: 130 well-formed tools (more than the Kimi API takes in one request).
- ``kimi``: tools a Kimi model cannot take as written: a name with a dot and a slash, and
  schemas outside Moonshot Flavored JSON Schema (``$ref`` with a description beside it,
  ``anyOf`` with null and a default, ``const``, ``format``; and a ``pattern``, which MFJS
  cannot say at all).
"""

from __future__ import annotations

import json
import sys
import time

MODE = sys.argv[1] if len(sys.argv) > 1 else "names"
OK = {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}
TOOLS = [
    {"name": "look up", "description": "A name with a space.", "inputSchema": OK},
    {"name": "überprüfen", "description": "A unicode name.", "inputSchema": OK},
    {"name": "look_up", "description": "Clashes with 'look up' once cleaned.", "inputSchema": OK},
    {"name": "n" * 100, "description": "A very long name.", "inputSchema": OK},
    {"name": "bad_schema", "inputSchema": {"type": "object", "properties": {"q": {"type": "strang"}}}},
    {"name": "huge_schema", "inputSchema": {"type": "object", "properties": {f"p{i}": {} for i in range(5000)}}},
]

MANY = [{"name": f"tool_{i}", "description": f"Tool {i}.", "inputSchema": OK} for i in range(130)]
KIMI = [
    {
        "name": "files.read/v2",
        "description": "Read a file.",
        "inputSchema": {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "$defs": {"Range": {"type": "object", "properties": {"start": {"type": "integer"}}}},
            "properties": {
                "path": {"type": "string", "format": "uri-reference", "title": "Path"},
                "range": {"$ref": "#/$defs/Range", "description": "Lines to read."},
                "encoding": {"anyOf": [{"const": "utf-8"}, {"type": "null"}], "default": None},
            },
            "required": ["path"],
        },
    },
    {
        "name": "grep",
        "description": "Search files.",
        "inputSchema": {"type": "object", "properties": {"regex": {"type": "string", "pattern": "^.+$"}}},
    },
]


def send(obj: object) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


BIG = {
    "name": "big",
    "inputSchema": {"type": "object", "properties": {"n": {"type": "integer"}, "kind": {"type": "string"}}},
}


def send_big(rid: object, n: int, kind: str) -> None:
    """An answer (or a notification) of about ``n`` bytes, streamed."""
    out = sys.stdout
    if kind == "notice":
        out.write('{"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": "info", "data": "')
        stream_filler(n, b"z")
        out.write('"}}\n')
        send({"jsonrpc": "2.0", "id": rid, "result": {"content": [{"type": "text", "text": "after the notice"}]}})
        return
    if kind == "image":
        out.write(json.dumps({"jsonrpc": "2.0", "id": rid})[:-1] + ', "result": {"content": [')
        out.write('{"type": "text", "text": "an image follows"}, {"type": "image", "mimeType": "image/png", "data": "')
        stream_filler(n, b"A")
        out.write('"}]}}\n')
    else:
        out.write('{"result": {"content": [{"type": "text", "text": "')
        stream_filler(n, b"y")
        out.write('"}]}, "jsonrpc": "2.0", "id": ' + json.dumps(rid) + "}\n")
    out.flush()


def stream_filler(n: int, byte: bytes) -> None:
    sys.stdout.flush()
    block = byte * 2**20
    for _ in range(n // len(block)):
        sys.stdout.buffer.write(block)
    sys.stdout.buffer.write(byte * (n % len(block)))
    sys.stdout.buffer.flush()


def garbage(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def main() -> None:
    if MODE == "dies":
        print("hostile: cannot open my database /nonexistent/db", file=sys.stderr, flush=True)
        sys.exit(1)
    if MODE == "babble":
        while True:
            garbage("Hello! I am not an MCP server.")
            time.sleep(0.05)
    if MODE == "garbage":
        garbage("Starting hostile server v0 ...")
    for line in sys.stdin:
        msg = json.loads(line)
        method, rid = msg.get("method"), msg.get("id")
        if rid is None:
            continue  # a notification
        if MODE == "garbage":
            garbage("<<debug: got a request>>")
        if method == "initialize":
            result: dict[str, object] = {
                "protocolVersion": msg["params"]["protocolVersion"],
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "hostile", "version": "0"},
            }
        elif method == "tools/list":
            tools = {"many": MANY, "kimi": KIMI}.get(MODE, TOOLS)
            if MODE == "badlist":
                tools = [{"name": "x", "inputSchema": {"type": "object", "properties": 5}}]
            result = {"tools": [BIG] if MODE == "huge" else tools}
        elif method == "tools/call" and MODE == "huge":
            args = msg["params"]["arguments"]
            send_big(rid, int(args["n"]), str(args.get("kind", "text")))
            continue
        elif method == "tools/call":
            params = msg["params"]
            result = {"content": [{"type": "text", "text": f"{params['name']} got {json.dumps(params['arguments'])}"}]}
        else:
            send({"jsonrpc": "2.0", "id": rid, "error": {"code": -32601, "message": f"no method {method}"}})
            continue
        send({"jsonrpc": "2.0", "id": rid, "result": result})


if __name__ == "__main__":
    main()
