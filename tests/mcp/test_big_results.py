"""MCP results are capped in bytes while they are read (#20): a 100 MB or 40 MB answer is
read up to the server's ``max_result_bytes`` (8 MiB by default), the rest dropped unread; the
model and the stored source get the head and a line saying how much was cut.

Memory is measured in a process of its own (``big_result_probe.py``): the peak resident size
(``ru_maxrss``) during the call may grow a generous 200 MB, where reading a 100 MB answer
whole took 700 MB."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp_helpers import BIG_RESULT_PROBE, hostile_spec, start_http_server, stdio_spec
from test_mcp_client import Harness

from agentkit.task.mcp_servers import MCP_MAX_RESULT_BYTES

pytestmark = pytest.mark.anyio

GROWTH_MB = 200


def probe(spec: dict[str, Any], tool: str, **args: Any) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, BIG_RESULT_PROBE, json.dumps(spec), tool, json.dumps(args)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found: dict[str, Any] = json.loads(done.stdout)
    return found


def assert_capped(found: dict[str, Any], answer_bytes: int) -> None:
    assert not found["is_error"], found["head"]
    assert found["growth_mb"] < GROWTH_MB, found["growth_mb"]
    total = found["meta"]["answer_bytes"]
    assert answer_bytes <= total < answer_bytes + 1000
    cut = total - MCP_MAX_RESULT_BYTES
    note = f"[… {cut:,} bytes cut: the server's answer was {total:,} bytes; agentkit reads at most"
    assert note in found["head"]  # the model reads it first
    assert found["head"].rstrip().endswith("yyyy")  # then the head of the text
    assert found["meta"]["cut_bytes"] == cut
    assert MCP_MAX_RESULT_BYTES - 1000 < found["stored_bytes"] < MCP_MAX_RESULT_BYTES + 1000  # the capped source
    assert found["stored_tail"].endswith(f"yyyy\n[… {cut:,} bytes cut]")


def test_a_100_mb_answer_is_read_up_to_the_cap() -> None:
    """The hostile server streams it as one line, its id last (as the TypeScript SDK orders
    an answer): the cut answer still finds its request."""
    assert_capped(probe(hostile_spec("huge"), "h__big", n=100_000_000), 100_000_000)


@pytest.fixture(params=["stdio", "http (event stream)", "http (JSON body)"])
def sdk_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, Any]]:
    if request.param == "stdio":
        yield stdio_spec("loc")
        return
    proc, url = start_http_server(tmp_path, json_response="JSON" in request.param)
    try:
        yield {"name": "loc", "url": url}
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_a_40_mb_answer_of_an_sdk_server_is_capped_on_every_transport(sdk_server: dict[str, Any]) -> None:
    """The SDK's server sends the text twice (content and structured content): 80 MB."""
    assert_capped(probe(sdk_server, "loc__huge", n=40_000_000), 80_000_000)


async def test_an_image_cut_midway_is_dropped_and_the_text_before_it_kept() -> None:
    h = Harness([hostile_spec("huge", max_result_bytes=65_536)])
    try:
        await h.open()
        out = (await h.call("h__big", n=300_000, kind="image")).output
        assert not out.is_error and out.images == [] and "blobs" not in out.meta
        assert "an image follows" in out.text and "bytes cut: the server's answer was 300,1" in out.text
        small = (await h.call("h__big", n=4_000, kind="text")).output  # the connection goes on
        assert small.text.endswith("y" * 4_000) and "cut" not in small.text
    finally:
        await h.close()


async def test_a_huge_notification_is_dropped_and_the_call_still_answered() -> None:
    h = Harness([hostile_spec("huge", max_result_bytes=65_536)])
    try:
        await h.open()
        out = (await h.call("h__big", n=1_000_000, kind="notice")).output
        assert not out.is_error and out.text.endswith("after the notice")
    finally:
        await h.close()


async def test_the_result_keeps_at_most_the_cap_of_text_however_it_came() -> None:
    """The result-level cap (a server may split an event stream's message over many data
    lines, and the SDK's own stdio transport on Windows caps nothing)."""
    import mcp_types as t

    from agentkit.store.events import RunInfo
    from agentkit.store.memory import MemoryStore
    from agentkit.tools._mcp_results import render
    from agentkit.tools.base import ToolContext

    store = MemoryStore()
    await store.create_run(RunInfo(id="r1", task="t"))
    ctx = ToolContext(run_id="r1", call_id="c1", step=1, store=store, workdir=Path("/tmp"))
    blocks: list[Any] = [t.TextContent(type="text", text="é" * 40_000) for _ in range(3)]
    out = await render(t.CallToolResult(content=blocks), server="s", remote="r", name="s__r", ctx=ctx, cap=100_000)
    source = await store.get_source("r1", out.meta["source_id"])
    stored = (await store.get_blob(source.content_hash or "") if source else b"") or b""
    assert len(stored) < 100_500 and stored.decode().count("é") == 50_000
    assert "[… 140,000 bytes cut: a result keeps at most 100,000 bytes of text]" in stored.decode()
    assert out.meta["cut_bytes"] == 140_000
