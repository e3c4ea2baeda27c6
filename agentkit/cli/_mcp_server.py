"""agentkit as an MCP server (``agentkit mcp``): research runs as tools for other agents.

Tools: ``research(question, ...)`` runs a normal stored run (resumable like any other:
``agentkit resume RUN_ID`` or the ``resume`` tool) and returns its answer and run id;
``resume(run_id)`` continues an interrupted one; ``run_status(run_id)`` and ``report(run_id)``
read the store. Each model turn is sent as a progress notification when the client asked
for them. The model and provider come from the server's ``--config TASK.yaml`` (its ``task:``
is not needed), the defaults, or a per-call ``config``: a file inside the folder given as
``--config-dir`` when the server started, and nowhere else (a client can be talked into
passing any path, e.g. a file a sandboxed run wrote; a task file names commands agentkit
starts on the host). No task file is ever read from a run's work dir (``load_task``).
"""

from __future__ import annotations

import importlib.metadata
import os
import sys
import uuid
from pathlib import Path
from typing import Annotated, Any

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.types import CallToolResult, InputRequiredResult
from pydantic import StrictInt, ValidationError, WithJsonSchema

from agentkit.run._from_task import agent_from_task, task_of_run
from agentkit.run._runs import RunResult
from agentkit.run.live import AgentEvent, TurnStarted
from agentkit.store import RunNotFound, Store, StoreError
from agentkit.store._location import display_location, ensure_work_root, open_store, resolve_store_location, work_root
from agentkit.store.status import shown_run, shown_status
from agentkit.task import EVAL_TASK, Task, TaskFileError, load_task
from agentkit.task._trust import REFUSAL, sandbox_writable
from agentkit.task.sections import MAX_STEPS, MAX_TRAJECTORIES

INSTRUCTIONS = (
    "agentkit runs autonomous research: call research(question) for a sourced answer. A run can "
    "take many minutes; its run_id lets you check it (run_status), read its report (report) or "
    "continue it after an interruption (resume)."
)


MAX_QUESTION_CHARS = 100_000
MAX_PATH_CHARS = 4_096
MAX_RUN_ID_CHARS = 200


