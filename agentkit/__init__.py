"""agentkit: autonomous research agents on thinking models, over any OpenAI-compatible endpoint.

The public names below are loaded on first use (PEP 562), so ``import agentkit.cli`` (the
``agentkit`` command) does not pay for the model client, the store backends and their pydantic
models before it knows what it will do. ``from agentkit import Agent, tool`` works as always.
Heavy mode and delegation (:mod:`agentkit.ensembles.heavy`, a layer above the Agent) are available to
every Agent as soon as ``agentkit`` is imported: they load when a run first needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from agentkit.run import _ensemble

if TYPE_CHECKING:
    from agentkit.context.images import ImageError
    from agentkit.context.videos import VideoError
    from agentkit.llm.client import ConfigurationError, OpenAICompatibleModel, RetryPolicy
    from agentkit.llm.errors import (
        AuthenticationFailed,
        ConnectionFailed,
        ContextLengthExceeded,
        ModelError,
        ModelNotFound,
        ModelRetriesExhausted,
    )
    from agentkit.llm.profiles import PROFILES, Prices, ProviderProfile, get_profile
    from agentkit.llm.types import AssistantTurn, Model, ModelRequest, ToolCall, Usage
    from agentkit.replays import ReplayError, ReplayReport, replay, replay_async
    from agentkit.run.agent import Agent, RunResult
    from agentkit.run.live import (
        AgentEvent,
        ContentDelta,
        ModelRetrying,
        Notice,
        PlanMade,
        ReasoningDelta,
        RunBegan,
        RunEnded,
        StreamRestarted,
        ToolCallFinished,
        ToolCallStarted,
        ToolProgress,
        TurnStarted,
        UsageReported,
    )
    from agentkit.store import (
        CellExecuted,
        FigureProduced,
        MemoryStore,
        NoteAdded,
        PlanUpdated,
        RunInfo,
        Source,
        Store,
        TextHit,
        ToolEffect,
        UsageCharged,
    )
    from agentkit.task.mcp_servers import MCPServerSpec
    from agentkit.task.sections import LimitsSpec, MemorySpec, ToolSettings
    from agentkit.tools.base import Attachment, FunctionTool, Tool, ToolContext, ToolOutput, ToolRegistry, tool
    from agentkit.vocabulary import ImageRef, VideoRef

__version__ = "0.1.0"

_HOMES: dict[str, tuple[str, ...]] = {
    "agentkit.run.agent": ("Agent", "RunResult"),
    "agentkit.replays": ("ReplayError", "ReplayReport", "replay", "replay_async"),
    "agentkit.task.mcp_servers": ("MCPServerSpec",),
    "agentkit.task.sections": ("LimitsSpec", "MemorySpec", "ToolSettings"),
    "agentkit.context.images": ("ImageError",),
    "agentkit.context.videos": ("VideoError",),
    "agentkit.vocabulary": ("ImageRef", "VideoRef"),
    "agentkit.run.live": (
        "AgentEvent",
        "ContentDelta",
        "ModelRetrying",
        "Notice",
        "PlanMade",
        "ReasoningDelta",
        "RunBegan",
        "RunEnded",
        "StreamRestarted",
        "ToolCallFinished",
        "ToolCallStarted",
        "ToolProgress",
        "TurnStarted",
        "UsageReported",
    ),
    "agentkit.llm.client": ("ConfigurationError", "OpenAICompatibleModel", "RetryPolicy"),
    "agentkit.llm.errors": (
        "AuthenticationFailed",
        "ConnectionFailed",
        "ContextLengthExceeded",
        "ModelError",
        "ModelNotFound",
        "ModelRetriesExhausted",
    ),
    "agentkit.llm.profiles": ("PROFILES", "Prices", "ProviderProfile", "get_profile"),
    "agentkit.llm.types": ("AssistantTurn", "Model", "ModelRequest", "ToolCall", "Usage"),
    "agentkit.store": (
        "CellExecuted",
        "FigureProduced",
        "MemoryStore",
        "NoteAdded",
        "PlanUpdated",
        "RunInfo",
        "Source",
        "Store",
        "TextHit",
        "ToolEffect",
        "UsageCharged",
    ),
    "agentkit.tools.base": ("Attachment", "FunctionTool", "Tool", "ToolContext", "ToolOutput", "ToolRegistry", "tool"),
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}


class _EnsemblesOnDemand:
    """Stands in for :mod:`agentkit.ensembles.heavy` until a run needs it: importing it registers the real
    ensembles with the Agent, which then serve this call and every later one."""

    @staticmethod
    def _loaded() -> _ensemble.Ensembles:
        importlib.import_module("agentkit.ensembles.heavy")
        return _ensemble.ensembles()

    async def run_heavy(self, *args: Any, **kwargs: Any) -> RunResult:  # as _ensemble.Ensembles.run_heavy
        return await self._loaded().run_heavy(*args, **kwargs)

    def delegate_tool(self, agent: Agent) -> Tool:
        return self._loaded().delegate_tool(agent)


if not _ensemble._registered:  # agentkit.ensembles.heavy registers itself when it is imported
    _ensemble.register(_EnsemblesOnDemand())


def __getattr__(name: str) -> Any:
    module = _HOME_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'agentkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later uses are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOME_OF])


__all__ = [
    "PROFILES",
    "Agent",
    "AgentEvent",
    "AssistantTurn",
    "Attachment",
    "AuthenticationFailed",
    "CellExecuted",
    "ConfigurationError",
    "ConnectionFailed",
    "ContentDelta",
    "ContextLengthExceeded",
    "FigureProduced",
    "FunctionTool",
    "ImageError",
    "ImageRef",
    "LimitsSpec",
    "MCPServerSpec",
    "MemorySpec",
    "MemoryStore",
    "Model",
    "ModelError",
    "ModelNotFound",
    "ModelRequest",
    "ModelRetriesExhausted",
    "ModelRetrying",
    "NoteAdded",
    "Notice",
    "OpenAICompatibleModel",
    "PlanMade",
    "PlanUpdated",
    "Prices",
    "ProviderProfile",
    "ReasoningDelta",
    "ReplayError",
    "ReplayReport",
    "RetryPolicy",
    "RunBegan",
    "RunEnded",
    "RunInfo",
    "RunResult",
    "Source",
    "Store",
    "StreamRestarted",
    "TextHit",
    "Tool",
    "ToolCall",
    "ToolCallFinished",
    "ToolCallStarted",
    "ToolContext",
    "ToolEffect",
    "ToolOutput",
    "ToolProgress",
    "ToolRegistry",
    "ToolSettings",
    "TurnStarted",
    "Usage",
    "UsageCharged",
    "UsageReported",
    "VideoError",
    "VideoRef",
    "get_profile",
    "replay",
    "replay_async",
    "tool",
]
