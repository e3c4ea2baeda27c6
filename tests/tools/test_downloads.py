"""Every URL agentkit downloads goes through ``fetch``'s SSRF guard: an image given to a run
(``run(images=[url])``, ``images:`` in a task file) is refused when it, or any redirect on
the way, points at a non-public address."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from ssrf_helpers import PUBLIC_IP, alias_public_ip, fake_dns

from agentkit import Agent
from agentkit.context.images import ImageError, load_images
from agentkit.llm.client import OpenAICompatibleModel
from agentkit.net import _ssrf
from agentkit.net._download import Downloader, DownloadError
from agentkit.store import MemoryStore
from agentkit.testing import FakeProvider, Turn

pytestmark = pytest.mark.anyio


def png(width: int = 3, height: int = 2) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (10, 200, 10)).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def public_alias(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    return alias_public_ip(monkeypatch)


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = {"public.example": [PUBLIC_IP], "internal.example": ["127.0.0.1"]}
    monkeypatch.setattr(_ssrf, "_getaddrinfo", fake_dns(answers))  # type: ignore[arg-type]


async def test_an_image_url_on_a_public_host_is_downloaded_through_the_guard(
    web: Any, dns: None, public_alias: list[str]
) -> None:
    """Control for the refusals below: the guard lets a public host's image through."""
    web.add("/img.png", png(), "image/png")
    [ref] = await load_images(MemoryStore(), [f"http://public.example:{web.port}/img.png"])
    assert (ref.width, ref.height) == (3, 2)
    assert public_alias == [PUBLIC_IP]  # the vetted address was dialled (an image needs no robots.txt)


@pytest.mark.parametrize(
    "location",
    [
        "http://127.0.0.1:{port}/secret.png",
        "http://internal.example:{port}/secret.png",
        "http://[::1]:{port}/secret.png",
        "http://169.254.169.254/latest/meta-data/",
        "file:///etc/passwd",
    ],
)
async def test_an_image_url_that_redirects_to_a_private_address_is_refused(
    location: str, web: Any, dns: None, public_alias: list[str]
) -> None:
    web.add("/secret.png", png(), "image/png")
    web.reply("/img.png", 302, headers={"Location": location.format(port=web.port)})
    with pytest.raises(ImageError, match=r"img\.png: refused: .*only public http\(s\) addresses"):
        await load_images(MemoryStore(), [f"http://public.example:{web.port}/img.png"])
    assert web.hits["/img.png"] == 1  # the first hop was really served …
    assert web.hits["/secret.png"] == 0  # … and the redirect target never was
    assert public_alias == [PUBLIC_IP]


async def test_run_images_are_guarded_unless_the_task_allows_private_hosts(tmp_path: Path, web: Any) -> None:
    secret = web.add("/secret.png", png(5, 4), "image/png")
    with FakeProvider([Turn(content="green")], model="kimi-k2.5") as fake:
        llm = OpenAICompatibleModel("kimi-k2.5", "custom", base_url=fake.base_url)
        store = MemoryStore()
        agent = Agent(llm=llm, store=store, tools=[], plan=False, workdir=tmp_path)
        with pytest.raises(ImageError, match=r"refused: loopback address 127\.0\.0\.1"):
            await agent.run("What colour?", images=[secret])
        assert web.hits["/secret.png"] == 0
        assert await store.list_runs() == []  # refused before a run was made
        opened = Agent(
            llm=llm,
            store=store,
            tools=[],
            plan=False,
            workdir=tmp_path,
            settings={"fetch": {"allow_private_hosts": True}},
        )
        result = await opened.run("What colour?", images=[secret])
        await agent.aclose()
        await opened.aclose()
    assert result.status == "finished" and web.hits["/secret.png"] == 1


def test_a_task_file_image_on_a_private_address_is_bad_input(tmp_path: Path, web: Any) -> None:
    from typer.testing import CliRunner

    from agentkit.cli import app

    secret = web.add("/secret.png", png(), "image/png")
    spec = tmp_path / "t.yaml"
    spec.write_text(f"task: x\nmodel: {{provider: custom, base_url: 'http://127.0.0.1:9/v1'}}\nimages: ['{secret}']\n")
    result = CliRunner().invoke(app, ["run", str(spec), "--store", str(tmp_path / "s.db")])
    assert result.exit_code == 2, result.output
    assert "images: " in result.output and "refused: loopback address 127.0.0.1" in result.output
    assert web.hits["/secret.png"] == 0


async def test_the_downloader_caps_the_body_and_names_the_limit(web: Any) -> None:
    web.reply("/big", 200, chunks=[b"x" * 65536] * 40, headers={"Content-Type": "video/mp4"})
    downloader = Downloader()
    try:
        with pytest.raises(DownloadError, match="the video is larger than the 1 MB limit"):
            await downloader.get(web.url("/big"), max_bytes=1_048_576, allow_private=True, what="the video")
        got = await downloader.get(web.url("/big"), max_bytes=4_000_000, allow_private=True)
        assert got.mime_type == "video/mp4" and len(got.data) == 65536 * 40
    finally:
        await downloader.aclose()
