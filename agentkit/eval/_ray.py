"""Attempts as Ray tasks: each a ``ray.remote`` function that opens the shared store by its
location, settles one attempt (:func:`agentkit.eval._run_attempt.settle`) and returns its row.

Ray schedules them over the cluster; the eval's driver only keeps ``--concurrency`` of them in
flight and stops submitting when the suite's budget is spent. A worker that dies (killed,
out of memory, its node lost) is retried by Ray, and the retry resumes the attempt's run from
the store; a driver that dies takes its tasks with it, and running the eval again resumes.
Imported only with ``--ray`` (``pip install 'agentkit[ray]'``); on a remote cluster every node
needs agentkit installed and the provider's API key in its environment.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import ray
import ray.exceptions

from agentkit.eval._run_attempt import AttemptSpec, settle
from agentkit.eval._run_plan import LOCAL_RAY, EvalError, WorkerPlan, open_context
from agentkit.eval.results import AttemptRow
from agentkit.store import Store, open_store

WORKER_RETRIES = 3
"""How many times Ray runs an attempt again whose worker died (each time resuming its run)."""


async def _settle_one(plan: WorkerPlan, spec: AttemptSpec) -> AttemptRow:
    async with open_context(plan) as ctx:
        return await settle(ctx, spec)


@ray.remote(max_retries=WORKER_RETRIES)
def attempt_task(plan: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    """One attempt in a Ray worker (plain data in and out)."""
    row = anyio.run(_settle_one, WorkerPlan.model_validate(plan), AttemptSpec.model_validate(spec))
    return row.model_dump(mode="json")


class RayExecutor:
    def __init__(self, plan: WorkerPlan, cpus: float) -> None:
        self.plan = plan.model_dump(mode="json")
        self.cpus = cpus

    async def run(self, spec: AttemptSpec) -> AttemptRow:
        ref = attempt_task.options(num_cpus=self.cpus).remote(self.plan, spec.model_dump(mode="json"))
        try:
            data: dict[str, Any] = await ref
        except anyio.get_cancelled_exc_class():
            ray.cancel(ref)  # the run is left interrupted; running the eval again resumes it
            raise
        except ray.exceptions.RayError as exc:
            return AttemptRow(
                id=spec.task.id,
                run_id=spec.run_id,
                attempt=spec.attempt,
                status="error",
                expected=spec.task.answer,
                error=f"Ray: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
            )
        return AttemptRow.model_validate(data)


def _connect(address: str) -> bool:
    """Join the cluster (``local``: start one on this machine unless this process already has
    one). True when this call started Ray (so the eval shuts it down)."""
    if ray.is_initialized():
        return False
    try:
        if address == LOCAL_RAY:
            ray.init(include_dashboard=False, logging_level=logging.WARNING, configure_logging=True)
        else:
            ray.init(address=address, logging_level=logging.WARNING, configure_logging=True)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        raise EvalError(f"--ray {address}: cannot join the Ray cluster: {exc}") from exc
    return True


@asynccontextmanager
async def ray_executor(plan: WorkerPlan, address: str, cpus: float) -> AsyncIterator[tuple[RayExecutor, Store]]:
    started = _connect(address)
    store = open_store(plan.store)
    try:
        await store.open()
        yield RayExecutor(plan, cpus), store
    finally:
        with anyio.CancelScope(shield=True):
            await store.aclose()
        if started:
            ray.shutdown()
