"""The agent a replay re-drives a run with: today's code, configured as the run was.

Built from the configuration the run stored (``Agent.describe``: tools, limits, window,
sampling, settings) and, for a run started from a task file, the model options of its task.
The model client is made (for its profile, traits and request rules) but never sends: it
holds no key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agentkit.llm.client import OpenAICompatibleModel
from agentkit.llm.types import Model
from agentkit.run._from_task import model_from_task
from agentkit.run.agent import Agent
from agentkit.store.base import Store
from agentkit.task import Task
from agentkit.task.sections import LimitsSpec, ToolSettings
from agentkit.tools import builtin_tools

OFFLINE_KEY = "agentkit-replay-sends-nothing"
_BUILTIN = ("web_search", "fetch", "python", "recall")


def model_of(config: dict[str, Any]) -> Model:
    """A client like the run's (never used to send)."""
    spec = config.get("task_spec")
    if isinstance(spec, dict):
        try:
            task = Task.from_mapping(spec, source="the stored task")
        except ValueError:
            task = None
        if task is not None and task.model.name == config.get("model"):
            return model_from_task(task, api_key=OFFLINE_KEY)
    return OpenAICompatibleModel(
        config.get("model"),
        str(config.get("provider") or "moonshot"),
        base_url=config.get("base_url"),
        api_key=OFFLINE_KEY,
    )


def agent_of(config: dict[str, Any], store: Store, llm: Model, workdir: Path) -> Agent:
    """An Agent configured as ``config`` (a run's stored configuration) says."""
    settings = _usable(config.get("settings") or {})
    tools = [str(t) for t in config.get("tools") or []]
    spec = config.get("task_spec")
    context = spec.get("context") if isinstance(spec, dict) else None
    keep = config.get("keep_tool_results")
    if keep is None and isinstance(context, dict):
        keep = context.get("keep_tool_results")  # runs stored before the config said it
    window = config.get("context_window")
    if isinstance(context, dict) and context.get("window") is None:
        window = None  # the task declared none: the profile's, or what the server said (the trace has it)
    limits = config.get("limits")
    return Agent(
        llm=llm,
        tools=builtin_tools(settings, names=[t for t in tools if t in _BUILTIN]),
        max_steps=300 if isinstance(limits, dict) else int(config.get("max_steps") or 300),
        plan=bool(config.get("plan", True)),
        store=store,
        temperature=config.get("temperature"),
        max_tokens=config.get("max_tokens"),
        seed=config.get("seed"),
        workdir=workdir,
        settings=settings,
        task_spec=spec if isinstance(spec, dict) else None,
        context_window=window,
        keep_tool_results=keep,
        limits=LimitsSpec.model_validate(limits) if isinstance(limits, dict) else None,
        delegate="delegate" in tools,
        api_key_env=config.get("api_key_env"),
    )


def _usable(settings: dict[str, Any]) -> dict[str, Any]:
    """The stored tool settings, less the sections that no longer check out here (a search
    index since deleted, a masked URL): no tool runs in a replay, and their schemas do not
    depend on them; the sections the loop itself reads (``swarm``, ``memory``) are kept."""
    try:
        ToolSettings.of(settings).validated()
    except ValueError:
        kept = {k: v for k, v in settings.items() if k in ("swarm", "memory")}
        try:
            ToolSettings.of(kept).validated()
        except ValueError:
            return {}
        return kept
    return settings
