"""The conformance suite every :class:`~agentkit.store.base.Store` backend must pass.

The Store contract is split into capabilities (:mod:`.capabilities`), each checked by the
specs of one module in ``spec/``. A backend author runs them all from their own test file,
one pytest test per spec::

    import pytest
    from agentkit.testing.conformance import StoreConformance
    from mypackage import PostgresStore

    class TestPostgresStore(StoreConformance):
        reopen = True                     # data survives aclose() + a new instance

        @pytest.fixture
        def store_factory(self, tmp_path):
            return lambda: PostgresStore(DSN, schema=f"t_{tmp_path.name}")

``store_factory`` returns a zero-argument callable that builds a store (or an awaitable
of one) over **the same** backing data every time it is called and **empty** data per test:
the suite calls it once per spec, and again when a spec reopens the data (``reopen``). The
suite closes every store it opens. Tests run on asyncio unless the subclass overrides the
``anyio_backend`` fixture. A spec that cannot apply (reopening a store that is not
persistent) is skipped with a reason that starts "not applicable:".

Or run the specs directly and ask which capabilities a backend passes::

    report = await validate(lambda: MemoryStore, name="MemoryStore")
    print(report.summary())              # one line per capability, then each failure
    assert report.conforms()

The package imports pytest (for :class:`StoreConformance`) and anyio; it is test support:
nothing at runtime imports it (``tests/test_layering.py`` checks).
"""

# ruff: noqa: E402  (the specs are registered for assert rewriting before they are imported)
import pytest

# Under pytest, a failing assert in a spec says what it compared, as in a test module
# (outside a pytest session this does nothing).
pytest.register_assert_rewrite("agentkit.testing.conformance.spec")

from agentkit.testing.conformance._harness import Backend, NotApplicable, Spec, StoreFactory, open_from, raises
from agentkit.testing.conformance.capabilities import CAPABILITIES, OPTIONAL, REQUIRED, Capability
from agentkit.testing.conformance.data import every_event_type, make_run, sample_turn
from agentkit.testing.conformance.report import ConformanceReport, Outcome, SpecResult
from agentkit.testing.conformance.spec import SPECS
from agentkit.testing.conformance.suite import StoreConformance
from agentkit.testing.conformance.validate import run_spec, validate

__all__ = [
    "CAPABILITIES",
    "OPTIONAL",
    "REQUIRED",
    "SPECS",
    "Backend",
    "Capability",
    "ConformanceReport",
    "NotApplicable",
    "Outcome",
    "Spec",
    "SpecResult",
    "StoreConformance",
    "StoreFactory",
    "every_event_type",
    "make_run",
    "open_from",
    "raises",
    "run_spec",
    "sample_turn",
    "validate",
]
