"""The report phase of a run: after the answer, a verified report, within the run's limits.

Its model calls keep the run's ``max_tokens``, are fitted to the cost left under
``max_cost_usd``, stop at ``max_seconds`` and are charged to the run (one
:class:`~agentkit.store.events.UsageCharged` event), so totals and limits hold.
"""

from __future__ import annotations

import math

import anyio

from agentkit.context.builder import learned_window
from agentkit.llm.errors import ModelError, RetryNotice, observing_retries
from agentkit.llm.types import Model
from agentkit.run._limits import ChargedModel, LimitReached, RunLimits
from agentkit.run._runs import RunResult
from agentkit.run.live import EventHandler, Notice, dispatch, retry_event
from agentkit.store.base import Store
from agentkit.store.events import UsageCharged
from agentkit.store.fold import load_state


async def report_phase(
    store: Store,
    llm: Model,
    limits: RunLimits,
    max_tokens: int | None,
    window: int,
    result: RunResult,
    on_event: EventHandler | None,
) -> RunResult:
    """``result`` with its report (written now unless stored already) and the phase's cost added.
    ``window``: the declared or profile window; one the run learned from its server wins."""
    if result.status not in ("finished", "stopped") or not result.answer.strip():
        return result
    from agentkit.report import load_report

    report = await load_report(store, result.run_id)
    if report is not None:
        return result.model_copy(update={"report": report.markdown})
    state = await load_state(store, result.run_id)
    room = None if limits.max_cost_usd is None else limits.max_cost_usd - result.cost_usd
    model = ChargedModel(llm, max_tokens=max_tokens, room_usd=room, window=learned_window(state, window))
    left = math.inf if limits.max_seconds is None else limits.max_seconds - state.elapsed_s
    markdown, problem = await _write(store, result.run_id, model, left, limits.max_seconds, on_event)
    if model.usage.calls:
        await store.append(result.run_id, UsageCharged(phase="report", usage=model.usage, cost_usd=model.cost_usd))
        row = await store.get_run(result.run_id)
        await store.update_run(result.run_id, usage=row.usage + model.usage, cost_usd=row.cost_usd + model.cost_usd)
        result = result.model_copy(
            update={"usage": result.usage + model.usage, "cost_usd": result.cost_usd + model.cost_usd}
        )
    if problem is not None and on_event is not None:
        await dispatch(on_event, Notice(run_id=result.run_id, level="error", message=f"report not written: {problem}"))
    return result.model_copy(update={"report": markdown})


async def _write(
    store: Store,
    run_id: str,
    model: ChargedModel,
    left: float,
    max_seconds: float | None,
    on_event: EventHandler | None,
) -> tuple[str | None, str | None]:
    """Write and store the report within the ``left`` seconds: (markdown, None) or (None, why not)."""
    from agentkit.report import store_report, write_report

    if left <= 0:
        return None, f"limits.max_seconds={max_seconds:g} was reached before the report phase"
    if on_event is not None:
        await dispatch(on_event, Notice(run_id=run_id, message="writing the report"))

    async def on_retry(notice: RetryNotice) -> None:
        if on_event is not None:
            await dispatch(on_event, retry_event(run_id, notice))

    with anyio.move_on_after(left), observing_retries(on_retry if on_event is not None else None):
        try:
            report = await write_report(store, run_id, model)
        except (LimitReached, ModelError) as exc:
            return None, str(exc)
        except Exception as exc:  # the run itself is done; a failing report must not undo it
            return None, f"{type(exc).__name__}: {exc}"
        await store_report(store, run_id, report)
        return report.markdown, None
    return None, f"limits.max_seconds={max_seconds:g} was reached while writing it"
