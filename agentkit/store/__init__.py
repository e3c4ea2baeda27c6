"""Durable trace storage: events, the Store interface and its backends (sqlite, postgres,
memory), and the fold (``fold``: a run's state from its events). Imports: the vocabulary, ``_text``.

``PostgresStore`` is imported on first use (it needs the optional ``postgres`` extra).
"""

from typing import TYPE_CHECKING, Any

from agentkit.store._codec import clean_model
from agentkit.store._location import open_store, resolve_store_location
from agentkit.store._search import TextHit
from agentkit.store.base import (
    RunBusy,
    RunNotFound,
    Store,
    StoreCorrupt,
    StoreError,
    StoreFull,
    StoreMissing,
    StoreUnavailable,
    blob_key,
)
from agentkit.store.events import (
    Aggregated,
    AssistantMessage,
    BudgetDecision,
    CellExecuted,
    ErrorEvent,
    FigureProduced,
    NoteAdded,
    PlanUpdated,
    RunFinished,
    RunInfo,
    RunStarted,
    RunStatus,
    Source,
    StatusChanged,
    StoredEvent,
    ToolEffect,
    ToolResultEvent,
    TraceEvent,
    UsageCharged,
    UserMessage,
)
from agentkit.store.memory import MemoryStore
from agentkit.store.sqlite import SQLiteStore

if TYPE_CHECKING:
    from agentkit.store.postgres import PostgresStore


def __getattr__(name: str) -> Any:
    if name == "PostgresStore":
        from agentkit.store.postgres import PostgresStore

        return PostgresStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Aggregated",
    "AssistantMessage",
    "BudgetDecision",
    "CellExecuted",
    "ErrorEvent",
    "FigureProduced",
    "MemoryStore",
    "NoteAdded",
    "PlanUpdated",
    "PostgresStore",
    "RunBusy",
    "RunFinished",
    "RunInfo",
    "RunNotFound",
    "RunStarted",
    "RunStatus",
    "SQLiteStore",
    "Source",
    "StatusChanged",
    "Store",
    "StoreCorrupt",
    "StoreError",
    "StoreFull",
    "StoreMissing",
    "StoreUnavailable",
    "StoredEvent",
    "TextHit",
    "ToolEffect",
    "ToolResultEvent",
    "TraceEvent",
    "UsageCharged",
    "UserMessage",
    "blob_key",
    "clean_model",
    "open_store",
    "resolve_store_location",
]
