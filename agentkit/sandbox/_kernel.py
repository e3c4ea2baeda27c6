"""One sandboxed Jupyter kernel: its process, its client, and running cells with a deadline."""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from jupyter_client.asynchronous.client import AsyncKernelClient
from jupyter_client.connect import write_connection_file

from agentkit.sandbox._config import SANDBOX_UID, SandboxConfig
from agentkit.sandbox._klog import KernelLog
from agentkit.sandbox._launch import (
    BwrapStatus,
    build_launch,
    claim_uid,
    prepare_owner,
    release_uid,
    running_as_root,
    sandbox_uid,
)
from agentkit.sandbox._output import CellOutput, FigureWriter, OutputCollector
from agentkit.sandbox._setup_code import SETUP, STRAY_NOTE

log = logging.getLogger("agentkit.sandbox")


class SandboxError(RuntimeError):
    """The sandbox could not start or talk to its kernel."""


class SandboxUnavailable(SandboxError):
    """Isolation is required (``sandbox.isolation: bwrap``) but impossible here."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"no sandbox is possible here: {reason}")
        self.reason = reason


@dataclass
class ExecutionResult:
    """The outcome of one cell, ready to show to a model."""

    cell: CellOutput
    duration_s: float
    timed_out: bool = False
    state_lost: bool = False
    """The kernel was restarted: variables, imports and definitions are gone."""
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.cell.error is None and not self.timed_out and not self.state_lost


class SandboxKernel:
    """A Jupyter kernel inside bubblewrap (or, loudly, rlimits only), bound to one work dir."""

    def __init__(self, config: SandboxConfig, workdir: Path, *, bwrap: BwrapStatus | None) -> None:
        self.config = config
        self.workdir = workdir
        self.bwrap = bwrap
        self._proc: subprocess.Popen[bytes] | None = None
        self._client: AsyncKernelClient | None = None
        self._private: Path | None = None
        self._log: KernelLog | None = None
        self._figures = FigureWriter(workdir)
        self.starts = 0
        self.loop: asyncio.AbstractEventLoop | None = None
        """The event loop the kernel's client sockets belong to."""
        self.uid: int | None = None
        """Host uid of the sandboxed processes when started as root (one per sandbox)."""

    @property
    def sandboxed(self) -> bool:
        return self.bwrap is not None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def is_alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def usable(self) -> bool:
        """Alive and talking through the running event loop (a new ``anyio.run`` needs a new kernel)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return False
        return self.is_alive() and self.loop is loop

    def move_to(self, workdir: Path) -> None:
        """The host path of the work dir changed (the pool renamed it); the kernel's cwd follows."""
        self.workdir = workdir
        self._figures = FigureWriter(workdir)

    # lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        if self._proc is not None:
            raise SandboxError("kernel already started")
        self.workdir.mkdir(parents=True, exist_ok=True)
        private = Path(tempfile.mkdtemp(prefix="agentkit-k-"))
        self._private = private
        try:
            self._spawn(private)
            await self._wait_ready()
            await self._setup()
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self._teardown()
            raise
        self.loop = asyncio.get_running_loop()
        self.starts += 1

    def _spawn(self, private: Path) -> None:
        """Start the process (sync on purpose: bwrap's --die-with-parent follows the spawning
        thread, so it must be the event loop's, not a worker thread that may exit)."""
        os.chmod(private, 0o755)
        conn = private / "conn"
        conn.mkdir()
        if self.sandboxed and running_as_root():
            self.uid = sandbox_uid(self.workdir)
            claim_uid(self.uid)
            prepare_owner(conn, self.uid)
            prepare_owner(self.workdir, self.uid)
        conn_file = conn / "kernel.json"
        write_connection_file(
            str(conn_file),
            transport="ipc",
            ip=str(conn / "k"),
            key=uuid.uuid4().hex.encode(),
            kernel_name="python3",
        )
        if self.uid is not None:
            prepare_owner(conn_file, self.uid)
        spec = build_launch(
            self.config,
            workdir=self.workdir,
            private=private,
            connection_file=conn_file,
            status=self.bwrap,
            uid=self.uid if self.uid is not None else SANDBOX_UID,
        )
        klog = KernelLog(self.workdir, self.config.max_log_bytes)
        try:
            self._proc = subprocess.Popen(
                spec.argv,
                env=spec.env,
                cwd=spec.cwd,
                stdin=subprocess.DEVNULL,
                stdout=klog.write_fd,
                stderr=klog.write_fd,
                start_new_session=True,
                close_fds=True,
            )
        except BaseException:
            klog.discard()
            raise
        self._log = klog
        klog.start()
        client = AsyncKernelClient()
        client.load_connection_file(str(conn_file))
        client.start_channels(shell=True, iopub=True, stdin=False, hb=False, control=True)
        self._client = client

    def _log_tail(self) -> str:
        return self._log.recent()[-2000:] if self._log is not None else ""

    async def _wait_ready(self) -> None:
        client = self._require_client()
        deadline = time.monotonic() + self.config.startup_timeout_s
        sent: set[str] = set()
        shell_ok = False
        while True:
            if not self.is_alive():
                raise SandboxError(f"kernel exited during startup: {self._log_tail() or 'no output'}")
            if time.monotonic() > deadline:
                raise SandboxError(f"kernel did not start within {self.config.startup_timeout_s:g} s")
            sent.add(client.kernel_info())
            if not shell_ok:
                try:
                    reply = await client.get_shell_msg(timeout=0.25)
                except queue.Empty:
                    continue
                shell_ok = reply.get("parent_header", {}).get("msg_id") in sent
                if not shell_ok:
                    continue
            # The shell answers; IOPub is subscribed once it delivers something for one of ours.
            try:
                while True:
                    msg = await client.get_iopub_msg(timeout=0.25)
                    if msg.get("parent_header", {}).get("msg_id") in sent:
                        break
            except queue.Empty:
                continue
            await self._drain_shell()
            return

    async def _drain_shell(self) -> None:
        client = self._require_client()
        while True:
            try:
                await client.get_shell_msg(timeout=0.05)
            except queue.Empty:
                return

    async def _setup(self) -> None:
        tail = self.config.max_output_chars // 4
        code = (
            SETUP.replace("__STRAY__", STRAY_NOTE)
            .replace("__FIGURES__", str(self.config.max_figures))
            .replace("__HEAD__", str(self.config.max_output_chars - tail))
            .replace("__TAIL__", str(tail))
        )
        res = await self.execute(
            code,
            timeout_s=self.config.startup_timeout_s,
            store_history=False,
            save_figures=False,
            restart_on_failure=False,
        )
        if not res.ok:
            err = res.cell.error
            raise SandboxError(f"kernel setup failed: {err.evalue if err else 'timeout'}")

    async def restart(self) -> None:
        await self._teardown()
        await self.start()

    async def aclose(self) -> None:
        await self._teardown()

    async def _teardown(self) -> None:
        client, self._client = self._client, None
        proc, self._proc = self._proc, None
        if client is not None:
            try:
                client.stop_channels()
            except Exception:  # closing sockets of a dead kernel must not stop the cleanup
                log.debug("stop_channels failed", exc_info=True)
        if proc is not None:
            await _kill(proc)
        klog, self._log = self._log, None
        if klog is not None and not await anyio.to_thread.run_sync(klog.join, 5.0):
            log.warning("the sandbox kernel's output pipe is still open (a process outlived the kernel)")
        if self.uid is not None:
            release_uid(self.uid)
        private, self._private = self._private, None
        if private is not None:
            await anyio.to_thread.run_sync(lambda: shutil.rmtree(private, ignore_errors=True))

    def _require_client(self) -> AsyncKernelClient:
        if self._client is None:
            raise SandboxError("kernel is not running")
        return self._client

    # execution ------------------------------------------------------------------------------
    def interrupt(self) -> None:
        """Message-mode interrupt: SIGINT from outside would hit bubblewrap, not the kernel."""
        client = self._require_client()
        client.control_channel.send(client.session.msg("interrupt_request", content={}))

    async def execute(
        self,
        code: str,
        *,
        timeout_s: float | None = None,
        store_history: bool = True,
        save_figures: bool = True,
        restart_on_failure: bool = True,
        stop_on_error: bool = True,
    ) -> ExecutionResult:
        """Run one cell. Past the timeout the cell is interrupted; if that does not take within
        the grace period, or the kernel dies, the kernel is restarted and ``state_lost`` set."""
        started = time.monotonic()
        cfg = self.config
        collector = OutputCollector(
            max_output_chars=cfg.max_output_chars,
            max_result_chars=cfg.max_result_chars,
            max_traceback_chars=cfg.max_traceback_chars,
            max_figures=cfg.max_figures,
            max_figure_bytes=cfg.max_figure_bytes,
            figures=self._figures if save_figures else None,
        )
        client = self._require_client()
        timeout = cfg.timeout_s if timeout_s is None else timeout_s
        msg_id = client.execute(
            code, silent=False, store_history=store_history, allow_stdin=False, stop_on_error=stop_on_error
        )
        deadline = started + timeout
        interrupted_at: float | None = None
        failure: str | None = None
        stray = 0  # characters of other cells' threads that reached this cell's time on the wire
        try:
            while True:
                now = time.monotonic()
                if not self.is_alive():
                    failure = f"the kernel died ({_exit_reason(self._proc)})"
                    break
                if interrupted_at is None and now >= deadline:
                    self.interrupt()
                    interrupted_at = now
                elif interrupted_at is not None and now >= interrupted_at + cfg.interrupt_grace_s:
                    failure = f"the cell did not stop within {cfg.interrupt_grace_s:g} s of the interrupt"
                    break
                until = deadline if interrupted_at is None else interrupted_at + cfg.interrupt_grace_s
                try:
                    msg = await client.get_iopub_msg(timeout=max(0.01, min(0.25, until - now)))
                except queue.Empty:
                    continue
                if msg.get("parent_header", {}).get("msg_id") != msg_id:
                    if msg.get("msg_type") == "stream":
                        stray += len(str(msg.get("content", {}).get("text", "")))
                    continue
                content: dict[str, Any] = msg.get("content", {})
                if msg["msg_type"] == "status" and content.get("execution_state") == "idle":
                    break
                collector.handle(msg["msg_type"], content)
        except BaseException:
            # Cancelled from outside (the registry's timeout): do not leave the cell running.
            if self.is_alive():
                self.interrupt()
            raise
        if failure is None:
            await self._drain_reply(msg_id)
        cell = collector.finish()
        result = ExecutionResult(cell=cell, duration_s=time.monotonic() - started, timed_out=interrupted_at is not None)
        if stray and STRAY_NOTE not in cell.output:
            # Dropped here rather than inside the kernel (which thread's output ipykernel labels
            # with which cell depends on timing): say so the same way.
            result.notes.append(f"{stray} characters of {STRAY_NOTE} left out.")
        if interrupted_at is not None and failure is None:
            cell.error = None  # the KeyboardInterrupt traceback only says where it stopped
            result.notes.append(
                f"Execution timed out after {timeout:g} s and was interrupted; variables set before "
                "this call are kept, and the cell may have partly run."
            )
        if failure is not None:
            result.state_lost = True
            if restart_on_failure:
                await self.restart()
                result.notes.append(
                    f"The Python kernel was restarted because {failure}: all variables, imports and "
                    "definitions were lost. Files in the working directory are kept."
                )
            else:
                result.notes.append(f"The cell failed because {failure}.")
        return result

    async def _drain_reply(self, msg_id: str) -> None:
        client = self._require_client()
        end = time.monotonic() + 2.0
        while time.monotonic() < end:
            try:
                reply = await client.get_shell_msg(timeout=max(0.01, end - time.monotonic()))
            except queue.Empty:
                return
            if reply.get("parent_header", {}).get("msg_id") == msg_id:
                return


def _exit_reason(proc: subprocess.Popen[bytes] | None) -> str:
    code = proc.poll() if proc is not None else None
    if code is None:
        return "unknown cause"
    if code < 0:
        return f"killed by signal {signal.Signals(-code).name}"
    if code > 128:
        try:
            return f"exit status {code}, likely signal {signal.Signals(code - 128).name}"
        except ValueError:
            pass
    return f"exit status {code}"


async def _kill(proc: subprocess.Popen[bytes]) -> None:
    """Kill the kernel's whole process group (bwrap's pid namespace dies with it) and reap it."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        except PermissionError:
            proc.kill()
    for _ in range(500):
        if proc.poll() is not None:
            break
        await anyio.sleep(0.01)
    else:
        log.warning("sandbox kernel process %s did not exit after SIGKILL", proc.pid)
    # Processes the sandboxed code forked die with the pid namespace, but not at once: wait
    # (bounded) until the group is gone, so "closed" means nothing of the sandbox still runs.
    for _ in range(100):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            return
        await anyio.sleep(0.02)
