"""agentkit as an MCP server (``agentkit mcp``): research runs as tools for other agents.

Tools: ``research(question, ...)`` runs a normal stored run (resumable like any other:
``agentkit resume RUN_ID`` or the ``resume`` tool) and returns its answer and run id;
``resume(run_id)`` continues an interrupted one; ``run_status(run_id)`` and ``report(run_id)``
read the store. Each model turn is sent as a progress notification when the client asked
for them. The model and provider come from the server's ``--config TASK.yaml`` (its ``task:``
is not needed), a per-call ``config`` path, or the defaults.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from agentkit.run._from_task import agent_from_task, task_of_run
from agentkit.run._runs import RunResult
from agentkit.run.live import AgentEvent, TurnStarted
from agentkit.store import RunNotFound, Store, StoreError
from agentkit.store._location import display_location, ensure_work_root, open_store, resolve_store_location, work_root
from agentkit.store.status import shown_run, shown_status
from agentkit.task import EVAL_TASK, Task, TaskFileError, load_task

INSTRUCTIONS = (
    "agentkit runs autonomous research: call research(question) for a sourced answer. A run can "
    "take many minutes; its run_id lets you check it (run_status), read its report (report) or "
    "continue it after an interruption (resume)."
)


class ResearchServer:
    """What the tools share: where the store is and the default run configuration."""

    def __init__(self, store: str | None = None, config: Path | None = None) -> None:
        self.location = resolve_store_location(store)
        self.config = config
        if config is not None:
            self.task_config(config)  # a bad file stops the server before it serves

    def task_config(self, path: Path | None) -> Task:
        """The run configuration (``task:`` optional), with the API key checked."""
        if path is None:
            task = Task(task=EVAL_TASK)
            task.check_api_key(source="agentkit defaults (pass --config TASK.yaml)")
            return task
        return load_task(path, require_task=False)

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
        if not question.strip():
            raise ToolError("question must not be empty")
        overrides: dict[str, object] = {"task": question}
        if max_steps is not None:
            overrides["limits.max_steps"] = max_steps
        if heavy is not None:
            overrides["heavy.trajectories"] = heavy
        try:
            task = self.task_config(Path(config) if config else self.config).with_overrides(
                overrides, source="research"
            )
        except TaskFileError as exc:
            raise ToolError(str(exc)) from None
        return await self._drive(task, uuid.uuid4().hex[:12], ctx, resume=False)

    async def resume(self, run_id: str, ctx: Context) -> dict[str, Any]:
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


def build_server(research: ResearchServer) -> MCPServer:
    server: MCPServer = MCPServer("agentkit", instructions=INSTRUCTIONS, log_level="WARNING")

    @server.tool(name="research")
    async def research_tool(
        question: str, ctx: Context, config: str | None = None, max_steps: int | None = None, heavy: int | None = None
    ) -> dict[str, Any]:
        """Research a question with an autonomous agent (web search, page reading, Python) and
        return the answer and the run id. Stored and resumable; may take many minutes.

        Args:
            question: The research question or instructions.
            config: Path of a task file (YAML) for the model, tools and limits (default: the server's).
            max_steps: The most model turns the run may take.
            heavy: Trajectories to run in parallel and aggregate (heavy mode).
        """
        return await research.research(question, ctx, config, max_steps, heavy)

    @server.tool()
    async def resume(run_id: str, ctx: Context) -> dict[str, Any]:
        """Continue an interrupted research run from its last committed step.

        Args:
            run_id: The run id (or a unique prefix).
        """
        return await research.resume(run_id, ctx)

    @server.tool()
    async def run_status(run_id: str) -> dict[str, Any]:
        """The status of a research run: running, finished, stopped, failed or interrupted.

        Args:
            run_id: The run id (or a unique prefix).
        """
        return await research.run_status(run_id)

    @server.tool()
    async def report(run_id: str) -> str:
        """The report of a finished research run (Markdown), or its answer when it wrote none.

        Args:
            run_id: The run id (or a unique prefix).
        """
        return await research.report(run_id)

    return server
