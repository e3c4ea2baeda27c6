"""Keep a written report in the run's store so it can be read back offline."""

from __future__ import annotations

from agentkit._redact import mask_model
from agentkit.llm.types import Model
from agentkit.report.models import Report
from agentkit.report.writer import REPORT_KIND, write_report
from agentkit.store.base import Store
from agentkit.store.events import Source

REPORT_SOURCE_ID = "report"


class ReportNotFound(LookupError):
    def __init__(self, run_id: str) -> None:
        super().__init__(f"no report stored for run {run_id!r}; pass a model to write one")
        self.run_id = run_id


async def store_report(store: Store, run_id: str, report: Report) -> str:
    """Save the report as a blob, registered as the run's ``report`` source; returns the blob key."""
    report = mask_model(report)  # the blob is kept as given: registered secrets masked here
    key = await store.put_blob(report.model_dump_json().encode())
    await store.add_source(
        run_id,
        Source(
            id=REPORT_SOURCE_ID,
            url="agentkit:report",
            title=report.title,
            kind=REPORT_KIND,
            content_hash=key,
            retrieved_at=report.created_at,
        ),
    )
    return key


async def load_report(store: Store, run_id: str) -> Report | None:
    """The stored report of the run, or ``None``."""
    source = await store.get_source(run_id, REPORT_SOURCE_ID)
    if source is None or source.kind != REPORT_KIND or not source.content_hash:
        return None
    blob = await store.get_blob(source.content_hash)
    return Report.model_validate_json(blob) if blob else None


async def report_from_store(store: Store, run_id: str, model: Model | None = None) -> Report:
    """The stored report (no model, no network); else, with ``model``, write and store one."""
    report = await load_report(store, run_id)
    if report is not None:
        return report
    if model is None:
        raise ReportNotFound(run_id)
    report = await write_report(store, run_id, model)
    await store_report(store, run_id, report)
    return report
