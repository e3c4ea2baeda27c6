"""Capability ``leases``: the exclusive right to drive a run."""

from __future__ import annotations

from agentkit.store.base import RunBusy
from agentkit.testing.conformance._harness import Backend, raises, spec
from agentkit.testing.conformance.capabilities import Capability


@spec(Capability.LEASES)
async def lease_is_exclusive_per_run_and_released_on_exit(backend: Backend) -> None:
    store = await backend.open()
    async with store.lease("r"):
        with raises(RunBusy) as busy:
            async with store.lease("r"):
                raise AssertionError("a second holder got the lease")
        assert busy.value.run_id == "r" and "r" in str(busy.value)
        async with store.lease("other"):  # other runs are independent
            pass
    async with store.lease("r"):  # free again after a normal exit
        pass
    with raises(ZeroDivisionError):
        async with store.lease("r"):
            raise ZeroDivisionError
    async with store.lease("r"):  # and after an exception
        pass
