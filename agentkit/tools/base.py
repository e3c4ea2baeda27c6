"""Typed tools: ``@tool`` turns an annotated function into a JSON-schema tool.

Bad arguments, exceptions and timeouts become results the model can react to; they never
crash the run.
"""

from __future__ import annotations

import inspect
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, get_args, get_type_hints, overload

import anyio
import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from typing_extensions import TypeVar

from agentkit.llm.types import ToolCall
from agentkit.store.events import ToolEffect, ToolResultEvent, TraceEvent
from agentkit.task.sections import ToolSettings
from agentkit.vocabulary import ImageRef

if TYPE_CHECKING:
    from agentkit.store.base import Store

DEFAULT_MAX_RESULT_CHARS = 24_000
DEFAULT_TIMEOUT_S = 120.0


class Attachment(BaseModel):
    """A file produced by a tool (a PNG figure, a downloaded document)."""

    path: str
    mime_type: str
    description: str = ""


class ToolOutput(BaseModel):
    """What a tool returns to the loop. Plain strings are wrapped into this."""

    text: str
    is_error: bool = False
    attachments: list[Attachment] = Field(default_factory=list)
    sources: list[str] = Field(default_factory=list)
    """Ids of sources (registered in the store) this result came from."""
    images: list[ImageRef] = Field(default_factory=list)
    """Images the result carries (checked and stored with
    :func:`agentkit.context.images.store_image`): shown to a vision model after the turn's
    results, named in the text for any other."""
    meta: dict[str, Any] = Field(default_factory=dict)
    """Facts about the call for people and tools reading the trace; the run's state never
    depends on them (that is what ``effects`` are for)."""
    effects: list[ToolEffect] = Field(default_factory=list)
    """What the call changed in the run besides its result: a revised plan, a note, a
    sub-agent's cost, a figure, a Python cell. Committed as trace events of their own with the
    result (the registry stamps them with the call's id); see
    :data:`agentkit.store.events.ToolEffect`."""


ProgressFn = Callable[[float, float | None, str | None], Awaitable[None]]
"""``progress(done, total, message)``: how far a running call is."""


@dataclass
class ToolContext:
    """Run-scoped facts a tool may ask for by annotating a parameter with this type."""

    run_id: str
    call_id: str
    step: int
    store: Store
    workdir: Path
    settings: ToolSettings = field(default_factory=ToolSettings)
    """The task's tool sections, typed (``settings.search``, ``.fetch``, ``.sandbox``); a mapping
    given here is wrapped in :class:`~agentkit.task.sections.ToolSettings`."""
    replay: bool = False
    """True when a resumed run re-executes a call that had no committed result."""
    progress: ProgressFn | None = None
    """Where a long call reports how far it is (the loop shows it as a
    :class:`~agentkit.run.live.ToolProgress` live event); use :meth:`report_progress`."""

    def __post_init__(self) -> None:
        self.settings = ToolSettings.of(self.settings)

    async def report_progress(self, done: float, total: float | None = None, message: str | None = None) -> None:
        """Say how far the call is (nothing happens when nobody listens)."""
        if self.progress is not None:
            await self.progress(done, total, message)


ArgsT = TypeVar("ArgsT", bound=BaseModel, default=Any)
"""A tool's argument model; a bare ``Tool`` is ``Tool[Any]`` (any tool)."""


