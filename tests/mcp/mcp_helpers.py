"""Helpers of the MCP tests (a uniquely named module: a bare ``conftest`` import would find
whichever conftest another test directory loaded last)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
TOOLS_SERVER = str(HERE / "tools_server.py")
HOSTILE_SERVER = str(HERE / "hostile_server.py")
BIG_RESULT_PROBE = str(HERE / "big_result_probe.py")


def stdio_spec(name: str = "loc", **extra: Any) -> dict[str, Any]:
    return {"name": name, "command": sys.executable, "args": [TOOLS_SERVER], **extra}


def hostile_spec(mode: str, **extra: Any) -> dict[str, Any]:
    return {"name": "h", "command": sys.executable, "args": [HOSTILE_SERVER, mode], "startup_timeout_s": 5, **extra}


def start_http_server(tmp: Path, *, json_response: bool = False) -> tuple[subprocess.Popen[bytes], str]:
    """The test server on streamable HTTP (answers as event streams, or JSON bodies with
    ``json_response``); waits until it listens (its port file appears)."""
    port_file = tmp / f"port-{time.monotonic_ns()}"
    mode = "http-json" if json_response else "http"
    proc = subprocess.Popen([sys.executable, TOOLS_SERVER, mode, str(port_file)], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not port_file.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("the HTTP MCP test server did not start")
        time.sleep(0.02)
    return proc, f"http://127.0.0.1:{port_file.read_text()}/mcp"
