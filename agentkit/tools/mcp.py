"""Tools of MCP servers: ``Agent(mcp=[...])`` or ``mcp:`` in a task file.

Each run starts its own connection to every server when it begins (the tool list must be
known before the first model call) and stops them when it ends; a resumed run starts them
again. A server's tools are offered as ``<server>__<tool>`` with the server's JSON input
schema; arguments are checked against that schema before the call. A server that crashes,
hangs past ``timeout_s`` or drops the connection turns the call into an error result for the
model, and is started again on its next use.

A server that cannot start when the run begins fails the run with a message naming it (and
the end of its stderr), unless its spec says ``required: false``: then the run goes on
without its tools and a warning says why.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import anyio
from anyio.from_thread import BlockingPortal
from pydantic import RootModel

from agentkit.llm.errors import ConfigurationError
from agentkit.task.mcp_servers import MCPServerSpec
from agentkit.tools._mcp_host import Connection, Host, Listing, ServerFailed
from agentkit.tools._mcp_results import argument_problems, description, input_schema, render, tool_name
from agentkit.tools.base import Tool, ToolContext, ToolOutput, ToolSource, ToolsUnavailable

if TYPE_CHECKING:
    import mcp_types

BACKSTOP_S = 10.0
"""Added to a server's start and call timeouts for the registry's own limit on a call."""
MAX_PROGRESS = 100
"""Progress notifications of one call kept in its result's ``meta`` (the latest replaces the last)."""
MAX_PROGRESS_MESSAGE = 200


class MCPArguments(RootModel[dict[str, Any]]):
    """The raw JSON object of arguments (checked against the server's schema by the tool)."""


class MCPTools(ToolSource):
    """The tools of one or more MCP servers, for the runs of one agent."""

    def __init__(
        self, servers: Sequence[MCPServerSpec | Mapping[str, Any]], *, environ: Mapping[str, str] | None = None
    ) -> None:
        self.specs = [MCPServerSpec.of(s) for s in servers]
        names = [s.name for s in self.specs]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"mcp: server name {name!r} is used twice")
        if self.specs and importlib.util.find_spec("mcp") is None:
            raise ConfigurationError("mcp: MCP servers need the mcp package: pip install 'agentkit[mcp]'")
        self._environ = environ
        self._runs: dict[str, dict[str, Connection]] = {}
        self._locks: dict[tuple[str, str], anyio.Lock] = {}
        self.restarts = 0
        """Servers started again after a crash or a hang (for tests and diagnostics)."""

    @property
    def environ(self) -> Mapping[str, str]:
        return os.environ if self._environ is None else self._environ

    def as_data(self) -> list[dict[str, Any]]:
        """The servers as a run's config stores them (variable names, never secrets)."""
        return [s.as_data() for s in self.specs]

    # -- a run's servers -------------------------------------------------------------------

    async def open_run(self, run_id: str, ctx: ToolContext) -> tuple[list[Tool[Any]], list[str]]:
        started: dict[str, Connection | ServerFailed] = {}
        listings: dict[str, Listing] = {}

        async def start(spec: MCPServerSpec) -> None:
            try:
                started[spec.name], listings[spec.name] = await _connect(spec, self.environ)
            except ServerFailed as exc:
                started[spec.name] = exc

        await self.close_run(run_id)  # a run opened twice in one process starts afresh
        async with anyio.create_task_group() as tg:
            for spec in self.specs:
                tg.start_soon(start, spec)
        failed = [(s, started[s.name]) for s in self.specs if isinstance(started[s.name], ServerFailed)]
        self._runs[run_id] = {n: c for n, c in started.items() if isinstance(c, Connection)}
        fatal = [f"MCP server {s.name!r} could not start: {exc}" for s, exc in failed if s.required]
        if fatal:
            await self.close_run(run_id)
            raise ToolsUnavailable("; ".join(fatal))
        notes = [f"MCP server {s.name!r} could not start; going on without its tools: {exc}" for s, exc in failed]
        tools: list[Tool[Any]] = []
        taken: set[str] = set()
        for spec in self.specs:
            listing = listings.get(spec.name)
            if listing is None:
                continue
            if listing.truncated:
                notes.append(
                    f"MCP server {spec.name!r} lists too many tools; only the first {len(listing.tools)} are used"
                )
            for remote in listing.tools:
                made = MCPTool.build(self, spec, remote, taken)
                if isinstance(made, str):
                    notes.append(made)
                else:
                    tools.append(made)
        return tools, notes

    async def connection(self, run_id: str, server: str) -> Connection:
        """The run's live connection to ``server``, started (again) if it is not running."""
        lock = self._locks.setdefault((run_id, server), anyio.Lock())
        async with lock:
            conns = self._runs.setdefault(run_id, {})
            conn = conns.get(server)
            if conn is not None and conn.alive:
                return conn
            if conn is not None:
                self.restarts += 1
                await conn.host.run(conn.close)
            spec = next(s for s in self.specs if s.name == server)
            conns[server], _ = await _connect(spec, self.environ)
            return conns[server]

    async def close_run(self, run_id: str) -> None:
        conns = self._runs.pop(run_id, {})
        for key in [k for k in self._locks if k[0] == run_id]:
            del self._locks[key]
        with anyio.CancelScope(shield=True):
            for conn in conns.values():
                await conn.host.run(conn.close)

    async def aclose(self) -> None:
        for run_id in list(self._runs):
            await self.close_run(run_id)


