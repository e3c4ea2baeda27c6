"""Build an Agent from a task spec (the CLI, resume and heavy mode share this)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agentkit._redact import MASK
from agentkit.llm.client import OpenAICompatibleModel
from agentkit.llm.profiles import Prices, keeps_reasoning_by_default
from agentkit.run.agent import Agent
from agentkit.run.live import EventHandler
from agentkit.store.base import Store
from agentkit.store.fold import load_state
from agentkit.task import Task
from agentkit.task.sections import ToolSettings


def tool_settings(task: Task) -> ToolSettings:
    """The sections tools read, typed as the task file validated them. Credentials inside URLs
    are kept here (the tools need them); ``Agent.describe`` masks them before the run's config
    is stored."""
    sections: dict[str, Any] = {"search": task.search, "fetch": task.fetch, "sandbox": task.sandbox}
    sections["swarm"] = task.swarm.model_dump(mode="json", exclude_defaults=True)  # read by delegate
    if task.memory is not None:
        sections["memory"] = task.memory  # read by recall
    return ToolSettings(sections)


def model_from_task(task: Task, *, api_key: str | None = None) -> OpenAICompatibleModel:
    """The HTTP client for ``task.model``: endpoint, key variable, streaming, prices, tool_choice
    (``api_key`` instead of the key variable's, e.g. for a client that never sends: a replay)."""
    spec = task.model
    options: dict[str, Any] = {}
    if spec.prices is not None:
        cached = spec.prices.input if spec.prices.cached_input is None else spec.prices.cached_input
        options["prices"] = Prices(input_miss=spec.prices.input, input_hit=cached, output=spec.prices.output)
    if spec.tool_choice is not None:
        options["tool_choice"] = spec.tool_choice
    if spec.thinking is not None:
        options["thinking"] = spec.thinking
    if spec.reasoning_effort is not None:
        options["reasoning_effort"] = spec.reasoning_effort
    keep = spec.preserve_thinking
    if keep is None and spec.thinking is not False:
        keep = keeps_reasoning_by_default(spec.name, spec.provider)
    if keep is not None:
        options["preserve_thinking"] = keep
    return OpenAICompatibleModel(
        spec.name,
        spec.provider,
        base_url=spec.base_url,
        api_key=api_key,
        api_key_env=spec.api_key_env,
        stream=spec.stream,
        **options,
    )


def agent_from_task(
    task: Task,
    *,
    store: Store,
    workdir: Path,
    on_event: EventHandler | None = None,
    llm: OpenAICompatibleModel | None = None,
) -> Agent:
    from agentkit.tools import builtin_tools

    spec = task.model
    llm = llm or model_from_task(task)
    settings = tool_settings(task)
    return Agent(
        llm=llm,
        tools=builtin_tools(settings, names=task.tools),
        store=store,
        temperature=spec.temperature,
        max_tokens=spec.max_tokens,
        workdir=workdir,
        settings=settings,
        on_event=on_event,
        api_key_env=spec.api_key_env,
        task_spec=task.redacted_config(),
        context_window=task.context.window,  # None: the profile's, or what a local server says
        keep_tool_results=task.context.keep_tool_results,
        max_prompt_tokens=task.context.max_prompt_tokens,
        limits=task.limits,
        heavy=task.heavy.trajectories,
        aggregate=task.heavy.aggregate,
        delegate="delegate" in task.tools,
        report=task.output.report,
        mcp=task.mcp,
        output_schema=task.output.json_schema,
    )


RESUME_HINT = "resume it from Python with Agent.resume(run_id)"


async def task_of_run(store: Store, run_id: str, hint: str = RESUME_HINT) -> Task:
    """The task spec a run was started with (from its first trace event); ``hint`` says what
    to do instead when it was not started from a task file."""
    spec = (await load_state(store, run_id)).config.get("task_spec")
    if not isinstance(spec, dict):
        raise ValueError(f"run {run_id} was not started from a task file; {hint}")
    task = Task.from_mapping(spec, source=f"run {run_id}")
    for field, url in (("model.base_url", task.model.base_url), ("search.url", task.search.url)):
        if url is not None and MASK in url:
            raise ValueError(
                f"run {run_id}: {field} held credentials, which are never stored, so the run "
                "cannot be resumed from the CLI; resume it from Python with "
                "Agent.resume(run_id) and the full URL"
            )
    return task
