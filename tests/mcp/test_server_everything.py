"""A third-party MCP server: ``@modelcontextprotocol/server-everything`` from npm, over stdio
(installed into tests/.npm by .ci/run). Its image gets to a vision model although its PNG
has a bad CRC in an optional chunk; its text blob resources reach the model as text; its long
operation's progress notifications are shown live, in the plain log and as span events."""

from __future__ import annotations

import base64
import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from PIL import Image
from rich.console import Console
from test_mcp_client import Harness

from agentkit import Agent, ToolProgress, telemetry
from agentkit.cli._live_view import LiveView
from agentkit.llm.client import OpenAICompatibleModel
from agentkit.run.live import AgentEvent
from agentkit.store import MemoryStore
from agentkit.testing import FakeProvider, FakeRequest, Turn, call

pytestmark = pytest.mark.anyio

VERSION = "2026.8.31"
PACKAGE = Path(__file__).parents[1] / ".npm" / "node_modules" / "@modelcontextprotocol" / "server-everything"
NODE = shutil.which("node")


@pytest.fixture
def everything() -> dict[str, Any]:
    if NODE is None or not (PACKAGE / "dist" / "index.js").is_file():
        pytest.skip(
            "server-everything is not installed: npm install --prefix tests/.npm "
            f"@modelcontextprotocol/server-everything@{VERSION} (.ci/run does it)"
        )
    assert json.loads((PACKAGE / "package.json").read_text())["version"] == VERSION
    return {"name": "every", "command": NODE, "args": [str(PACKAGE / "dist" / "index.js"), "stdio"]}


def image_sizes(request: FakeRequest) -> list[tuple[int, int]]:
    sizes = []
    for message in request.body["messages"]:
        content = message.get("content")
        for part in content if isinstance(content, list) else []:
            if part.get("type") == "image_url":
                data = base64.b64decode(part["image_url"]["url"].partition(",")[2])
                with Image.open(io.BytesIO(data)) as image:
                    sizes.append(image.size)
    return sizes


async def test_its_image_reaches_a_vision_model(everything: dict[str, Any], tmp_path: Path) -> None:
    def responder(request: FakeRequest) -> Turn:
        if request.index == 0:
            return Turn(reasoning="the tool returns it", tool_calls=[call("every__get-tiny-image")])
        return Turn(content=f"I see {image_sizes(request)}")

    with FakeProvider(responder, model="kimi-k2.5") as fake:
        llm = OpenAICompatibleModel("kimi-k2.5", "custom", base_url=fake.base_url)
        agent = Agent(llm=llm, store=MemoryStore(), tools=[], mcp=[everything], plan=False, workdir=tmp_path)
        result = await agent.run("What does the MCP logo look like?")
        await agent.aclose()
    assert result.status == "finished", (result.error, fake.errors)
    assert result.answer == "I see [(20, 20)]"  # its PNG, decoded despite the bad iCCP checksum


async def test_its_text_blob_resources_reach_the_model_as_text(everything: dict[str, Any]) -> None:
    h = Harness([everything])
    try:
        await h.open()
        out = (await h.call("every__get-resource-reference", resourceType="Blob", resourceId=3)).output
        assert not out.is_error
        assert "demo://resource/dynamic/blob/3\nResource 3: This is a base64 blob created at" in out.text
        assert "blobs" not in out.meta and "bytes, blob" not in out.text
        source = next(s for s in await h.store.list_sources("r1") if s.url == "demo://resource/dynamic/blob/3")
        stored = await h.store.get_blob(source.content_hash or "")
        assert stored is not None and stored.startswith(b"Resource 3: This is a base64 blob")
    finally:
        await h.close()


async def test_its_progress_is_shown_live_logged_and_traced(everything: dict[str, Any], tmp_path: Path) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    telemetry.instrument(tracer_provider=provider)
    screen = io.StringIO()
    view = LiveView(10, 100_000, console=Console(file=screen, width=200), terminal=False)
    events: list[AgentEvent] = []

    def on_event(event: AgentEvent) -> None:
        events.append(event)
        view(event)

    script = [
        Turn(tool_calls=[call("every__trigger-long-running-operation", duration=0.5, steps=5)]),
        Turn(content="done"),
    ]
    try:
        with FakeProvider(script) as fake:
            agent = Agent(
                provider="custom", base_url=fake.base_url, tools=[], mcp=[everything], plan=False, workdir=tmp_path
            )
            result = await agent.run("Run the long operation.", on_event=on_event)
            await agent.aclose()
    finally:
        telemetry.uninstrument()
        provider.shutdown()
    assert result.status == "finished", (result.error, fake.errors)

    progress = [e for e in events if isinstance(e, ToolProgress)]
    assert [(e.progress, e.total) for e in progress] == [(n, 5.0) for n in (1.0, 2.0, 3.0, 4.0, 5.0)]
    assert {e.name for e in progress} == {"every__trigger-long-running-operation"}
    assert progress[-1].describe() == "5/5 (100%)"
    finished = next(i for i, e in enumerate(events) if e.kind == "tool_result")
    assert events.index(progress[-1]) < finished  # shown while the call ran
    log = screen.getvalue()
    assert ".. every__trigger-long-running-operation 1/5 (20%)" in log
    assert ".. every__trigger-long-running-operation 5/5 (100%)" in log

    [span] = [s for s in exporter.get_finished_spans() if s.name.startswith("execute_tool")]
    marks = [(e.name, dict(e.attributes or {})) for e in span.events]
    assert marks == [
        ("agentkit.tool.progress", {"agentkit.progress": n, "agentkit.progress.total": 5.0})
        for n in (1.0, 2.0, 3.0, 4.0, 5.0)
    ]
    times = [e.timestamp for e in span.events]
    assert times == sorted(times) and (span.start_time or 0) <= times[0] and times[-1] <= (span.end_time or 0)
