"""A real MCP server (the SDK's MCPServer) for the tests, over stdio or streamable HTTP.

``python tools_server.py`` serves stdio; ``python tools_server.py http PORTFILE`` serves
streamable HTTP on a free loopback port and writes the port to PORTFILE once it listens
(``http-json``: answers as JSON bodies instead of event streams).
``crash`` exits the process mid-call, ``hang`` never answers. With CRASH_FLAG set to a file
path, ``lookup`` crashes the process while that file exists (and deletes it first), so a
test can crash a server once, at a chosen call.
"""

from __future__ import annotations

import base64
import os
import socket
import sys
from functools import partial
from pathlib import Path

import anyio
from mcp.server.mcpserver import MCPServer
from mcp_types import CallToolResult, EmbeddedResource, ImageContent, TextContent, TextResourceContents

server = MCPServer("agentkit-test-tools", version="1.0", log_level="WARNING")
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


@server.tool()
def lookup(term: str) -> str:
    """Look a term up in the test glossary."""
    flag = os.environ.get("CRASH_FLAG")
    if flag and Path(flag).exists():
        Path(flag).unlink()
        print(f"lookup({term}): crashing on purpose", file=sys.stderr, flush=True)
        os._exit(3)
    return f"{term} means {len(term)} (answered by process {os.getpid()}, token={os.environ.get('TOKEN', '-')})"


@server.tool()
def argv() -> str:
    """The server's command-line arguments."""
    return " ".join(sys.argv[1:])


@server.tool()
def pid() -> str:
    """The server's process id."""
    return str(os.getpid())


@server.tool()
def crash() -> str:
    """Exit the server process mid-call."""
    print("fatal: the test asked me to crash", file=sys.stderr, flush=True)
    os._exit(7)


@server.tool()
async def hang() -> str:
    """Never answer."""
    await anyio.sleep_forever()
    return "unreachable"


@server.tool()
def huge(n: int) -> str:
    """n characters of text."""
    return "y" * n


@server.tool()
def picture() -> CallToolResult:
    """A one-pixel PNG, an embedded text resource and a line of text."""
    return CallToolResult(
        content=[
            TextContent(type="text", text="Here is the picture."),
            ImageContent(type="image", data=base64.b64encode(PNG).decode(), mime_type="image/png"),
            EmbeddedResource(
                type="resource",
                resource=TextResourceContents(uri="file:///notes/picture.txt", text="A red dot, 1x1."),
            ),
        ]
    )


@server.tool()
def fails() -> CallToolResult:
    """A tool that reports an error result."""
    return CallToolResult(content=[TextContent(type="text", text="the glossary is closed")], is_error=True)


def serve_http(port_file: Path, json_response: bool = False) -> None:
    """Listen on a free loopback port, say which in ``port_file``, then serve (connections
    made before uvicorn starts wait in the socket's backlog)."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    written = port_file.with_suffix(".tmp")
    written.write_text(str(sock.getsockname()[1]))
    written.replace(port_file)  # at once: the waiting test never reads a half-written file
    app = server.streamable_http_app(json_response=json_response)
    web = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    anyio.run(partial(web.serve, sockets=[sock]))


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] in ("http", "http-json"):
        serve_http(Path(sys.argv[2]), json_response=sys.argv[1] == "http-json")
    else:
        server.run()
