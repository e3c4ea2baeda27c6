"""Images in and out for vision models (K2.5) against the strict fake, whose rules are written
from Moonshot's docs (agentkit/testing/_kimi_rules.py), and the real client over loopback."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from agentkit import Agent
from agentkit.context.images import MAX_SIDE, ImageError, image_tokens, prepare, store_image
from agentkit.context.policy import BatchPrune
from agentkit.llm.client import OpenAICompatibleModel
from agentkit.llm.models import model_traits
from agentkit.llm.types import ModelRequest
from agentkit.store import SQLiteStore
from agentkit.store.events import FigureProduced, RunStarted
from agentkit.store.fold import load_state
from agentkit.testing import FakeProvider, Turn, call
from agentkit.testing.script import FakeRequest
from agentkit.tools import ToolContext, ToolOutput, tool
from agentkit.tools.python import PythonTool

pytestmark = pytest.mark.anyio

PLOT = (
    "import matplotlib.pyplot as plt\n"
    "plt.bar(['a', 'b', 'c'], [1, 7, 2])\n"
    "plt.title('counts')\n"
    "plt.show()\n"
    "print('mean', (1 + 7 + 2) / 3)"
)


def png(width: int, height: int, color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, format="PNG")
    return out.getvalue()


def _noise_png() -> bytes:
    out = io.BytesIO()
    Image.effect_noise((300, 300), 60).save(out, format="PNG")
    return out.getvalue()


def image_parts(request: FakeRequest) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for message in request.body["messages"]:
        content = message.get("content")
        if isinstance(content, list):
            found.extend((message["role"], p) for p in content if p.get("type") == "image_url")
    return found


def decoded(part: dict[str, Any]) -> Image.Image:
    payload = part["image_url"]["url"].partition(",")[2]
    return Image.open(io.BytesIO(base64.b64decode(payload)))


async def test_the_model_sees_its_chart_and_corrects_its_analysis(tmp_path: Path) -> None:
    def responder(request: FakeRequest) -> Turn:
        if request.index == 0:
            return Turn(reasoning="A chart will show it.", tool_calls=[call("python", code=PLOT)])
        seen = image_parts(request)
        if not seen:
            return Turn(content="The mean is 3.33, so the values are even.")  # what it says blind
        role, part = seen[-1]
        with decoded(part) as chart:
            tall = chart.width > 100 and chart.height > 100
        return Turn(
            content=f"Correction: the chart ({role} image, readable={tall}) shows b dominates; the mean hides it."
        )

    tool = PythonTool(pool_size=0, isolation="none", timeout_s=60)
    with FakeProvider(responder, model="kimi-k2.5") as fake:
        llm = OpenAICompatibleModel("kimi-k2.5", "custom", base_url=fake.base_url)
        async with SQLiteStore(tmp_path / "t.db") as store:
            agent = Agent(llm=llm, store=store, tools=[tool], plan=False, workdir=tmp_path / "runs")
            result = await agent.run("Are the counts even?")
            await agent.aclose()
            state = await load_state(store, result.run_id)
        assert result.status == "finished", (result.error, fake.errors)
        assert fake.errors == []  # the strict rules held on every request
        assert result.answer.startswith("Correction: the chart (user image, readable=True)")
        second = fake.requests[1]
        assert second.body["temperature"] == 1.0  # K2.5 thinking mode's only temperature
        roles = [m["role"] for m in second.body["messages"]]
        assert roles[-2:] == ["tool", "user"]  # the image follows the tool turn as a user message
        figures = [e for r in state.records for es in r.effects.values() for e in es if isinstance(e, FigureProduced)]
        assert figures and figures[0].image is not None
        raw = (tmp_path / "t.db").read_bytes()
        assert b"data:image/png;base64" not in raw  # the trace keeps blobs by hash, never data URLs


async def test_a_text_only_model_gets_the_figure_named_not_shown(tmp_path: Path) -> None:
    script = [Turn(reasoning="plot", tool_calls=[call("python", code=PLOT)]), Turn(content="done")]
    tool = PythonTool(pool_size=0, isolation="none", timeout_s=60)
    with FakeProvider(script, model="kimi-k2-thinking") as fake:
        llm = OpenAICompatibleModel("kimi-k2-thinking", "custom", base_url=fake.base_url)
        async with SQLiteStore(tmp_path / "t.db") as store:
            agent = Agent(llm=llm, store=store, tools=[tool], plan=False, workdir=tmp_path / "runs")
            result = await agent.run("plot it")
            await agent.aclose()
    assert result.status == "finished", (result.error, fake.errors)
    assert image_parts(fake.requests[1]) == []
    tool_text = next(m["content"] for m in fake.requests[1].body["messages"] if m["role"] == "tool")
    assert "figure" in tool_text


async def test_task_images_are_sent_as_parts_and_counted_in_the_budget(tmp_path: Path) -> None:
    photo = tmp_path / "photo.png"
    photo.write_bytes(png(3000, 1500))
    with FakeProvider([Turn(content="a red rectangle")], model="kimi-k2.5") as fake:
        llm = OpenAICompatibleModel("kimi-k2.5", "custom", base_url=fake.base_url)
        async with SQLiteStore(tmp_path / "t.db") as store:
            agent = Agent(llm=llm, store=store, tools=[], plan=False)
            result = await agent.run("What is in the picture?", images=[photo])
            await agent.aclose()
            started = next(e.event for e in await store.events(result.run_id) if isinstance(e.event, RunStarted))
    assert result.status == "finished", (result.error, fake.errors)
    [(role, part)] = image_parts(fake.requests[0])
    with decoded(part) as sent:
        assert role == "user" and max(sent.size) == MAX_SIDE  # downscaled, aspect kept
        assert sent.size == (MAX_SIDE, MAX_SIDE // 2)
    assert set(part) == {"type", "image_url"}  # nothing of agentkit's own leaks into the request
    ref = started.images[0]
    assert (ref.width, ref.height) == (MAX_SIDE, MAX_SIDE // 2) and len(ref.key) == 64
    # The budget's estimate of that request included the image, which the fake counted too.
    assert fake.prompt_tokens[0] >= image_tokens(MAX_SIDE, MAX_SIDE // 2)


async def test_a_task_file_with_images_runs(tmp_path: Path) -> None:
    from agentkit.run._from_task import agent_from_task
    from agentkit.task import load_task

    (tmp_path / "chart.png").write_bytes(png(64, 64))
    with FakeProvider([Turn(content="1. Look at the chart."), Turn(content="seen")], model="kimi-k2.5") as fake:
        spec = tmp_path / "task.yaml"
        spec.write_text(
            "task: describe the chart\n"
            f"model: {{provider: custom, name: kimi-k2.5, base_url: '{fake.base_url}', thinking: false}}\n"
            "tools: []\nimages: [chart.png]\noutput: {report: false}\n"
        )
        task = load_task(spec)
        async with SQLiteStore(tmp_path / "t.db") as store:
            agent = agent_from_task(task, store=store, workdir=tmp_path / "runs")
            result = await agent.run(task.task, images=task.images)
            await agent.aclose()
    assert result.status == "finished", (result.error, fake.errors)
    for request in fake.requests:  # the planning call sees the image too
        assert request.body["thinking"] == {"type": "disabled"} and request.body["temperature"] == 0.6
        assert len(image_parts(request)) == 1


def test_a_missing_image_in_a_task_file_names_it(tmp_path: Path) -> None:
    from agentkit.task import TaskFileError, load_task

    spec = tmp_path / "task.yaml"
    spec.write_text("task: x\nimages: [nope.png]\n")
    with pytest.raises(TaskFileError, match=r"images\[0\]: image not found: .*nope.png"):
        load_task(spec)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"not an image at all", "not an image"),
        (png(10, 10)[:40], "not an image"),  # the header is cut: nothing to identify
        (_noise_png()[:-2000], "damaged or truncated"),
    ],
)
def test_bad_images_are_refused_clearly(data: bytes, reason: str) -> None:
    with pytest.raises(ImageError, match=reason):
        prepare(data, "upload")


def test_a_decompression_bomb_is_refused_before_decoding() -> None:
    with pytest.raises(ImageError, match="too large an image"):
        prepare(png(8000, 6000, (0, 0, 0)), "bomb")


@pytest.mark.parametrize(
    ("name", "family", "vision"),
    [
        ("kimi-k2.5", "kimi-k2.5", True),
        ("moonshotai/Kimi-K2.5", "kimi-k2.5", True),
        ("kimi-k2.6-preview", "kimi-k2.6", True),
        ("moonshotai/kimi-k2.5-maas", "kimi-k2.5", True),
        ("kimi-k2-thinking", "kimi-k2-thinking", False),
        ("moonshotai/Kimi-K2-Thinking", "kimi-k2-thinking", False),
        ("kimi-k2-0905-preview", "kimi-k2", False),
        ("gpt-5", "other", False),
    ],
)
def test_traits_by_family_not_by_exact_name(name: str, family: str, vision: bool) -> None:
    traits = model_traits(name)
    assert (traits.family, traits.vision) == (family, vision)


@pytest.mark.parametrize(
    ("thinking", "extra", "expected"),
    [
        (None, {}, {"temperature": 1.0}),
        (True, {}, {"thinking": {"type": "enabled"}, "temperature": 1.0}),
        (False, {}, {"thinking": {"type": "disabled"}, "temperature": 0.6}),
        (None, {"thinking": False, "reasoning_effort": "high"}, {"thinking": {"type": "disabled"}, "temperature": 0.6}),
        (True, {"reasoning_effort": "low", "top_p": 0.5}, {"thinking": {"type": "enabled"}, "temperature": 1.0}),
    ],
)
def test_k25_requests_follow_the_rules(thinking: bool | None, extra: dict[str, Any], expected: dict[str, Any]) -> None:
    model = OpenAICompatibleModel("kimi-k2.5", "moonshot", api_key="sk-x", thinking=thinking, extra_body=extra)
    body = model.build_body(ModelRequest(messages=[{"role": "user", "content": "x"}], temperature=0.2))
    shown = {k: body[k] for k in ("thinking", "temperature", "reasoning_effort", "top_p") if k in body}
    assert shown == expected


def test_k2_thinking_keeps_its_own_rules() -> None:
    model = OpenAICompatibleModel("kimi-k2-thinking", "moonshot", api_key="sk-x", thinking=False)
    body = model.build_body(ModelRequest(messages=[{"role": "user", "content": "x"}], temperature=0.2))
    assert "thinking" not in body and body["temperature"] == 0.2  # always thinks; temperature is free (0-1)


def test_k25_thinking_never_sends_a_tool_choice_it_forbids() -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    k25 = OpenAICompatibleModel("kimi-k2.5", "moonshot", api_key="sk-x", extra_body={"tool_choice": "required"})
    assert "tool_choice" not in k25.build_body(ModelRequest(messages=[{"role": "user", "content": "x"}], tools=tools))
    instant = OpenAICompatibleModel(
        "kimi-k2.5", "moonshot", api_key="sk-x", thinking=False, extra_body={"tool_choice": "required"}
    )
    body = instant.build_body(ModelRequest(messages=[{"role": "user", "content": "x"}], tools=tools))
    assert body["tool_choice"] == "required"  # instant mode has no such limit


async def test_any_tool_can_return_images(tmp_path: Path) -> None:
    @tool
    async def snapshot(ctx: ToolContext) -> ToolOutput:
        """Take a snapshot."""
        ref = await store_image(ctx.store, png(50, 50), "snapshot")
        return ToolOutput(text="[snapshot taken]", images=[ref])

    script = [Turn(reasoning=f"r{i}", tool_calls=[call("snapshot")]) for i in range(3)] + [Turn(content="done")]
    with FakeProvider(script, model="kimi-k2.5") as fake:
        llm = OpenAICompatibleModel("kimi-k2.5", "custom", base_url=fake.base_url)
        async with SQLiteStore(tmp_path / "t.db") as store:
            agent = Agent(llm=llm, store=store, tools=[snapshot], plan=False, context_policy=BatchPrune(keep=1))
            result = await agent.run("watch")
            await agent.aclose()
    assert result.status == "finished", (result.error, fake.errors)
    # Each turn's image follows its results; when the policy hides old results, their images go too.
    assert [len(image_parts(r)) for r in fake.requests] == [0, 1, 2, 1]
    tool_texts = [m["content"] for m in fake.requests[-1].body["messages"] if m["role"] == "tool"]
    assert sum("hidden to save context" in t for t in tool_texts) == 2


def test_a_task_file_image_that_is_not_an_image_is_bad_input(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from agentkit.cli import app

    (tmp_path / "bad.png").write_text("not a picture")
    spec = tmp_path / "t.yaml"
    spec.write_text("task: x\nmodel: {provider: custom, base_url: 'http://127.0.0.1:9/v1'}\nimages: [bad.png]\n")
    result = CliRunner().invoke(app, ["run", str(spec), "--store", str(tmp_path / "s.db")])
    assert result.exit_code == 2, result.output
    assert "images: " in result.output and "not an image this framework can read" in result.output
    assert "Traceback" not in result.output and "internal error" not in result.output


async def test_heavy_trajectories_see_the_task_images(tmp_path: Path) -> None:
    script = [Turn(content="red")] * 2 + [Turn(content="All trajectories say red. red")]
    with FakeProvider(script, model="kimi-k2.5") as fake:
        llm = OpenAICompatibleModel("kimi-k2.5", "custom", base_url=fake.base_url)
        async with SQLiteStore(tmp_path / "t.db") as store:
            agent = Agent(llm=llm, store=store, tools=[], plan=False, heavy=2)
            result = await agent.run("What colour is it?", images=[png(40, 40)])
            await agent.aclose()
            blobs = {r.id: (await load_state(store, r.id)).images for r in await store.list_runs(limit=10)}
    assert result.status == "finished", (result.error, fake.errors)
    assert [len(image_parts(r)) for r in fake.requests[:2]] == [1, 1]  # each trajectory saw it
    assert len({ref.key for refs in blobs.values() for ref in refs}) == 1  # stored once, referenced by each run


def test_vision_follows_the_family_unless_the_client_says() -> None:
    from agentkit.context.images import sees_images

    assert sees_images(OpenAICompatibleModel("kimi-k2.5", "moonshot", api_key="sk-x"))
    assert not sees_images(OpenAICompatibleModel("my-vlm", "custom", base_url="http://127.0.0.1:9/v1"))
    assert sees_images(OpenAICompatibleModel("my-vlm", "custom", base_url="http://127.0.0.1:9/v1", vision=True))
    assert not sees_images(OpenAICompatibleModel("kimi-k2.5", "moonshot", api_key="sk-x", vision=False))


EVERYTHING_PNG = Path(__file__).parents[1] / "fixtures" / "mcp" / "server-everything-tiny-image.png"


def test_a_png_whose_ancillary_chunk_has_a_bad_crc_is_read_like_a_browser_reads_it() -> None:
    """server-everything's image (its iCCP chunk's CRC is wrong): the chunk is left out, the
    image decoded and re-encoded; Pillow's process-wide leniency stays off."""
    from PIL import ImageFile

    data = EVERYTHING_PNG.read_bytes()
    encoded, mime, width, height = prepare(data, "tiny image")
    assert (mime, width, height) == ("image/png", 20, 20)
    with Image.open(io.BytesIO(encoded)) as again:
        again.load()
        assert again.size == (20, 20)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def _with_bad_crc(data: bytes, chunk: bytes) -> bytes:
    at = data.index(chunk) - 4
    length = int.from_bytes(data[at : at + 4], "big")
    crc_at = at + 8 + length
    return data[:crc_at] + bytes(b ^ 0xFF for b in data[crc_at : crc_at + 4]) + data[crc_at + 4 :]


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda d: d[: d.index(b"IDAT") + 200], "damaged or truncated"),  # the pixels are cut
        (lambda d: _with_bad_crc(d, b"IHDR"), "not an image|damaged"),  # a critical chunk is damaged
    ],
)
def test_a_png_damaged_where_it_matters_is_still_refused(damage: Any, reason: str) -> None:
    with pytest.raises(ImageError, match=reason):
        prepare(damage(EVERYTHING_PNG.read_bytes()), "tiny image")
