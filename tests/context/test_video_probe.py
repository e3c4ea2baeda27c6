"""Videos checked with PyAV before a run takes them: real videos encoded in the test, each
container the Kimi platform lists accepted as it is, and everything else (not a video, an
image, Matroska, audio only, cut short, damaged, too long, too large, a frame-size bomb)
refused with one clear sentence."""

from __future__ import annotations

import base64
import struct
from fractions import Fraction

import pytest
from _videos import make_video

from agentkit.context.images import count_image_tokens, resolve_parts
from agentkit.context.messages import task_message
from agentkit.context.videos import (
    MAX_FRAME_PIXELS,
    VideoError,
    frame_tokens,
    load_videos,
    probe,
    sniff_container,
    store_video,
    video_part,
    video_tokens,
)
from agentkit.store import MemoryStore

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("fmt", "codec", "options", "mime", "decoded_as"),
    [
        ("mp4", "libx264", None, "video/mp4", "h264"),
        ("mp4", "libx264", {"movflags": "+faststart"}, "video/mp4", "h264"),
        ("mov", "libx264", None, "video/quicktime", "h264"),
        ("mov", "mjpeg", None, "video/quicktime", "mjpeg"),
        ("webm", "libvpx-vp9", None, "video/webm", "vp9"),
        ("webm", "libvpx", None, "video/webm", "vp8"),
        ("avi", "mpeg4", None, "video/x-msvideo", "mpeg4"),
        ("flv", "flv", None, "video/x-flv", "flv"),
        ("asf", "wmv2", None, "video/x-ms-wmv", "wmv2"),
    ],
)
def test_each_listed_container_is_probed_and_kept_as_it_is(
    fmt: str, codec: str, options: dict[str, str] | None, mime: str, decoded_as: str
) -> None:
    data = make_video(fmt, codec, frames=24, rate=12, options=options)
    found = probe(data, "clip")
    assert (found.mime_type, found.codec, found.width, found.height) == (mime, decoded_as, 64, 48)
    assert found.duration_s == pytest.approx(2.0, abs=0.01) and found.fps == pytest.approx(12.0)


def test_a_video_with_sound_is_taken_and_one_without_pictures_is_not() -> None:
    assert probe(make_video(audio=True), "talk").duration_s == pytest.approx(2.0, abs=0.01)
    with pytest.raises(VideoError, match=r"^song: the file has no video stream$"):
        probe(make_video(audio=True, video=False), "song")


def _frame_size_bomb() -> bytes:
    """A 4-frame Motion-JPEG QuickTime file whose sample description and JPEG headers say
    8000x8000 (64 megapixels a frame, ~96 MB a buffer) in a few kilobytes."""
    data = bytearray(make_video("mov", "mjpeg", frames=4))
    at = 0
    while (at := data.find(b"\xff\xc0", at)) >= 0:  # each frame's SOF0: height, width
        struct.pack_into(">HH", data, at + 5, 8000, 8000)
        at += 2
    stsd = data.find(b"stsd")  # the sample entry: width and height after 28 bytes of it
    struct.pack_into(">HH", data, stsd + 16 + 28, 8000, 8000)
    return bytes(data)


def _cut(data: bytes, share: float) -> bytes:
    return data[: int(len(data) * share)]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "the file is empty"),
        (b"just some text, no pictures", r"not a video in a format the model takes \(MP4, MOV, 3GP, WebM"),
        (base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mP8/x8AAwMCAO+ip1sAAAAASUVORK5CYII="),
         "not a video in a format"),  # a PNG
        (make_video("matroska"), r"a Matroska \(\.mkv\) video; the model takes .* \(WebM for Matroska\)"),
        (_cut(make_video(), 0.75), r"damaged or truncated \(End of file\)"),  # the index (moov) is gone
        (_cut(make_video(noise=True, options={"movflags": "+faststart"}), 0.75), r"frame \d+ is cut or corrupt"),
        (_cut(make_video("webm", "libvpx-vp9", noise=True), 0.5), r"its frames stop at 0\.\d s of 2\.0 s"),
        (_cut(make_video("avi", "mpeg4", noise=True), 0.6), r"frame \d+ is cut or corrupt"),
        (make_video(frames=3, rate=Fraction(1, 400)), r"1200 s long, over the 600 s limit"),  # a duration bomb
        (_frame_size_bomb(), f"larger than {MAX_FRAME_PIXELS:,} pixels a frame"),
    ],
    ids=[
        "empty", "text", "png", "mkv", "mp4 index cut", "mp4 data cut", "webm cut", "avi cut",
        "20 minutes", "8000x8000",
    ],
)  # fmt: skip
def test_what_is_not_a_whole_usable_video_is_refused_in_one_sentence(data: bytes, reason: str) -> None:
    with pytest.raises(VideoError, match=reason) as caught:
        probe(data, "upload.bin")
    assert str(caught.value).startswith("upload.bin: ") and "\n" not in str(caught.value)


def test_damaged_picture_data_is_refused_when_its_frames_are_decoded() -> None:
    data = bytearray(make_video())
    at = data.find(b"mdat") + 4
    data[at : at + 800] = bytes(800)  # the first frames' slices zeroed; the index still says they are there
    with pytest.raises(VideoError, match="damaged or truncated"):
        probe(bytes(data), "clip")


