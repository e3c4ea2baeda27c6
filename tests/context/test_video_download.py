"""A video given by URL is downloaded through ``fetch``'s SSRF guard (every redirect hop
checked), within the video size cap, and then checked like any other video."""

from __future__ import annotations

import socket
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anyio
import pytest
from _videos import make_video

from agentkit import Agent
from agentkit.context.videos import VideoError, load_videos
from agentkit.llm.client import OpenAICompatibleModel
from agentkit.net import _ssrf
from agentkit.store import MemoryStore
from agentkit.testing import FakeProvider, Turn

pytestmark = pytest.mark.anyio

PUBLIC_IP = "93.184.216.34"  # stands in for a public web server; connections to it land on loopback


class Site:
    """A loopback HTTP server: ``routes[path] = (status, headers, body)``; ``hits`` per path."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, dict[str, str], bytes]] = {}
        self.hits: Counter[str] = Counter()
        site = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                site.hits[self.path] += 1
                status, headers, body = site.routes.get(self.path, (404, {}, b"not found"))
                self.send_response(status)
                for name, value in {**headers, "Content-Length": str(len(body))}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]


@pytest.fixture
def site() -> Iterator[Site]:
    made = Site()
    thread = threading.Thread(target=made.server.serve_forever, daemon=True)
    thread.start()
    yield made
    made.server.shutdown()
    made.server.server_close()


@pytest.fixture
def public_host(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """``public.example`` resolves to PUBLIC_IP, which the guard vets as public; dialling it
    reaches the loopback site. Returns the addresses dialled."""

    async def getaddrinfo(host: str, port: int, **_: Any) -> list[tuple[Any, ...]]:
        ips = {"public.example": PUBLIC_IP, "internal.example": "127.0.0.1"}.get(host.rstrip(".").lower())
        if ips is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ips, port))]

    monkeypatch.setattr(_ssrf, "_getaddrinfo", getaddrinfo)
    real_connect = anyio.connect_tcp
    dialled: list[str] = []

    async def connect_tcp(remote_host: Any, remote_port: int, **kwargs: Any) -> Any:
        dialled.append(str(remote_host))
        target = "127.0.0.1" if str(remote_host) == PUBLIC_IP else remote_host
        return await real_connect(target, remote_port, **kwargs)

    monkeypatch.setattr(anyio, "connect_tcp", connect_tcp)
    return dialled


async def test_a_video_on_a_public_host_is_downloaded_through_the_guard(site: Site, public_host: list[str]) -> None:
    """Control for the refusals below."""
    site.routes["/clip.mp4"] = (200, {"Content-Type": "video/mp4"}, make_video())
    [ref] = await load_videos(MemoryStore(), [f"http://public.example:{site.port}/clip.mp4"])
    assert (ref.mime_type, ref.width, ref.height, ref.label) == (
        "video/mp4",
        64,
        48,
        f"http://public.example:{site.port}/clip.mp4",
    )
    assert public_host == [PUBLIC_IP]  # the vetted address was dialled


@pytest.mark.parametrize(
    "location",
    [
        "http://127.0.0.1:{port}/secret.mp4",
        "http://internal.example:{port}/secret.mp4",
        "http://[::1]:{port}/secret.mp4",
        "http://169.254.169.254/latest/meta-data/",
        "file:///etc/passwd",
    ],
)
async def test_a_video_url_that_redirects_to_a_private_address_is_refused(
    location: str, site: Site, public_host: list[str]
) -> None:
    site.routes["/secret.mp4"] = (200, {"Content-Type": "video/mp4"}, make_video())
    site.routes["/clip.mp4"] = (302, {"Location": location.format(port=site.port)}, b"")
    with pytest.raises(VideoError, match=r"clip\.mp4: refused: .*only public http\(s\) addresses"):
        await load_videos(MemoryStore(), [f"http://public.example:{site.port}/clip.mp4"])
    assert site.hits["/clip.mp4"] == 1  # the first hop was really served …
    assert site.hits["/secret.mp4"] == 0  # … and the redirect target never was
    assert public_host == [PUBLIC_IP]


async def test_a_video_url_over_the_size_cap_is_refused_while_downloading(site: Site, public_host: list[str]) -> None:
    site.routes["/big.mp4"] = (200, {"Content-Type": "video/mp4"}, make_video(noise=True))
    with pytest.raises(VideoError, match=r"big\.mp4: cannot download the video: the video is .* over the .* limit"):
        await load_videos(MemoryStore(), [f"http://public.example:{site.port}/big.mp4"], max_bytes=10_000)


async def test_a_web_page_given_as_a_video_is_refused_as_not_a_video(site: Site, public_host: list[str]) -> None:
    site.routes["/watch"] = (200, {"Content-Type": "text/html"}, b"<html><video src=x></video></html>")
    with pytest.raises(VideoError, match=r"watch: not a video in a format the model takes"):
        await load_videos(MemoryStore(), [f"http://public.example:{site.port}/watch"])


async def test_run_videos_are_guarded_unless_the_task_allows_private_hosts(tmp_path: Path, site: Site) -> None:
    site.routes["/secret.mp4"] = (200, {"Content-Type": "video/mp4"}, make_video())
    secret = f"http://127.0.0.1:{site.port}/secret.mp4"
    with FakeProvider([Turn(content="a colour ramp")], model="kimi-k2.6") as fake:

        def llm() -> OpenAICompatibleModel:
            return OpenAICompatibleModel("kimi-k2.6", "custom", base_url=fake.base_url)

        store = MemoryStore()
        async with Agent(llm=llm(), store=store, tools=[], plan=False, workdir=tmp_path) as agent:
            with pytest.raises(VideoError, match=r"refused: loopback address 127\.0\.0\.1"):
                await agent.run("What happens?", videos=[secret])
        assert site.hits["/secret.mp4"] == 0
        assert await store.list_runs() == []  # refused before a run was made
        settings = {"fetch": {"allow_private_hosts": True}}
        async with Agent(llm=llm(), store=store, tools=[], plan=False, workdir=tmp_path, settings=settings) as opened:
            result = await opened.run("What happens?", videos=[secret])
    assert result.status == "finished" and site.hits["/secret.mp4"] == 1, (result.error, fake.errors)
    assert fake.errors == []
