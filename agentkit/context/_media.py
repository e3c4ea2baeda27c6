"""Reading a task's media (images, videos) as a caller gives them: a path, an ``http(s)`` URL,
a ``data:`` URL or raw bytes. One reader for both kinds, so a URL always goes through the
same SSRF guard as ``fetch`` and every refusal is worded the same way."""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import anyio.to_thread

from agentkit.net._download import BlockedURLError, DownloadError, download


@dataclass(frozen=True)
class MediaKind:
    """What is read: ``noun`` names it in messages, ``error`` is raised, ``accept`` goes with
    a download. ``too_big`` (given) refuses a file over the cap before reading it, with its
    real size; without it a file is read up to the cap plus one byte for the caller's check."""

    noun: str
    error: type[Exception]
    accept: str
    timeout_s: float = 30.0
    too_big: Callable[[int, int], str] | None = None


async def read_media(
    source: str | Path | bytes, kind: MediaKind, *, max_bytes: int, allow_private: bool = False
) -> tuple[bytes, str]:
    """The raw bytes of ``source`` and a label naming it in messages. A URL is downloaded
    through the SSRF guard, private addresses only with ``allow_private``. Raises
    ``kind.error``."""
    if isinstance(source, bytes | bytearray):
        return bytes(source), f"{kind.noun} of {len(source)} bytes"
    text = str(source)
    if text.startswith("data:"):
        head, _, payload = text.partition(",")
        if ";base64" not in head:
            raise kind.error(f"a data: URL {kind.noun} must be base64-encoded")
        try:
            return base64.b64decode(payload, validate=True), f"data: URL {kind.noun}"
        except ValueError:
            raise kind.error(f"the data: URL {kind.noun} is not valid base64") from None
    if text.startswith(("http://", "https://")):
        return await _download(text, kind, max_bytes, allow_private), text
    return await anyio.to_thread.run_sync(_read_file, text, kind, max_bytes)


def _read_file(text: str, kind: MediaKind, max_bytes: int) -> tuple[bytes, str]:
    path = Path(text).expanduser()
    try:
        with path.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if kind.too_big is not None and size > max_bytes:  # said before reading it, with its real size
                raise kind.error(f"{path}: {kind.too_big(size, max_bytes)}")
            data = handle.read(max_bytes + 1)  # the caller's checks catch a file that grows meanwhile
    except OSError as exc:
        raise kind.error(f"{path}: cannot read the {kind.noun} ({exc.strerror or exc})") from None
    return data, str(path)


async def _download(url: str, kind: MediaKind, max_bytes: int, allow_private: bool) -> bytes:
    """The file at ``url``, through the same SSRF guard as ``fetch`` (every redirect hop
    checked; private addresses only with ``allow_private``)."""
    try:
        got = await download(
            url,
            max_bytes=max_bytes,
            allow_private=allow_private,
            accept=kind.accept,
            what=f"the {kind.noun}",
            timeout_s=kind.timeout_s,
        )
    except BlockedURLError as exc:
        raise kind.error(
            f"{url}: refused: {exc}; only public http(s) addresses are downloaded "
            "(fetch.allow_private_hosts: true opens private ones)"
        ) from None
    except DownloadError as exc:
        raise kind.error(f"{url}: cannot download the {kind.noun}: {exc}") from None
    return got.data
