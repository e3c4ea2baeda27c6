"""Connections to MCP servers, held in one background event loop.

Each connection is a task of a daemon thread's event loop (the *host*), so a server's life
does not depend on the task that started it or the one calling it: a tool call from any task
or run reaches it with :meth:`Host.run`, a crash of the server ends only its own task, and a
caller that is cancelled cancels only its call. This is the only module that speaks the
``mcp`` SDK's client API.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO, Literal, TypeVar, overload

import anyio
from anyio.abc import TaskGroup, TaskStatus
from anyio.from_thread import BlockingPortal

from agentkit._redact import register_secret
from agentkit.task.mcp_servers import MCPServerSpec
from agentkit.tools._mcp_cap import CUT_META, CappedTransport
from agentkit.tools._mcp_stdio import capped_stdio_client
from agentkit.tools.base import ProgressFn, first_leaf

if TYPE_CHECKING:
    import mcp_types

T = TypeVar("T")

STDERR_TAIL = 1_500
"""Characters of a server's stderr quoted when it fails."""
MAX_TOOLS = 512
"""Tools read from one server at most (a listing past this is cut)."""
MAX_PAGES = 32

logging.getLogger("mcp").addHandler(logging.NullHandler())  # the SDK's tracebacks stay out of the CLI


class ServerFailed(Exception):
    """The server could not be started or stopped answering; the message says why."""


