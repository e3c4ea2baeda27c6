"""Videos with a task, end to end: the real client over loopback against the strict fake, whose
rules are written from Moonshot's docs (agentkit/testing/_kimi_rules.py: ``video_url`` parts in
user messages, for K2.6 only), the real SQLite store, the CLI."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import anyio
import pytest
from _videos import make_video

from agentkit import Agent, tool
from agentkit.context.videos import VideoError, sees_videos, video_tokens
from agentkit.llm.client import OpenAICompatibleModel
from agentkit.store import SQLiteStore
from agentkit.store.events import RunStarted
from agentkit.store.fold import load_state
from agentkit.testing import FakeProvider, Turn, call
from agentkit.testing.script import FakeRequest

pytestmark = pytest.mark.anyio


def video_parts(request: FakeRequest) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for message in request.body["messages"]:
        content = message.get("content")
        if isinstance(content, list):
            found.extend((message["role"], p) for p in content if p.get("type") == "video_url")
    return found


def sent_bytes(part: dict[str, Any]) -> tuple[str, bytes]:
    head, _, payload = part["video_url"]["url"].partition(",")
    return head, base64.b64decode(payload)


@tool
async def look(what: str) -> str:
    """Look something up."""
    return f"{what}: nothing more to see"


async def test_a_k26_run_gets_the_video_as_a_part_of_the_task(tmp_path: Path) -> None:
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(make_video(frames=24, rate=12, width=96, height=64))
    script = [Turn(reasoning="check", tool_calls=[call("look", what="the ramp")]), Turn(content="the colour ramps up")]
    with FakeProvider(script, model="kimi-k2.6") as fake:
        llm = OpenAICompatibleModel("kimi-k2.6", "custom", base_url=fake.base_url)
        async with SQLiteStore(tmp_path / "t.db") as store:
            async with Agent(llm=llm, store=store, tools=[look], plan=False) as agent:
                result = await agent.run("What happens in the video?", videos=[clip])
            started = next(e.event for e in await store.events(result.run_id) if isinstance(e.event, RunStarted))
    assert result.status == "finished", (result.error, fake.errors)
    assert fake.errors == []  # the strict K2.6 rules held on every request
    first, second = fake.requests
    [(role, part)] = video_parts(first)
    assert role == "user" and first.body["messages"][1]["content"][0]["text"] == "What happens in the video?"
    assert set(part) == {"type", "video_url"}  # nothing of agentkit's own leaks into the request
    assert sent_bytes(part) == ("data:video/mp4;base64", clip.read_bytes())  # the original bytes, not transcoded
    assert video_parts(second) == video_parts(first)  # pinned with the task, byte for byte (the prefix cache)
    [ref] = started.videos
    assert (ref.width, ref.height, ref.mime_type, ref.codec, len(ref.key)) == (96, 64, "video/mp4", "h264", 64)
    # The budget counted the video, and so did the fake (the same published media rule).
    assert fake.prompt_tokens[0] >= video_tokens(96, 64, 2.0, 12.0)
    assert b"data:video" not in (tmp_path / "t.db").read_bytes()  # the trace keeps a blob by hash


async def test_resume_reads_the_video_back_from_the_store(tmp_path: Path) -> None:
    """A run stopped from outside while its tool runs; the video's file is gone by the time it
    resumes in a new store connection, and the request still carries the same bytes."""
    clip = tmp_path / "clip.webm"
    original = make_video("webm", "libvpx-vp9")
    clip.write_bytes(original)
    started = anyio.Event()
    release = {"slow": True}

    @tool
    async def wait(what: str) -> str:
        """Wait for something."""
        if release["slow"]:
            started.set()
            await anyio.sleep_forever()
        return f"{what} arrived"

    script = [Turn(reasoning="wait", tool_calls=[call("wait", what="the end")]), Turn(content="it fades")]
    with FakeProvider(script, model="kimi-k2.6") as fake:
        async with SQLiteStore(tmp_path / "t.db") as store:
            llm = OpenAICompatibleModel("kimi-k2.6", "custom", base_url=fake.base_url)
            async with Agent(llm=llm, store=store, tools=[wait], plan=False) as agent, anyio.create_task_group() as tg:
                tg.start_soon(lambda: agent.run("How does it end?", run_id="r1", videos=[clip]))
                await started.wait()
                tg.cancel_scope.cancel()
            assert (await store.get_run("r1")).status == "interrupted"
        clip.unlink()
        release["slow"] = False
        async with SQLiteStore(tmp_path / "t.db") as store:
            llm = OpenAICompatibleModel("kimi-k2.6", "custom", base_url=fake.base_url)
            async with Agent(llm=llm, store=store, tools=[wait], plan=False) as agent:
                result = await agent.resume("r1")
            assert [len(r.videos) for r in [await load_state(store, "r1")]] == [1]
    assert result.status == "finished" and result.answer == "it fades", (result.error, fake.errors)
    assert fake.errors == []
    [(_, part)] = video_parts(fake.requests[-1])
    assert sent_bytes(part) == ("data:video/webm;base64", original)


@pytest.mark.parametrize("model", ["kimi-k3", "kimi-k2.5", "kimi-k2-thinking"])
async def test_a_model_that_does_not_take_video_gets_it_named_in_text(tmp_path: Path, model: str) -> None:
    with FakeProvider([Turn(content="I cannot see it")], model=model) as fake:
        llm = OpenAICompatibleModel(model, "custom", base_url=fake.base_url)
        async with Agent(llm=llm, tools=[], plan=False, workdir=tmp_path) as agent:
            result = await agent.run("What happens?", videos=[make_video()])
    assert result.status == "finished", (result.error, fake.errors)
    assert fake.errors == []  # the strict fake refuses video parts for these models
    assert video_parts(fake.requests[0]) == []
    task = fake.requests[0].body["messages"][1]["content"]
    assert task.startswith("What happens?\n\n[1 video(s) came with this task (video of ")
    assert task.endswith(" bytes (2.0 s, 64x48, h264 in video/mp4)); this model cannot see video.]")


def test_which_models_take_video_follows_their_traits() -> None:
    def model(name: str) -> OpenAICompatibleModel:
        return OpenAICompatibleModel(name, "moonshot", api_key="sk-x")

    assert sees_videos(model("kimi-k2.6")) and sees_videos(model("moonshotai/Kimi-K2.6"))
    assert not sees_videos(model("kimi-k3")) and not sees_videos(model("kimi-k2-thinking"))
    other = OpenAICompatibleModel("my-vlm", "custom", base_url="http://127.0.0.1:9/v1", video=True)
    assert sees_videos(other) and not sees_videos(
        OpenAICompatibleModel("kimi-k2.6", "moonshot", api_key="x", video=False)
    )


async def test_a_task_file_with_videos_runs(tmp_path: Path) -> None:
    from agentkit.run._from_task import agent_from_task
    from agentkit.task import load_task

    (tmp_path / "media").mkdir()
    (tmp_path / "media" / "clip.mov").write_bytes(make_video("mov"))
    with FakeProvider([Turn(content="1. Watch it."), Turn(content="seen")], model="kimi-k2.6") as fake:
        spec = tmp_path / "task.yaml"
        spec.write_text(
            "task: describe the clip\n"
            f"model: {{provider: custom, name: kimi-k2.6, base_url: '{fake.base_url}'}}\n"
            "tools: []\nvideos: [media/clip.mov]\noutput: {report: false}\n"
        )
        task = load_task(spec)
        assert task.videos == [str(tmp_path / "media" / "clip.mov")]  # relative to the task file
        async with SQLiteStore(tmp_path / "t.db") as store:
            agent = agent_from_task(task, store=store, workdir=tmp_path / "runs")
            result = await agent.run(task.task, videos=task.videos)
            await agent.aclose()
    assert result.status == "finished", (result.error, fake.errors)
    assert len(fake.requests) == 2 and fake.errors == []
    for request in fake.requests:  # the planning call sees the video too
        [(_, part)] = video_parts(request)
        assert part["video_url"]["url"].startswith("data:video/quicktime;base64,")


def test_a_missing_video_in_a_task_file_names_it(tmp_path: Path) -> None:
    from agentkit.task import TaskFileError, load_task

    spec = tmp_path / "task.yaml"
    spec.write_text("task: x\nvideos: [nope.mp4]\n")
    with pytest.raises(TaskFileError, match=r"videos\[0\]: video not found \(a path is relative to the task"):
        load_task(spec)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (lambda: make_video()[:1500], "the video is damaged or truncated"),
        (lambda: b"<html>not a video</html>", "not a video in a format the model takes"),
        (lambda: b"\x00\x00\x00\x18ftypisom" + bytes(21 * 2**20), r"21\.0 MB is over the 20\.0 MB limit for a video"),
    ],
    ids=["truncated", "not a video", "over the cap"],
)
def test_a_bad_video_in_a_task_file_exits_2_with_one_line(tmp_path: Path, content: Any, reason: str) -> None:
    from typer.testing import CliRunner

    from agentkit.cli import app

    (tmp_path / "bad.mp4").write_bytes(content())
    spec = tmp_path / "t.yaml"
    spec.write_text(
        "task: x\nmodel: {provider: custom, name: kimi-k2.6, base_url: 'http://127.0.0.1:9/v1'}\nvideos: [bad.mp4]\n"
    )
    result = CliRunner().invoke(app, ["run", str(spec), "--store", str(tmp_path / "s.db")])
    assert result.exit_code == 2, result.output
    [line] = result.output.strip().splitlines()
    assert line.startswith(f"error: videos: {tmp_path / 'bad.mp4'}: ") and re.search(reason, line), line


async def test_heavy_trajectories_see_the_task_video(tmp_path: Path) -> None:
    script = [Turn(content="a ramp")] * 2 + [Turn(content="All trajectories say a ramp. a ramp")]
    with FakeProvider(script, model="kimi-k2.6") as fake:
        llm = OpenAICompatibleModel("kimi-k2.6", "custom", base_url=fake.base_url)
        async with SQLiteStore(tmp_path / "t.db") as store:
            async with Agent(llm=llm, store=store, tools=[], plan=False, heavy=2) as agent:
                result = await agent.run("What happens?", videos=[make_video()])
            runs = [result.run_id] + [r.id for r in await store.list_runs(parent_id=result.run_id, limit=10)]
            videos = {run: (await load_state(store, run)).videos for run in runs}
    assert result.status == "finished", (result.error, fake.errors)
    assert fake.errors == []
    assert [len(video_parts(r)) for r in fake.requests[:2]] == [1, 1]  # each trajectory saw it
    assert len(videos) == 3 and all(len(v) == 1 for v in videos.values())
    assert len({ref.key for refs in videos.values() for ref in refs}) == 1  # stored once, referenced by each run


async def test_a_resumed_heavy_run_sends_the_video_again(tmp_path: Path) -> None:
    """Both trajectories stopped from outside inside their tool call; on resume (a new store
    connection) each one's next request carries the same video bytes."""
    original = make_video("webm", "libvpx")
    both_waiting, waiting = anyio.Event(), [0]
    release = {"slow": True}

    @tool
    async def wait(what: str) -> str:
        """Wait for something."""
        if release["slow"]:
            waiting[0] += 1
            if waiting[0] == 2:
                both_waiting.set()
            await anyio.sleep_forever()
        return f"{what} arrived"

    def respond(request: FakeRequest) -> Turn:
        if "trajectories" in str(request.messages[0]["content"]).lower():  # the aggregation call
            return Turn(content="It fades to blue.")
        if not any(m["role"] == "tool" for m in request.messages):
            return Turn(reasoning="wait", tool_calls=[call("wait", what="the end")])
        return Turn(content="It fades to blue.")

    with FakeProvider(respond, model="kimi-k2.6") as fake:

        def agent(store: SQLiteStore) -> Agent:
            llm = OpenAICompatibleModel("kimi-k2.6", "custom", base_url=fake.base_url)
            return Agent(llm=llm, store=store, tools=[wait], plan=False, heavy=2, aggregate="vote")

        async with SQLiteStore(tmp_path / "t.db") as store:
            async with agent(store) as first, anyio.create_task_group() as tg:
                tg.start_soon(lambda: first.run("How does it end?", run_id="h1", videos=[original]))
                await both_waiting.wait()
                tg.cancel_scope.cancel()
            assert (await store.get_run("h1")).status == "interrupted"
        before = len(fake.requests)
        release["slow"] = False
        async with SQLiteStore(tmp_path / "t.db") as store, agent(store) as second:
            result = await second.resume("h1")
    assert result.status == "finished", (result.error, fake.errors)
    assert fake.errors == []
    resumed = [r for r in fake.requests[before:] if any(m["role"] == "tool" for m in r.messages)]
    assert len(resumed) == 2  # each trajectory asked again after its tool result
    for request in resumed:
        [(_, part)] = video_parts(request)
        assert sent_bytes(part) == ("data:video/webm;base64", original)


async def test_videos_that_would_fill_half_the_window_are_refused_before_the_run(tmp_path: Path) -> None:
    clip = make_video(frames=24, rate=12, width=640, height=360)  # 2 s: one group of 299 + 12 tokens
    with FakeProvider([Turn(content="a ramp")], model="kimi-k2.6") as fake:
        llm = OpenAICompatibleModel("kimi-k2.6", "custom", base_url=fake.base_url)
        async with SQLiteStore(tmp_path / "t.db") as store:
            async with Agent(llm=llm, store=store, tools=[], plan=False, context_window=600) as agent:
                with pytest.raises(VideoError, match=r"about 311 tokens .* more than half of the model's 600-token"):
                    await agent.run("What happens?", videos=[clip])
            assert await store.list_runs() == [] and fake.requests == []
            llm = OpenAICompatibleModel("kimi-k2.6", "custom", base_url=fake.base_url)
            async with Agent(llm=llm, store=store, tools=[], plan=False, context_window=4096) as agent:
                result = await agent.run("What happens?", videos=[clip])
    assert result.status == "finished", (result.error, fake.errors)