class Tool(ABC, Generic[ArgsT]):
    """A tool the model can call. Subclass and implement :meth:`invoke`, or use ``@tool``.

    ``Tool[MyArgs]`` takes its arguments as ``MyArgs``: the registry validates the model's
    arguments into ``args_model`` before :meth:`invoke` sees them.
    """

    name: str
    description: str
    args_model: type[ArgsT]
    timeout_s: float | None
    max_result_chars: int

    def __init__(
        self,
        name: str,
        description: str,
        args_model: type[ArgsT],
        *,
        timeout_s: float | None = DEFAULT_TIMEOUT_S,
        max_result_chars: int = DEFAULT_MAX_RESULT_CHARS,
    ) -> None:
        # Any printable name (MCP tools are called files.read/v2 and the like): a host whose
        # pattern refuses it gets a valid alias in the request, and the calls come back under
        # this name (agentkit.llm._tool_wire).
        if not re.fullmatch(r"[!-~]{1,128}", name):
            raise ValueError(f"tool name {name!r} must be 1-128 printable ASCII characters, without spaces")
        self.name = name
        self.description = description
        self.args_model = args_model
        self.timeout_s = timeout_s
        self.max_result_chars = max_result_chars
        self._schema: dict[str, Any] | None = None

    @property
    def schema(self) -> dict[str, Any]:
        """The OpenAI ``tools`` entry, computed once (stable bytes keep prompt caches hot)."""
        if self._schema is None:
            params = _clean_schema(self.args_model.model_json_schema())
            self._schema = {
                "type": "function",
                "function": {"name": self.name, "description": self.description, "parameters": params},
            }
        return self._schema

    @abstractmethod
    async def invoke(self, args: ArgsT, ctx: ToolContext) -> ToolOutput:
        """Run the call. (A plain string, ``None`` or JSON-able value is accepted too and
        wrapped the way ``@tool`` functions' return values are.)"""

    async def open_run(self, run_id: str, ctx: ToolContext) -> list[str]:
        """Get ready for one run, before its first model call (a run resumed in a new process
        opens again). Returns warnings to show; raise :class:`ToolsUnavailable` if the run
        cannot go on without this tool."""
        return []

    async def close_run(self, run_id: str) -> None:
        """Release resources held for one run (a kernel, a cache)."""

    async def aclose(self) -> None:
        """Release resources held by the tool."""

    def __repr__(self) -> str:
        return f"<Tool {self.name}>"


class ToolsUnavailable(Exception):
    """Tools a run needs could not be made ready when it started (an MCP server that would
    not start): the run fails with this message."""


class ToolSource(ABC):
    """Tools known only once a run starts (an MCP server's list). The registry asks each source
    for its tools at the start of every run (:meth:`ToolRegistry.open_run`); the tools it
    returns replace the ones it returned before."""

    @abstractmethod
    async def open_run(self, run_id: str, ctx: ToolContext) -> tuple[list[Tool[Any]], list[str]]:
        """The tools for this run and warnings to show; raise :class:`ToolsUnavailable` to fail the run."""

    async def close_run(self, run_id: str) -> None:  # noqa: B027 - an optional hook: nothing to release by default
        """Release what :meth:`open_run` started for this run."""

    async def aclose(self) -> None:  # noqa: B027 - an optional hook
        """Release everything."""


class FunctionTool(Tool[BaseModel]):
    """A tool backed by a plain (sync or async) function."""

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        timeout_s: float | None = DEFAULT_TIMEOUT_S,
        max_result_chars: int = DEFAULT_MAX_RESULT_CHARS,
    ) -> None:
        self.fn = fn
        self._is_async = inspect.iscoroutinefunction(fn)
        args_model, self._ctx_param = _args_model_for(fn)
        doc = inspect.getdoc(fn) or ""
        super().__init__(
            name or fn.__name__,
            description or (doc.strip().splitlines()[0] if doc.strip() else fn.__name__),
            args_model,
            timeout_s=timeout_s,
            max_result_chars=max_result_chars,
        )

    async def invoke(self, args: BaseModel, ctx: ToolContext) -> ToolOutput:
        kwargs = {name: getattr(args, name) for name in type(args).model_fields}
        if self._ctx_param:
            kwargs[self._ctx_param] = ctx
        if self._is_async:
            return to_output(await self.fn(**kwargs))
        return to_output(await anyio.to_thread.run_sync(partial(self.fn, **kwargs), abandon_on_cancel=True))


@overload
def tool(fn: Callable[..., Any], /) -> FunctionTool: ...
@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    timeout_s: float | None = DEFAULT_TIMEOUT_S,
    max_result_chars: int = DEFAULT_MAX_RESULT_CHARS,
) -> Callable[[Callable[..., Any]], FunctionTool]: ...


def tool(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    timeout_s: float | None = DEFAULT_TIMEOUT_S,
    max_result_chars: int = DEFAULT_MAX_RESULT_CHARS,
) -> FunctionTool | Callable[[Callable[..., Any]], FunctionTool]:
    """Turn an annotated function into a :class:`Tool`.

    The first docstring line is the description; parameters come from the type hints, and
    ``Args:`` lines of a Google-style docstring describe them. A parameter annotated
    :class:`ToolContext` receives the run context and is hidden from the model.
    """

    def wrap(f: Callable[..., Any]) -> FunctionTool:
        return FunctionTool(
            f, name=name, description=description, timeout_s=timeout_s, max_result_chars=max_result_chars
        )

    return wrap(fn) if fn is not None else wrap