class ResearchServer:
    """What the tools share: where the store is, the default run configuration and the one
    folder per-call configs may come from (``None``: only ``config`` itself)."""

    def __init__(self, store: str | None = None, config: Path | None = None, config_dir: Path | None = None) -> None:
        self.location = resolve_store_location(store)
        self.config = config
        self.config_dir: Path | None = None
        if config_dir is not None:
            if sandbox_writable(config_dir, [self.location, None]):
                raise ValueError(f"--config-dir {config_dir}: {REFUSAL}")
            if not config_dir.is_dir():
                raise ValueError(f"--config-dir {config_dir}: not a folder")
            self.config_dir = Path(os.path.realpath(config_dir))
        if config is not None:
            self.task_config(config)  # a bad file stops the server before it serves

    def task_config(self, path: Path | None) -> Task:
        """The run configuration (``task:`` optional), with the API key checked."""
        if path is None:
            task = Task(task=EVAL_TASK)
            task.check_api_key(source="agentkit defaults (pass --config TASK.yaml)")
            return task
        return load_task(path, require_task=False, stores=[self.location, None])

    def config_for_call(self, given: str | None) -> Path | None:
        """The task file a ``research`` call asked for: the server's ``--config`` (the default,
        or named again), or a file that lies, links resolved, inside ``--config-dir`` (a
        relative name is taken inside it). Anything else is refused in one line."""
        if not given:
            return self.config
        _check_text("config", given, MAX_PATH_CHARS)
        if self.config is not None and os.path.realpath(given) == os.path.realpath(self.config):
            return self.config
        if self.config_dir is None:
            raise ToolError(
                "config: refused: this server takes task files only from its --config-dir, and it was "
                "started without one (leave config out to use the server's configuration)"
            )
        candidate = Path(given) if Path(given).is_absolute() else self.config_dir / given
        if not Path(os.path.realpath(candidate)).is_relative_to(self.config_dir):
            raise ToolError(f"config: refused: not a file inside the server's --config-dir ({self.config_dir})")
        return candidate  # as given: load_task checks every link on the way

    def runs_dir(self) -> Path:
        """The store's work-dir root (each store its own; see :func:`work_root`)."""
        return work_root(self.location)

    def store(self) -> Store:
        try:
            return open_store(self.location)
        except ValueError as exc:
            raise ToolError(f"cannot open the store at {display_location(self.location)}: {exc}") from None

    async def research(
        self,
        question: str,
        ctx: Context,
        config: str | None = None,
        max_steps: int | None = None,
        heavy: int | None = None,
    ) -> dict[str, Any]:
        _check_text("question", question, MAX_QUESTION_CHARS)
        if not question.strip():
            raise ToolError("question must not be empty")
        overrides: dict[str, object] = {"task": question}
        if max_steps is not None:
            overrides["limits.max_steps"] = _check_count("max_steps", max_steps, MAX_STEPS)
        if heavy is not None:
            overrides["heavy.trajectories"] = _check_count("heavy", heavy, MAX_TRAJECTORIES)
        path = self.config_for_call(config)
        try:
            base = await anyio.to_thread.run_sync(self.task_config, path)
            task = base.with_overrides(overrides, source="research")
        except TaskFileError as exc:
            raise ToolError(str(exc)) from None
        return await self._drive(task, uuid.uuid4().hex[:12], ctx, resume=False)

    async def resume(self, run_id: str, ctx: Context) -> dict[str, Any]:
        _check_text("run_id", run_id, MAX_RUN_ID_CHARS)
        store = self.store()
        try:
            info = await store.find_run(run_id)
            task = await task_of_run(store, info.id)
        except (RunNotFound, StoreError, ValueError, TaskFileError) as exc:
            raise ToolError(str(exc)) from None
        finally:
            await store.aclose()
        return await self._drive(task, info.id, ctx, resume=True)

    async def _drive(self, task: Task, run_id: str, ctx: Context, *, resume: bool) -> dict[str, Any]:
        async def progress(event: AgentEvent) -> None:
            if isinstance(event, TurnStarted) and event.phase == "execute":
                await ctx.report_progress(event.step, event.max_steps, f"run {run_id}: step {event.step}")

        store = self.store()
        agent = agent_from_task(task, store=store, workdir=self.runs_dir(), on_event=progress)
        try:
            await store.open()
            await anyio.to_thread.run_sync(ensure_work_root, self.location)  # once the store is there
            result = await (agent.resume(run_id) if resume else agent.run(task.task, run_id=run_id))
        except (StoreError, RunNotFound) as exc:
            raise ToolError(f"run {run_id}: {exc}") from None
        finally:
            await agent.aclose()
            await store.aclose()
        return _summary(result)

    async def run_status(self, run_id: str) -> dict[str, Any]:
        store = open_store(self.location, readonly=True)
        try:
            shown = await shown_run(store, await store.find_run(run_id))
        except (RunNotFound, StoreError) as exc:
            raise ToolError(str(exc)) from None
        finally:
            await store.aclose()
        info = shown.info
        return {
            "run_id": info.id,
            "status": info.status,
            "task": info.task,
            "steps": info.steps,
            "tool_calls": shown.tool_calls,
            "answer": info.answer or "",
            "stop_reason": info.stop_reason,
            "cost_usd": info.cost_usd,
        }

    async def report(self, run_id: str) -> str:
        from agentkit.report import load_report, render_markdown

        store = open_store(self.location, readonly=True)
        try:
            info = await shown_status(store, await store.find_run(run_id))
            report = await load_report(store, info.id)
        except (RunNotFound, StoreError) as exc:
            raise ToolError(str(exc)) from None
        finally:
            await store.aclose()
        if report is not None:
            return render_markdown(report)
        if info.status != "finished":
            return f"Run {info.id} is {info.status}; it has no report yet."
        return f"Run {info.id} has no report (its task set output.report: false). Its answer:\n\n{info.answer or ''}"


def _summary(result: RunResult) -> dict[str, Any]:
    return {
        "run_id": result.run_id,
        "status": result.status,
        "answer": result.answer,
        "stop_reason": result.stop_reason,
        "error": result.error,
        "steps": result.steps,
        "tool_calls": result.tool_calls,
        "cost_usd": result.cost_usd,
    }


def _check_text(name: str, value: str, longest: int) -> str:
    """The bounds the tool's schema states, checked here so a call that ignores them gets one
    line (the SDK's own check would answer with pydantic's multi-line report)."""
    if len(value) > longest:
        raise ToolError(f"{name}: too long (at most {longest:,} characters)")
    return value


def _check_count(name: str, value: int, most: int) -> int:
    if not 1 <= value <= most:
        raise ToolError(f"{name}: must be between 1 and {most:,}")
    return value


