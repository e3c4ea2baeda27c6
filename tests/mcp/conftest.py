"""MCP servers for the tests: the SDK-built test server over stdio and over streamable HTTP
(a subprocess on a loopback port), and the hand-written hostile one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from mcp_helpers import start_http_server


@pytest.fixture
def http_url(tmp_path: Path) -> Iterator[str]:
    proc, url = start_http_server(tmp_path)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