def test_size_duration_and_frame_count_caps_hold() -> None:
    data = make_video()
    with pytest.raises(VideoError, match=r"2,\d{3} bytes is over the 1,000 bytes limit"):
        probe(data, "clip", max_bytes=1000)
    with pytest.raises(VideoError, match=r"2 s long, over the 1 s limit"):
        probe(data, "clip", max_seconds=1)
    # 600 frames said to last a second: with a 1 s limit more frames than any 240 fps video holds
    flood = make_video(frames=600, rate=600, width=16, height=16)
    with pytest.raises(VideoError, match="600 frames, more than 241 in 1 s"):
        probe(flood, "flood", max_seconds=1)


def test_a_header_that_understates_the_length_is_caught_while_reading() -> None:
    """A WebM whose Segment Duration is rewritten to 0.5 s while its frames span 2 s."""
    data = bytearray(make_video("webm", "libvpx-vp9", frames=24, rate=12))
    at = data.index(b"\x44\x89")  # the Duration element: a float of TimecodeScale units (ms)
    assert data[at + 2] == 0x88
    struct.pack_into(">d", data, at + 3, 500.0)
    assert probe(bytes(data), "clip").duration_s == pytest.approx(2.0, abs=0.01)  # what the frames say
    with pytest.raises(VideoError, match=r"^clip: longer than the 1\.5 s limit for a video$"):
        probe(bytes(data), "clip", max_seconds=1.5)


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"\x00\x00\x00\x18ftypisom", "mp4"),
        (b"\x00\x00\x00\x14ftypqt  ", "mov"),
        (b"\x00\x00\x00\x14ftyp3gp5", "3gp"),
        (b"\x00\x00\x00\x1cftypavif", "image"),
        (b"\x00\x00\x00\x08wide\x00\x00\x00\x00mdat", "mov"),
        (b"RIFF\x00\x00\x00\x00AVI LIST", "avi"),
        (b"\x00\x00\x01\xba\x44\x00", "mpeg"),
        (b"GIF89a", None),
    ],
)
def test_the_container_is_sniffed_from_the_first_bytes(head: bytes, kind: str | None) -> None:
    assert sniff_container(head + bytes(32)) == kind


def test_webm_and_matroska_are_told_apart_by_their_doctype() -> None:
    assert sniff_container(make_video("webm", "libvpx-vp9")) == "webm"
    assert sniff_container(make_video("matroska")) == "matroska"


def test_the_token_estimate_follows_the_k25_media_processor() -> None:
    """2 sampled frames a second, 4 pooled into one group of one frame's tokens (one per 28x28
    pixels, at most 4,096 14-pixel patches a frame) plus 12 for its timestamp and markers."""
    assert frame_tokens(640, 360) == 23 * 13
    assert frame_tokens(1920, 1080) == 43 * 24  # scaled down to the patch limit first
    assert frame_tokens(3840, 2160) == frame_tokens(1920, 1080)  # the same cap, whatever the source size
    assert video_tokens(640, 360, 60, 30) == 30 * (299 + 12)
    assert video_tokens(640, 360, 60, 1) == 15 * (299 + 12)  # one frame a second: half as many samples
    assert video_tokens(64, 48, 0.2, 30) == 1 * (3 * 2 + 12)  # a blink still costs one group


async def test_a_stored_video_becomes_a_data_url_only_when_sent() -> None:
    store = MemoryStore()
    data = make_video("webm", "libvpx-vp9")
    ref = await store_video(store, data, "clip.webm")
    assert (ref.mime_type, ref.size, ref.label, len(ref.key)) == ("video/webm", len(data), "clip.webm", 64)
    message = task_message("What happens?", [], False, [ref], True)
    assert "data:" not in str(message)  # the view holds the blob's key, never the bytes
    assert count_image_tokens([message]) == video_tokens(64, 48, 2.0, 12.0)
    [sent] = await resolve_parts([message], store)
    text, part = sent["content"]
    assert text == {"type": "text", "text": "What happens?"}
    assert set(part) == {"type", "video_url"}  # nothing of agentkit's own leaks into the request
    head, _, payload = part["video_url"]["url"].partition(",")
    assert head == "data:video/webm;base64" and base64.b64decode(payload) == data  # the original bytes


async def test_a_model_that_cannot_see_video_gets_it_named() -> None:
    ref = await store_video(MemoryStore(), make_video(), "/tmp/clip.mp4")
    message = task_message("What happens?", [], True, [ref], False)
    assert message == {
        "role": "user",
        "content": "What happens?\n\n[1 video(s) came with this task (/tmp/clip.mp4 (2.0 s, 64x48, h264 in "
        "video/mp4)); this model cannot see video.]",
    }
    assert video_part(ref)["video_url"]["url"] == f"agentkit-blob:{ref.key}"


async def test_load_videos_refuses_too_many_and_passes_stored_ones_through() -> None:
    store = MemoryStore()
    ref = await store_video(store, make_video(), "clip")
    assert await load_videos(store, [ref]) == [ref]
    with pytest.raises(VideoError, match="5 videos given; at most 4 per task"):
        await load_videos(store, [ref] * 5)
    with pytest.raises(VideoError, match=r"nope\.mp4: cannot read the video"):
        await load_videos(store, ["/nonexistent/nope.mp4"])
    with pytest.raises(VideoError, match="not valid base64"):
        await load_videos(store, ["data:video/mp4;base64,@@@"])
    [inline] = await load_videos(store, ["data:video/mp4;base64," + base64.b64encode(make_video()).decode()])
    assert inline.key == ref.key  # the same bytes: one blob
