"""agentkit: autonomous research agents on thinking models, over any OpenAI-compatible endpoint."""

from agentkit import heavy as _heavy  # noqa: F401  (registers heavy mode and delegation with the Agent)
from agentkit.agent import Agent, RunResult
from agentkit.events import (
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
from agentkit.store import MemoryStore, RunInfo, Source, Store
from agentkit.tools.base import Attachment, FunctionTool, Tool, ToolContext, ToolOutput, ToolRegistry, tool

__version__ = "0.1.0"

__all__ = [
    "PROFILES",
    "Agent",
    "AgentEvent",
    "AssistantTurn",
    "Attachment",
    "AuthenticationFailed",
    "ConfigurationError",
    "ContentDelta",
    "ContextLengthExceeded",
    "FunctionTool",
    "MemoryStore",
    "Model",
    "ModelError",
    "ModelRequest",
    "ModelRetriesExhausted",
    "Notice",
    "OpenAICompatibleModel",
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
    "ToolOutput",
    "ToolRegistry",
    "TurnStarted",
    "Usage",
    "UsageReported",
    "get_profile",
    "tool",
]