_ARG_LINE = re.compile(r"^\s{2,}(\w+)(?:\s*\([^)]*\))?:\s*(.+)$")


def _param_docs(doc: str) -> dict[str, str]:
    out: dict[str, str] = {}
    in_args = False
    for line in doc.splitlines():
        if line.strip() in ("Args:", "Arguments:", "Parameters:"):
            in_args = True
            continue
        if in_args:
            m = _ARG_LINE.match(line)
            if m:
                out[m.group(1)] = m.group(2).strip()
            elif line.strip() and not line.startswith(" "):
                in_args = False
    return out


def _args_model_for(fn: Callable[..., Any]) -> tuple[type[BaseModel], str | None]:
    sig = inspect.signature(fn)
    hints = get_type_hints(fn)
    docs = _param_docs(inspect.getdoc(fn) or "")
    fields: dict[str, Any] = {}
    ctx_param: str | None = None
    for pname, param in sig.parameters.items():
        annotation = hints.get(pname, Any)
        if annotation is ToolContext or ToolContext in get_args(annotation):
            ctx_param = pname
            continue
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise TypeError(f"tool {fn.__name__}: *args/**kwargs are not supported")
        default = ... if param.default is param.empty else param.default
        fields[pname] = (annotation, Field(default, description=docs.get(pname)))
    model: type[BaseModel] = create_model(f"{fn.__name__}_args", __config__=ConfigDict(extra="forbid"), **fields)
    return model, ctx_param


def _clean_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Drop pydantic's titles: they cost tokens and tell the model nothing."""

    def clean(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: clean(v) for k, v in node.items() if k != "title" or not isinstance(v, str)}
        if isinstance(node, list):
            return [clean(v) for v in node]
        return node

    out: dict[str, Any] = clean(schema)
    out.setdefault("properties", {})
    return out


def format_validation_error(tool_name: str, exc: ValidationError) -> str:
    lines = [f"Invalid arguments for {tool_name}:"]
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"]) or "(arguments)"
        lines.append(f"- {loc}: {err['msg']}")
    lines.append("Fix the arguments and call the tool again.")
    return "\n".join(lines)


def to_output(value: Any) -> ToolOutput:
    if isinstance(value, ToolOutput):
        return value
    if isinstance(value, str):
        return ToolOutput(text=value)
    if value is None:
        return ToolOutput(text="(no output)")
    if isinstance(value, BaseModel):
        return ToolOutput(text=value.model_dump_json())
    try:
        return ToolOutput(text=orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode())
    except TypeError:
        return ToolOutput(text=str(value))


