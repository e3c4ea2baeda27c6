"""agentkit: autonomous research agents on thinking models, over any OpenAI-compatible endpoint."""

from agentkit import heavy as _heavy  # noqa: F401  (registers heavy mode and delegation with the Agent)
from agentkit.agent import Agent, RunResult
from agentkit.live import (
    AgentEvent,
    ContentDelta,
    Notice,
    ReasoningDelta,
    RunBegan,
    RunEnded,
    StreamRestarted,
    ToolCallFinished,
    ToolCallStarted,
    TurnStarted,
    UsageReported,
)
from agentkit.llm.client import ConfigurationError, OpenAICompatibleModel, RetryPolicy
from agentkit.llm.errors import (
    AuthenticationFailed,
    ContextLengthExceeded,
    ModelError,
    ModelRetriesExhausted,
)
from agentkit.llm.profiles import PROFILES, Prices, ProviderProfile, get_profile
from agentkit.llm.types import AssistantTurn, Model, ModelRequest, ToolCall, Usage
from agentkit.store import (
    CellExecuted,
    FigureProduced,
    MemoryStore,
    NoteAdded,
    PlanUpdated,
    RunInfo,
    Source,
    Store,
    ToolEffect,
    UsageCharged,
)
from agentkit.tools.base import Attachment, FunctionTool, Tool, ToolContext, ToolOutput, ToolRegistry, tool

__version__ = "0.1.0"

__all__ = [
    "PROFILES",
    "Agent",
    "AgentEvent",
    "AssistantTurn",
    "Attachment",
    "AuthenticationFailed",
    "CellExecuted",
    "ConfigurationError",
    "ContentDelta",
    "ContextLengthExceeded",
    "FigureProduced",
    "FunctionTool",
    "MemoryStore",
    "Model",
    "ModelError",
    "ModelRequest",
    "ModelRetriesExhausted",
    "NoteAdded",
    "Notice",
    "OpenAICompatibleModel",
    "PlanUpdated",
    "Prices",
    "ProviderProfile",
    "ReasoningDelta",
    "RetryPolicy",
    "RunBegan",
    "RunEnded",
    "RunInfo",
    "RunResult",
    "Source",
    "Store",
    "StreamRestarted",
    "Tool",
    "ToolCall",
    "ToolCallFinished",
    "ToolCallStarted",
    "ToolContext",
    "ToolEffect",
    "ToolOutput",
    "ToolRegistry",
    "TurnStarted",
    "Usage",
    "UsageCharged",
    "UsageReported",
    "get_profile",
    "tool",
]
