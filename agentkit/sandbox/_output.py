"""Collecting a cell's output from IOPub messages under hard size caps."""

from __future__ import annotations

import base64
import binascii
import contextlib
import errno
import os
import re
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")
_OVERWRITTEN = re.compile(r"[^\n]*\r(?!\n)")


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def clean_text(text: str) -> str:
    """Strip terminal colour codes and collapse carriage-return progress lines."""
    return _OVERWRITTEN.sub("", strip_ansi(text))


def cap_middle(text: str, limit: int) -> str:
    """Keep the head and the tail of an over-long text (the end often holds the answer)."""
    if len(text) <= limit:
        return text
    tail = limit // 4
    head = limit - tail
    return f"{text[:head]}\n…[{len(text) - head - tail} characters omitted]…\n{text[-tail:]}"


class CappedText:
    """Text accumulated with bounded memory: the first ``head`` and last ``tail`` characters."""

    def __init__(self, limit: int) -> None:
        self.tail_limit = limit // 4
        self.head_limit = limit - self.tail_limit
        self._head: list[str] = []
        self._head_len = 0
        self._tail: deque[str] = deque()
        self._tail_len = 0
        self.omitted = 0

    def add(self, text: str) -> None:
        if not text:
            return
        room = self.head_limit - self._head_len
        if room > 0 and not self._tail:
            piece = text[:room]
            self._head.append(piece)
            self._head_len += len(piece)
            text = text[room:]
            if not text:
                return
        keep = text[-self.tail_limit :] if self.tail_limit else ""
        self.omitted += len(text) - len(keep)
        if keep:
            self._tail.append(keep)
            self._tail_len += len(keep)
        while self._tail_len > self.tail_limit:
            first = self._tail[0]
            extra = self._tail_len - self.tail_limit
            if len(first) <= extra:
                self._tail.popleft()
                self._tail_len -= len(first)
                self.omitted += len(first)
            else:
                self._tail[0] = first[extra:]
                self._tail_len -= extra
                self.omitted += extra

    def render(self) -> str:
        head = "".join(self._head)
        if not self._tail:
            return head
        tail = "".join(self._tail)
        if not self.omitted:
            return head + tail
        return f"{head}\n…[{self.omitted} characters omitted]…\n{tail}"


@dataclass
class ErrorInfo:
    ename: str
    evalue: str
    traceback: str


def trim_traceback(frames: list[str], limit: int, *, keep_first: int = 1, keep_last: int = 4) -> str:
    """An IPython traceback without colours or separator rules, long frame lists elided."""
    parts = [clean_text(f).rstrip("\n") for f in frames]
    parts = [p for p in parts if p.strip() and set(p.strip()) != {"-"}]
    if not parts:
        return ""
    header: list[str] = []
    if "Traceback (most recent call last)" in parts[0]:
        header = ["Traceback (most recent call last):"]
        parts = parts[1:]
    last = parts[-1:] if parts else []
    body = parts[:-1]
    if len(body) > keep_first + keep_last:
        hidden = len(body) - keep_first - keep_last
        body = [*body[:keep_first], f"... [{hidden} frames omitted] ...", *body[-keep_last:]]
    body = [cap_middle(b, 1500) for b in body]
    text = "\n".join(header + body + last)
    if len(text) > limit:
        text = "…[traceback shortened]…\n" + text[-(limit - 30) :]
    return text


@dataclass
class CellOutput:
    """What one cell produced, already capped."""

    output: str = ""
    result: str | None = None
    error: ErrorInfo | None = None
    figures: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    execution_count: int | None = None


class FigureWriter:
    """Saves PNGs into ``<workdir>/figures`` without following links the sandbox may plant."""

    def __init__(self, workdir: Path, subdir: str = "figures") -> None:
        self.workdir = workdir
        self.subdir = subdir
        self._next = 1

    def save(self, data: bytes) -> Path:
        wfd = os.open(self.workdir, os.O_RDONLY | os.O_DIRECTORY)
        try:
            with contextlib.suppress(FileExistsError):
                os.mkdir(self.subdir, 0o755, dir_fd=wfd)
            dfd = os.open(self.subdir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=wfd)
        finally:
            os.close(wfd)
        try:
            for _ in range(10_000):
                name = f"figure-{self._next:03d}.png"
                self._next += 1
                try:
                    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=dfd)
                except OSError as exc:
                    if exc.errno in (errno.EEXIST, errno.ELOOP):
                        continue
                    raise
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                return self.workdir / self.subdir / name
            raise OSError("no free figure file name")
        finally:
            os.close(dfd)


class OutputCollector:
    """Folds a cell's IOPub messages into a :class:`CellOutput`, bounded while collecting."""

    def __init__(
        self,
        *,
        max_output_chars: int,
        max_result_chars: int,
        max_traceback_chars: int,
        max_figures: int,
        max_figure_bytes: int,
        figures: FigureWriter | None,
    ) -> None:
        self.stream = CappedText(max_output_chars)
        self.max_result_chars = max_result_chars
        self.max_traceback_chars = max_traceback_chars
        self.max_figures = max_figures
        self.max_figure_bytes = max_figure_bytes
        self.figure_writer = figures
        self.out = CellOutput()
        self._skipped_figures = 0

    def handle(self, msg_type: str, content: dict[str, Any]) -> None:
        if msg_type == "stream":
            self.stream.add(str(content.get("text", "")))
        elif msg_type == "execute_result":
            self.out.execution_count = content.get("execution_count")
            self._display(content.get("data", {}), is_result=True)
        elif msg_type in ("display_data", "update_display_data"):
            self._display(content.get("data", {}), is_result=False)
        elif msg_type == "error":
            frames = content.get("traceback") or []
            self.out.error = ErrorInfo(
                ename=str(content.get("ename", "Error")),
                evalue=cap_middle(clean_text(str(content.get("evalue", ""))), 2000),
                traceback=trim_traceback([str(f) for f in frames[:500]], self.max_traceback_chars),
            )
        elif msg_type == "execute_input":
            self.out.execution_count = content.get("execution_count")

    def _display(self, data: dict[str, Any], *, is_result: bool) -> None:
        png = data.get("image/png")
        if isinstance(png, str):
            self._figure(png)
            return
        text = data.get("text/plain")
        if not isinstance(text, str):
            return
        text = cap_middle(clean_text(text), self.max_result_chars)
        if is_result:
            self.out.result = text
        else:
            self.stream.add(text + "\n")

    def _figure(self, b64: str) -> None:
        if self.figure_writer is None:
            return
        if len(self.out.figures) >= self.max_figures:
            self._skipped_figures += 1
            return
        if len(b64) * 3 // 4 > self.max_figure_bytes:
            self.out.notes.append(f"A figure larger than {self.max_figure_bytes // (1024 * 1024)} MB was dropped.")
            return
        try:
            data = base64.b64decode(b64, validate=False)
            self.out.figures.append(self.figure_writer.save(data))
        except (binascii.Error, OSError) as exc:
            self.out.notes.append(f"A figure could not be saved: {exc}")

    def finish(self) -> CellOutput:
        self.out.output = clean_text(self.stream.render())
        if self._skipped_figures:
            self.out.notes.append(
                f"{self._skipped_figures} more figure(s) not saved (limit {self.max_figures} per call)."
            )
        return self.out
