"""The seam through which the run layer says how a call's messages are rebuilt (telemetry does
not know how the view is built, and imports nothing above the store)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentkit.store.events import TraceEvent
    from agentkit.store.fold import RunState

CallInputs = Callable[["RunState", "TraceEvent"], "list[dict[str, Any]] | None"]
"""The messages (chat-completions format, system first) of the model call that made an event
(a turn, the initial plan), given the run's fold as it was when the call was made; ``None``
for a call it cannot rebuild."""
