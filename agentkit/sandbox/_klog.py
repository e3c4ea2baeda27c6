"""The kernel process's own stdout/stderr, kept by the host under a size cap.

Sandboxed code can write to the kernel's file descriptors 1 and 2 without limit (``os.write``,
a subprocess, a C extension); ipykernel echoes that output to the process's original stderr.
Those descriptors are a pipe the host drains in a thread: the first part of the output goes
to ``.kernel.log`` in the run's work dir, the rest is dropped except its last quarter, which
is appended with a note when the kernel stops. The previous kernel's log is kept as
``.kernel.log.1``, so a run keeps at most two capped logs, however often its kernel restarts.

The work dir is writable by the sandbox, so the log is created fresh (``O_EXCL``, never
through a link) and written only through the descriptor the host opened.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import threading
from collections import deque
from pathlib import Path

log = logging.getLogger("agentkit.sandbox")

LOG_NAME = ".kernel.log"
_NOTE_ROOM = 512
_RECENT = 4096


class KernelLog:
    """One kernel's output pipe and the capped log it is drained into."""

    def __init__(self, workdir: Path, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.tail_limit = max_bytes // 4
        self.head_limit = max_bytes - self.tail_limit - _NOTE_ROOM
        self.total = 0
        """Bytes the kernel wrote."""
        self.kept = 0
        """Bytes of the kernel's output in the log's head."""
        self._recent = b""
        self._tail: deque[bytes] = deque()
        self._tail_len = 0
        self._read_fd, self.write_fd = os.pipe2(os.O_CLOEXEC)
        self._file_fd = _create_log(workdir)
        self._thread = threading.Thread(target=self._drain, name="agentkit-kernel-log", daemon=True)

    def start(self) -> None:
        """Close the host's copy of the write end (the kernel holds its own) and start draining."""
        os.close(self.write_fd)
        self.write_fd = -1
        self._thread.start()

    def discard(self) -> None:
        """The kernel never started: release everything."""
        for fd in (self.write_fd, self._read_fd, self._file_fd):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.write_fd = self._read_fd = self._file_fd = -1

    def join(self, timeout: float) -> bool:
        """Wait until every writer is gone and the log is complete; ``False`` on timeout."""
        if self._thread.ident is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def recent(self) -> str:
        """The last few KB of the kernel's output (for error messages)."""
        return self._recent.decode(errors="replace").strip()

    def _write(self, data: bytes) -> None:
        if self._file_fd < 0 or not data:
            return
        try:
            view = memoryview(data)
            while view:
                n = os.write(self._file_fd, view)
                view = view[n:]
        except OSError as exc:  # disk full, file size limit: stop logging, keep draining
            log.debug("kernel log write failed: %s", exc)
            with contextlib.suppress(OSError):
                os.close(self._file_fd)
            self._file_fd = -1

    def _keep_tail(self, chunk: bytes) -> None:
        self._tail.append(chunk)
        self._tail_len += len(chunk)
        while self._tail_len - len(self._tail[0]) >= self.tail_limit:
            self._tail_len -= len(self._tail.popleft())

    def _drain(self) -> None:
        try:
            while True:
                try:
                    chunk = os.read(self._read_fd, 65536)
                except InterruptedError:
                    continue
                if not chunk:
                    break
                self.total += len(chunk)
                self._recent = (self._recent + chunk)[-_RECENT:]
                room = self.head_limit - self.kept
                if room > 0 and not self._tail:
                    self._write(chunk[:room])
                    self.kept += min(room, len(chunk))
                    chunk = chunk[room:]
                    if chunk:
                        self._write(
                            b"\n...[agentkit: the kernel's output is cut here; the rest is dropped except "
                            b"its end, added when the kernel stops]...\n"
                        )
                if chunk:
                    self._keep_tail(chunk)
            if self._tail:
                tail = b"".join(self._tail)[-self.tail_limit :]
                dropped = self.total - self.kept - len(tail)
                self._write(f"\n...[agentkit: {dropped} bytes of kernel output dropped]...\n".encode())
                self._write(tail)
        finally:
            self._tail.clear()
            for fd in (self._read_fd, self._file_fd):
                if fd >= 0:
                    with contextlib.suppress(OSError):
                        os.close(fd)
            self._read_fd = self._file_fd = -1


def _create_log(workdir: Path) -> int:
    """A new ``.kernel.log`` in ``workdir`` (the old one becomes ``.kernel.log.1``), or -1."""
    try:
        dir_fd = os.open(workdir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        log.debug("no kernel log in %s: %s", workdir, exc)
        return -1
    try:
        with contextlib.suppress(FileNotFoundError, OSError):
            os.rename(LOG_NAME, LOG_NAME + ".1", src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        for _ in range(2):
            try:
                return os.open(
                    LOG_NAME,
                    os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                    0o644,
                    dir_fd=dir_fd,
                )
            except FileExistsError:
                # Left there by the sandbox (rotation failed): a link, FIFO or file we do not trust.
                try:
                    os.unlink(LOG_NAME, dir_fd=dir_fd)
                except OSError as exc:
                    if exc.errno not in (errno.ENOENT,):
                        break
        log.debug("no kernel log in %s: %s exists and cannot be replaced", workdir, LOG_NAME)
        return -1
    except OSError as exc:
        log.debug("no kernel log in %s: %s", workdir, exc)
        return -1
    finally:
        os.close(dir_fd)