def cap_text(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    head = text[: limit - 200]
    return f"{head}\n…[truncated: {len(text) - len(head)} more characters not shown]"


@dataclass
class ToolResult:
    call: ToolCall
    output: ToolOutput
    duration_s: float

    def event(self, step: int) -> ToolResultEvent:
        """The result as the trace keeps it (its effects are events of their own: :meth:`events`)."""
        out = self.output
        return ToolResultEvent(
            step=step,
            call_id=self.call.id,
            name=self.call.name,
            text=out.text,
            is_error=out.is_error,
            duration_s=self.duration_s,
            attachments=[a.model_dump() for a in out.attachments],
            sources=out.sources,
            images=out.images,
            meta=out.meta,
            effects=len(out.effects),
        )

    def events(self, step: int) -> list[TraceEvent]:
        """What to commit for this call, in order and in one append: its effects (stamped with
        the call's id), then the result that makes them take effect. Effects first, so a crash
        between the two leaves a call without a result, which a resumed run runs again (see
        :data:`agentkit.store.events.ToolEffect`)."""
        stamped: list[TraceEvent] = [e.model_copy(update={"call_id": self.call.id}) for e in self.output.effects]
        return [*stamped, self.event(step)]


class ToolRegistry:
    """The tools of one agent, by name."""

    def __init__(self, tools: Iterable[Tool[Any] | ToolSource] = ()) -> None:
        self._tools: dict[str, Tool[Any]] = {}
        self._sources: dict[ToolSource, list[str]] = {}
        """Each source and the names of the tools it gave at the last run start."""
        for t in tools:
            self.add(t)

    def add_source(self, source: ToolSource) -> ToolSource:
        """Tools that arrive when a run starts (:meth:`open_run`)."""
        self._sources.setdefault(source, [])
        return source

    def add(self, t: Tool[Any] | ToolSource | Callable[..., Any]) -> Tool[Any] | ToolSource:
        if isinstance(t, ToolSource):
            return self.add_source(t)
        if not isinstance(t, Tool):
            t = FunctionTool(t)
        if t.name in self._tools:
            raise ValueError(f"duplicate tool name {t.name!r}")
        self._tools[t.name] = t
        return t

    def get(self, name: str) -> Tool[Any] | None:
        return self._tools.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Any:
        return iter(self._tools.values())

    @property
    def names(self) -> list[str]:
        return list(self._tools)

    def schemas(self) -> list[dict[str, Any]]:
        return [t.schema for t in self._tools.values()]

    async def execute(self, call: ToolCall, ctx: ToolContext) -> ToolResult:
        """Run one call; every failure becomes an error result for the model."""
        started = time.perf_counter()
        output = await self._execute(call, ctx)
        t = self._tools.get(call.name)
        limit = t.max_result_chars if t else DEFAULT_MAX_RESULT_CHARS
        if len(output.text) > limit:
            output = output.model_copy(update={"text": cap_text(output.text, limit)})
        return ToolResult(call=call, output=output, duration_s=time.perf_counter() - started)

    async def _execute(self, call: ToolCall, ctx: ToolContext) -> ToolOutput:
        t = self._tools.get(call.name)
        if t is None:
            known = ", ".join(self._tools) or "(none)"
            return ToolOutput(text=f"Unknown tool {call.name!r}. Available tools: {known}.", is_error=True)
        if call.parsed is None:
            return ToolOutput(
                text=f"Could not parse the arguments of {call.name}: {call.parse_error}. "
                "Send the arguments as one valid JSON object and call the tool again.",
                is_error=True,
            )
        try:
            args = t.args_model.model_validate(call.parsed)
        except ValidationError as exc:
            return ToolOutput(text=format_validation_error(call.name, exc), is_error=True)
        try:
            if t.timeout_s is None:
                value = await t.invoke(args, ctx)
            else:
                with anyio.fail_after(t.timeout_s):
                    value = await t.invoke(args, ctx)
        except TimeoutError:
            return ToolOutput(text=f"{call.name} timed out after {t.timeout_s:g} s.", is_error=True)
        except Exception as exc:
            return ToolOutput(text=f"{call.name} failed: {type(exc).__name__}: {exc}", is_error=True)
        return to_output(value)

    async def execute_all(
        self,
        calls: Sequence[ToolCall],
        make_ctx: Callable[[ToolCall], ToolContext],
        on_result: Callable[[ToolResult], Awaitable[None]],
    ) -> None:
        """Run the calls of one turn concurrently; ``on_result`` sees each as it completes."""

        async def one(call: ToolCall) -> None:
            await on_result(await self.execute(call, make_ctx(call)))

        try:
            async with anyio.create_task_group() as tg:
                for call in calls:
                    tg.start_soon(one, call)
        except BaseExceptionGroup as group:
            # A tool's own failure is already its result: what escapes is the run's (a store that
            # refused a result, a cancellation), and the loop settles the run by its type.
            raise first_leaf(group) from None

    async def open_run(self, run_id: str, ctx: ToolContext) -> list[str]:
        """Ready the tools for a run, before its first model call; the sources' tools join the
        registry (replacing what they gave before). Returns warnings to show; raises
        :class:`ToolsUnavailable` when the run cannot start."""
        warnings: list[str] = []
        for t in list(self._tools.values()):
            warnings += await t.open_run(run_id, ctx)
        for source in list(self._sources):
            tools, notes = await source.open_run(run_id, ctx)
            warnings += notes
            for name in self._sources[source]:  # read after the await: runs of one agent open concurrently
                self._tools.pop(name, None)
            for t in tools:
                if t.name in self._tools:
                    raise ToolsUnavailable(f"tool {t.name!r} is offered twice (rename one of the MCP servers)")
                self._tools[t.name] = t
            self._sources[source] = [t.name for t in tools]
        return warnings

    async def close_run(self, run_id: str) -> None:
        for t in self._tools.values():
            await t.close_run(run_id)
        for source in self._sources:
            await source.close_run(run_id)

    async def aclose(self) -> None:
        for t in self._tools.values():
            await t.aclose()
        for source in self._sources:
            await source.aclose()


def first_leaf(exc: BaseException) -> BaseException:
    """An error raised in a task group arrives wrapped in an ExceptionGroup: its first leaf,
    however deeply nested (``exc`` itself when it is not a group)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc
