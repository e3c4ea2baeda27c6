"""Videos for models that take them: read, probed with PyAV, stored by hash, sent as data URLs.

A video given to a run (``agent.run(task, videos=[...])``, ``videos:`` in a task file) is
checked before anything else sees it, with FFmpeg through PyAV (a maintained binding whose
wheels bundle FFmpeg), in a worker thread:

- the container is sniffed from the file's first bytes and must be one the Kimi platform lists
  (its vision guide, "Supported Formats": mp4, mpeg, mov, avi, x-flv, mpg, webm, wmv, 3gpp);
  only that demuxer is then run on it, never FFmpeg's guess (so no playlist or image demuxer
  ever reads the bytes);
- it must have a video stream in a codec such a file carries (:data:`VIDEO_CODECS`);
- frame size, duration and frame count are capped (:data:`MAX_FRAME_PIXELS`,
  :data:`MAX_VIDEO_SECONDS`, :data:`MAX_FPS`) before decoding, and again while every packet of
  the stream is read (a header that lies about them is caught there);
- every packet must be whole, the stream as long as it says it is, and its first frames must
  decode: a truncated or damaged file is refused with a message saying so.

Nothing is transcoded: the original bytes are stored (a blob by content hash, like images) and
sent with the MIME type of their container. The trace holds only a
:class:`~agentkit.vocabulary.VideoRef`; the data URL is built when a request is sent
(:func:`agentkit.context.images.resolve_parts`). A video given by URL is downloaded through the
same SSRF guard as ``fetch`` (:mod:`agentkit.net._download`).

Sent as ``video_url`` parts with a base64 data URL (``data:video/mp4;base64,...``), the form the
hosts' K2.6 references document (ANYFAST: "``image_url`` and ``video_url`` accept two formats: a
base64 data URI ... or a file reference (``ms://<file_id>``)"). Uploading through the Files API
and sending ``ms://FILE_ID`` (what Moonshot's own kimi-cli does for its Kimi provider) is not
done here: it needs the model client to upload, which it cannot yet.

Which models see them: the model's ``video`` trait (:mod:`agentkit.llm.models`); any other model
gets them named in the task's text.

Token estimate (the context budget). The platform's vision guide gives no formula: "Videos are
composed of several key frames. The more key frames and the higher the resolution, the more
tokens are consumed", and points to the token-estimate API. The estimate here follows the media
processor Moonshot published with the open Kimi K2.5 weights (``preprocessor_config.json``,
``media_proc_cfg``, as vLLM's ``kimi_k25`` processor reads it): frames sampled at 2 per second
(``sample_fps``), each scaled to at most 4,096 patches of 14x14 pixels
(``in_patch_limit_each_frame``) and merged 2x2, so one token per 28x28 pixels as for images, and
every 4 consecutive sampled frames pooled into one (``temporal_merge_kernel_size``), each group
introduced by a timestamp and markers (about :data:`MARKER_TOKENS`). So a video costs about
``ceil(2 * seconds / 4) * (tokens of one frame + 12)``: a minute of 640x360 video is ~ 30 x 311
= 9,330 tokens; a minute of 1080p is capped by the patch limit at ~ 30 x 1,044 = 31,320. Hosted
models may sample differently; the provider's ``usage`` corrects the text estimate after each
call as it does for images.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio.to_thread

from agentkit.context._media import MediaKind, read_media
from agentkit.context.images import BLOB_URL_PREFIX, MIME_KEY, TOKENS_KEY
from agentkit.store.base import Store
from agentkit.task.sections import MAX_RUN_VIDEOS
from agentkit.vocabulary import VideoRef

if TYPE_CHECKING:
    from av.container import InputContainer
    from av.video.stream import VideoStream

MAX_VIDEO_BYTES = 20 * 1024 * 1024
"""A video file's size limit. Each request carries the whole video again as base64 (a third
larger); the Files API takes 100 MB files, but nothing documents a request size limit for inline
video on api.moonshot.ai (Kimi Code's is 2 MiB per message)."""
MAX_VIDEO_SECONDS = 600.0
"""A video's duration limit. Nothing documents one (a host says "short clips only"); ten
minutes of 1080p is ~310k tokens by the estimate above, more than a K2.x window."""
MAX_FRAME_PIXELS = 4096 * 4096
"""Larger frames are refused before decoding (4K UHD and DCI 4K pass): a small file can
declare frames whose buffers would take gigabytes."""
MAX_FPS = 240.0
"""With :data:`MAX_VIDEO_SECONDS`, bounds the packets read (a stream of millions of empty frames
is a bomb too)."""
FRAMES_DECODED = 3
"""Frames decoded to prove the file really is a video in a codec FFmpeg reads."""

SAMPLE_FPS = 2.0
TEMPORAL_MERGE = 4
PATCH = 14
PATCHES_PER_FRAME = 4096
PATCHES_PER_SIDE = 512
MARKER_TOKENS = 12
"""Per group of pooled frames: its timestamp (``00:01:02.500``) and the media markers."""

FORMATS: dict[str, tuple[str, str]] = {
    # the container sniffed -> (FFmpeg's demuxer for it, the MIME type the data URL names)
    "mp4": ("mp4", "video/mp4"),
    "mov": ("mov", "video/quicktime"),
    "3gp": ("3gp", "video/3gpp"),
    "webm": ("webm", "video/webm"),
    "mpeg": ("mpeg", "video/mpeg"),
    "avi": ("avi", "video/x-msvideo"),
    "flv": ("flv", "video/x-flv"),
    "wmv": ("asf", "video/x-ms-wmv"),
}
"""The containers the vision guide lists, with IANA / common MIME names (those kimi-cli sends)."""
ACCEPTED = "MP4, MOV, 3GP, WebM, MPEG, AVI, FLV or WMV"
VIDEO_CODECS = frozenset(
    {
        "h264", "hevc", "av1", "vp8", "vp9", "mpeg4", "mpeg1video", "mpeg2video", "h263",
        "flv", "flv1", "wmv1", "wmv2", "wmv3", "vc1", "msmpeg4v2", "msmpeg4v3", "mjpeg",
    }
)  # fmt: skip
"""Video codecs of the accepted containers (FFmpeg's names)."""
WEBM_CODECS = frozenset({"vp8", "vp9", "av1"})
"""The only video codecs a WebM file may hold (the WebM container guidelines)."""

_IMAGE_BRANDS = (b"avif", b"avis", b"heic", b"heix", b"heim", b"heis", b"hevc", b"mif1", b"msf1")
_QUICKTIME_ATOMS = (b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot")
_ASF_GUID = bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")


class VideoError(ValueError):
    """A video that cannot be used, with the reason for the person who gave it."""


def sees_videos(model: object) -> bool:
    """Whether ``model`` takes video parts: its ``video`` attribute when it has one, else its
    traits (:attr:`~agentkit.llm.models.ModelTraits.video`)."""
    video = getattr(model, "video", None)
    if isinstance(video, bool):
        return video
    return bool(getattr(getattr(model, "traits", None), "video", False))


def frame_tokens(width: int, height: int) -> int:
    """Tokens of one sampled frame: scaled to at most :data:`PATCHES_PER_FRAME` patches (and
    :data:`PATCHES_PER_SIDE` a side), then one token per 28x28 pixels."""
    patches = max(1, width // PATCH) * max(1, height // PATCH)
    scale = min(1.0, math.sqrt(PATCHES_PER_FRAME / patches), PATCHES_PER_SIDE * PATCH / max(width, height, 1))
    side = 2 * PATCH
    return math.ceil(max(1, int(width * scale)) / side) * math.ceil(max(1, int(height * scale)) / side)


def video_tokens(width: int, height: int, duration_s: float, fps: float) -> int:
    """Estimated prompt tokens of one video (see the module docstring)."""
    sampled = max(1, round(duration_s * min(SAMPLE_FPS, fps if fps > 0 else SAMPLE_FPS)))
    return math.ceil(sampled / TEMPORAL_MERGE) * (frame_tokens(width, height) + MARKER_TOKENS)


def ref_tokens(ref: VideoRef) -> int:
    return video_tokens(ref.width, ref.height, ref.duration_s, ref.fps)


def check_fits(videos: Sequence[VideoRef], window: int) -> None:
    """Refuse videos whose estimated tokens take more than half of ``window``: they are pinned
    with the task and sent with every request, so the run would have no room to work (or the
    first request would not fit at all). Raises :class:`VideoError`."""
    total = sum(ref_tokens(ref) for ref in videos)
    if videos and total > window // 2:
        each = ", ".join(f"{ref.label or 'video'} ~{ref_tokens(ref):,}" for ref in videos)
        raise VideoError(
            f"the videos take about {total:,} tokens ({each}), more than half of the model's "
            f"{window:,}-token context window; give shorter or smaller videos"
        )


def video_part(ref: VideoRef) -> dict[str, Any]:
    """A ``video_url`` content part that points at the blob; :func:`~agentkit.context.images.
    resolve_parts` turns it into the part sent (a data URL, without what it carries for the
    budget and the MIME type)."""
    return {
        "type": "video_url",
        "video_url": {"url": BLOB_URL_PREFIX + ref.key},
        MIME_KEY: ref.mime_type,
        TOKENS_KEY: ref_tokens(ref),
    }


def describe(ref: VideoRef) -> str:
    """``clip.mp4 (12.5 s, 640x360, h264 in video/mp4)``: a video named in text."""
    return f"{ref.label or 'video'} ({ref.duration_s:.1f} s, {ref.width}x{ref.height}, {ref.codec} in {ref.mime_type})"


def unseen_note(videos: Sequence[VideoRef]) -> str:
    """The line telling a model that cannot see video which videos came with the task."""
    named = "; ".join(describe(ref) for ref in videos)
    return f"[{len(videos)} video(s) came with this task ({named}); this model cannot see video.]"


# -- probing -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Probed:
    mime_type: str
    codec: str
    width: int
    height: int
    duration_s: float
    fps: float


def sniff_container(data: bytes) -> str | None:
    """The container of ``data`` by its first bytes: a key of :data:`FORMATS`, ``matroska``,
    ``image`` (an AVIF/HEIF still in an ISO box) or ``None``."""
    head = data[:64]
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _IMAGE_BRANDS:
            return "image"
        if brand == b"qt  ":
            return "mov"
        return "3gp" if brand.startswith((b"3gp", b"3g2")) else "mp4"
    if head[4:8] in _QUICKTIME_ATOMS:
        return "mov"  # a QuickTime file from before ftyp
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "webm" if _ebml_doctype(head) == b"webm" else "matroska"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "avi"
    if head.startswith(b"FLV\x01"):
        return "flv"
    if head.startswith(_ASF_GUID):
        return "wmv"
    if head.startswith(b"\x00\x00\x01\xba"):
        return "mpeg"  # an MPEG program stream's pack header
    return None


def _ebml_doctype(head: bytes) -> bytes | None:
    """The DocType of an EBML header (``webm`` or ``matroska``)."""
    at = head.find(b"\x42\x82", 4)
    if at < 0 or at + 3 > len(head):
        return None
    first = head[at + 2]
    width = 9 - first.bit_length() if first else 0  # an EBML size: leading zeros say its length
    if not 1 <= width <= 8:
        return None
    size = int.from_bytes(head[at + 2 : at + 2 + width], "big") & ((1 << (7 * width)) - 1)
    start = at + 2 + width
    return head[start : start + size].rstrip(b"\x00")


def probe(
    data: bytes, label: str, *, max_bytes: int = MAX_VIDEO_BYTES, max_seconds: float = MAX_VIDEO_SECONDS
) -> Probed:
    """Check that ``data`` is a whole video the model can take (see the module docstring) and
    say what it is. Blocking (PyAV): run it in a worker thread. Raises :class:`VideoError`."""
    if not data:
        raise VideoError(f"{label}: the file is empty")
    if len(data) > max_bytes:
        raise VideoError(f"{label}: {_size(len(data))} is over the {_size(max_bytes)} limit for a video")
    kind = sniff_container(data)
    if kind == "matroska":
        raise VideoError(f"{label}: a Matroska (.mkv) video; the model takes {ACCEPTED} (WebM for Matroska)")
    if kind is None or kind == "image":
        raise VideoError(f"{label}: not a video in a format the model takes ({ACCEPTED})")
    import av  # imported here: it takes most of a second, and only runs with videos need it

    demuxer, mime = FORMATS[kind]
    try:
        # max_pixels: FFmpeg's own bound on frame buffers, for the decoders it opens to probe the streams
        options = {"max_pixels": str(MAX_FRAME_PIXELS)}
        with av.open(io.BytesIO(data), "r", format=demuxer, options=options, metadata_errors="ignore") as container:
            return _check(container, kind, mime, label, max_seconds)
    except VideoError:
        raise
    except (av.FFmpegError, ValueError, OSError, EOFError) as exc:  # FFmpeg's errors are OSError / ValueError
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise VideoError(f"{label}: the video is damaged or truncated ({reason})") from None


def _size(n: int) -> str:
    return f"{n / 2**20:.1f} MB" if n >= 2**20 else f"{n:,} bytes"


def _check(container: InputContainer, kind: str, mime: str, label: str, max_seconds: float) -> Probed:
    if not container.streams:  # what FFmpeg leaves of a file cut before its index, say
        raise VideoError(f"{label}: the video is damaged or truncated (no stream could be read from it)")
    if not container.streams.video:
        raise VideoError(f"{label}: the file has no video stream")
    stream = container.streams.video[0]
    ctx = stream.codec_context
    codec = ctx.name
    allowed = WEBM_CODECS if kind == "webm" else VIDEO_CODECS
    if codec not in allowed:
        raise VideoError(f"{label}: its video codec {codec} is not one a {kind} file carries for the model")
    width, height = ctx.width, ctx.height
    limit = f"{MAX_FRAME_PIXELS:,} pixels a frame"
    if width <= 0 or height <= 0:  # what FFmpeg leaves when the frames are over its max_pixels
        raise VideoError(f"{label}: the video is damaged or its frames are larger than {limit} (no usable frame size)")
    if width * height > MAX_FRAME_PIXELS:
        raise VideoError(f"{label}: {width}x{height} frames are too large, over {limit} (a decompression bomb?)")
    declared = _declared_seconds(container, stream)
    if declared is not None and declared > max_seconds:
        raise VideoError(f"{label}: {declared:.0f} s long, over the {max_seconds:g} s limit for a video")
    max_packets = int(max_seconds * MAX_FPS) + 1
    if stream.frames > max_packets:
        raise VideoError(f"{label}: {stream.frames} frames, more than {max_packets} in {max_seconds:g} s")
    ctx.thread_count = 1  # frames come out as soon as they are decoded
    ctx.options = {"max_pixels": str(MAX_FRAME_PIXELS)}  # the decoder's own bound, for sizes that change midway
    fps = float(stream.average_rate) if stream.average_rate else 0.0
    frame_s = 1 / fps if fps > 0 else 0.0
    seen = _read_packets(container, stream, label, max_seconds, max_packets, frame_s)
    measured = max(0.0, seen.end - seen.start)
    if stream.frames and seen.packets < stream.frames:
        raise VideoError(
            f"{label}: the video is damaged or truncated "
            f"(it has {seen.packets} of the {stream.frames} frames it declares)"
        )
    if declared is not None and measured < declared - max(0.2, 2.5 * frame_s):
        raise VideoError(
            f"{label}: the video is damaged or truncated (its frames stop at {measured:.1f} s of {declared:.1f} s)"
        )
    if seen.decoded == 0:
        raise VideoError(f"{label}: the video is damaged (no frame of it could be decoded)")
    duration = measured or declared or 0.0
    if not fps and duration > 0:
        fps = seen.packets / duration
    return Probed(mime, codec, width, height, round(duration, 3), round(fps, 3))


@dataclass
class _Seen:
    packets: int = 0
    decoded: int = 0
    start: float = math.inf
    end: float = 0.0


def _read_packets(
    container: InputContainer, stream: VideoStream, label: str, max_seconds: float, max_packets: int, frame_s: float
) -> _Seen:
    """Every packet of ``stream``, each checked whole, the time its frames span (a packet
    without a duration lasts ``frame_s``) and the packet count bounded as they come; the first
    :data:`FRAMES_DECODED` frames decoded."""
    seen = _Seen()
    base = stream.time_base or Fraction(1, 1)
    for packet in container.demux(stream):
        if packet.size == 0 and packet.pts is None and packet.dts is None:
            continue  # the empty packet that ends the stream
        seen.packets += 1
        if seen.packets > max_packets:
            raise VideoError(f"{label}: more than {max_packets} frames, over the limit for {max_seconds:g} s")
        if packet.is_corrupt:
            raise VideoError(f"{label}: the video is damaged or truncated (frame {seen.packets} is cut or corrupt)")
        stamp = packet.pts if packet.pts is not None else packet.dts
        if stamp is not None:
            at = float(stamp * base)
            seen.start = min(seen.start, at)
            seen.end = max(seen.end, at + (float(packet.duration * base) if packet.duration else frame_s))
            if seen.end - seen.start > max_seconds:
                raise VideoError(f"{label}: longer than the {max_seconds:g} s limit for a video")
        if seen.decoded < FRAMES_DECODED:
            seen.decoded += len(stream.codec_context.decode(packet))
    if seen.decoded < FRAMES_DECODED:
        seen.decoded += len(stream.codec_context.decode(None))  # what the decoder still holds
    if seen.start == math.inf:
        seen.start = 0.0
    return seen


def _declared_seconds(container: InputContainer, stream: VideoStream) -> float | None:
    """The video stream's duration as its header says, else the file's when it holds nothing
    but that stream (another stream, audio say, may be longer)."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None and len(container.streams) == 1:
        return container.duration / 1_000_000
    return None


# -- reading and storing -----------------------------------------------------------------------


async def read_source(
    source: str | Path | bytes, *, allow_private: bool = False, max_bytes: int = MAX_VIDEO_BYTES
) -> tuple[bytes, str]:
    """The raw bytes of a video given by path, ``http(s)`` URL, ``data:`` URL or bytes, and a
    label naming it in messages. Raises :class:`VideoError`."""
    return await read_media(source, _VIDEO, max_bytes=max_bytes, allow_private=allow_private)


_VIDEO = MediaKind(
    noun="video",
    error=VideoError,
    accept="video/*",
    timeout_s=120.0,
    too_big=lambda size, cap: f"{_size(size)} is over the {_size(cap)} limit for a video",
)


async def store_video(
    store: Store, data: bytes, label: str, *, max_bytes: int = MAX_VIDEO_BYTES, max_seconds: float = MAX_VIDEO_SECONDS
) -> VideoRef:
    """Check ``data`` and keep it, unchanged, in ``store``; the reference to put in events."""
    found = await anyio.to_thread.run_sync(lambda: probe(data, label, max_bytes=max_bytes, max_seconds=max_seconds))
    key = await store.put_blob(data)
    return VideoRef(
        key=key,
        mime_type=found.mime_type,
        width=found.width,
        height=found.height,
        duration_s=found.duration_s,
        fps=found.fps,
        codec=found.codec,
        size=len(data),
        label=label,
    )


VideoSource = str | Path | bytes | VideoRef
"""A video as a caller gives it: a path, an http(s) or data: URL, raw bytes, or a video already
checked and stored (a :class:`~agentkit.vocabulary.VideoRef`, passed through)."""


async def load_videos(
    store: Store,
    sources: Sequence[VideoSource],
    *,
    allow_private: bool = False,
    max_bytes: int = MAX_VIDEO_BYTES,
    max_seconds: float = MAX_VIDEO_SECONDS,
) -> list[VideoRef]:
    """The videos given with a task, checked and stored. URLs are downloaded through the SSRF
    guard (private addresses only with ``allow_private``). Raises :class:`VideoError` on the
    first bad one."""
    if len(sources) > MAX_RUN_VIDEOS:
        raise VideoError(f"{len(sources)} videos given; at most {MAX_RUN_VIDEOS} per task")
    refs: list[VideoRef] = []
    for source in sources:
        if isinstance(source, VideoRef):
            refs.append(source)
            continue
        data, label = await read_source(source, allow_private=allow_private, max_bytes=max_bytes)
        refs.append(await store_video(store, data, label, max_bytes=max_bytes, max_seconds=max_seconds))
    return refs


__all__ = [
    "MAX_VIDEO_BYTES",
    "MAX_VIDEO_SECONDS",
    "VideoError",
    "VideoSource",
    "check_fits",
    "load_videos",
    "probe",
    "sees_videos",
    "store_video",
    "video_part",
    "video_tokens",
]
