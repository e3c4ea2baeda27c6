"""Small real videos for the tests, encoded here with PyAV (FFmpeg) rather than committed as
binary fixtures: a few frames of a colour ramp, or of noise when a test needs a larger file."""

from __future__ import annotations

import os
import tempfile
from fractions import Fraction
from typing import Any

import av
import numpy as np


def make_video(
    fmt: str = "mp4",
    codec: str = "libx264",
    *,
    frames: int = 24,
    width: int = 64,
    height: int = 48,
    rate: Fraction | int = 12,
    noise: bool = False,
    options: dict[str, str] | None = None,
    codec_options: dict[str, str] | None = None,
    audio: bool = False,
    video: bool = True,
) -> bytes:
    """The bytes of a ``frames``-frame video in container ``fmt`` (FFmpeg's muxer name), encoded
    with ``codec``; ``options`` go to the muxer (``{"movflags": "+faststart"}``)."""
    fd, name = tempfile.mkstemp(suffix=f".{fmt}")
    os.close(fd)
    try:
        with av.open(name, "w", format=fmt, options=options or {}) as out:
            streams: list[Any] = []
            if video:
                stream = out.add_stream(codec, rate=rate, options=codec_options or {})
                stream.width, stream.height = width, height
                stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
                streams.append(stream)
            sound = out.add_stream("aac", rate=8000) if audio else None
            rng = np.random.default_rng(7)
            for i in range(frames if video else 0):
                if noise:
                    pixels = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
                else:
                    pixels = np.full((height, width, 3), (i * 9 % 255, 80, 200 - i % 200), dtype=np.uint8)
                frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
                out.mux(streams[0].encode(frame))
            if video:
                out.mux(streams[0].encode(None))
            if sound is not None:
                for i in range(8):
                    samples = np.zeros((1, 1024), dtype=np.float32)
                    chunk = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
                    chunk.sample_rate, chunk.pts = 8000, i * 1024
                    out.mux(sound.encode(chunk))
                out.mux(sound.encode(None))
        with open(name, "rb") as handle:
            return handle.read()
    finally:
        os.unlink(name)
