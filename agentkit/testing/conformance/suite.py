"""The conformance specs as pytest tests: subclass :class:`StoreConformance` in a backend's
test module (see the package docstring). Skips say "not applicable: ...": a spec that cannot
apply to the backend (CI turns any other skip into a failure)."""

from __future__ import annotations

from typing import ClassVar

import pytest

from agentkit.testing.conformance._harness import Backend, NotApplicable, Spec, StoreFactory
from agentkit.testing.conformance.spec import SPECS
from agentkit.testing.conformance.validate import run_spec


class StoreConformance:
    """Subclass as ``Test<Backend>`` and provide the ``store_factory`` fixture."""

    pytestmark: ClassVar[list[pytest.MarkDecorator]] = [pytest.mark.anyio]

    reopen: ClassVar[bool] = False
    """True for persistent backends: data must survive ``aclose()`` and a new instance."""

    concurrency: ClassVar[int] = 50
    """Concurrent appending tasks in the gapless-seq spec."""

    @pytest.fixture
    def anyio_backend(self) -> str:
        return "asyncio"

    @pytest.fixture
    def store_factory(self) -> StoreFactory:
        raise NotImplementedError("define a store_factory fixture in your StoreConformance subclass")

    @pytest.mark.parametrize("spec", SPECS, ids=[s.id for s in SPECS])
    async def test_spec(self, spec: Spec, store_factory: StoreFactory, anyio_backend: str) -> None:
        try:
            await run_spec(spec, Backend(store_factory, reopen=self.reopen, concurrency=self.concurrency))
        except NotApplicable as na:
            pytest.skip(f"not applicable: {na.reason}")


__all__ = ["StoreConformance"]