class Host:
    """A daemon thread running an event loop that holds the connections."""

    _lock = threading.Lock()
    _shared: Host | None = None

    def __init__(self) -> None:
        self._ready = threading.Event()
        self._portal: BlockingPortal | None = None
        self.group: TaskGroup | None = None
        threading.Thread(target=self._main, name="agentkit-mcp", daemon=True).start()
        self._ready.wait()

    @classmethod
    def shared(cls) -> Host:
        with cls._lock:
            if cls._shared is None:
                cls._shared = cls()
            return cls._shared

    def _main(self) -> None:
        async def main() -> None:
            async with BlockingPortal() as portal, anyio.create_task_group() as group:
                self._portal, self.group = portal, group
                self._ready.set()
                await portal.sleep_until_stopped()

        anyio.run(main)

    async def run(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """``await fn(*args)`` in the host loop; cancelling the caller cancels it there."""
        assert self._portal is not None
        return await self._portal.call_async(fn, *args)


@dataclass
class Listing:
    tools: list[mcp_types.Tool]
    truncated: bool
    server: str
    """The server's own name and version, as it reported them."""


class Connection:
    """One running server (a process over stdio, or a session with an HTTP endpoint).
    Every method runs in the host loop."""

    def __init__(self, spec: MCPServerSpec, host: Host, environ: Mapping[str, str]) -> None:
        self.spec = spec
        self.host = host
        self.environ = environ
        self.session: Any = None
        self.stop = anyio.Event()
        self.done = anyio.Event()
        self.died: str | None = None
        self.garbage: str | None = None
        self._stderr: BinaryIO | None = None
        self._tail = ""

    @property
    def alive(self) -> bool:
        return self.session is not None and not self.done.is_set()

    # -- life ------------------------------------------------------------------------------

    async def start(self) -> Listing:
        """Start the server and list its tools, within ``startup_timeout_s``."""
        assert self.host.group is not None
        listing: Listing = await self.host.group.start(self._serve)
        return listing

    async def _serve(self, *, task_status: TaskStatus[Listing]) -> None:
        started = False
        try:
            async with AsyncExitStack() as stack:
                read, write = await self._transport(stack)
                session = await stack.enter_async_context(self._session(read, write))
                try:
                    with anyio.fail_after(self.spec.startup_timeout_s):
                        await session.initialize()
                        listing = await _list_tools(session)
                except TimeoutError:
                    raise ServerFailed(self._why(f"did not start within {self.spec.startup_timeout_s:g} s")) from None
                self.session = session
                started = True
                task_status.started(listing)
                await self.stop.wait()
        except BaseException as raised:
            exc = first_leaf(raised)
            if isinstance(exc, anyio.get_cancelled_exc_class()):
                raise
            reason = exc if isinstance(exc, ServerFailed) else ServerFailed(self._why(self._describe(exc)))
            if not started:
                raise reason from None
            self.died = str(reason)
        finally:
            self.session = None
            self._tail = self.stderr_tail()
            if self._stderr is not None:
                self._stderr.close()
            self.done.set()

    async def _transport(self, stack: AsyncExitStack) -> tuple[Any, Any]:
        spec = self.spec
        if spec.command is not None:
            from mcp.client.stdio import StdioServerParameters

            env = _resolved(spec, "env", self.environ)
            args = _resolved(spec, "args", self.environ)
            if spec.cwd is not None and not spec.cwd.is_dir():
                raise ServerFailed(f"cwd {spec.cwd} is not a folder")
            params = StdioServerParameters(
                command=spec.command, args=args, env=env, cwd=spec.cwd, encoding_error_handler="replace"
            )
            self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - open while the server runs
            try:
                return await stack.enter_async_context(capped_stdio_client(params, self._stderr, spec.max_result_bytes))
            except OSError as exc:
                raise ServerFailed(f"cannot run {spec.command!r}: {exc.strerror or exc}") from None
        import httpx2
        from mcp.client.streamable_http import streamable_http_client

        assert spec.url is not None
        headers = {**_resolved(spec, "headers", self.environ), "Accept-Encoding": "identity"}
        client = await stack.enter_async_context(
            httpx2.AsyncClient(
                headers=headers,
                timeout=httpx2.Timeout(30.0, read=300.0),
                transport=CappedTransport(spec.max_result_bytes, _http_transport(spec.url)),
                trust_env=False,  # the proxy from the environment is in the transport, under the cap
            )
        )
        return await stack.enter_async_context(
            streamable_http_client(spec.url, http_client=client, max_sse_event_size=spec.max_result_bytes + 65_536)
        )

    def _session(self, read: Any, write: Any) -> Any:
        from mcp import ClientSession

        class Session(ClientSession):
            async def validate_tool_result(self, name: str, result: mcp_types.CallToolResult) -> None:
                if CUT_META not in (result.meta or {}):  # a cut result cannot match the tool's output
                    await super().validate_tool_result(name, result)  # schema: it says it was cut

        async def on_message(message: object) -> None:
            if isinstance(message, Exception) and self.garbage is None:
                self.garbage = _offending_line(message)

        return Session(read, write, message_handler=on_message)

    async def close(self) -> None:
        self.stop.set()
        with anyio.move_on_after(15):
            await self.done.wait()

    # -- calls -----------------------------------------------------------------------------

    async def call(
        self, name: str, arguments: dict[str, Any], progress: ProgressFn | None = None
    ) -> mcp_types.CallToolResult:
        """One tool call within ``timeout_s``. A server that dies, hangs or drops the
        connection raises :class:`ServerFailed` (and is stopped: the next use starts it anew);
        an error the server answers with is an ``MCPError``. With ``progress``, the request
        carries a progress token and the server's progress notifications go there."""
        from mcp import MCPError
        from mcp_types import CONNECTION_CLOSED

        session = self.session
        if session is None:
            raise ServerFailed(self.died or "the server is not running")
        try:
            with anyio.fail_after(self.spec.timeout_s):
                result: mcp_types.CallToolResult = await session.call_tool(name, arguments, progress_callback=progress)
                return result
        except TimeoutError:
            await self.close()
            raise ServerFailed(f"no answer within {self.spec.timeout_s:g} s; the server was stopped") from None
        except MCPError as exc:
            if exc.code != CONNECTION_CLOSED:
                raise
            await self.close()
            raise ServerFailed(self._why("the connection closed during the call")) from None
        except anyio.get_cancelled_exc_class():
            await self.close()  # a half-answered call leaves the session in an unknown state
            raise
        except Exception as exc:
            await self.close()
            raise ServerFailed(self._why(self._describe(exc))) from None

    # -- messages --------------------------------------------------------------------------

    def _describe(self, exc: BaseException) -> str:
        import httpx2

        if self.spec.url is not None and isinstance(exc, httpx2.TransportError):
            return f"cannot connect to {self.spec.url}: {_describe(exc)}"
        return _describe(exc)

    def _why(self, what: str) -> str:
        parts = [what]
        if self.garbage:
            parts.append(f"it wrote something that is not MCP on stdout: {self.garbage}")
        tail = self.stderr_tail()
        if tail:
            parts.append(f"its stderr ended with:\n{tail}")
        return "; ".join(parts)

    def stderr_tail(self) -> str:
        f = self._stderr
        if f is None or f.closed:
            return self._tail
        try:
            size = os.fstat(f.fileno()).st_size
            data = os.pread(f.fileno(), STDERR_TAIL * 4, max(0, size - STDERR_TAIL * 4))
        except OSError:
            return ""
        text = data.decode("utf-8", errors="replace").strip()
        return text[-STDERR_TAIL:]


@overload
def _resolved(spec: MCPServerSpec, kind: Literal["env", "headers"], environ: Mapping[str, str]) -> dict[str, str]: ...
@overload
def _resolved(spec: MCPServerSpec, kind: Literal["args"], environ: Mapping[str, str]) -> list[str]: ...
def _resolved(spec: MCPServerSpec, kind: str, environ: Mapping[str, str]) -> dict[str, str] | list[str]:
    """``env``, ``headers`` or ``args`` with each ``{from_env: NAME}`` read from ``environ``; the
    values read are secrets (masked wherever text leaves the process)."""
    try:
        if kind == "args":
            args = spec.resolved_args(environ)
            register_secret(*(a for a, given in zip(args, spec.args, strict=True) if not isinstance(given, str)))
            return args
        given = spec.env if kind == "env" else spec.headers
        resolved = spec.resolved(given, kind, environ)
    except ValueError as exc:
        raise ServerFailed(str(exc)) from None
    register_secret(*(resolved[k] for k, v in given.items() if not isinstance(v, str)))  # the {from_env: ...} ones
    return resolved


def _http_transport(url: str) -> Any:
    """The plain transport to ``url``, through the environment's proxy for it if there is one."""
    import urllib.request
    from urllib.parse import urlsplit

    import httpx2

    parts = urlsplit(url)
    proxy = urllib.request.getproxies().get(parts.scheme)
    if proxy and not urllib.request.proxy_bypass(parts.hostname or ""):
        return httpx2.AsyncHTTPTransport(proxy=proxy)
    return httpx2.AsyncHTTPTransport()


async def _list_tools(session: Any) -> Listing:
    tools: list[mcp_types.Tool] = []
    cursor: str | None = None
    truncated = False
    for _ in range(MAX_PAGES):
        from mcp_types import PaginatedRequestParams

        page = await session.list_tools(params=PaginatedRequestParams(cursor=cursor) if cursor else None)
        tools += page.tools
        cursor = page.next_cursor
        if not cursor or len(tools) >= MAX_TOOLS:
            break
    else:
        truncated = True
    if len(tools) > MAX_TOOLS or cursor:
        truncated = True
    info = session.server_info
    server = f"{info.name} {info.version}".strip() if info is not None else ""
    return Listing(tools=tools[:MAX_TOOLS], truncated=truncated, server=server)


def _describe(exc: BaseException) -> str:
    """One line for an error that may come wrapped in exception groups."""
    from mcp import MCPError
    from mcp_types import CONNECTION_CLOSED
    from pydantic import ValidationError

    exc = first_leaf(exc)
    text = str(exc).strip()
    if isinstance(exc, MCPError):
        if exc.code == CONNECTION_CLOSED:
            return "the server closed the connection (it exited?)"
        return f"the server answered with an error: {_short(exc.message, 300)}"
    if isinstance(exc, ValidationError):
        err = exc.errors(include_url=False)[0]
        loc = ".".join(str(p) for p in err["loc"])
        return f"the server sent an invalid answer: {_short(loc, 120)}: {_short(err['msg'], 200)}"
    return f"{type(exc).__name__}: {_short(text, 300)}" if text else type(exc).__name__


def _offending_line(exc: Exception) -> str:
    """The line a server wrote on stdout that is not a JSON-RPC message."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        try:
            found = errors()[0].get("input")
        except (IndexError, TypeError, AttributeError):
            found = None
        if isinstance(found, str):
            return repr(_short(found, 120))
    return _short(str(exc).splitlines()[0] if str(exc) else repr(exc), 160)


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
