"""How a run is shown to a reader who did not see it end: a ``running`` run nobody drives
(no one holds its lease: the process was killed) is ``interrupted``."""

from __future__ import annotations

from agentkit.store.base import Store
from agentkit.store.events import RunInfo

DRIVER_GONE = "its driver stopped without ending it (killed or crashed); resume it"


async def shown_status(store: Store, run: RunInfo) -> RunInfo:
    """``run`` as a reader should see it: ``running`` with no live driver is ``interrupted``."""
    if run.status != "running" or await store.is_leased(run.id) is not False:
        return run
    return run.model_copy(update={"status": "interrupted", "stop_reason": run.stop_reason or DRIVER_GONE})
