"""MCP servers for the tests: the SDK-built test server over stdio and over streamable HTTP
(a subprocess on a loopback port), and the hand-written hostile one."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent
TOOLS_SERVER = str(HERE / "tools_server.py")
HOSTILE_SERVER = str(HERE / "hostile_server.py")


def stdio_spec(name: str = "loc", **extra: Any) -> dict[str, Any]:
    return {"name": name, "command": sys.executable, "args": [TOOLS_SERVER], **extra}


def hostile_spec(mode: str, **extra: Any) -> dict[str, Any]:
    return {"name": "h", "command": sys.executable, "args": [HOSTILE_SERVER, mode], "startup_timeout_s": 5, **extra}


def start_http_server(tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    """The test server on streamable HTTP; waits until it listens (its port file appears)."""
    port_file = tmp / f"port-{time.monotonic_ns()}"
    proc = subprocess.Popen([sys.executable, TOOLS_SERVER, "http", str(port_file)], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not port_file.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("the HTTP MCP test server did not start")
        time.sleep(0.02)
    return proc, f"http://127.0.0.1:{port_file.read_text()}/mcp"


@pytest.fixture
def http_url(tmp_path: Path) -> Iterator[str]:
    proc, url = start_http_server(tmp_path)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
