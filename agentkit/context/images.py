"""Images for vision models: read, checked, downscaled, stored by hash, sent as data URLs.

An image given to a run (``agent.run(task, images=[...])``, ``images:`` in a task file) or
produced by a tool (a figure of the Python sandbox) is decoded with Pillow before anything
else sees it: a file that is not an image, a decompression bomb or a truncated file is
refused with a clear message (a PNG's descriptive chunk with a bad checksum is left out, as
browsers do: :func:`without_bad_ancillary_chunks`). It is re-encoded (PNG, or JPEG when a
large photo is smaller so) with its longer side at most :data:`MAX_SIDE` pixels, which also
drops whatever else the file carried (metadata, trailing bytes). The trace keeps the bytes
as a blob by content hash and only an :class:`~agentkit.vocabulary.ImageRef` inline; the
data URL is built when a request is sent. An image given by URL is downloaded through the
same SSRF guard as ``fetch`` (:mod:`agentkit.net._download`).

Token estimate: Kimi's vision encoder (MoonViT) cuts an image into 14-pixel patches merged
2x2, so an image costs about one token per 28x28 pixels (plus a few for its markers). The
estimate feeds the context budget; the provider's ``usage`` corrects the text estimate
after each call as usual.
"""

from __future__ import annotations

import base64
import io
import math
import warnings
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio.to_thread
from PIL import Image, UnidentifiedImageError

from agentkit.context._media import MediaKind, read_media
from agentkit.store.base import Store
from agentkit.task.sections import MAX_RUN_IMAGES
from agentkit.vocabulary import ImageRef

MAX_SIDE = 2048
"""Longer side after downscaling (pixels)."""
MAX_PIXELS = 40_000_000
"""Larger images are refused before decoding (decompression bombs)."""
MAX_INPUT_BYTES = 20 * 1024 * 1024
MAX_TURN_IMAGES = 4
"""Tool images shown to the model after one turn (the newest; the rest are named in text)."""
IMAGE_URL_PREFIX = BLOB_URL_PREFIX = "agentkit-blob:"
"""How an image (or video) part refers to its blob inside the view, before the data URL replaces it."""
SIZE_KEY = "agentkit_size"
"""Kept on an image part inside the view for the token estimate; removed before sending."""
MIME_KEY = "agentkit_mime"
TOKENS_KEY = "agentkit_tokens"
"""Kept on a video part inside the view (:func:`agentkit.context.videos.video_part`): the MIME
type its data URL names and its estimated tokens; removed before sending."""
_BLOB_PARTS = ("image_url", "video_url")


class ImageError(ValueError):
    """An image that cannot be used, with the reason for the person who gave it."""


def sees_images(model: object) -> bool:
    """Whether ``model`` takes image parts: its ``vision`` attribute when it has one (the
    client's is its family's trait unless set), else its traits."""
    vision = getattr(model, "vision", None)
    if isinstance(vision, bool):
        return vision
    return bool(getattr(getattr(model, "traits", None), "vision", False))


def image_tokens(width: int, height: int) -> int:
    """Estimated prompt tokens of one image (see the module docstring)."""
    return math.ceil(width / 28) * math.ceil(height / 28) + 6


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def without_bad_ancillary_chunks(data: bytes) -> bytes:
    """A PNG with its *ancillary* chunks whose CRC is wrong left out (what libpng, browsers
    and most viewers do); anything else is returned as it is.

    Pillow refuses such a PNG unless ``ImageFile.LOAD_TRUNCATED_IMAGES`` is set, a process-wide
    switch that would also let truncated images through everywhere. An ancillary chunk (a
    lower-case first letter: ``iCCP``, ``tEXt``, ``eXIf``…) only describes the image, so dropping
    it changes nothing a model sees; the critical chunks (``IHDR``, ``PLTE``, ``IDAT``, ``IEND``)
    are kept as they are, and Pillow still checks them and refuses a damaged or truncated image.
    """
    if not data.startswith(_PNG_SIGNATURE):
        return data
    out = bytearray(_PNG_SIGNATURE)
    pos, dropped = len(_PNG_SIGNATURE), False
    while pos + 12 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        end = pos + 12 + length
        if end > len(data):
            break  # truncated: left for the decoder to refuse
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : end - 4]
        ancillary = bool(kind[0] & 0x20)
        if ancillary and zlib.crc32(kind + body) != int.from_bytes(data[end - 4 : end], "big"):
            dropped = True
        else:
            out += data[pos:end]
        pos = end
    if not dropped:
        return data
    return bytes(out + data[pos:])


