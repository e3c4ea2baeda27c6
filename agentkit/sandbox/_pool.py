"""A pool of pre-started sandboxed kernels, so a run's first cell does not wait for a cold start.

A sandbox's mounts are fixed when it starts, yet the run (and so its work dir) is only known
later. A warm kernel therefore starts on a fresh *slot* directory next to the runs' work dirs;
handing it to a run renames the slot to the run's work dir. The bind mount follows the
directory, not its name, so the kernel now works in the run's dir. When that is impossible
(the work dir already has files, as on a resume, or lives on another file system) the run
gets a cold-started kernel and the warm one waits for the next run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import anyio

from agentkit.sandbox._config import SandboxConfig
from agentkit.sandbox._kernel import SandboxKernel, SandboxUnavailable
from agentkit.sandbox._launch import BwrapStatus, probe_bwrap

log = logging.getLogger("agentkit.sandbox")

POOL_DIR_NAME = ".agentkit-kernel-pool"


class KernelPool:
    """Hands out started :class:`SandboxKernel` objects; keeps ``size`` warm ones in reserve.

    Kernels and the pool belong to the asyncio event loop that created them. ``aclose``
    stops everything the pool started and removes its slot directories.
    """

    def __init__(self, config: SandboxConfig, *, size: int = 1, slot_root: Path | None = None) -> None:
        if size < 0:
            raise ValueError("pool size must be >= 0")
        self.config = config
        self.size = size
        self.slot_root = slot_root
        self._idle: list[SandboxKernel] = []
        self._warming: set[asyncio.Task[None]] = set()
        self._background: set[asyncio.Task[None]] = set()
        self._created_roots: set[Path] = set()
        self._resolved = False
        self._bwrap: BwrapStatus | None = None
        self.fallback_reason: str | None = None
        """Why kernels run without isolation (``isolation: none``), else ``None``."""
        self.unavailable_reason: str | None = None
        """Why isolation is impossible here (kernels are then refused), else ``None``."""
        self._warm_failures = 0
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None

    async def sandbox(self) -> BwrapStatus | None:
        """The bubblewrap kernels start with; ``None`` when the config opts out of isolation.

        Raises :class:`SandboxUnavailable` when isolation is required and impossible here:
        kernels never silently run unisolated.
        """
        if not self._resolved:
            if self.config.isolation == "none":
                self.fallback_reason = "the task opts out of isolation (sandbox.isolation: none)"
                log.warning(
                    "SANDBOX OFF: %s. Python code runs WITHOUT filesystem, network or process "
                    "isolation, as this user, with resource limits only.",
                    self.fallback_reason,
                )
            else:
                status = await anyio.to_thread.run_sync(probe_bwrap)
                if status.available:
                    self._bwrap = status
                    log.debug("sandbox: %s bwrap %s", status.origin, status.path)
                else:
                    self.unavailable_reason = status.reason
            self._resolved = True
        if self.unavailable_reason is not None:
            raise SandboxUnavailable(self.unavailable_reason)
        return self._bwrap

    @property
    def idle_count(self) -> int:
        return len(self._idle)

    async def acquire(self, workdir: Path) -> SandboxKernel:
        """A started kernel whose work dir is ``workdir`` (created if missing)."""
        if self._closed:
            raise RuntimeError("kernel pool is closed")
        bwrap = await self.sandbox()
        await self._follow_loop()
        workdir = _absolute(workdir)
        if self.size > 0 and self.slot_root is None:
            self.slot_root = workdir.parent / POOL_DIR_NAME
        kernel = self._adopt(workdir)
        self._refill()
        if kernel is not None:
            return kernel
        kernel = SandboxKernel(self.config, workdir, bwrap=bwrap)
        await kernel.start()
        return kernel

    async def prewarm(self) -> None:
        """Fill the pool now and wait for it (needs ``slot_root`` or an earlier ``acquire``)."""
        await self.sandbox()
        await self._follow_loop()
        self._refill()
        while self._warming:
            await asyncio.wait(set(self._warming))

    async def _follow_loop(self) -> None:
        """Kernels and tasks of an event loop that has ended are useless in a new one: drop them."""
        loop = asyncio.get_running_loop()
        if self._loop is not None and self._loop is not loop:
            stale, self._idle = self._idle, []
            self._warming.clear()
            self._background.clear()
            for kernel in stale:
                await self._discard(kernel)
        self._loop = loop

    def _adopt(self, workdir: Path) -> SandboxKernel | None:
        while self._idle:
            kernel = self._idle.pop(0)
            if not kernel.usable():
                self._spawn(self._discard(kernel), self._background)
                continue
            try:
                if workdir.exists() and (workdir.is_symlink() or any(workdir.iterdir())):
                    self._idle.insert(0, kernel)
                    return None
                workdir.parent.mkdir(parents=True, exist_ok=True)
                os.rename(kernel.workdir, workdir)
            except OSError as exc:
                log.debug("cannot hand warm kernel to %s: %s", workdir, exc)
                self._idle.insert(0, kernel)
                return None
            kernel.move_to(workdir)
            return kernel
        return None

    def _refill(self) -> None:
        if self._closed or self.slot_root is None or self._warm_failures >= 3:
            return
        for _ in range(self.size - len(self._idle) - len(self._warming)):
            self._spawn(self._warm_one(self.slot_root), self._warming)

    @staticmethod
    def _spawn(coro: Coroutine[Any, Any, None], tasks: set[asyncio.Task[None]]) -> None:
        # The pool outlives any one tool call, so it cannot borrow a caller's task group;
        # its tasks are tracked here and cancelled and awaited by aclose().
        task = asyncio.get_running_loop().create_task(coro)
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def _warm_one(self, root: Path) -> None:
        slot: Path | None = None
        kernel: SandboxKernel | None = None
        try:
            slot = self._new_slot(root)
            kernel = SandboxKernel(self.config, slot, bwrap=await self.sandbox())
            await kernel.start()
        except Exception as exc:
            self._warm_failures += 1
            log.warning("could not pre-start a sandboxed kernel: %s", exc)
            if slot is not None:
                shutil.rmtree(slot, ignore_errors=True)
            return
        except BaseException:
            if slot is not None:
                shutil.rmtree(slot, ignore_errors=True)
            raise
        if self._closed:
            await self._discard(kernel)
            return
        self._warm_failures = 0
        self._idle.append(kernel)

    def _new_slot(self, root: Path) -> Path:
        if not root.exists():
            root.mkdir(parents=True, exist_ok=True)
            self._created_roots.add(root)
        slot = Path(tempfile.mkdtemp(prefix="slot-", dir=root))
        os.chmod(slot, 0o755)
        return slot

    async def _discard(self, kernel: SandboxKernel) -> None:
        """Close a kernel that never served a run, and delete its slot directory."""
        await kernel.aclose()
        slot = kernel.workdir
        await anyio.to_thread.run_sync(lambda: shutil.rmtree(slot, ignore_errors=True))

    async def aclose(self) -> None:
        self._closed = True
        with anyio.CancelScope(shield=True):
            tasks = [*self._warming, *self._background]
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            idle, self._idle = self._idle, []
            for kernel in idle:
                await self._discard(kernel)
            for root in self._created_roots:
                with contextlib.suppress(OSError):
                    os.rmdir(root)


def _absolute(path: Path) -> Path:
    return Path(os.path.abspath(path))
