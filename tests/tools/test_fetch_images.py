"""fetch of an image URL: the image is checked, downscaled and stored, and comes back with the
result for a vision model (a description line in the text for any model)."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image

from agentkit.tools.fetch import FetchArgs, FetchCache, FetchTool

pytestmark = pytest.mark.anyio


def png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (10, 120, 200)).save(out, format="PNG")
    return out.getvalue()


async def test_an_image_url_comes_back_as_an_image(web: Any, make_ctx: Any) -> None:
    url = web.add("/chart.png", png(4000, 1000), content_type="image/png")
    tool = FetchTool(allow_private_hosts=True, cache=FetchCache())
    ctx = await make_ctx()
    try:
        out = await tool.invoke(FetchArgs(url=url), ctx)
        again = await tool.invoke(FetchArgs(url=url), ctx)  # from the cache: the image comes along
    finally:
        await tool.aclose()
    assert not out.is_error, out.text
    assert "[image, 2048x512 pixels after downscaling, image/png" in out.text
    [ref] = out.images
    assert (ref.width, ref.height) == (2048, 512)
    stored = await ctx.store.get_blob(ref.key)
    assert stored is not None and Image.open(io.BytesIO(stored)).size == (2048, 512)
    assert again.images == out.images


async def test_a_fake_image_is_refused_with_a_reason(web: Any, make_ctx: Any) -> None:
    url = web.add("/evil.png", b"\x89PNG\r\n\x1a\n" + b"<script>alert(1)</script>" * 40, content_type="image/png")
    tool = FetchTool(allow_private_hosts=True, cache=FetchCache())
    try:
        out = await tool.invoke(FetchArgs(url=url), await make_ctx())
    finally:
        await tool.aclose()
    assert out.is_error and "not an image this framework can read" in out.text, out.text
    assert out.images == []