def server_version() -> str:
    """agentkit's version, as the server's ``initialize`` answer reports it."""
    try:
        return importlib.metadata.version("agentkit")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree
        return str(getattr(sys.modules["agentkit"], "__version__", "0+unknown"))


def _text(description: str, longest: int) -> Any:
    return WithJsonSchema({"type": "string", "minLength": 1, "maxLength": longest, "description": description})


def _count(description: str, most: int) -> Any:
    return WithJsonSchema({"type": "integer", "minimum": 1, "maximum": most, "description": description})


RUN_ID = "The run id that research returned, or a unique prefix of it."
Question = Annotated[
    str, _text("The research question or instructions, in plain language, as for a person.", MAX_QUESTION_CHARS)
]
ConfigPath = Annotated[
    str | None,
    _text(
        "A task file (YAML) setting the model, tools and limits of this run: a file name inside the "
        "server's --config-dir (the only folder it takes them from). Default: the server's --config.",
        MAX_PATH_CHARS,
    ),
]
MaxSteps = Annotated[
    StrictInt | None,
    _count(
        "The most model turns the run may take (default: the configuration's limits.max_steps, 300 unless set).",
        MAX_STEPS,
    ),
]
Heavy = Annotated[
    StrictInt | None,
    _count(
        "Heavy mode: this many independent trajectories run in parallel and one answer is aggregated "
        "from them (default: the configuration's heavy.trajectories, 1 unless set). Costs grow with it.",
        MAX_TRAJECTORIES,
    ),
]
RunId = Annotated[str, _text(RUN_ID, MAX_RUN_ID_CHARS)]

RESEARCH = (
    "Research a question with an autonomous agent that searches the web, reads pages and runs Python "
    "in a sandbox, and answer it with sources. Returns run_id, status (finished, stopped, failed or "
    "interrupted), answer, stop_reason, error, steps, tool_calls and cost_usd. A run may take many "
    "minutes; it is stored, so an interrupted one can be continued with resume(run_id)."
)
RESUME = (
    "Continue an interrupted research run from its last committed step (nothing is redone) and "
    "return what research returns."
)
RUN_STATUS = (
    "The state of a research run: status (running, finished, stopped, failed or interrupted), its task, "
    "steps taken, answer, stop_reason and cost_usd. Cheap: reads the store, starts nothing."
)
REPORT = (
    "The report of a finished research run, as Markdown with its numbered, checked sources; the run's "
    "answer when it wrote no report."
)


_WRONG_TYPE = {
    "missing": "required",
    "string_type": "must be a string",
    "int_type": "must be a whole number",
    "int_from_float": "must be a whole number",
    "int_parsing": "must be a whole number",
}


def _arguments_problem(exc: ValidationError) -> str:
    """One line for arguments the SDK's validation refused (its own text is pydantic's
    multi-line report, with the values): the parameter and the problem."""
    errors = exc.errors(include_input=False, include_url=False)
    first = errors[0]
    name = ".".join(str(part) for part in first["loc"]) or "arguments"
    problem = _WRONG_TYPE.get(first["type"], str(first["msg"]))
    more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
    return f"{name}: {problem[:1].lower()}{problem[1:]}{more}"


class _Server(MCPServer):
    """The SDK's server, answering arguments that do not fit a tool's schema in one line."""

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            cause = exc.__cause__
            if isinstance(exc, UnexpectedToolError) or not isinstance(cause, ValidationError):
                raise
            raise ToolError(f"Error executing tool {name}: {_arguments_problem(cause)}") from cause


def build_server(research: ResearchServer) -> MCPServer:
    server: MCPServer = _Server("agentkit", version=server_version(), instructions=INSTRUCTIONS, log_level="WARNING")

    @server.tool(name="research", description=RESEARCH)
    async def research_tool(
        question: Question, ctx: Context, config: ConfigPath = None, max_steps: MaxSteps = None, heavy: Heavy = None
    ) -> dict[str, Any]:
        return await research.research(question, ctx, config, max_steps, heavy)

    @server.tool(description=RESUME)
    async def resume(run_id: RunId, ctx: Context) -> dict[str, Any]:
        return await research.resume(run_id, ctx)

    @server.tool(description=RUN_STATUS)
    async def run_status(run_id: RunId) -> dict[str, Any]:
        return await research.run_status(_check_text("run_id", run_id, MAX_RUN_ID_CHARS))

    @server.tool(description=REPORT)
    async def report(run_id: RunId) -> str:
        return await research.report(_check_text("run_id", run_id, MAX_RUN_ID_CHARS))

    return server
