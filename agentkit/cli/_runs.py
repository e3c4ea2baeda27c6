"""What the CLI says about a run it did not see end: whether a report is still owed, and the
saved state of a run whose driver failed (read with a read-only store that never raises).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agentkit.store import RunInfo
from agentkit.store._location import open_store
from agentkit.store.status import shown_status


def report_wanted(config: dict[str, Any]) -> bool:
    """Whether the run was started to write a report (``output.report`` of its task)."""
    if "report" in config:
        return bool(config["report"])
    spec = config.get("task_spec")
    output = spec.get("output") if isinstance(spec, dict) else None
    return bool(output.get("report")) if isinstance(output, dict) else False


def report_pending(run: RunInfo, has_report: bool) -> bool:
    """A report was wanted for this answer and is not in the store (the run was stopped or
    killed while writing it): ``agentkit resume`` writes it."""
    return (
        not has_report
        and run.status in ("finished", "stopped")
        and bool((run.answer or "").strip())
        and report_wanted(run.config)
    )


def saved_run(location: str | Path, run_id: str) -> RunInfo | None:
    """The run's row as a reader sees it now, or ``None`` when it was never saved or the
    store cannot be read (this is called while reporting another error: it never raises)."""
    import anyio

    async def read() -> RunInfo | None:
        store = open_store(location, readonly=True)
        try:
            return await shown_status(store, await store.get_run(run_id))
        finally:
            await store.aclose()

    try:
        return anyio.run(read)
    except Exception:  # best effort while another error is being reported
        return None


def clipped(text: str, limit: int) -> str:
    """``text`` when it fits in ``limit`` characters; else cut at the last space or comma
    before the limit (never inside a word or an escape such as ``\\n``), marked with ``…`` and
    the count of characters left out."""
    if len(text) <= limit:
        return text
    cut = text[:limit]
    boundary = max(cut.rfind(" "), cut.rfind(","))
    if boundary >= limit // 2:
        cut = cut[: boundary + 1]
    cut = cut.rstrip(" ,")
    while cut.endswith("\\") and not cut.endswith("\\\\"):  # half an escape
        cut = cut[:-1]
    return f"{cut}… +{len(text) - len(cut):,} chars"


def shown_call(name: str, arguments: str, limit: int = 80) -> str:
    """A tool call as ``agentkit show`` lists it: ``name(key=value, ...)`` with JSON values
    (the raw text when the arguments are not a JSON object), cut on a boundary and marked."""
    import json

    try:
        parsed = json.loads(arguments)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        text = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in parsed.items())
    else:
        text = arguments
    return f"{name}({clipped(text, limit)})"