class MCPTool(Tool[MCPArguments]):
    """One tool of an MCP server."""

    def __init__(
        self, source: MCPTools, spec: MCPServerSpec, remote: str, name: str, about: str, params: dict[str, Any]
    ) -> None:
        super().__init__(name, about, MCPArguments, timeout_s=spec.startup_timeout_s + spec.timeout_s + BACKSTOP_S)
        self.source, self.spec, self.remote, self.params = source, spec, remote, params
        self._schema = {"type": "function", "function": {"name": name, "description": about, "parameters": params}}

    @classmethod
    def build(cls, source: MCPTools, spec: MCPServerSpec, remote: mcp_types.Tool, taken: set[str]) -> MCPTool | str:
        """The tool, or a warning saying why it is left out."""
        params, problem = input_schema(remote)
        if params is None:
            return f"MCP server {spec.name!r}: tool {remote.name!r} is left out: {problem}"
        name = tool_name(spec.name, remote.name, taken)
        return cls(source, spec, remote.name, name, description(remote, spec.name), params)

    async def invoke(self, args: MCPArguments, ctx: ToolContext) -> ToolOutput:
        from mcp import MCPError

        problems = argument_problems(self.params, args.root)
        if problems:
            lines = [f"Invalid arguments for {self.name}:", *problems, "Fix the arguments and call the tool again."]
            return ToolOutput(text="\n".join(lines), is_error=True)
        server = self.spec.name
        meta: dict[str, Any] = {"mcp_server": server, "mcp_tool": self.remote}
        async with BlockingPortal() as portal:
            progress = _ProgressRelay(ctx, portal)
            try:
                conn = await self.source.connection(ctx.run_id, server)
                result = await conn.host.run(conn.call, self.remote, args.root, progress)
            except ServerFailed as exc:
                text = f"MCP server {server!r} failed: {exc}. It will be started again on the next call."
                return ToolOutput(text=text, is_error=True, meta=progress.into(meta))
            except MCPError as exc:
                text = f"MCP server {server!r} answered {self.remote!r} with an error: {exc.message}"
                return ToolOutput(text=text, is_error=True, meta=progress.into(meta))
        out = await render(
            result, server=server, remote=self.remote, name=self.name, ctx=ctx, cap=self.spec.max_result_bytes
        )
        progress.into(out.meta)
        return out

    async def close_run(self, run_id: str) -> None:
        await self.source.close_run(run_id)  # a sub-agent's registry holds the tools, not the source


class _ProgressRelay:
    """A call's progress notifications, which arrive in the host's loop: each is passed to the
    caller's loop (through ``portal``) as ``ctx.report_progress`` and recorded for the trace
    (``meta["progress"]``: at most :data:`MAX_PROGRESS`, the latest always kept, with the
    seconds since the call began: telemetry makes span events of them)."""

    def __init__(self, ctx: ToolContext, portal: BlockingPortal) -> None:
        self.ctx, self.portal = ctx, portal
        self.started = time.monotonic()
        self.seen: list[dict[str, Any]] = []

    async def __call__(self, done: float, total: float | None, message: str | None) -> None:
        with contextlib.suppress(RuntimeError):  # the call has ended: nobody waits for its progress
            await self.portal.call_async(self._report, done, total, message)

    async def _report(self, done: float, total: float | None, message: str | None) -> None:
        entry: dict[str, Any] = {"at_s": round(time.monotonic() - self.started, 3), "progress": done}
        if total is not None:
            entry["total"] = total
        if message:
            entry["message"] = message = message[:MAX_PROGRESS_MESSAGE]
        if len(self.seen) >= MAX_PROGRESS:
            self.seen.pop()
        self.seen.append(entry)
        await self.ctx.report_progress(done, total, message)

    def into(self, meta: dict[str, Any]) -> dict[str, Any]:
        if self.seen:
            meta["progress"] = self.seen
        return meta


async def _connect(spec: MCPServerSpec, environ: Mapping[str, str]) -> tuple[Connection, Listing]:
    host = Host.shared()

    async def start() -> tuple[Connection, Listing]:
        conn = Connection(spec, host, environ)
        return conn, await conn.start()

    return await host.run(start)