def prepare(data: bytes, label: str) -> tuple[bytes, str, int, int]:
    """Decode, check and re-encode image bytes: ``(bytes, mime type, width, height)``.
    Raises :class:`ImageError`."""
    if len(data) > MAX_INPUT_BYTES:
        raise ImageError(f"{label}: {len(data) / 1e6:.1f} MB is over the {MAX_INPUT_BYTES // 2**20} MB limit")
    data = without_bad_ancillary_chunks(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                width, height = probe.size
                if width * height > MAX_PIXELS:
                    raise ImageError(f"{label}: {width}x{height} pixels is too large an image")
                probe.load()
                image = probe.copy()
    except ImageError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(f"{label}: not an image this framework can read ({type(exc).__name__})") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageError(f"{label}: the image is damaged or truncated ({exc})") from None
    if max(image.size) > MAX_SIDE:
        image.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    if image.mode not in ("RGB", "RGBA", "L", "LA", "P"):
        image = image.convert("RGBA")
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    encoded, mime = out.getvalue(), "image/png"
    if len(encoded) > 1_000_000 and image.mode in ("RGB", "L"):  # a photo: JPEG when it is smaller
        jpeg = io.BytesIO()
        image.save(jpeg, format="JPEG", quality=88)
        if jpeg.tell() < len(encoded):
            encoded, mime = jpeg.getvalue(), "image/jpeg"
    return encoded, mime, image.width, image.height


async def read_source(source: str | Path | bytes, *, allow_private: bool = False) -> tuple[bytes, str]:
    """The raw bytes of an image given by path, ``http(s)`` URL, ``data:`` URL or bytes, and
    a label naming it in messages. A URL is downloaded through the SSRF guard, private
    addresses only with ``allow_private``. Raises :class:`ImageError`."""
    return await read_media(source, _IMAGE, max_bytes=MAX_INPUT_BYTES, allow_private=allow_private)


_IMAGE = MediaKind(noun="image", error=ImageError, accept="image/*")


async def store_image(store: Store, data: bytes, label: str) -> ImageRef:
    """Check and downscale ``data`` and keep it in ``store``; the reference to put in events."""
    encoded, mime, width, height = await anyio.to_thread.run_sync(prepare, data, label)
    key = await store.put_blob(encoded)
    return ImageRef(key=key, mime_type=mime, width=width, height=height, label=label)


ImageSource = str | Path | bytes | ImageRef
"""An image as a caller gives it: a path, an http(s) or data: URL, raw bytes, or an image
already checked and stored (an :class:`ImageRef`, passed through)."""


async def load_images(store: Store, sources: Sequence[ImageSource], *, allow_private: bool = False) -> list[ImageRef]:
    """The images given with a task, stored. URLs are downloaded through the SSRF guard
    (private addresses only with ``allow_private``). Raises :class:`ImageError` on the first
    bad one."""
    if len(sources) > MAX_RUN_IMAGES:
        raise ImageError(f"{len(sources)} images given; at most {MAX_RUN_IMAGES} per task")
    refs: list[ImageRef] = []
    for source in sources:
        if isinstance(source, ImageRef):
            refs.append(source)
            continue
        data, label = await read_source(source, allow_private=allow_private)
        refs.append(await store_image(store, data, label))
    return refs


def image_part(ref: ImageRef) -> dict[str, Any]:
    """An ``image_url`` content part that points at the blob; :func:`resolve_parts` turns it
    into the part sent (a data URL, without the size it carries for the budget)."""
    return {"type": "image_url", "image_url": {"url": IMAGE_URL_PREFIX + ref.key}, SIZE_KEY: [ref.width, ref.height]}


async def resolve_parts(messages: list[dict[str, Any]], store: Store) -> list[dict[str, Any]]:
    """The messages with every blob reference of an image or video part replaced by its data
    URL (messages without them are returned as they are, not copied)."""
    out: list[dict[str, Any]] | None = None
    for i, message in enumerate(messages):
        content = message.get("content")
        if not isinstance(content, list) or not any(_blob_key(p) for p in content):
            continue
        parts: list[object] = []
        for part in content:
            key = _blob_key(part)
            if key is None:
                parts.append(part)
                continue
            kind = part["type"]
            data = await store.get_blob(key)
            if data is None:
                what = "an image" if kind == "image_url" else "a video"
                parts.append({"type": "text", "text": f"[{what} is missing from the store]"})
                continue
            if kind == "video_url":
                mime = str(part.get(MIME_KEY) or "video/mp4")
            else:
                mime = "image/jpeg" if data[:3] == b"\xff\xd8\xff" else "image/png"
            url = f"data:{mime};base64,{base64.b64encode(data).decode()}"
            parts.append({"type": kind, kind: {"url": url}})
        if out is None:
            out = list(messages)
        out[i] = {**message, "content": parts}
    return messages if out is None else out


def _blob_key(part: object) -> str | None:
    if not isinstance(part, dict) or part.get("type") not in _BLOB_PARTS:
        return None
    inner = part.get(part["type"])
    url = inner.get("url") if isinstance(inner, dict) else None
    if isinstance(url, str) and url.startswith(BLOB_URL_PREFIX):
        return url[len(BLOB_URL_PREFIX) :]
    return None


def count_image_tokens(messages: Sequence[Mapping[str, Any]]) -> int:
    """Estimated tokens of the image and video parts in a view: an image by the size its part
    carries (of unknown size: as the largest image), a video by the estimate its part carries."""
    total = 0
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            for part in content:
                if _blob_key(part) is None:
                    continue
                if part["type"] == "video_url":
                    total += int(part.get(TOKENS_KEY) or 0)
                    continue
                size = part.get(SIZE_KEY) or (MAX_SIDE, MAX_SIDE)
                total += image_tokens(int(size[0]), int(size[1]))
    return total
