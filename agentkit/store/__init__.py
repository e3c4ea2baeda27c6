"""Durable trace storage."""

from agentkit.store._location import open_store, resolve_store_location
from agentkit.store.base import RunBusy, RunNotFound, Store, blob_key
from agentkit.store.events import (
    Aggregated,
    AssistantMessage,
    BudgetDecision,
    ErrorEvent,
    NoteAdded,
    PlanUpdated,
    RunFinished,
    RunInfo,
    RunStarted,
    RunStatus,
    Source,
    StatusChanged,
    UsageCharged,
    StoredEvent,
    ToolResultEvent,
    TraceEvent,
    UserMessage,
)
from agentkit.store.memory import MemoryStore
from agentkit.store.sqlite import SQLiteStore

__all__ = [
    "Aggregated",
    "AssistantMessage",
    "BudgetDecision",
    "ErrorEvent",
    "MemoryStore",
    "NoteAdded",
    "PlanUpdated",
    "RunBusy",
    "RunFinished",
    "RunInfo",
    "RunNotFound",
    "RunStarted",
    "RunStatus",
    "SQLiteStore",
    "Source",
    "StatusChanged",
    "UsageCharged",
    "Store",
    "StoredEvent",
    "ToolResultEvent",
    "TraceEvent",
    "UserMessage",
    "blob_key",
    "open_store",
    "resolve_store_location",
]
