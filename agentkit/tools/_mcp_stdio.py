"""The stdio transport of agentkit's MCP client: the SDK's, with the server's stdout capped.

The SDK's ``stdio_client`` joins a server's stdout into whole lines with no limit, so one
100 MB answer is held (several times over) before the session sees it. This transport runs
the server the same way (the SDK's environment defaults, its own process group, stderr to a
file) and reads its stdout through :class:`~agentkit.tools._mcp_cap.LineCapper`: no line is
held beyond ``cap`` bytes, and a longer answer reaches the session cut (see
:mod:`agentkit.tools._mcp_cap`). Shutdown follows the MCP spec: close stdin, wait a moment,
then end the whole process group.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import TYPE_CHECKING, Any, BinaryIO

import anyio
from anyio.abc import Process

from agentkit.tools._mcp_cap import LineCapper, cut_message

if TYPE_CHECKING:
    from mcp.client.stdio import StdioServerParameters
    from mcp.shared.message import SessionMessage

EXIT_GRACE_S = 2.0
"""How long a server may take to exit once its stdin is closed, before it is terminated."""


@asynccontextmanager
async def capped_stdio_client(
    params: StdioServerParameters, errlog: BinaryIO, cap: int
) -> AsyncIterator[tuple[Any, Any]]:
    """``(read, write)`` streams for a ``ClientSession`` with the server of ``params``."""
    from mcp.client.stdio import get_default_environment, stdio_client

    if sys.platform == "win32":  # pragma: no cover - the SDK's transport (uncapped) there
        async with stdio_client(params, errlog=errlog) as streams:  # type: ignore[arg-type]
            yield streams
        return
    process = await anyio.open_process(
        [params.command, *params.args],
        env=get_default_environment() | (params.env or {}),
        stderr=errlog,
        cwd=params.cwd,
        start_new_session=True,
    )
    from mcp.shared.message import SessionMessage

    read_writer, read_stream = anyio.create_memory_object_stream[SessionMessage | Exception](0)
    write_stream, write_reader = anyio.create_memory_object_stream[SessionMessage](0)

    async def stdout_reader() -> None:
        assert process.stdout is not None
        lines = LineCapper(cap, cut_message(cap))
        async with read_writer:
            try:
                async for chunk in process.stdout:
                    for line in lines.feed(chunk):
                        if line.strip():
                            await read_writer.send(_parse(line))
                for line in lines.finish():
                    if line.strip():
                        await read_writer.send(_parse(line))
            except (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream, OSError):
                return  # the session or the pipe is gone: the session sees the stream end

    async def stdin_writer() -> None:
        assert process.stdin is not None
        async with write_reader:
            try:
                async for message in write_reader:
                    data = message.message.model_dump_json(by_alias=True, exclude_unset=True) + "\n"
                    await process.stdin.send(data.encode("utf-8"))
            except (anyio.ClosedResourceError, anyio.BrokenResourceError, OSError):
                await read_writer.aclose()  # the server stopped reading: end the session's wait

    async with anyio.create_task_group() as tg:
        tg.start_soon(stdout_reader)
        tg.start_soon(stdin_writer)
        try:
            yield read_stream, write_stream
        finally:
            with anyio.CancelScope(shield=True):
                await _stop(process)
            tg.cancel_scope.cancel()


def _parse(line: bytes) -> SessionMessage | Exception:
    """One line as a message, or the error for a line that is not one (the session hands it
    to the message handler, which reports garbage on stdout)."""
    import mcp_types
    from mcp.shared.message import SessionMessage

    try:
        message = mcp_types.jsonrpc_message_adapter.validate_json(line.decode("utf-8", errors="replace"), by_name=False)
    except ValueError as exc:
        return exc
    return SessionMessage(message)


async def _stop(process: Process) -> None:
    from mcp.os.posix.utilities import terminate_posix_process_tree

    closing = (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError)
    if process.stdin is not None:
        with suppress(*closing):
            await process.stdin.aclose()
    with anyio.move_on_after(EXIT_GRACE_S):
        await process.wait()  # (bounded: a child holding the pipes open keeps it waiting)
    if process.returncode is None:
        await terminate_posix_process_tree(process, EXIT_GRACE_S)
    if process.stdout is not None:
        with suppress(*closing):
            await process.stdout.aclose()
    with anyio.move_on_after(EXIT_GRACE_S):
        await process.wait()
