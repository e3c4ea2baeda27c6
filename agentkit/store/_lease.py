"""Run leases as ``flock`` locks on small files: the kernel drops them when the holder dies."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import IO

import anyio.to_thread

from agentkit.store.base import RunBusy, StoreFull, StoreUnavailable

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Windows; the caller falls back to in-process leases
    fcntl = None  # type: ignore[assignment]

AVAILABLE = fcntl is not None


def lease_file(directory: Path, run_id: str) -> Path:
    """One file per run; the name is a hash, so any run id is a safe file name."""
    return directory / (hashlib.sha256(run_id.encode()).hexdigest()[:32] + ".lock")


def _acquire(path: Path, run_id: str) -> IO[str]:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = path.open("a+", encoding="utf-8")
    except OSError as exc:
        why = f"cannot take the lease on run {run_id} ({path}: {exc.strerror or exc})"
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise StoreFull(why, location=str(path.parent)) from exc
        raise StoreUnavailable(why, location=str(path.parent)) from exc
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = _describe(handle.read())
        handle.close()
        raise RunBusy(run_id, holder) from None
    except BaseException:
        handle.close()
        raise
    handle.seek(0)
    handle.truncate()
    owner = {"run_id": run_id, "pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
    handle.write(json.dumps(owner))
    handle.flush()
    return handle


def _describe(text: str) -> str:
    try:
        owner = json.loads(text)
        since = time.strftime("%H:%M:%S", time.localtime(float(owner["since"])))
        return f"process {int(owner['pid'])} on {owner['host']} (since {since})"
    except (ValueError, KeyError, TypeError):
        return "another process"


def _release(handle: IO[str]) -> None:
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    finally:
        handle.close()


@asynccontextmanager
async def file_lease(directory: Path, run_id: str) -> AsyncIterator[None]:
    """Hold the lease on ``run_id`` among every process that uses ``directory``.

    The file stays behind (empty of meaning once unlocked): deleting it would let a third
    process lock a new file while a second still holds the old one.
    """
    handle = await anyio.to_thread.run_sync(_acquire, lease_file(directory, run_id), run_id)
    try:
        yield
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(_release, handle)


def is_held(directory: Path, run_id: str) -> bool | None:
    """Whether a process holds the lease on ``run_id`` now: a shared lock is tried and
    dropped at once. Creates nothing: no lease file means nobody ever drove the run here.
    ``None`` when the lease file cannot be read (no permission): nobody can tell."""
    try:
        handle = lease_file(directory, run_id).open("r", encoding="utf-8")
    except FileNotFoundError:
        return False
    except OSError:
        return None
    with handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        return False
